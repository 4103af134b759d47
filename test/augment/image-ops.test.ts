/**
 * Operators against torchvision's PIL path (reference outputs made once by
 * fixtures/image_reference.py) and against hand-computed values.
 */
import { readFileSync } from 'node:fs';
import t from 'tap';
import { Rng } from '../../core/rng.js';
import {
  adjustBrightness,
  adjustContrast,
  adjustHue,
  adjustSaturation,
  centralFallbackBox,
  centerCropWindow,
  cloneRgbImage,
  compileImageTransform,
  extendedBoxRadius,
  gaussianBlurInPlace,
  normalizeInto,
  normalizeTable,
  resampleRgb,
  resizeCenterCrop,
  resizedSize,
  solarizeInPlace,
  toGrayscale,
} from '../../augment/image/index.js';
import type { RgbImage } from '../../augment/image/index.js';
import { pattern } from './helpers.js';

interface Encoded { width: number; height: number; data: string }
interface Case { name: string; params: Record<string, number | boolean>; output: Encoded }
interface Reference {
  width: number;
  height: number;
  cases: Case[];
  fallback: { width: number; height: number; scale: [number, number]; ratio: [number, number]; box: { x: number; y: number; width: number; height: number } }[];
  normalize: { mean: [number, number, number]; std: [number, number, number]; data: string };
}

const ref = JSON.parse(readFileSync(new URL('./fixtures/image-reference.json', import.meta.url), 'utf8')) as Reference;

function decodeRef(e: Encoded): RgbImage {
  return { width: e.width, height: e.height, data: new Uint8Array(Buffer.from(e.data, 'base64')) };
}

/** Largest absolute difference and the count of differing values. */
function diff(a: RgbImage, b: RgbImage): { max: number; count: number } {
  if (a.width !== b.width || a.height !== b.height) return { max: Infinity, count: Infinity };
  let max = 0;
  let count = 0;
  for (let i = 0; i < a.data.length; i++) {
    const d = Math.abs((a.data[i] as number) - (b.data[i] as number));
    if (d > 0) count++;
    if (d > max) max = d;
  }
  return { max, count };
}

const src = pattern(ref.width, ref.height);
const cases = (name: string): Case[] => ref.cases.filter((c) => c.name === name);
const num = (c: Case, k: string): number => c.params[k] as number;

t.test('the formula image is the one the reference was made from', async (t) => {
  t.equal(src.data.length, ref.width * ref.height * 3);
  // The identity crop in the reference (24x18 -> 24x18) returns the source unchanged.
  const identity = cases('resizedCrop').find((c) => c.output.width === ref.width && c.output.height === ref.height);
  t.ok(identity);
  if (identity !== undefined) t.same(diff(decodeRef(identity.output), src), { max: 0, count: 0 });
});

t.test('crop + resize (+ flip) matches Pillow bilinear bit for bit', async (t) => {
  t.ok(cases('resizedCrop').length >= 5);
  for (const c of cases('resizedCrop')) {
    const box = { x: num(c, 'left'), y: num(c, 'top'), width: num(c, 'width'), height: num(c, 'height') };
    const ow = num(c, 'outWidth');
    const oh = num(c, 'outHeight');
    const out = resampleRgb(src, { box, resizeWidth: ow, resizeHeight: oh, window: { x: 0, y: 0, width: ow, height: oh }, mirror: c.params['flip'] === true });
    t.same(diff(out, decodeRef(c.output)), { max: 0, count: 0 }, JSON.stringify(c.params));
  }
});

t.test('brightness, contrast and saturation match ImageEnhance', async (t) => {
  const ops = { brightness: adjustBrightness, contrast: adjustContrast, saturation: adjustSaturation } as const;
  for (const name of ['brightness', 'contrast', 'saturation'] as const) {
    t.ok(cases(name).length >= 3);
    for (const c of cases(name)) {
      const img = cloneRgbImage(src);
      ops[name](img, num(c, 'factor'));
      t.same(diff(img, decodeRef(c.output)), { max: 0, count: 0 }, `${name} ${num(c, 'factor')}`);
    }
  }
});

t.test('hue matches torchvision adjust_hue through 8-bit HSV', async (t) => {
  t.ok(cases('hue').length >= 5);
  for (const c of cases('hue')) {
    const img = cloneRgbImage(src);
    adjustHue(img, num(c, 'factor'));
    const d = diff(img, decodeRef(c.output));
    t.ok(d.max <= 1 && d.count <= 3, `hue ${num(c, 'factor')}: max ${d.max}, ${d.count} values differ`);
  }
});

