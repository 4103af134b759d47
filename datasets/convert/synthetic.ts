/**
 * The built-in synthetic dataset: one coloured shape per image on a plain background,
 * rendered with sharp (SVG -> PNG), with a caption that describes it in varied wording
 * and a `cls` label = the shape. Everything about sample `i` is drawn from
 * `Rng(deriveSeed(seed, 'synthetic', i))`, so a dataset is fully determined by its seed,
 * and the first N samples of a larger dataset are the N samples of a smaller one.
 *
 * Each sample has `png` (the image), `txt` (the caption), `cls` (shape id, decimal
 * ASCII) and `json` (all attributes: shape, colour, size, row, column, background).
 *
 * @example
 * ```ts
 * for await (const s of syntheticSource({ count: 3, seed: 1 })) console.log(s.files.txt);
 * // "a small red circle on a grey background", ...
 * ```
 */
import sharp from 'sharp';
import { deriveSeed, Rng } from '../../core/rng.js';
import { expectInteger } from '../../core/validate.js';
import type { SampleInput } from '../sample.js';
import { orderedMap, type SampleSource } from './source.js';

/** The shape classes, in `cls` order. */
export const SYNTHETIC_SHAPES = ['circle', 'square', 'triangle', 'star', 'cross', 'diamond', 'hexagon', 'heart'] as const;
export type SyntheticShape = (typeof SYNTHETIC_SHAPES)[number];

/** Shape colours and their base RGB (each sample jitters it a little). */
export const SYNTHETIC_COLOURS = {
  red: [220, 30, 30],
  green: [30, 160, 50],
  blue: [30, 70, 220],
  yellow: [240, 215, 30],
  orange: [250, 135, 20],
  purple: [135, 50, 190],
  white: [245, 245, 245],
  black: [15, 15, 15],
} as const satisfies Record<string, readonly [number, number, number]>;
export type SyntheticColour = keyof typeof SYNTHETIC_COLOURS;

/** Background colours. */
export const SYNTHETIC_BACKGROUNDS = {
  grey: [128, 128, 128],
  white: [250, 250, 250],
  black: [10, 10, 10],
  beige: [225, 210, 175],
  'light blue': [170, 200, 235],
} as const satisfies Record<string, readonly [number, number, number]>;
export type SyntheticBackground = keyof typeof SYNTHETIC_BACKGROUNDS;

/** Sizes: shape radius as a fraction of the image side. */
export const SYNTHETIC_SIZES = { small: 0.17, medium: 0.26, large: 0.37 } as const;
export type SyntheticSize = keyof typeof SYNTHETIC_SIZES;

const ROWS = ['top', 'middle', 'bottom'] as const;
const COLS = ['left', 'centre', 'right'] as const;

/** What one synthetic sample shows. */
export interface SyntheticAttributes {
  readonly shape: SyntheticShape;
  readonly colour: SyntheticColour;
  readonly size: SyntheticSize;
  readonly row: (typeof ROWS)[number];
  readonly column: (typeof COLS)[number];
  readonly background: SyntheticBackground;
}

/** Options of {@link syntheticSource}. */
export interface SyntheticOptions {
  /** Number of samples. */
  readonly count: number;
  /** Seed: the same seed gives the same dataset. Default 0. */
  readonly seed?: number;
  /** Image side in pixels. Default 64. */
  readonly imageSize?: number;
  /** Index of the first sample (for resuming or splitting). Default 0. */
  readonly start?: number;
  /** Images rendered at once on sharp's thread pool. Default 4. */
  readonly renderConcurrency?: number;
}

/** The defaults of {@link SyntheticOptions}. */
export const syntheticDefaults = Object.freeze({ seed: 0, imageSize: 64, start: 0, renderConcurrency: 4 });

/** Resolved {@link SyntheticOptions}. */
export interface ResolvedSyntheticOptions {
  readonly count: number;
  readonly seed: number;
  readonly imageSize: number;
  readonly start: number;
  readonly renderConcurrency: number;
}

/** Validate {@link SyntheticOptions}. */
export function resolveSyntheticOptions(options: SyntheticOptions): ResolvedSyntheticOptions {
  return {
    count: expectInteger('count', options.count, 0),
    seed: expectInteger('seed', options.seed ?? syntheticDefaults.seed, 0, 4294967295),
    imageSize: expectInteger('imageSize', options.imageSize ?? syntheticDefaults.imageSize, 16, 1024),
    start: expectInteger('start', options.start ?? syntheticDefaults.start, 0),
    renderConcurrency: expectInteger('renderConcurrency', options.renderConcurrency ?? syntheticDefaults.renderConcurrency, 1, 64),
  };
}

