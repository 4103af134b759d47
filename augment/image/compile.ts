/**
 * Turns a validated transform into a fast function. Each view runs in two phases:
 *
 * 1. **plan** - every random choice, in step order, from the view's {@link Rng}
 *    (apply-or-not draws for `p < 1`, crop boxes, jitter order and factors, sigma).
 *    Geometry folds into one {@link ResamplePlan} (a source box, a resize, a window, a
 *    mirror flag): flips commute with the pixel ops (pointwise, or a symmetric blur
 *    with symmetric edges), so they become the mirror flag.
 * 2. **run** - one resampling pass from the decoded image to the small output, then
 *    the pixel ops in place on the small image, then normalisation into the caller's
 *    Float32Array.
 */
import { InvalidOptionError } from '../../core/errors.js';
import type { Rng } from '../../core/rng.js';
import { gaussianBlurInPlace } from './blur.js';
import {
  adjustBrightness,
  adjustContrast,
  adjustHue,
  adjustSaturation,
  applyLut,
  brightnessLut,
  contrastLut,
  meanLuma,
  solarizeInPlace,
  solarizeLut,
  toGrayscale,
} from './colour.js';
import { centerCropWindow, resizedSize, sampleResizedCropBox } from './geometry.js';
import { normalizeInto, normalizeTable } from './normalize.js';
import { resampleRgb } from './resample.js';
import type { Rect, ResamplePlan } from './resample.js';
import { resolveImageTransform } from './spec.js';
import type { ImageTransformSpec, ResolvedImageOp } from './spec.js';
import type { RgbImage } from './types.js';
import { WasmViewKernels, wasmKernelsAvailable } from './wasm/view.js';

/** One pixel operation of a planned view, with its sampled parameter. */
export type PixelStep =
  | { readonly op: 'brightness'; readonly factor: number }
  | { readonly op: 'contrast'; readonly factor: number }
  | { readonly op: 'saturation'; readonly factor: number }
  | { readonly op: 'hue'; readonly factor: number }
  | { readonly op: 'grayscale' }
  | { readonly op: 'gaussianBlur'; readonly sigma: number }
  | { readonly op: 'solarize'; readonly threshold: number };

/** Everything random about one view, decided before any pixel is touched. */
export interface ViewPlan {
  readonly geometry: ResamplePlan;
  readonly pixels: readonly PixelStep[];
}

/**
 * A compiled transform. Compile once (per worker), run per view.
 *
 * @example
 * ```ts
 * const t = compileImageTransform(mocov2Transform({ size: 224 }));
 * const batch = new Float32Array(64 * 224 * 224 * 3);
 * t.applyInto(image, new Rng(deriveSeed(seed, epoch, key, 'view1')), batch, 0);
 * ```
 */
export interface CompiledImageTransform {
  /** The validated steps. */
  readonly ops: readonly ResolvedImageOp[];
  /** The output size when it does not depend on the input (a crop fixes it), else `undefined`. */
  readonly outputSize: { readonly width: number; readonly height: number } | undefined;
  /** Draw all random choices for one view of a `width` x `height` image. */
  plan(width: number, height: number, rng: Rng): ViewPlan;
  /** Execute a plan: the 8-bit result before normalisation (into `out` when given). */
  run(image: RgbImage, plan: ViewPlan, out?: RgbImage): RgbImage;
  /** plan + run. */
  apply(image: RgbImage, rng: Rng): RgbImage;
  /**
   * plan + run + normalise into `out` at `offset` (NHWC float32; without a `normalize`
   * step values are `v / 255`). Returns the view's size.
   */
  applyInto(image: RgbImage, rng: Rng, out: Float32Array, offset: number): { width: number; height: number };
  /** One line for logs, e.g. `randomResizedCrop(224) -> colorJitter@0.8 -> ...`. */
  describe(): string;
}

const IDENTITY_TABLE = normalizeTable([0, 0, 0], [1, 1, 1]);

function applies(p: number, rng: Rng): boolean {
  if (p >= 1) return true;
  if (p <= 0) return false;
  return rng.next() < p;
}

