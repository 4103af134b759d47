/**
 * Draws docs/images/augment-grid.png: what each image operator, and the mocov2
 * recipe, does to a real photo. Every tile is a real output of augment/image.
 *
 * Usage: npx tsx scripts/augment-grid.ts [--photo FILE] [--out docs/images/augment-grid.png] [--tile 112]
 * The default photo is scikit-image's "chelsea" (Debian python3-skimage-lib).
 */
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import type { OverlayOptions } from 'sharp';
import { packageRoot } from '../core/package-info.js';
import { Rng, deriveSeed } from '../core/rng.js';
import {
  cloneRgbImage,
  compileImageTransform,
  decodeImage,
  evalTransform,
  mocov2Transform,
  resizeCenterCrop,
  runPixelStep,
} from '../augment/image/index.js';
import type { ImageOpSpec, PixelStep, RgbImage } from '../augment/image/index.js';

const DEFAULT_PHOTO = '/usr/lib/python3/dist-packages/skimage/data/chelsea.png';
const COLUMNS = 6;
const LABEL_WIDTH = 160;

interface Row {
  readonly label: string;
  readonly tiles: readonly { image: RgbImage; caption: string }[];
}

function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      photo: { type: 'string', default: DEFAULT_PHOTO },
      out: { type: 'string', default: join(packageRoot(), 'docs/images/augment-grid.png') },
      tile: { type: 'string', default: '112' },
    },
  });
  const tile = Number(values.tile);
  if (!existsSync(values.photo)) throw new Error(`no photo at ${values.photo}: pass --photo FILE`);
  const photo = await decodeImage(readFileSync(values.photo));
  // The single ops are shown on the centre of the photo at tile size.
  const centre = resizeCenterCrop(photo, { size: tile, crop: tile }, new Rng(0));
  // The whole photo, fitted into a tile on white.
  const fitted = await sharp(photo.data, { raw: { width: photo.width, height: photo.height, channels: 3 } })
    .resize(tile, tile, { fit: 'contain', background: '#ffffff' })
    .removeAlpha()
    .raw()
    .toBuffer();
  const letterboxed: RgbImage = { width: tile, height: tile, data: new Uint8Array(fitted) };
  const withStep = (step: PixelStep): RgbImage => {
    const img = cloneRgbImage(centre);
    runPixelStep(img, step);
    return img;
  };
  const one = (spec: ImageOpSpec, seed: number): RgbImage => compileImageTransform([spec]).apply(centre, new Rng(seed));
  const mocov2 = compileImageTransform(mocov2Transform({ size: tile }));
  const seeds = Array.from({ length: COLUMNS }, (_, i) => i);
  const describe = (seed: number, view: number): string => {
    const plan = mocov2.plan(photo.width, photo.height, new Rng(deriveSeed(0, 0, `sample-${seed}`, view)));
    const parts = plan.pixels.map((s) => (s.op === 'grayscale' ? 'grey' : s.op === 'gaussianBlur' ? 'blur' : s.op[0] ?? ''));
    return [...(plan.geometry.mirror ? ['flip'] : []), ...parts].join(' ');
  };
  const view = (seed: number, v: number): { image: RgbImage; caption: string } => {
    const image = mocov2.apply(photo, new Rng(deriveSeed(0, 0, `sample-${seed}`, v)));
    return { image, caption: describe(seed, v) };
  };

  const rows: Row[] = [
    {
      label: 'photo, eval',
      tiles: [
        { image: letterboxed, caption: `${photo.width}x${photo.height}` },
        { image: centre, caption: `resize + centre crop` },
        { image: compileImageTransform(evalTransform({ size: tile })).apply(photo, new Rng(0)), caption: 'eval preset' },
      ],
    },
    { label: 'mocov2 view 1', tiles: seeds.map((s) => view(s, 1)) },
    { label: 'mocov2 view 2', tiles: seeds.map((s) => view(s, 2)) },
    {
      label: 'random crop',
      tiles: seeds.map((s) => ({ image: compileImageTransform([{ op: 'randomResizedCrop', params: { size: tile, scale: [0.2, 1] } }]).apply(photo, new Rng(s)), caption: 'scale 0.2-1' })),
    },
    {
      label: 'bright., contr., sat.',
      tiles: [
        { image: withStep({ op: 'brightness', factor: 0.6 }), caption: 'brightness 0.6' },
        { image: withStep({ op: 'brightness', factor: 1.4 }), caption: 'brightness 1.4' },
        { image: withStep({ op: 'contrast', factor: 0.6 }), caption: 'contrast 0.6' },
        { image: withStep({ op: 'contrast', factor: 1.4 }), caption: 'contrast 1.4' },
        { image: withStep({ op: 'saturation', factor: 0.6 }), caption: 'saturation 0.6' },
        { image: withStep({ op: 'saturation', factor: 1.4 }), caption: 'saturation 1.4' },
      ],
    },
    {
      label: 'hue',
      tiles: [-0.1, -0.05, 0.05, 0.1, 0.25, 0.5].map((f) => ({ image: withStep({ op: 'hue', factor: f }), caption: `hue ${f}` })),
    },
    {
      label: 'colorJitter',
      tiles: seeds.map((s) => ({ image: one({ op: 'colorJitter', params: { brightness: 0.4, contrast: 0.4, saturation: 0.4, hue: 0.1 } }, s), caption: '.4 .4 .4 .1' })),
    },
    {
      label: 'gaussianBlur',
      tiles: [0.1, 0.5, 1, 1.5, 2, 4].map((sigma) => ({ image: withStep({ op: 'gaussianBlur', sigma }), caption: `sigma ${sigma}` })),
    },
    {
      label: 'grey, flip, solarize',
      tiles: [
        { image: withStep({ op: 'grayscale' }), caption: 'grayscale' },
        { image: one({ op: 'horizontalFlip' }, 0), caption: 'horizontalFlip' },
        { image: withStep({ op: 'solarize', threshold: 192 }), caption: 'solarize 192' },
        { image: withStep({ op: 'solarize', threshold: 128 }), caption: 'solarize 128' },
      ],
    },
  ];

  const caption = 14;
  const cell = tile + caption + 6;
  const width = LABEL_WIDTH + COLUMNS * (tile + 6) + 6;
  const height = rows.length * cell + 6;
  const composites: OverlayOptions[] = [];
  let svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">`;
  for (const [r, row] of rows.entries()) {
    const y = 6 + r * cell;
    svg += `<text x="8" y="${y + tile / 2 + 5}" font-family="sans-serif" font-size="13" font-weight="bold" fill="#222">${escapeXml(row.label)}</text>`;
    for (const [c, t] of row.tiles.entries()) {
      const x = LABEL_WIDTH + 6 + c * (tile + 6);
      const png = await sharp(t.image.data, { raw: { width: t.image.width, height: t.image.height, channels: 3 } }).png().toBuffer();
      composites.push({ input: png, left: x, top: y });
      svg += `<text x="${x + tile / 2}" y="${y + tile + caption - 2}" text-anchor="middle" font-family="sans-serif" font-size="11" fill="#444">${escapeXml(t.caption)}</text>`;
    }
  }
  svg += '</svg>';
  composites.unshift({ input: Buffer.from(svg), left: 0, top: 0 });
  mkdirSync(dirname(values.out), { recursive: true });
  await sharp({ create: { width, height, channels: 3, background: '#ffffff' } })
    .composite(composites)
    .png({ palette: true, quality: 90, effort: 10, compressionLevel: 9 })
    .toFile(values.out);
  process.stdout.write(`${values.out}: ${width}x${height}, ${(statSync(values.out).size / 1024).toFixed(0)} KiB\n`);
}

await main();