t.test('grayscale and solarize match exactly', async (t) => {
  const grey = cloneRgbImage(src);
  toGrayscale(grey);
  const [g] = cases('grayscale');
  t.ok(g);
  if (g !== undefined) t.same(diff(grey, decodeRef(g.output)), { max: 0, count: 0 });
  t.ok(cases('solarize').length >= 3);
  for (const c of cases('solarize')) {
    const img = cloneRgbImage(src);
    solarizeInPlace(img, num(c, 'threshold'));
    t.same(diff(img, decodeRef(c.output)), { max: 0, count: 0 }, `threshold ${num(c, 'threshold')}`);
  }
});

t.test('gaussian blur matches Pillow GaussianBlur(radius=sigma)', async (t) => {
  t.ok(cases('gaussianBlur').length >= 5);
  for (const c of cases('gaussianBlur')) {
    const img = cloneRgbImage(src);
    gaussianBlurInPlace(img, num(c, 'sigma'));
    t.same(diff(img, decodeRef(c.output)), { max: 0, count: 0 }, `sigma ${num(c, 'sigma')}`);
  }
});

t.test('resize shorter side + centre crop matches Resize + CenterCrop', async (t) => {
  t.ok(cases('resizeCenterCrop').length >= 2);
  for (const c of cases('resizeCenterCrop')) {
    const out = resizeCenterCrop(src, { size: num(c, 'size'), crop: num(c, 'crop') }, new Rng(0));
    t.same(diff(out, decodeRef(c.output)), { max: 0, count: 0 }, JSON.stringify(c.params));
  }
});

t.test('RandomResizedCrop falls back to the central crop like torchvision', async (t) => {
  for (const f of ref.fallback) {
    t.same(centralFallbackBox(f.width, f.height, f.ratio), f.box, JSON.stringify(f));
    // Through the op: scale 1 with an impossible ratio never fits in 10 tries.
    const plan = compileImageTransform([{ op: 'randomResizedCrop', params: { size: 4, scale: f.scale, ratio: f.ratio } }]).plan(f.width, f.height, new Rng(9));
    t.same(plan.geometry.box, f.box);
  }
});

t.test('normalize matches ToTensor + Normalize in float32', async (t) => {
  const expected = new Float32Array(new Uint8Array(Buffer.from(ref.normalize.data, 'base64')).buffer);
  const out = new Float32Array(expected.length + 10).fill(7);
  normalizeInto(src, normalizeTable(ref.normalize.mean, ref.normalize.std), out, 5);
  let max = 0;
  for (let i = 0; i < expected.length; i++) max = Math.max(max, Math.abs((out[i + 5] as number) - (expected[i] as number)));
  t.ok(max <= 1e-6, `max abs diff ${max}`);
  t.equal(out[4], 7, 'nothing written before the offset');
  t.equal(out[expected.length + 5], 7, 'nothing written after the view');
  t.throws(() => normalizeInto(src, normalizeTable([0, 0, 0], [1, 1, 1]), out, 11), RangeError);
});

