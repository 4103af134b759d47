/**
 * The WebAssembly SIMD fast path of a compiled transform: one view (crop + resize +
 * mirror, the planned pixel steps, normalisation) runs inside one module instance's
 * linear memory, from one copy of the source rows in to one copy of the result out.
 *
 * The kernels (assembly/index.ts, AssemblyScript, built to kernels.wasm by
 * `npm run build:wasm`) port the integer and float32 arithmetic of the JavaScript
 * operators (resample.ts, colour.ts, blur.ts, normalize.ts), which stay the reference:
 * outputs are byte-identical (tests compare the two on random images, sizes, crops and
 * parameters). What is cheap and scalar stays in JavaScript: sampling the plan, Pillow's
 * resampling coefficients, the 8-bit tables of brightness, contrast and solarize, and
 * the rare blur with a box radius of 2 or more (sigma >= 2.45; mocov2 samples 0.1-2),
 * which runs the JavaScript operator on the view in place in the module's memory.
 *
 * One instance per thread: the module is compiled once per thread on first use
 * (synchronously, from the file next to this one) and its memory grows to the largest
 * view seen, then is reused.
 */
import { BackendError } from '../../../core/errors.js';
import { compileWasmFile, instantiateWasm, type WasmMemory, type WasmModule } from '../../../core/wasm.js';
import { boxWeights, gaussianBlurInPlace } from '../blur.js';
import { brightnessLut, contrastLut, divisionTable, hsvTables, hueFraction, hueSector, hueShift, solarizeLut } from '../colour.js';
import type { PixelStep, ViewPlan } from '../compile.js';
import { coefficients } from '../resample.js';
import type { Coefficients } from '../resample.js';
import type { RgbImage } from '../types.js';

interface KernelExports {
  readonly memory: WasmMemory;
  heapBase(): number;
  resampleH(src: number, pitch: number, rows: number, dst: number, ow: number, start: number, weights: number, K: number): void;
  resampleV(src: number, stride: number, oh: number, dst: number, start: number, weights: number, K: number): void;
  applyLut(p: number, n: number, lut: number): void;
  lumaSum(p: number, npix: number): number;
  grayscale(p: number, npix: number): void;
  saturation(p: number, npix: number, alpha: number): void;
  hue(p: number, npix: number, shift: number, hueT: number, satT: number, scaleT: number, fracT: number, shiftT: number): void;
  blurSmall(img: number, w: number, h: number, k0: number, k1: number, k2: number, tmp: number, lineA: number, lineB: number): void;
  normalize(p: number, npix: number, table: number, out: number): void;
}

const PAGE = 65536;
const SLACK = 16;

const align = (n: number): number => (n + 15) & ~15;

let compiled: WasmModule | undefined;
let compileError: unknown;
let instance: WasmViewKernels | undefined;

function compileModule(): WasmModule {
  if (compiled !== undefined) return compiled;
  if (compileError !== undefined) throw compileError;
  try {
    compiled = compileWasmFile(new URL('./kernels.wasm', import.meta.url));
    return compiled;
  } catch (err) {
    compileError = new BackendError('wasm-simd', `The image kernels (kernels.wasm next to ${import.meta.url}) cannot be loaded: run \`npm run build:wasm\` (WebAssembly SIMD is needed)`, { cause: err });
    throw compileError;
  }
}

/** Whether the WebAssembly SIMD image kernels load in this thread (built, and SIMD supported). */
export function wasmKernelsAvailable(): boolean {
  try {
    compileModule();
    return true;
  } catch {
    return false;
  }
}

/** Padded coefficients: exactly `K` taps per output (zero weights added, first tap moved left to stay inside). */
interface Padded {
  readonly K: number;
  /** First tap per output (source index). */
  readonly start: Int32Array;
  readonly weights: Int32Array;
}

