/**
 * One-pass crop + resize + mirror + window, with Pillow's antialiased bilinear filter.
 *
 * torchvision's `RandomResizedCrop`, `Resize` and `CenterCrop` on PIL images crop a
 * box, resize it with `Image.resize(..., BILINEAR)` (a triangle filter whose support
 * widens with the downscale factor, so it antialiases) and cut a window; the flip is a
 * mirror of the result. Here all of that is one separable resampling: a horizontal
 * pass over only the source rows the output needs, then a vertical pass that writes
 * the (mirrored) window. Coefficients are Pillow's, in the same 22-bit fixed point with
 * the same rounding, and the horizontal pass comes first with an 8-bit intermediate
 * as in Pillow, so results match Pillow bit for bit (tested against reference
 * outputs).
 */
import type { RgbImage } from './types.js';

/** An integer rectangle. */
export interface Rect {
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly height: number;
}

/**
 * What {@link resampleRgb} makes: the source `box` resized to `resizeWidth` x
 * `resizeHeight`, mirrored left-right when `mirror`, and the `window` of that (parts
 * of the window outside the resized image are black, like torchvision's padding).
 */
export interface ResamplePlan {
  readonly box: Rect;
  readonly resizeWidth: number;
  readonly resizeHeight: number;
  readonly window: Rect;
  readonly mirror: boolean;
}

const PRECISION_BITS = 22;
const ONE = 1 << PRECISION_BITS;
const HALF = 1 << (PRECISION_BITS - 1);

/** Pillow's resampling coefficients for a run of output indices (shared with the wasm kernels). */
export interface Coefficients {
  /** First source index per output index. */
  readonly start: Int32Array;
  /** Number of taps per output index (0 outside the resized image). */
  readonly count: Int32Array;
  /** `ksize` fixed-point weights per output index. */
  readonly weights: Int32Array;
  readonly ksize: number;
}

/**
 * Pillow's `precompute_coeffs` for the bilinear filter (support 1), restricted to the
 * output indices `[first, first + n)` of a resize of `inSize` source pixels to `outSize`.
 */