function planView(ops: readonly ResolvedImageOp[], width: number, height: number, rng: Rng): ViewPlan {
  // Geometry state: before a resample, the current image is `box` (mirrored when `mirror`);
  // after, it is `window` of the resized box (in mirrored coordinates).
  let box: Rect = { x: 0, y: 0, width, height };
  let mirror = false;
  let resized: { width: number; height: number } | undefined;
  let window: Rect = box;
  const pixels: PixelStep[] = [];

  /** A rect in current (pre-resample) image coordinates -> source coordinates. */
  const subBox = (r: Rect): Rect => {
    const x = mirror ? box.width - r.x - r.width : r.x;
    return { x: box.x + x, y: box.y + r.y, width: r.width, height: r.height };
  };

  for (const op of ops) {
    switch (op.op) {
      case 'randomResizedCrop': {
        box = subBox(sampleResizedCropBox(box.width, box.height, op.scale, op.ratio, rng));
        resized = { width: op.width, height: op.height };
        window = { x: 0, y: 0, width: op.width, height: op.height };
        break;
      }
      case 'resize': {
        resized = resizedSize(box.width, box.height, op.size);
        window = { x: 0, y: 0, width: resized.width, height: resized.height };
        break;
      }
      case 'centerCrop': {
        if (resized === undefined) {
          // Before resampling: crop the source box. A crop larger than the image keeps the
          // black padding torchvision adds in the window; a later resize drops it (clamps).
          const w = centerCropWindow(box.width, box.height, op.width, op.height);
          box = subBox({ x: Math.max(0, w.x), y: Math.max(0, w.y), width: Math.min(op.width, box.width), height: Math.min(op.height, box.height) });
          window = { x: Math.min(0, w.x), y: Math.min(0, w.y), width: op.width, height: op.height };
        } else {
          const w = centerCropWindow(window.width, window.height, op.width, op.height);
          window = { x: window.x + w.x, y: window.y + w.y, width: op.width, height: op.height };
        }
        break;
      }
      case 'horizontalFlip': {
        if (!applies(op.p, rng)) break;
        if (resized !== undefined) window = { ...window, x: resized.width - window.x - window.width };
        else window = { ...window, x: box.width - window.x - window.width };
        mirror = !mirror;
        break;
      }
      case 'colorJitter': {
        if (!applies(op.p, rng)) break;
        const order = rng.shuffle([0, 1, 2, 3]);
        const b = op.brightness === null ? undefined : rng.uniform(op.brightness[0], op.brightness[1]);
        const c = op.contrast === null ? undefined : rng.uniform(op.contrast[0], op.contrast[1]);
        const s = op.saturation === null ? undefined : rng.uniform(op.saturation[0], op.saturation[1]);
        const h = op.hue === null ? undefined : rng.uniform(op.hue[0], op.hue[1]);
        for (const k of order) {
          if (k === 0 && b !== undefined) pixels.push({ op: 'brightness', factor: b });
          else if (k === 1 && c !== undefined) pixels.push({ op: 'contrast', factor: c });
          else if (k === 2 && s !== undefined) pixels.push({ op: 'saturation', factor: s });
          else if (k === 3 && h !== undefined) pixels.push({ op: 'hue', factor: h });
        }
        break;
      }
      case 'grayscale':
        if (applies(op.p, rng)) pixels.push({ op: 'grayscale' });
        break;
      case 'gaussianBlur':
        if (applies(op.p, rng)) pixels.push({ op: 'gaussianBlur', sigma: op.sigma[0] === op.sigma[1] ? op.sigma[0] : rng.uniform(op.sigma[0], op.sigma[1]) });
        break;
      case 'solarize':
        if (applies(op.p, rng)) pixels.push({ op: 'solarize', threshold: op.threshold });
        break;
      case 'normalize':
        break;
    }
  }
  const geometry: ResamplePlan =
    resized === undefined
      ? { box, resizeWidth: box.width, resizeHeight: box.height, window, mirror }
      : { box, resizeWidth: resized.width, resizeHeight: resized.height, window, mirror };
  return { geometry, pixels };
}

/** Run one planned pixel step in place. */
export function runPixelStep(image: RgbImage, step: PixelStep): void {
  switch (step.op) {
    case 'brightness': adjustBrightness(image, step.factor); break;
    case 'contrast': adjustContrast(image, step.factor); break;
    case 'saturation': adjustSaturation(image, step.factor); break;
    case 'hue': adjustHue(image, step.factor); break;
    case 'grayscale': toGrayscale(image); break;
    case 'gaussianBlur': gaussianBlurInPlace(image, step.sigma); break;
    case 'solarize': solarizeInPlace(image, step.threshold); break;
  }
}

