/**
 * A composed image transform is data: a JSON array of `{ op, params, p }` steps, so it
 * can be written in a config file, logged, and posted to a worker thread. It is
 * validated once ({@link resolveImageTransform}) into a resolved form that
 * `compileImageTransform` turns into a fast function.
 *
 * Rules (checked, with messages naming the step): the size-changing ops
 * (`randomResizedCrop`, `resize`, `centerCrop`) come before the pixel ops
 * (`colorJitter`, `grayscale`, `gaussianBlur`, `solarize`), at most one of them
 * resamples (`randomResizedCrop` or `resize`), they always apply (`p` is 1), and
 * `normalize`, if present, is last. `horizontalFlip` may go anywhere.
 */
import { InvalidOptionError } from '../../core/errors.js';
import {
  expectInteger,
  expectNumber,
  expectOneOf,
  expectProbability,
  expectRange,
  invalidOption,
} from '../../core/validate.js';

/** Names of the image operators, the `op` field of a step. */
export const IMAGE_OP_NAMES = [
  'randomResizedCrop',
  'resize',
  'centerCrop',
  'horizontalFlip',
  'colorJitter',
  'grayscale',
  'gaussianBlur',
  'solarize',
  'normalize',
] as const;

export type ImageOpName = (typeof IMAGE_OP_NAMES)[number];

/** An output size: one number for a square, or `[height, width]` as torchvision takes it. */
export type SizeParam = number | readonly [number, number];
/** A factor range `[lo, hi]`, or one number `x` meaning torchvision's `[max(0, 1 - x), 1 + x]` (hue: `[-x, x]`). */
export type JitterParam = number | readonly [number, number];

export interface RandomResizedCropParams {
  readonly size: SizeParam;
  /** Area fraction range of the crop; default `[0.08, 1]` (torchvision), mocov2 uses `[0.2, 1]`. */
  readonly scale?: readonly [number, number];
  /** Aspect ratio (width / height) range; default `[3/4, 4/3]`. */
  readonly ratio?: readonly [number, number];
}
export interface ResizeParams {
  /** The shorter side after resizing (the longer keeps the aspect ratio). */
  readonly size: number;
}
export interface CenterCropParams {
  readonly size: SizeParam;
}
export interface ColorJitterParams {
  readonly brightness?: JitterParam;
  readonly contrast?: JitterParam;
  readonly saturation?: JitterParam;
  /** In turns of the colour wheel, within [-0.5, 0.5]. */
  readonly hue?: JitterParam;
}
export interface GaussianBlurParams {
  /** Standard deviation in pixels, or a `[lo, hi]` range sampled uniformly. */
  readonly sigma: number | readonly [number, number];
}
export interface SolarizeParams {
  /** Channel values `>= threshold` are inverted. */
  readonly threshold: number;
}
export interface NormalizeParams {
  readonly mean: readonly [number, number, number];
  readonly std: readonly [number, number, number];
}

interface StepBase<O extends ImageOpName> {
  readonly op: O;
  /** Apply probability (default 1). Must be 1 for size-changing ops and `normalize`. */
  readonly p?: number;
}

/** One step of an image transform. */
export type ImageOpSpec =
  | (StepBase<'randomResizedCrop'> & { readonly params: RandomResizedCropParams })
  | (StepBase<'resize'> & { readonly params: ResizeParams })
  | (StepBase<'centerCrop'> & { readonly params: CenterCropParams })
  | (StepBase<'horizontalFlip'> & { readonly params?: Readonly<Record<string, never>> })
  | (StepBase<'colorJitter'> & { readonly params: ColorJitterParams })
  | (StepBase<'grayscale'> & { readonly params?: Readonly<Record<string, never>> })
  | (StepBase<'gaussianBlur'> & { readonly params: GaussianBlurParams })
  | (StepBase<'solarize'> & { readonly params: SolarizeParams })
  | (StepBase<'normalize'> & { readonly params: NormalizeParams });

/**
 * A composed image transform: steps applied in order.
 *
 * @example
 * ```ts
 * const spec: ImageTransformSpec = [
 *   { op: 'randomResizedCrop', params: { size: 224, scale: [0.2, 1] } },
 *   { op: 'horizontalFlip', p: 0.5 },
 *   { op: 'normalize', params: { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] } },
 * ];
 * ```
 */
export type ImageTransformSpec = readonly ImageOpSpec[];

/** A `[lo, hi]` range, or `null` when the op is off. */
export type ResolvedRange = readonly [number, number] | null;