/** The words captions use for each shape. */
export const SYNTHETIC_SHAPE_WORDS: Readonly<Record<SyntheticShape, readonly string[]>> = {
  circle: ['circle', 'round shape', 'disc', 'dot'],
  square: ['square', 'box', 'square shape'],
  triangle: ['triangle', 'three-sided shape', 'triangular shape'],
  star: ['star', 'five-pointed star', 'star shape'],
  cross: ['cross', 'plus sign', 'plus shape'],
  diamond: ['diamond', 'rhombus', 'diamond shape'],
  hexagon: ['hexagon', 'six-sided shape', 'hexagonal shape'],
  heart: ['heart', 'heart shape', 'love heart'],
};

/** The words captions use for each colour. */
export const SYNTHETIC_COLOUR_WORDS: Readonly<Record<SyntheticColour, readonly string[]>> = {
  red: ['red'],
  green: ['green'],
  blue: ['blue'],
  yellow: ['yellow'],
  orange: ['orange'],
  purple: ['purple', 'violet'],
  white: ['white'],
  black: ['black'],
};

const SIZE_WORDS: Record<SyntheticSize, readonly string[]> = {
  small: ['small', 'little', 'tiny'],
  medium: ['medium', 'medium-sized', 'mid-sized'],
  large: ['large', 'big', 'huge'],
};

const BACKGROUND_WORDS: Record<SyntheticBackground, readonly string[]> = {
  grey: ['grey', 'gray'],
  white: ['white'],
  black: ['black', 'dark'],
  beige: ['beige', 'sand-coloured'],
  'light blue': ['light blue', 'pale blue'],
};

/** Position phrases by row then column, each with its preposition. */
const POSITION_WORDS: Record<string, readonly string[]> = {
  'top left': ['in the top left', 'in the upper left corner', 'at the top left'],
  'top centre': ['at the top', 'in the top middle', 'near the top edge'],
  'top right': ['in the top right', 'in the upper right corner', 'at the top right'],
  'middle left': ['on the left', 'at the left side', 'in the middle of the left side'],
  'middle centre': ['in the centre', 'in the middle', 'in the center'],
  'middle right': ['on the right', 'at the right side', 'in the middle of the right side'],
  'bottom left': ['in the bottom left', 'in the lower left corner', 'at the bottom left'],
  'bottom centre': ['at the bottom', 'in the bottom middle', 'near the bottom edge'],
  'bottom right': ['in the bottom right', 'in the lower right corner', 'at the bottom right'],
};

function pick<T>(rng: Rng, items: readonly T[]): T {
  return items[rng.int(items.length)] as T;
}

function article(phrase: string): string {
  return (/^[aeiou]/i.test(phrase) ? 'an ' : 'a ') + phrase;
}

type Words = { size: string; colour: string; shape: string; pos: string; bg: string };

/** Caption templates: every one names the colour and the shape. */
const TEMPLATES: readonly ((w: Words) => string)[] = [
  (w) => `${article(`${w.size} ${w.colour} ${w.shape}`)} on ${article(w.bg)} background`,
  (w) => `${w.colour} ${w.shape} ${w.pos}`,
  (w) => `${article(`${w.colour} ${w.shape}`)} ${w.pos}, ${w.bg} background`,
  (w) => `a picture of ${article(`${w.size} ${w.colour} ${w.shape}`)}`,
  (w) => `there is ${article(`${w.colour} ${w.shape}`)} ${w.pos}`,
  (w) => `${w.size} ${w.colour} ${w.shape} against ${article(w.bg)} backdrop`,
  (w) => article(`${w.colour} ${w.shape}`),
  (w) => `an image with ${article(`${w.size} ${w.colour} ${w.shape}`)} ${w.pos}`,
  (w) => `${w.colour} ${w.shape}, ${w.size}, on ${w.bg}`,
  (w) => `${article(w.shape)} coloured ${w.colour} ${w.pos}`,
  (w) => `a drawing of ${article(`${w.colour} ${w.shape}`)} on a ${w.bg} background`,
  (w) => `${article(`${w.size} ${w.shape}`)} in ${w.colour} ${w.pos} of the picture`,
];