function pad(c: Coefficients, inSize: number, reverse: boolean): Padded {
  const n = c.start.length;
  let K = 1;
  for (let i = 0; i < n; i++) if ((c.count[i] as number) > K) K = c.count[i] as number;
  const start = new Int32Array(n);
  const weights = new Int32Array(n * K);
  for (let j = 0; j < n; j++) {
    const i = reverse ? n - 1 - j : j;
    const s = c.start[i] as number;
    // Outputs with no taps (outside the resized image) keep all-zero weights: 0 after rounding, black.
    const ps = Math.max(0, Math.min(s, inSize - K));
    start[j] = ps;
    const taps = c.count[i] as number;
    for (let k = 0; k < taps; k++) weights[j * K + (s - ps) + k] = c.weights[i * c.ksize + k] as number;
  }
  return { K, start, weights };
}

/** `second(first(v))` as one table. */
function composeLut(first: Uint8Array | undefined, second: Uint8Array): Uint8Array {
  if (first === undefined) return second;
  const out = new Uint8Array(256);
  for (let v = 0; v < 256; v++) out[v] = second[first[v] as number] as number;
  return out;
}

/**
 * For each 8-bit hue, the shifts (0 = v, 8 = p, 16 = q, 24 = t) of the R, G and B outputs
 * in Pillow's hsv2rgb sector switch (colour.ts adjustHue), packed as `r | g << 8 | b << 16`.
 */
function sectorShifts(): Uint32Array {
  const V = 0, P = 8, Q = 16, T = 24;
  const bySector = [[V, T, P], [Q, V, P], [P, V, T], [P, Q, V], [T, P, V], [V, P, Q], [V, T, P]];
  const out = new Uint32Array(256);
  for (let h = 0; h < 256; h++) {
    const [r, g, b] = bySector[hueSector[h] as number] as [number, number, number];
    out[h] = r | (g << 8) | (b << 16);
  }
  return out;
}

/**
 * One thread's kernel instance. Get it with {@link WasmViewKernels.get}.
 *
 * @example
 * ```ts
 * const k = WasmViewKernels.get();
 * const view = k.run(image, transform.plan(image.width, image.height, rng)); // 8-bit RgbImage
 * ```
 */
export class WasmViewKernels {
  readonly #x: KernelExports;
  readonly #tables: { hue: number; sat: number; scale: number; shifts: number; frac: number; lut: number; norm: number };
  readonly #dynamic: number;
  /**
   * When set, milliseconds by `now` per stage are added to `ms` (`resample` including the
   * copy in, each pixel op by name, `normalize` including the copy out): for profiling only.
   */
  profile: { readonly now: () => number; readonly ms: Record<string, number> } | undefined;