/** Validated steps, with defaults filled in and sizes as `[height, width]`. */
export type ResolvedImageOp =
  | { readonly op: 'randomResizedCrop'; readonly p: 1; readonly height: number; readonly width: number; readonly scale: readonly [number, number]; readonly ratio: readonly [number, number] }
  | { readonly op: 'resize'; readonly p: 1; readonly size: number }
  | { readonly op: 'centerCrop'; readonly p: 1; readonly height: number; readonly width: number }
  | { readonly op: 'horizontalFlip'; readonly p: number }
  | { readonly op: 'colorJitter'; readonly p: number; readonly brightness: ResolvedRange; readonly contrast: ResolvedRange; readonly saturation: ResolvedRange; readonly hue: ResolvedRange }
  | { readonly op: 'grayscale'; readonly p: number }
  | { readonly op: 'gaussianBlur'; readonly p: number; readonly sigma: readonly [number, number] }
  | { readonly op: 'solarize'; readonly p: number; readonly threshold: number }
  | { readonly op: 'normalize'; readonly p: 1; readonly mean: readonly [number, number, number]; readonly std: readonly [number, number, number] };

type Kind = 'resample' | 'crop' | 'flip' | 'pixel' | 'normalize';

interface OpDefinition<O extends ImageOpName> {
  readonly kind: Kind;
  readonly params: readonly string[];
  resolve(params: Readonly<Record<string, unknown>>, p: number, at: string): Extract<ResolvedImageOp, { op: O }>;
}

const MAX_SIDE = 16384;

function size(name: string, value: unknown): [number, number] {
  if (typeof value === 'number') {
    const s = expectInteger(name, value, 1, MAX_SIDE);
    return [s, s];
  }
  if (Array.isArray(value) && value.length === 2) {
    return [expectInteger(`${name}[0]`, value[0], 1, MAX_SIDE), expectInteger(`${name}[1]`, value[1], 1, MAX_SIDE)];
  }
  throw invalidOption(name, `integer between 1 and ${MAX_SIDE} or [height, width]`, value);
}

function mustBeOne(name: string, p: number, op: string): 1 {
  if (p !== 1) throw invalidOption(name, `1 (${op} changes the image size, so it always applies)`, p);
  return 1;
}

function jitter(name: string, value: unknown, hue: boolean): ResolvedRange {
  if (value === undefined) return null;
  let range: readonly [number, number];
  if (typeof value === 'number') {
    const x = hue ? expectNumber(name, value, 0, 0.5) : expectNumber(name, value, 0);
    range = hue ? [-x, x] : [Math.max(0, 1 - x), 1 + x];
  } else {
    range = hue ? expectRange(name, value, -0.5, 0.5) : expectRange(name, value, 0);
  }
  const identity = hue ? 0 : 1;
  return range[0] === identity && range[1] === identity ? null : range;
}

function triple(name: string, value: unknown, positive: boolean): readonly [number, number, number] {
  if (!Array.isArray(value) || value.length !== 3) throw invalidOption(name, 'array of 3 numbers', value);
  const min = positive ? Number.MIN_VALUE : -Infinity;
  return [expectNumber(`${name}[0]`, value[0], min), expectNumber(`${name}[1]`, value[1], min), expectNumber(`${name}[2]`, value[2], min)];
}