/** Describe attributes in words, choosing wording and template with `rng`. */
export function syntheticCaption(a: SyntheticAttributes, rng: Rng): string {
  const words: Words = {
    size: pick(rng, SIZE_WORDS[a.size]),
    colour: pick(rng, SYNTHETIC_COLOUR_WORDS[a.colour]),
    shape: pick(rng, SYNTHETIC_SHAPE_WORDS[a.shape]),
    pos: pick(rng, POSITION_WORDS[`${a.row} ${a.column}`] ?? ['']),
    bg: pick(rng, BACKGROUND_WORDS[a.background]),
  };
  const caption = pick(rng, TEMPLATES)(words);
  return rng.next() < 0.5 ? caption : caption.charAt(0).toUpperCase() + caption.slice(1) + '.';
}

function distance(a: readonly number[], b: readonly number[]): number {
  return Math.hypot((a[0] ?? 0) - (b[0] ?? 0), (a[1] ?? 0) - (b[1] ?? 0), (a[2] ?? 0) - (b[2] ?? 0));
}

/** A drawing plan for one sample: attributes, caption and geometry. */
export interface SyntheticPlan {
  readonly index: number;
  readonly attributes: SyntheticAttributes;
  readonly caption: string;
  readonly svg: string;
}

function unitShape(shape: SyntheticShape): string {
  const poly = (pts: readonly (readonly [number, number])[]): string =>
    `<polygon points="${pts.map(([x, y]) => `${x.toFixed(4)},${y.toFixed(4)}`).join(' ')}"/>`;
  const ring = (n: number, r: number, phase: number): [number, number][] =>
    Array.from({ length: n }, (_, k) => {
      const t = phase + (2 * Math.PI * k) / n;
      return [r * Math.cos(t), r * Math.sin(t)] as [number, number];
    });
  switch (shape) {
    case 'circle':
      return '<circle cx="0" cy="0" r="1"/>';
    case 'square':
      return '<rect x="-0.82" y="-0.82" width="1.64" height="1.64"/>';
    case 'triangle':
      return poly([
        [0, -1],
        [0.95, 0.72],
        [-0.95, 0.72],
      ]);
    case 'star': {
      const outer = ring(5, 1, -Math.PI / 2);
      const inner = ring(5, 0.42, -Math.PI / 2 + Math.PI / 5);
      return poly(outer.flatMap((p, k) => [p, inner[k] ?? p]));
    }
    case 'cross': {
      const a = 0.32;
      return poly([
        [-a, -1], [a, -1], [a, -a], [1, -a], [1, a], [a, a],
        [a, 1], [-a, 1], [-a, a], [-1, a], [-1, -a], [-a, -a],
      ]);
    }
    case 'diamond':
      return poly([
        [0, -1],
        [0.68, 0],
        [0, 1],
        [-0.68, 0],
      ]);
    case 'hexagon':
      return poly(ring(6, 1, 0));
    case 'heart':
      return '<path d="M0,0.95 C-0.55,0.55 -1.05,0.15 -1.0,-0.35 C-0.95,-0.95 -0.2,-1.05 0,-0.5 C0.2,-1.05 0.95,-0.95 1.0,-0.35 C1.05,0.15 0.55,0.55 0,0.95 Z"/>';
  }
}

const UNIT_SHAPES = Object.fromEntries(SYNTHETIC_SHAPES.map((s) => [s, unitShape(s)])) as Record<SyntheticShape, string>;

/**
 * Draw sample `index` of dataset `seed`: its attributes, caption and SVG. Pure and
 * cheap; rendering the SVG is the expensive part.
 *
 * @example
 * ```ts
 * const plan = planSyntheticSample(3, 0, 64);
 * plan.attributes.shape; // e.g. 'star'
 * ```
 */