t.test('hand-computed values on tiny images', async (t) => {
  const px = (r: number, g: number, b: number): RgbImage => ({ width: 1, height: 1, data: Uint8Array.of(r, g, b) });
  let img = px(200, 100, 50);
  adjustBrightness(img, 0.5); // trunc(0.5 * v)
  t.same([...img.data], [100, 50, 25]);
  img = px(200, 100, 50);
  adjustBrightness(img, 1.5); // clamp at 255
  t.same([...img.data], [255, 150, 75]);
  img = px(200, 100, 50);
  toGrayscale(img); // (200*19595 + 100*38470 + 50*7471 + 32768) >> 16 = 124
  t.same([...img.data], [124, 124, 124]);
  img = px(200, 100, 50);
  adjustSaturation(img, 0); // the grey itself
  t.same([...img.data], [124, 124, 124]);
  img = px(200, 100, 50);
  adjustContrast(img, 0); // a single pixel: its own mean grey
  t.same([...img.data], [124, 124, 124]);
  img = px(255, 0, 0);
  adjustHue(img, 1 / 3); // red -> green: hue 0 + uint8(85) = 85 -> (0, 255, 0)
  t.same([...img.data], [0, 255, 0]);
  img = px(10, 128, 250);
  solarizeInPlace(img, 128);
  t.same([...img.data], [10, 127, 5]);
  // A constant image stays constant under blur; an impulse spreads symmetrically and keeps its mass.
  const flat: RgbImage = { width: 5, height: 4, data: new Uint8Array(60).fill(77) };
  gaussianBlurInPlace(flat, 1.7);
  t.ok(flat.data.every((v) => v === 77));
  const imp: RgbImage = { width: 9, height: 9, data: new Uint8Array(243) };
  imp.data.fill(255, (4 * 9 + 4) * 3, (4 * 9 + 4) * 3 + 3);
  gaussianBlurInPlace(imp, 1);
  const at = (x: number, y: number): number => imp.data[(y * 9 + x) * 3] as number;
  t.ok(at(4, 4) < 255 && at(4, 4) > at(3, 4) && at(3, 4) === at(5, 4) && at(4, 3) === at(4, 5) && at(3, 4) === at(4, 3));
  t.ok(Math.abs(extendedBoxRadius(0.1) - 0.00167) < 1e-4, 'tiny sigma is nearly the identity');
  // Geometry arithmetic.
  t.same(resizedSize(500, 375, 256), { width: 341, height: 256 });
  t.same(resizedSize(375, 500, 256), { width: 256, height: 341 });
  t.same(centerCropWindow(341, 256, 224, 224), { x: 58, y: 16, width: 224, height: 224 });
  t.same(centerCropWindow(5, 5, 2, 2), { x: 2, y: 2, width: 2, height: 2 }, 'round(1.5) = 2 (half to even)');
  t.same(centerCropWindow(6, 6, 3, 3), { x: 2, y: 2, width: 3, height: 3 }, 'round(1.5) = 2');
  t.same(centerCropWindow(7, 7, 2, 2), { x: 2, y: 2, width: 2, height: 2 }, 'round(2.5) = 2 (half to even)');
  // Downscale by exactly 2 averages pixel pairs (triangle of support 2 over 4 taps: 1/8, 3/8, 3/8, 1/8).
  const row: RgbImage = { width: 4, height: 1, data: Uint8Array.of(0, 0, 0, 80, 80, 80, 160, 160, 160, 240, 240, 240) };
  const half = resampleRgb(row, { box: { x: 0, y: 0, width: 4, height: 1 }, resizeWidth: 2, resizeHeight: 1, window: { x: 0, y: 0, width: 2, height: 1 }, mirror: false });
  // out0: taps 0,1,2 (clamped at the edge) weights 3/8,3/8,1/8 renormalised: (0*3 + 80*3 + 160*1)/7 = 57.1 -> 57
  t.same([...half.data], [57, 57, 57, 183, 183, 183]);
});

t.test('padding: a centre crop larger than the image is black around it', async (t) => {
  const img = pattern(4, 3);
  const out = compileImageTransform([{ op: 'centerCrop', params: { size: [5, 6] } }]).apply(img, new Rng(1));
  t.equal(out.width, 6);
  t.equal(out.height, 5);
  // torchvision pads left (6-4)//2 = 1, top (5-3)//2 = 1.
  t.same([...out.data.subarray(0, 18)], new Array(18).fill(0), 'first row is padding');
  t.same([...out.data.subarray((1 * 6 + 1) * 3, (1 * 6 + 1) * 3 + 3)], [...img.data.subarray(0, 3)], 'source (0,0) lands at (1,1)');
});

t.test('a whole view (crop, jitter, blur, flip) run as one fused plan matches torchvision step by step', async (t) => {
  const [c] = cases('composed');
  t.ok(c);
  if (c === undefined) return;
  const t1 = compileImageTransform([{ op: 'randomResizedCrop', params: { size: [11, 12] } }]);
  const out = t1.run(src, {
    // The flip is folded into the resampling (mirror), before the colour ops and blur.
    geometry: { box: { x: 3, y: 2, width: 17, height: 13 }, resizeWidth: 12, resizeHeight: 11, window: { x: 0, y: 0, width: 12, height: 11 }, mirror: true },
    pixels: [
      { op: 'contrast', factor: 1.2 },
      { op: 'hue', factor: -0.05 },
      { op: 'brightness', factor: 0.8 },
      { op: 'saturation', factor: 1.3 },
      { op: 'gaussianBlur', sigma: 0.7 },
    ],
  });
  t.same(diff(out, decodeRef(c.output)), { max: 0, count: 0 });
});

t.test('colour ops match torchvision on 1024 pseudo-random pixels', async (t) => {
  const random = (ref as Reference & { random: Case[] }).random;
  const data = new Uint8Array(32 * 32 * 3);
  for (let i = 0; i < data.length; i++) data[i] = Math.floor((i * 1103515245 + 12345) / 65536) % 256;
  const img: RgbImage = { width: 32, height: 32, data };
  const ops = { hue: adjustHue, saturation: adjustSaturation, contrast: adjustContrast, brightness: adjustBrightness } as const;
  t.equal(random.length, 5);
  for (const c of random) {
    const out = cloneRgbImage(img);
    ops[c.name as keyof typeof ops](out, num(c, 'factor'));
    t.same(diff(out, decodeRef(c.output)), { max: 0, count: 0 }, `${c.name} ${num(c, 'factor')}`);
  }
});