  private constructor() {
    const module = compileModule();
    this.#x = instantiateWasm(module, {}) as KernelExports;
    let at = align(this.#x.heapBase());
    const take = (n: number): number => {
      const p = at;
      at = align(at + n);
      return p;
    };
    this.#tables = {
      hue: take(3 << 16),
      sat: take(1 << 16),
      scale: take(1024),
      shifts: take(1024),
      frac: take(1024),
      lut: take(256),
      norm: take(768 * 4),
    };
    this.#dynamic = at;
    this.#reserve(at);
    const { hue, sat } = hsvTables();
    const mem = this.#x.memory.buffer;
    new Uint8Array(mem, this.#tables.hue, hue.length).set(hue);
    new Uint8Array(mem, this.#tables.sat, sat.length).set(sat);
    const div = divisionTable();
    new Float32Array(mem, this.#tables.scale, 256).set(Float32Array.from({ length: 256 }, (_, s) => div[(s << 8) | 255] as number));
    new Uint32Array(mem, this.#tables.shifts, 256).set(sectorShifts());
    new Float32Array(mem, this.#tables.frac, 256).set(hueFraction);
  }

  /** This thread's instance (created on first use; throws `BackendError` when the kernels cannot load). */
  static get(): WasmViewKernels {
    instance ??= new WasmViewKernels();
    return instance;
  }

  /** Grows the memory to at least `bytes`. */
  #reserve(bytes: number): void {
    const mem = this.#x.memory;
    const have = mem.buffer.byteLength;
    if (bytes > have) mem.grow(Math.ceil((bytes - have) / PAGE));
  }

  #u8(p: number, n: number): Uint8Array {
    return new Uint8Array(this.#x.memory.buffer, p, n);
  }

  /**
   * Runs `plan` on `image`. With `normalizeTable` the view is normalised through it into
   * `floatOut` at `offset` (NHWC float32) and `undefined` is returned; without, the 8-bit
   * view is copied into `out` (or a new image) and returned.
   */
  run(image: RgbImage, plan: ViewPlan, out?: RgbImage): RgbImage;
  run(image: RgbImage, plan: ViewPlan, out: undefined, normalizeTable: Float32Array, floatOut: Float32Array, offset: number): undefined;
  run(image: RgbImage, plan: ViewPlan, out?: RgbImage, normalizeTable?: Float32Array, floatOut?: Float32Array, offset = 0): RgbImage | undefined {
    const { box, window, mirror, resizeWidth: rw, resizeHeight: rh } = plan.geometry;
    const ow = window.width;
    const oh = window.height;
    const n = ow * oh * 3;
    if (box.x < 0 || box.y < 0 || box.x + box.width > image.width || box.y + box.height > image.height) {
      throw new RangeError(`resample: box ${JSON.stringify(box)} is outside the ${image.width}x${image.height} image`);
    }
    if (out !== undefined && (out.width !== ow || out.height !== oh || out.data.length !== n)) {
      throw new RangeError(`resample: output must be ${ow}x${oh}, got ${out.width}x${out.height}`);
    }
    if (floatOut !== undefined && (!Number.isInteger(offset) || offset < 0 || offset + n > floatOut.length)) {
      throw new RangeError(`normalizeInto: ${n} values at offset ${offset} do not fit in an array of ${floatOut.length}`);
    }
    const prof = this.profile;
    let t0 = prof === undefined ? 0 : prof.now();
    // Coefficients in output order: a mirrored view reverses the horizontal ones.
    const vx0 = mirror ? rw - window.x - ow : window.x;
    const hp = pad(coefficients(box.width, rw, vx0, ow), box.width, mirror);
    const vp = pad(coefficients(box.height, rh, window.y, oh), box.height, false);
    let rowFirst = box.height;
    let rowLast = 0;
    for (let i = 0; i < oh; i++) {
      const s = vp.start[i] as number;
      if (s < rowFirst) rowFirst = s;
      if (s + vp.K > rowLast) rowLast = s + vp.K;
    }
    const rows = Math.max(0, rowLast - rowFirst);
    for (let i = 0; i < oh; i++) vp.start[i] = (vp.start[i] as number) - rowFirst;
    for (let i = 0; i < ow; i++) hp.start[i] = (hp.start[i] as number) * 3;

    // Layout of this view's buffers.
    const pitch = image.width * 3;
    const stride = ow * 3;
    let at = this.#dynamic;
    const take = (bytes: number): number => {
      const p = at;
      at = align(at + bytes + SLACK);
      return p;
    };
    const srcP = take(rows * pitch);
    const tmpP = take(rows * stride);
    const hStartP = take(ow * 4);
    const hWeightsP = take(hp.weights.length * 4);
    const vStartP = take(oh * 4);
    const vWeightsP = take(vp.weights.length * 4);
    const viewP = take(n);
    const scratchP = take(n);
    const lineA = take((ow + 4) * 3);
    const lineB = take((ow + 4) * 3);
    const floatP = floatOut === undefined ? 0 : take(n * 4);
    this.#reserve(at);
    const x = this.#x;
    const mem = x.memory.buffer;

    const firstByte = (box.y + rowFirst) * pitch;
    new Uint8Array(mem, srcP, rows * pitch).set(image.data.subarray(firstByte, firstByte + rows * pitch));
    new Int32Array(mem, hStartP, ow).set(hp.start);
    new Int32Array(mem, hWeightsP, hp.weights.length).set(hp.weights);
    new Int32Array(mem, vStartP, oh).set(vp.start);
    new Int32Array(mem, vWeightsP, vp.weights.length).set(vp.weights);
    x.resampleH(srcP + box.x * 3, pitch, rows, tmpP, ow, hStartP, hWeightsP, hp.K);
    x.resampleV(tmpP, stride, oh, viewP, vStartP, vWeightsP, vp.K);
    if (prof !== undefined) {
      const t1 = prof.now();
      prof.ms['resample'] = (prof.ms['resample'] ?? 0) + t1 - t0;
      t0 = t1;
    }

    const pending = this.#pixelSteps(viewP, ow, oh, plan.pixels, scratchP, lineA, lineB);
    if (prof !== undefined) t0 = prof.now();
    if (normalizeTable !== undefined && floatOut !== undefined) {
      const table = new Float32Array(x.memory.buffer, this.#tables.norm, 768);
      if (pending === undefined) table.set(normalizeTable);
      else for (let c = 0; c < 3; c++) for (let v = 0; v < 256; v++) table[c * 256 + v] = normalizeTable[c * 256 + (pending[v] as number)] as number;
      x.normalize(viewP, ow * oh, this.#tables.norm, floatP);
      floatOut.set(new Float32Array(x.memory.buffer, floatP, n), offset);
      if (prof !== undefined) prof.ms['normalize'] = (prof.ms['normalize'] ?? 0) + prof.now() - t0;
      return undefined;
    }
    if (pending !== undefined) this.#lut(viewP, n, pending);
    const target = out ?? { width: ow, height: oh, data: new Uint8Array(n) };
    target.data.set(this.#u8(viewP, n));
    return target;
  }

  #lut(p: number, n: number, lut: Uint8Array): void {
    this.#u8(this.#tables.lut, 256).set(lut);
    this.#x.applyLut(p, n, this.#tables.lut);
  }

  /** compile.ts's runPixelSteps on the view at `p`; returns the table still pending. */
  #pixelSteps(p: number, w: number, h: number, steps: readonly PixelStep[], scratch: number, lineA: number, lineB: number): Uint8Array | undefined {
    const x = this.#x;
    const npix = w * h;
    let pending: Uint8Array | undefined;
    const prof = this.profile;
    for (const step of steps) {
      const t0 = prof === undefined ? 0 : prof.now();
      switch (step.op) {
        case 'brightness':
          pending = composeLut(pending, brightnessLut(step.factor));
          break;
        case 'contrast': {
          // Reading through a pending table = applying it first (the table is then spent).
          if (pending !== undefined) this.#lut(p, npix * 3, pending);
          pending = undefined;
          const sum = x.lumaSum(p, npix);
          const mean = npix === 0 ? 0 : Math.trunc(sum / npix + 0.5);
          pending = composeLut(pending, contrastLut(mean, step.factor));
          break;
        }
        case 'solarize':
          pending = composeLut(pending, solarizeLut(step.threshold));
          break;
        case 'saturation':
          if (pending !== undefined) this.#lut(p, npix * 3, pending);
          pending = undefined;
          x.saturation(p, npix, Math.fround(step.factor));
          break;
        case 'hue': {
          if (pending !== undefined) this.#lut(p, npix * 3, pending);
          pending = undefined;
          const t = this.#tables;
          x.hue(p, npix, hueShift(step.factor), t.hue, t.sat, t.scale, t.frac, t.shifts);
          break;
        }
        case 'grayscale':
          if (pending !== undefined) this.#lut(p, npix * 3, pending);
          pending = undefined;
          x.grayscale(p, npix);
          break;
        case 'gaussianBlur': {
          if (pending !== undefined) this.#lut(p, npix * 3, pending);
          pending = undefined;
          const box = boxWeights(step.sigma);
          if (box === undefined || npix === 0) break;
          if (box.radius <= 1) {
            // Centre, near pair, far pair weights: r = 0 -> (ww, fw, 0); r = 1 -> (ww, ww, fw).
            x.blurSmall(p, w, h, box.ww, box.radius === 0 ? box.fw : box.ww, box.radius === 0 ? 0 : box.fw, scratch, lineA, lineB);
          } else {
            gaussianBlurInPlace({ width: w, height: h, data: this.#u8(p, npix * 3) }, step.sigma);
          }
          break;
        }
      }
      if (prof !== undefined) prof.ms[step.op] = (prof.ms[step.op] ?? 0) + prof.now() - t0;
    }
    return pending;
  }
}