export function planSyntheticSample(seed: number, index: number, imageSize: number): SyntheticPlan {
  const rng = new Rng(deriveSeed(seed, 'synthetic', index));
  const shape = pick(rng, SYNTHETIC_SHAPES);
  const colourNames = Object.keys(SYNTHETIC_COLOURS) as SyntheticColour[];
  const bgNames = Object.keys(SYNTHETIC_BACKGROUNDS) as SyntheticBackground[];
  const colour = pick(rng, colourNames);
  // A background far enough from the shape colour to be told apart.
  const bgChoices = bgNames.filter((b) => distance(SYNTHETIC_BACKGROUNDS[b], SYNTHETIC_COLOURS[colour]) > 110);
  const background = pick(rng, bgChoices);
  const size = pick(rng, Object.keys(SYNTHETIC_SIZES) as SyntheticSize[]);
  const rowIndex = rng.int(3);
  const colIndex = rng.int(3);
  const attributes: SyntheticAttributes = {
    shape,
    colour,
    size,
    row: ROWS[rowIndex] ?? 'middle',
    column: COLS[colIndex] ?? 'centre',
    background,
  };
  const s = imageSize;
  const r = SYNTHETIC_SIZES[size] * s * rng.uniform(0.9, 1.1);
  const margin = 0.03 * s;
  const lo = r + margin;
  const hi = s - r - margin;
  const jitter = 0.035 * s;
  const place = (k: number): number => Math.min(hi, Math.max(lo, lo + ((hi - lo) * k) / 2 + rng.uniform(-jitter, jitter)));
  const cx = place(colIndex);
  const cy = place(rowIndex);
  const rotation = shape === 'circle' ? 0 : rng.uniform(-15, 15);
  const jitterColour = (rgb: readonly number[]): string =>
    `rgb(${rgb.map((v) => Math.max(0, Math.min(255, Math.round(v + rng.uniform(-14, 14))))).join(',')})`;
  const fill = jitterColour(SYNTHETIC_COLOURS[colour]);
  const bgFill = jitterColour(SYNTHETIC_BACKGROUNDS[background]);
  const svg =
    `<svg xmlns="http://www.w3.org/2000/svg" width="${s}" height="${s}" viewBox="0 0 ${s} ${s}">` +
    `<rect width="${s}" height="${s}" fill="${bgFill}"/>` +
    `<g fill="${fill}" transform="translate(${cx.toFixed(3)} ${cy.toFixed(3)}) rotate(${rotation.toFixed(2)}) scale(${r.toFixed(3)})">` +
    UNIT_SHAPES[shape] +
    '</g></svg>';
  const caption = syntheticCaption(attributes, rng);
  return { index, attributes, caption, svg };
}

/** Render a plan to PNG bytes (RGB, no alpha). */
export async function renderSyntheticPlan(plan: SyntheticPlan): Promise<Buffer> {
  return await sharp(Buffer.from(plan.svg)).removeAlpha().png({ compressionLevel: 6, adaptiveFiltering: false }).toBuffer();
}

/** The key of synthetic sample `index`: 8 zero-padded digits. */
export function syntheticKey(index: number): string {
  return String(index).padStart(8, '0');
}

/**
 * The synthetic dataset as a {@link SampleSource}: samples `start .. start+count-1` of
 * dataset `seed`.
 *
 * @example
 * ```ts
 * await convertToShards(syntheticSource({ count: 2000, seed: 3 }), { pattern: 'd/syn-%06d.tar', maxCount: 500 });
 * ```
 */
export function syntheticSource(options: SyntheticOptions): SampleSource {
  const o = resolveSyntheticOptions(options);
  const indices = function* (): Generator<number> {
    for (let i = o.start; i < o.start + o.count; i++) yield i;
  };
  const render = async (i: number): Promise<SampleInput> => {
    const plan = planSyntheticSample(o.seed, i, o.imageSize);
    const png = await renderSyntheticPlan(plan);
    return {
      __key__: syntheticKey(i),
      files: {
        png,
        txt: plan.caption,
        cls: String(SYNTHETIC_SHAPES.indexOf(plan.attributes.shape)),
        json: JSON.stringify(plan.attributes),
      },
    };
  };
  return {
    kind: 'synthetic',
    total: o.count,
    classes: SYNTHETIC_SHAPES,
    meta: {
      source: 'synthetic',
      seed: o.seed,
      start: o.start,
      count: o.count,
      imageSize: o.imageSize,
      colours: Object.keys(SYNTHETIC_COLOURS),
      backgrounds: Object.keys(SYNTHETIC_BACKGROUNDS),
      sizes: Object.keys(SYNTHETIC_SIZES),
    },
    skipped: {},
    skippedExamples: [],
    [Symbol.asyncIterator]: () => orderedMap(indices(), render, o.renderConcurrency)[Symbol.asyncIterator](),
  };
}