export function coefficients(inSize: number, outSize: number, first: number, n: number): Coefficients {
  const scale = inSize / outSize;
  const filterscale = scale < 1 ? 1 : scale;
  const support = filterscale; // bilinear support is 1
  const ksize = Math.ceil(support) * 2 + 1;
  const start = new Int32Array(n);
  const count = new Int32Array(n);
  const weights = new Int32Array(n * ksize);
  const tmp = new Float64Array(ksize);
  const ss = 1 / filterscale;
  for (let i = 0; i < n; i++) {
    const xx = first + i;
    if (xx < 0 || xx >= outSize) continue;
    const center = (xx + 0.5) * scale;
    let xmin = Math.trunc(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    let xmax = Math.trunc(center + support + 0.5);
    if (xmax > inSize) xmax = inSize;
    const taps = xmax - xmin;
    let total = 0;
    for (let x = 0; x < taps; x++) {
      let d = (x + xmin - center + 0.5) * ss;
      if (d < 0) d = -d;
      const w = d < 1 ? 1 - d : 0;
      tmp[x] = w;
      total += w;
    }
    const base = i * ksize;
    for (let x = 0; x < taps; x++) {
      const w = total !== 0 ? (tmp[x] as number) / total : (tmp[x] as number);
      weights[base + x] = w < 0 ? Math.trunc(-0.5 + w * ONE) : Math.trunc(0.5 + w * ONE);
    }
    start[i] = xmin;
    count[i] = taps;
  }
  return { start, count, weights, ksize };
}

let scratch = new Uint8Array(0);
let accRow = new Int32Array(0);

function scratchBuffer(size: number): Uint8Array {
  if (scratch.length < size) scratch = new Uint8Array(Math.max(size, scratch.length * 2));
  return scratch;
}

function clip8(v: number): number {
  return v < 0 ? 0 : v > 255 ? 255 : v;
}

/** Copy (mirror, pad) without resampling: the resize is the identity. */
function copyWindow(src: RgbImage, plan: ResamplePlan, out: Uint8Array): void {
  const { box, window, mirror } = plan;
  const ow = window.width;
  const sd = src.data;
  const sw = src.width;
  for (let oy = 0; oy < window.height; oy++) {
    const vy = window.y + oy;
    const rowOut = oy * ow * 3;
    if (vy < 0 || vy >= box.height) {
      out.fill(0, rowOut, rowOut + ow * 3);
      continue;
    }
    const rowIn = ((box.y + vy) * sw + box.x) * 3;
    for (let ox = 0; ox < ow; ox++) {
      // Position in the mirrored virtual image -> position in the unmirrored one.
      const wx = window.x + ox;
      const vx = mirror ? box.width - 1 - wx : wx;
      const o = rowOut + ox * 3;
      if (vx < 0 || vx >= box.width) {
        out[o] = 0;
        out[o + 1] = 0;
        out[o + 2] = 0;
      } else {
        const i = rowIn + vx * 3;
        out[o] = sd[i] as number;
        out[o + 1] = sd[i + 1] as number;
        out[o + 2] = sd[i + 2] as number;
      }
    }
  }
}

/**
 * The same coefficients with exactly `K` taps each (K >= every tap count; zeros added), the first tap moved
 * left where needed so every tap stays inside `[0, inSize)`: loops can then be unrolled.
 * Adding zero-weight terms leaves the integer sums, so the results, unchanged.
 */
function padCoefficients(c: Coefficients, inSize: number, K: number): { start: Int32Array; weights: Int32Array } {
  const n = c.start.length;
  const start = new Int32Array(n);
  const weights = new Int32Array(n * K);
  for (let i = 0; i < n; i++) {
    const s = c.start[i] as number;
    const ps = Math.min(s, inSize - K);
    start[i] = ps * 3;
    const taps = c.count[i] as number;
    for (let k = 0; k < taps; k++) weights[i * K + (s - ps) + k] = c.weights[i * c.ksize + k] as number;
  }
  return { start, weights };
}

/** 3 or 5 when every output's taps fit in that many (and the input is that long), else 0. */
function unrollWidth(c: Coefficients, inSize: number): number {
  let most = 0;
  for (let i = 0; i < c.count.length; i++) if ((c.count[i] as number) > most) most = c.count[i] as number;
  const K = most <= 3 ? 3 : most <= 5 ? 5 : 0;
  return K !== 0 && inSize >= K ? K : 0;
}

function horizontal3(sd: Uint8Array, rowIn0: number, rowStep: number, rows: number, tmp: Uint8Array, ow: number, start: Int32Array, w: Int32Array): void {
  for (let r = 0, o = 0; r < rows; r++) {
    const rowIn = rowIn0 + r * rowStep;
    for (let i = 0; i < ow; i++, o += 3) {
      const p = rowIn + (start[i] as number);
      const kb = i * 3;
      const w0 = w[kb] as number, w1 = w[kb + 1] as number, w2 = w[kb + 2] as number;
      tmp[o] = (HALF + (sd[p] as number) * w0 + (sd[p + 3] as number) * w1 + (sd[p + 6] as number) * w2) >> PRECISION_BITS;
      tmp[o + 1] = (HALF + (sd[p + 1] as number) * w0 + (sd[p + 4] as number) * w1 + (sd[p + 7] as number) * w2) >> PRECISION_BITS;
      tmp[o + 2] = (HALF + (sd[p + 2] as number) * w0 + (sd[p + 5] as number) * w1 + (sd[p + 8] as number) * w2) >> PRECISION_BITS;
    }
  }
}

function horizontal5(sd: Uint8Array, rowIn0: number, rowStep: number, rows: number, tmp: Uint8Array, ow: number, start: Int32Array, w: Int32Array): void {
  for (let r = 0, o = 0; r < rows; r++) {
    const rowIn = rowIn0 + r * rowStep;
    for (let i = 0; i < ow; i++, o += 3) {
      const p = rowIn + (start[i] as number);
      const kb = i * 5;
      const w0 = w[kb] as number, w1 = w[kb + 1] as number, w2 = w[kb + 2] as number, w3 = w[kb + 3] as number, w4 = w[kb + 4] as number;
      tmp[o] = (HALF + (sd[p] as number) * w0 + (sd[p + 3] as number) * w1 + (sd[p + 6] as number) * w2 + (sd[p + 9] as number) * w3 + (sd[p + 12] as number) * w4) >> PRECISION_BITS;
      tmp[o + 1] = (HALF + (sd[p + 1] as number) * w0 + (sd[p + 4] as number) * w1 + (sd[p + 7] as number) * w2 + (sd[p + 10] as number) * w3 + (sd[p + 13] as number) * w4) >> PRECISION_BITS;
      tmp[o + 2] = (HALF + (sd[p + 2] as number) * w0 + (sd[p + 5] as number) * w1 + (sd[p + 8] as number) * w2 + (sd[p + 11] as number) * w3 + (sd[p + 14] as number) * w4) >> PRECISION_BITS;
    }
  }
}

function horizontalAny(sd: Uint8Array, rowIn0: number, rowStep: number, rows: number, tmp: Uint8Array, ow: number, hc: Coefficients): void {
  const { start, count, weights, ksize } = hc;
  for (let r = 0, o = 0; r < rows; r++) {
    const rowIn = rowIn0 + r * rowStep;
    for (let i = 0; i < ow; i++, o += 3) {
      const taps = count[i] as number;
      let s0 = HALF;
      let s1 = HALF;
      let s2 = HALF;
      let p = rowIn + (start[i] as number) * 3;
      const kb = i * ksize;
      for (let k = 0; k < taps; k++, p += 3) {
        const w = weights[kb + k] as number;
        s0 += (sd[p] as number) * w;
        s1 += (sd[p + 1] as number) * w;
        s2 += (sd[p + 2] as number) * w;
      }
      tmp[o] = clip8(s0 >> PRECISION_BITS);
      tmp[o + 1] = clip8(s1 >> PRECISION_BITS);
      tmp[o + 2] = clip8(s2 >> PRECISION_BITS);
    }
  }
}

/*
 * The unrolled passes need no clamp: bilinear weights are >= 0 and each output's rounded
 * weights sum to at most 2^22 + K/2, so a sum is at most 255 * (2^22 + 2.5) + 2^21 < 256 * 2^22.
 */

/** Vertical pass with `K` (3 or 5) padded taps per output row, no accumulator row. */
function verticalUnrolled(tmp: Uint8Array, rowFirst: number, dst: Uint8Array, ow: number, oh: number, K: number, start: Int32Array, w: Int32Array, mirror: boolean): void {
  const stride = ow * 3;
  for (let oy = 0; oy < oh; oy++) {
    // padCoefficients stores start * 3 (pixel offsets); here it counts rows.
    const t0 = ((start[oy] as number) / 3 - rowFirst) * stride;
    const t1 = t0 + stride;
    const t2 = t1 + stride;
    const kb = oy * K;
    const w0 = w[kb] as number, w1 = w[kb + 1] as number, w2 = w[kb + 2] as number;
    let o = oy * stride + (mirror ? stride - 3 : 0);
    const step = mirror ? -3 : 3;
    if (K === 3) {
      for (let j = 0; j < stride; j += 3, o += step) {
        dst[o] = (HALF + (tmp[t0 + j] as number) * w0 + (tmp[t1 + j] as number) * w1 + (tmp[t2 + j] as number) * w2) >> PRECISION_BITS;
        dst[o + 1] = (HALF + (tmp[t0 + j + 1] as number) * w0 + (tmp[t1 + j + 1] as number) * w1 + (tmp[t2 + j + 1] as number) * w2) >> PRECISION_BITS;
        dst[o + 2] = (HALF + (tmp[t0 + j + 2] as number) * w0 + (tmp[t1 + j + 2] as number) * w1 + (tmp[t2 + j + 2] as number) * w2) >> PRECISION_BITS;
      }
    } else {
      const t3 = t2 + stride;
      const t4 = t3 + stride;
      const w3 = w[kb + 3] as number, w4 = w[kb + 4] as number;
      for (let j = 0; j < stride; j += 3, o += step) {
        dst[o] = (HALF + (tmp[t0 + j] as number) * w0 + (tmp[t1 + j] as number) * w1 + (tmp[t2 + j] as number) * w2 + (tmp[t3 + j] as number) * w3 + (tmp[t4 + j] as number) * w4) >> PRECISION_BITS;
        dst[o + 1] = (HALF + (tmp[t0 + j + 1] as number) * w0 + (tmp[t1 + j + 1] as number) * w1 + (tmp[t2 + j + 1] as number) * w2 + (tmp[t3 + j + 1] as number) * w3 + (tmp[t4 + j + 1] as number) * w4) >> PRECISION_BITS;
        dst[o + 2] = (HALF + (tmp[t0 + j + 2] as number) * w0 + (tmp[t1 + j + 2] as number) * w1 + (tmp[t2 + j + 2] as number) * w2 + (tmp[t3 + j + 2] as number) * w3 + (tmp[t4 + j + 2] as number) * w4) >> PRECISION_BITS;
      }
    }
  }
}

/** Vertical pass from `tmp` (rows from `rowFirst`) into the window, mirroring columns when asked. */
function verticalPass(tmp: Uint8Array, rowFirst: number, dst: Uint8Array, ow: number, oh: number, vc: Coefficients, hc: Coefficients, mirror: boolean): void {
  const hasEmptyColumns = hc.count.some((c) => c === 0);
  const vk = vc.ksize;
  const vw = vc.weights;
  const stride = ow * 3;
  if (accRow.length < stride) accRow = new Int32Array(stride);
  const acc = accRow;
  for (let oy = 0; oy < oh; oy++) {
    const taps = vc.count[oy] as number;
    const rowOut = oy * stride;
    if (taps === 0) {
      dst.fill(0, rowOut, rowOut + stride);
      continue;
    }
    const first = ((vc.start[oy] as number) - rowFirst) * stride;
    const kb = oy * vk;
    acc.fill(HALF, 0, stride);
    for (let k = 0; k < taps; k++) {
      const w = vw[kb + k] as number;
      const base = first + k * stride;
      for (let j = 0; j < stride; j++) acc[j] = (acc[j] as number) + (tmp[base + j] as number) * w;
    }
    if (mirror) {
      for (let i = 0, o = rowOut + stride - 3; i < stride; i += 3, o -= 3) {
        dst[o] = clip8((acc[i] as number) >> PRECISION_BITS);
        dst[o + 1] = clip8((acc[i + 1] as number) >> PRECISION_BITS);
        dst[o + 2] = clip8((acc[i + 2] as number) >> PRECISION_BITS);
      }
    } else {
      for (let j = 0; j < stride; j++) dst[rowOut + j] = clip8((acc[j] as number) >> PRECISION_BITS);
    }
    if (hasEmptyColumns) {
      for (let i = 0; i < ow; i++) {
        if ((hc.count[i] as number) > 0) continue;
        const o = rowOut + (mirror ? ow - 1 - i : i) * 3;
        dst[o] = 0;
        dst[o + 1] = 0;
        dst[o + 2] = 0;
      }
    }
  }
}

/**
 * Crop, resize (antialiased bilinear, Pillow-exact), mirror and window in one pass.
 * Writes into `out` when given (it must be `window.width x window.height`).
 *
 * @example
 * ```ts
 * // torchvision: F.hflip(F.resized_crop(img, i, j, h, w, [224, 224]))
 * const view = resampleRgb(img, {
 *   box: { x: j, y: i, width: w, height: h }, resizeWidth: 224, resizeHeight: 224,
 *   window: { x: 0, y: 0, width: 224, height: 224 }, mirror: true,
 * });
 * ```
 */
export function resampleRgb(src: RgbImage, plan: ResamplePlan, out?: RgbImage): RgbImage {
  const { box, window, mirror, resizeWidth: rw, resizeHeight: rh } = plan;
  const ow = window.width;
  const oh = window.height;
  const target = out ?? { width: ow, height: oh, data: new Uint8Array(ow * oh * 3) };
  if (target.width !== ow || target.height !== oh || target.data.length !== ow * oh * 3) {
    throw new RangeError(`resampleRgb: output must be ${ow}x${oh}, got ${target.width}x${target.height}`);
  }
  if (box.x < 0 || box.y < 0 || box.x + box.width > src.width || box.y + box.height > src.height) {
    throw new RangeError(`resampleRgb: box ${JSON.stringify(box)} is outside the ${src.width}x${src.height} image`);
  }
  const dst = target.data;
  if (rw === box.width && rh === box.height) {
    copyWindow(src, plan, dst);
    return target;
  }
  // Horizontal coefficients for the output columns, in unmirrored virtual coordinates.
  // Output column ox shows virtual column vx = mirror ? rw-1-(window.x+ox) : window.x+ox.
  const vx0 = mirror ? rw - window.x - ow : window.x;
  const hc = coefficients(box.width, rw, vx0, ow);
  const vc = coefficients(box.height, rh, window.y, oh);
  // Unrolled paths need every output to have exactly ksize taps inside the box.
  const vK = unrollWidth(vc, box.height);
  const vPadded = vK === 0 ? undefined : padCoefficients(vc, box.height, vK);
  // Source rows (relative to the box) the vertical pass reads.
  let rowFirst = box.height;
  let rowLast = 0;
  for (let i = 0; i < oh; i++) {
    const c = vPadded !== undefined ? vK : (vc.count[i] as number);
    if (c === 0 || (vc.count[i] as number) === 0) continue;
    const s = vPadded !== undefined ? (vPadded.start[i] as number) / 3 : (vc.start[i] as number);
    if (s < rowFirst) rowFirst = s;
    if (s + c > rowLast) rowLast = s + c;
  }
  const rows = Math.max(0, rowLast - rowFirst);
  const tmp = scratchBuffer(rows * ow * 3);
  // Horizontal pass: rows [rowFirst, rowLast) of the box -> tmp (ow columns, unmirrored
  // order of vx0..vx0+ow-1).
  const rowIn0 = ((box.y + rowFirst) * src.width + box.x) * 3;
  const rowStep = src.width * 3;
  const K = unrollWidth(hc, box.width);
  if (K !== 0) {
    const padded = padCoefficients(hc, box.width, K);
    if (K === 3) horizontal3(src.data, rowIn0, rowStep, rows, tmp, ow, padded.start, padded.weights);
    else horizontal5(src.data, rowIn0, rowStep, rows, tmp, ow, padded.start, padded.weights);
  } else {
    horizontalAny(src.data, rowIn0, rowStep, rows, tmp, ow, hc);
  }
  if (vPadded !== undefined && !vc.count.some((c) => c === 0) && !hc.count.some((c) => c === 0)) {
    verticalUnrolled(tmp, rowFirst, dst, ow, oh, vK, vPadded.start, vPadded.weights, mirror);
  } else {
    verticalPass(tmp, rowFirst, dst, ow, oh, vc, hc, mirror);
  }
  return target;
}