/** The operator table: parameter names, kind, and validation of each op. */
const OPS = {
  randomResizedCrop: {
    kind: 'resample',
    params: ['size', 'scale', 'ratio'],
    resolve(params, p, at) {
      const [height, width] = size(`${at}.params.size`, params['size']);
      const scale = params['scale'] === undefined ? ([0.08, 1] as const) : expectRange(`${at}.params.scale`, params['scale'], 0, 1);
      if (scale[1] <= 0) throw invalidOption(`${at}.params.scale`, '[lo, hi] with 0 <= lo <= hi <= 1 and hi > 0', params['scale']);
      const ratio = params['ratio'] === undefined ? ([3 / 4, 4 / 3] as const) : expectRange(`${at}.params.ratio`, params['ratio'], Number.MIN_VALUE);
      return { op: 'randomResizedCrop', p: mustBeOne(`${at}.p`, p, 'randomResizedCrop'), height, width, scale, ratio };
    },
  },
  resize: {
    kind: 'resample',
    params: ['size'],
    resolve(params, p, at) {
      return { op: 'resize', p: mustBeOne(`${at}.p`, p, 'resize'), size: expectInteger(`${at}.params.size`, params['size'], 1, MAX_SIDE) };
    },
  },
  centerCrop: {
    kind: 'crop',
    params: ['size'],
    resolve(params, p, at) {
      const [height, width] = size(`${at}.params.size`, params['size']);
      return { op: 'centerCrop', p: mustBeOne(`${at}.p`, p, 'centerCrop'), height, width };
    },
  },
  horizontalFlip: {
    kind: 'flip',
    params: [],
    resolve(_params, p) {
      return { op: 'horizontalFlip', p };
    },
  },
  colorJitter: {
    kind: 'pixel',
    params: ['brightness', 'contrast', 'saturation', 'hue'],
    resolve(params, p, at) {
      return {
        op: 'colorJitter',
        p,
        brightness: jitter(`${at}.params.brightness`, params['brightness'], false),
        contrast: jitter(`${at}.params.contrast`, params['contrast'], false),
        saturation: jitter(`${at}.params.saturation`, params['saturation'], false),
        hue: jitter(`${at}.params.hue`, params['hue'], true),
      };
    },
  },
  grayscale: {
    kind: 'pixel',
    params: [],
    resolve(_params, p) {
      return { op: 'grayscale', p };
    },
  },
  gaussianBlur: {
    kind: 'pixel',
    params: ['sigma'],
    resolve(params, p, at) {
      const v = params['sigma'];
      const sigma = typeof v === 'number' ? ([expectNumber(`${at}.params.sigma`, v, 0, 1000), v] as const) : expectRange(`${at}.params.sigma`, v, 0, 1000);
      return { op: 'gaussianBlur', p, sigma };
    },
  },
  solarize: {
    kind: 'pixel',
    params: ['threshold'],
    resolve(params, p, at) {
      return { op: 'solarize', p, threshold: expectNumber(`${at}.params.threshold`, params['threshold'], 0, 256) };
    },
  },
  normalize: {
    kind: 'normalize',
    params: ['mean', 'std'],
    resolve(params, p, at) {
      return {
        op: 'normalize',
        p: mustBeOne(`${at}.p`, p, 'normalize'),
        mean: triple(`${at}.params.mean`, params['mean'], false),
        std: triple(`${at}.params.std`, params['std'], true),
      };
    },
  },
} satisfies { [O in ImageOpName]: OpDefinition<O> };

/** Whether an op changes the image size (and so must come before the pixel ops). */
export function isGeometricOp(op: ImageOpName): boolean {
  const kind = OPS[op].kind;
  return kind === 'resample' || kind === 'crop';
}

function isRecord(value: unknown): value is Readonly<Record<string, unknown>> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Validates a transform spec (from code or parsed JSON) and fills in defaults. Throws
 * {@link InvalidOptionError} naming the step, e.g. `Expected [lo, hi] with 0 <= lo <=
 * hi <= 1 for spec[0].params.scale but received array of type object`.
 *
 * @example
 * ```ts
 * const ops = resolveImageTransform(JSON.parse(text));
 * ```
 */
export function resolveImageTransform(spec: unknown, name = 'spec'): readonly ResolvedImageOp[] {
  if (!Array.isArray(spec) || spec.length === 0) throw invalidOption(name, 'non-empty array of { op, params, p } steps', spec);
  const out: ResolvedImageOp[] = [];
  let resampled = false;
  let sawPixel = false;
  for (let i = 0; i < spec.length; i++) {
    const at = `${name}[${i}]`;
    const step: unknown = spec[i];
    if (!isRecord(step)) throw invalidOption(at, 'object { op, params, p }', step);
    for (const key of Object.keys(step)) {
      if (key !== 'op' && key !== 'params' && key !== 'p') throw invalidOption(`${at}.${key}`, 'no such field (op, params, p)', step[key]);
    }
    const op = expectOneOf(`${at}.op`, step['op'], IMAGE_OP_NAMES);
    const def: OpDefinition<ImageOpName> = OPS[op];
    const p = step['p'] === undefined ? 1 : expectProbability(`${at}.p`, step['p']);
    const rawParams = step['params'] ?? {};
    if (!isRecord(rawParams)) throw invalidOption(`${at}.params`, 'object', rawParams);
    for (const key of Object.keys(rawParams)) {
      if (!def.params.includes(key)) {
        const known = def.params.length === 0 ? 'none' : def.params.join(', ');
        throw invalidOption(`${at}.params.${key}`, `a parameter of ${op} (${known})`, rawParams[key]);
      }
    }
    if (out.length > 0 && out[out.length - 1]?.op === 'normalize') {
      throw new InvalidOptionError(at, `${at}: normalize must be the last step, but ${op} follows it`);
    }
    if (def.kind === 'resample' || def.kind === 'crop') {
      if (sawPixel) throw new InvalidOptionError(at, `${at}: ${op} changes the image size, so it must come before the colour and blur steps`);
      if (def.kind === 'resample') {
        if (resampled) throw new InvalidOptionError(at, `${at}: only one resampling step (randomResizedCrop or resize) is allowed`);
        resampled = true;
      }
    }
    if (def.kind === 'pixel') sawPixel = true;
    out.push(def.resolve(rawParams, p, at));
  }
  return out;
}