/** `second(first(v))` as one table. */
function composeLut(first: Uint8Array | undefined, second: Uint8Array): Uint8Array {
  if (first === undefined) return second;
  const out = new Uint8Array(256);
  for (let v = 0; v < 256; v++) out[v] = second[first[v] as number] as number;
  return out;
}

/**
 * Runs planned pixel steps in place with the same result as {@link runPixelStep} one
 * by one, in fewer passes: brightness, contrast and solarize are 8-bit tables that are
 * composed and applied while the next per-pixel op (saturation, hue, grey) reads its
 * input (contrast's mean grey is read through the pending table). Returns the table
 * still pending at the end (`undefined` if none), which the caller applies or folds
 * into normalisation.
 */
function runPixelSteps(image: RgbImage, steps: readonly PixelStep[]): Uint8Array | undefined {
  let pending: Uint8Array | undefined;
  for (const step of steps) {
    switch (step.op) {
      case 'brightness':
        pending = composeLut(pending, brightnessLut(step.factor));
        break;
      case 'contrast':
        pending = composeLut(pending, contrastLut(meanLuma(image, pending), step.factor));
        break;
      case 'solarize':
        pending = composeLut(pending, solarizeLut(step.threshold));
        break;
      case 'saturation':
        adjustSaturation(image, step.factor, pending);
        pending = undefined;
        break;
      case 'hue':
        adjustHue(image, step.factor, pending);
        pending = undefined;
        break;
      case 'grayscale':
        toGrayscale(image, pending);
        pending = undefined;
        break;
      case 'gaussianBlur':
        if (pending !== undefined) applyLut(image.data, pending);
        pending = undefined;
        gaussianBlurInPlace(image, step.sigma);
        break;
    }
  }
  return pending;
}

/** A normalisation table that first maps each value through `lut`. */
function foldIntoTable(table: Float32Array, lut: Uint8Array): Float32Array {
  const out = new Float32Array(768);
  for (let c = 0; c < 3; c++) for (let v = 0; v < 256; v++) out[c * 256 + v] = table[c * 256 + (lut[v] as number)] as number;
  return out;
}

function staticOutputSize(ops: readonly ResolvedImageOp[]): { width: number; height: number } | undefined {
  let size: { width: number; height: number } | undefined;
  let fixed = false;
  for (const op of ops) {
    if (op.op === 'randomResizedCrop' || op.op === 'centerCrop') {
      size = { width: op.width, height: op.height };
      fixed = true;
    } else if (op.op === 'resize') {
      fixed = false;
    }
  }
  return fixed ? size : undefined;
}

function describeOp(op: ResolvedImageOp): string {
  const p = op.p < 1 ? `@${op.p}` : '';
  switch (op.op) {
    case 'randomResizedCrop': return `randomResizedCrop(${op.height === op.width ? op.width : `${op.height}x${op.width}`}, scale ${op.scale.join('-')})`;
    case 'resize': return `resize(${op.size})`;
    case 'centerCrop': return `centerCrop(${op.height === op.width ? op.width : `${op.height}x${op.width}`})`;
    case 'horizontalFlip': return `horizontalFlip${p}`;
    case 'colorJitter': return `colorJitter${p}`;
    case 'grayscale': return `grayscale${p}`;
    case 'gaussianBlur': return `gaussianBlur(${op.sigma.join('-')})${p}`;
    case 'solarize': return `solarize(${op.threshold})${p}`;
    case 'normalize': return 'normalize';
  }
}

/**
 * Validates (once) and compiles a transform spec. It takes `unknown` on purpose: a
 * spec that arrives as JSON (a config file, a worker message) is validated here.
 *
 * @example
 * ```ts
 * const t = compileImageTransform([
 *   { op: 'resize', params: { size: 256 } },
 *   { op: 'centerCrop', params: { size: 224 } },
 * ]);
 * const view = t.apply(image, new Rng(1)); // 224 x 224 RgbImage
 * ```
 */
export function compileImageTransform(spec: ImageTransformSpec | unknown, name = 'spec', options: CompileImageOptions = {}): CompiledImageTransform {
  const ops = resolveImageTransform(spec, name);
  const kernels = options.kernels ?? 'auto';
  if (kernels !== 'auto' && kernels !== 'wasm' && kernels !== 'js') {
    throw new InvalidOptionError('kernels', `Expected 'auto', 'wasm' or 'js' but received ${JSON.stringify(kernels)}`);
  }
  const wasm = kernels === 'wasm' || (kernels === 'auto' && wasmKernelsAvailable()) ? WasmViewKernels.get() : undefined;
  if (wasm !== undefined) {
    const compiled = compileWith(ops, (image, plan, out) => wasm.run(image, plan, out));
    const fixedTable = tableOf(ops);
    return {
      ...compiled,
      applyInto(image, rng, out, offset) {
        const p = compiled.plan(image.width, image.height, rng);
        wasm.run(image, p, undefined, fixedTable, out, offset);
        return { width: p.geometry.window.width, height: p.geometry.window.height };
      },
    };
  }
  return compileWith(ops, undefined);
}

function tableOf(ops: readonly ResolvedImageOp[]): Float32Array {
  const last = ops[ops.length - 1];
  return last?.op === 'normalize' ? normalizeTable(last.mean, last.std) : IDENTITY_TABLE;
}

function compileWith(ops: readonly ResolvedImageOp[], runFast: ((image: RgbImage, plan: ViewPlan, out?: RgbImage) => RgbImage) | undefined): CompiledImageTransform {
  const table = tableOf(ops);
  const outputSize = staticOutputSize(ops);

  const run = runFast ?? ((image: RgbImage, plan: ViewPlan, out?: RgbImage): RgbImage => {
    const view = resampleRgb(image, plan.geometry, out);
    const pending = runPixelSteps(view, plan.pixels);
    if (pending !== undefined) applyLut(view.data, pending);
    return view;
  });
  const plan = (width: number, height: number, rng: Rng): ViewPlan => planView(ops, width, height, rng);
  let viewScratch: RgbImage | undefined;
  return {
    ops,
    outputSize,
    plan,
    run,
    apply: (image, rng) => run(image, plan(image.width, image.height, rng)),
    applyInto(image, rng, out, offset) {
      const p = plan(image.width, image.height, rng);
      // The 8-bit view is scratch (only its normalised copy leaves): reuse one buffer per size.
      const { width: vw, height: vh } = p.geometry.window;
      if (viewScratch === undefined || viewScratch.width !== vw || viewScratch.height !== vh) {
        viewScratch = { width: vw, height: vh, data: new Uint8Array(vw * vh * 3) };
      }
      const view = resampleRgb(image, p.geometry, viewScratch);
      const pending = runPixelSteps(view, p.pixels);
      // A table op left at the end costs no pass: it folds into the normalisation table.
      normalizeInto(view, pending === undefined ? table : foldIntoTable(table, pending), out, offset);
      return { width: view.width, height: view.height };
    },
    describe: () => ops.map(describeOp).join(' -> '),
  };
}

/**
 * Which implementation runs the pixels of a compiled transform:
 * - `'wasm'`: the WebAssembly SIMD kernels (augment/image/wasm), byte-identical to the
 *   JavaScript operators and several times faster; throws `BackendError` when they
 *   cannot load.
 * - `'js'`: the JavaScript operators (the reference implementation).
 * - `'auto'` (default): `'wasm'` when the kernels load in this thread, else `'js'`.
 */
export type ImageKernels = 'auto' | 'wasm' | 'js';

/** Options of {@link compileImageTransform}. */
export interface CompileImageOptions {
  /** Implementation of the pixel work (default `'auto'`: WebAssembly SIMD when available). */
  readonly kernels?: ImageKernels;
}

/** Throws unless the transform's output size is fixed (needed to batch its views). */
export function expectFixedSize(t: CompiledImageTransform, name = 'transform'): { width: number; height: number } {
  if (t.outputSize === undefined) {
    throw new InvalidOptionError(name, `${name}: output size depends on the input; end the transform with randomResizedCrop or centerCrop`);
  }
  return t.outputSize;
}
