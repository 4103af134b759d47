/**
 * Gaussian blur as MoCo v2 (and so DeCLIP) runs it: Pillow's
 * `ImageFilter.GaussianBlur(radius=sigma)`, which approximates a gaussian of standard
 * deviation `sigma` by three passes of an "extended" box blur (a box with fractional
 * radius, Gwosdek et al. 2011) per direction, edges extended, 8-bit rounding after each
 * pass. The cost per pixel does not depend on sigma, and any sigma >= 0 works (the
 * recipe samples 0.1-2.0; sharp's blur refuses sigma < 0.3).
 */
import type { RgbImage } from './types.js';

const f32 = Math.fround;
const PASSES = 3;

/**
 * The fractional box radius whose `passes`-fold repetition has variance `sigma^2`
 * (Gwosdek et al., eqs. 7, 11, 14), in float32 as Pillow computes it.
 *
 * @example
 * ```ts
 * extendedBoxRadius(2, 3); // ~1.6
 * ```
 */
export function extendedBoxRadius(sigma: number, passes = PASSES): number {
  // Every step rounded to float32, as Pillow's C code computes it in `float`.
  const s = f32(sigma);
  const sigma2 = f32(f32(s * s) / passes);
  const L = f32(Math.sqrt(12 * sigma2 + 1));
  const l = f32(Math.floor((L - 1) / 2));
  let a = f32(f32(2 * l + 1) * f32(l * (l + 1) - f32(3 * sigma2)));
  a = f32(a / f32(6 * f32(sigma2 - (l + 1) * (l + 1))));
  return f32(l + a);
}

const INV24 = 1 / 16777216;

let line = new Int32Array(0);
let copy = new Uint8Array(0);

/**
 * One extended-box pass along each row, in place: for output x, the 2r+1 values centred
 * on x weigh `ww` each and the two just outside weigh `fw` (24-bit fixed point), edges
 * extended, rounded to 8 bits. All three channels in one sweep.
 */
function horizontalPass(data: Uint8Array, w: number, h: number, radius: number, ww: number, fw: number): void {
  const pad = radius + 1;
  const len = (w + 2 * pad) * 3;
  if (line.length < len) line = new Int32Array(len);
  const buf = line;
  const span = 2 * radius + 1;
  for (let y = 0; y < h; y++) {
    const row = y * w * 3;
    // Edge-extended copy of the row: buf[k] = row[clamp(k - pad)], per channel.
    const r0 = data[row] as number, g0 = data[row + 1] as number, b0 = data[row + 2] as number;
    const last = row + (w - 1) * 3;
    const r1 = data[last] as number, g1 = data[last + 1] as number, b1 = data[last + 2] as number;
    for (let k = 0; k < pad * 3; k += 3) {
      buf[k] = r0; buf[k + 1] = g0; buf[k + 2] = b0;
    }
    for (let k = 0; k < w * 3; k++) buf[pad * 3 + k] = data[row + k] as number;
    for (let k = (pad + w) * 3; k < len; k += 3) {
      buf[k] = r1; buf[k + 1] = g1; buf[k + 2] = b1;
    }
    // Window for x = 0 is buf indices [1, span] (in pixels); far ends 0 and span + 1.
    let a0 = 0, a1 = 0, a2 = 0;
    for (let k = 1; k <= span; k++) {
      a0 += buf[k * 3] as number; a1 += buf[k * 3 + 1] as number; a2 += buf[k * 3 + 2] as number;
    }
    const farOff = (span + 1) * 3;
    for (let x = 0, j = 0; x < w; x++, j += 3) {
      const l0 = buf[j] as number, l1 = buf[j + 1] as number, l2 = buf[j + 2] as number;
      const f0 = buf[j + farOff] as number, f1 = buf[j + farOff + 1] as number, f2 = buf[j + farOff + 2] as number;
      const o = row + j;
      data[o] = ((a0 * ww + (l0 + f0) * fw + 8388608) * INV24) | 0;
      data[o + 1] = ((a1 * ww + (l1 + f1) * fw + 8388608) * INV24) | 0;
      data[o + 2] = ((a2 * ww + (l2 + f2) * fw + 8388608) * INV24) | 0;
      // Slide: drop buf[x + 1], add buf[x + span + 1] (= the far right end).
      a0 += f0 - (buf[j + 3] as number); a1 += f1 - (buf[j + 4] as number); a2 += f2 - (buf[j + 5] as number);
    }
  }
}

/** The same pass down each column, row by row (contiguous memory), from a copy of the image. */
function verticalPass(data: Uint8Array, w: number, h: number, radius: number, ww: number, fw: number): void {
  const stride = w * 3;
  const n = stride * h;
  if (copy.length < n) copy = new Uint8Array(n);
  const src = copy;
  src.set(data.subarray(0, n));
  if (line.length < stride) line = new Int32Array(stride);
  const acc = line;
  const clampRow = (y: number): number => (y < 0 ? 0 : y >= h ? h - 1 : y) * stride;
  // acc = sum of rows [-r, r] (clamped) for y = 0.
  acc.fill(0, 0, stride);
  for (let k = -radius; k <= radius; k++) {
    const r = clampRow(k);
    for (let i = 0; i < stride; i++) acc[i] = (acc[i] as number) + (src[r + i] as number);
  }
  for (let y = 0; y < h; y++) {
    const near = clampRow(y - radius - 1);
    const far = clampRow(y + radius + 1);
    const drop = clampRow(y - radius);
    const out = y * stride;
    for (let i = 0; i < stride; i++) {
      const f = src[far + i] as number;
      const a = acc[i] as number;
      data[out + i] = ((a * ww + ((src[near + i] as number) + f) * fw + 8388608) * INV24) | 0;
      acc[i] = a + f - (src[drop + i] as number);
    }
  }
}

/**
 * Three passes of a box of integer radius 0 or 1 (sigma < 2.45, the whole mocov2 range)
 * along one channel line `data[start + k * step]`, k < n, in place, holding the 5-value
 * window in registers: `bulk = centre * k0 + (near pair) * k1 + (far pair) * k2`, the same
 * integers as Pillow's `acc * ww + far * fw`. One read and one write per value and pass.
 */
function smallBoxLine(data: Uint8Array, start: number, n: number, step: number, k0: number, k1: number, k2: number): void {
  const end = start + (n - 1) * step;
  for (let pass = 0; pass < PASSES; pass++) {
    const first = data[start] as number;
    let l2 = first;
    let l1 = first;
    let c = first;
    let r1 = n > 1 ? (data[start + step] as number) : first;
    let r2 = n > 2 ? (data[start + 2 * step] as number) : (data[end] as number);
    let ahead = start + 3 * step;
    for (let p = start; p <= end; p += step) {
      data[p] = (Math.imul(c, k0) + Math.imul(l1 + r1, k1) + Math.imul(l2 + r2, k2) + 8388608) >>> 24;
      l2 = l1;
      l1 = c;
      c = r1;
      r1 = r2;
      r2 = ahead <= end ? (data[ahead] as number) : (data[end] as number);
      ahead += step;
    }
  }
}

/** {@link smallBoxLine} along one interleaved RGB row (all three channels in one sweep). */
function smallBoxRow(data: Uint8Array, start: number, n: number, k0: number, k1: number, k2: number): void {
  const end = start + (n - 1) * 3;
  for (let pass = 0; pass < PASSES; pass++) {
    let aL2 = data[start] as number, bL2 = data[start + 1] as number, cL2 = data[start + 2] as number;
    let aL1 = aL2, bL1 = bL2, cL1 = cL2;
    let aC = aL2, bC = bL2, cC = cL2;
    const p1 = n > 1 ? start + 3 : start;
    const p2 = n > 2 ? start + 6 : end;
    let aR1 = data[p1] as number, bR1 = data[p1 + 1] as number, cR1 = data[p1 + 2] as number;
    let aR2 = data[p2] as number, bR2 = data[p2 + 1] as number, cR2 = data[p2 + 2] as number;
    let ahead = start + 9;
    for (let p = start; p <= end; p += 3, ahead += 3) {
      data[p] = (Math.imul(aC, k0) + Math.imul(aL1 + aR1, k1) + Math.imul(aL2 + aR2, k2) + 8388608) >>> 24;
      data[p + 1] = (Math.imul(bC, k0) + Math.imul(bL1 + bR1, k1) + Math.imul(bL2 + bR2, k2) + 8388608) >>> 24;
      data[p + 2] = (Math.imul(cC, k0) + Math.imul(cL1 + cR1, k1) + Math.imul(cL2 + cR2, k2) + 8388608) >>> 24;
      aL2 = aL1; bL2 = bL1; cL2 = cL1;
      aL1 = aC; bL1 = bC; cL1 = cC;
      aC = aR1; bC = bR1; cC = cR1;
      aR1 = aR2; bR1 = bR2; cR1 = cR2;
      const q = ahead <= end ? ahead : end;
      aR2 = data[q] as number; bR2 = data[q + 1] as number; cR2 = data[q + 2] as number;
    }
  }
}

/**
 * The integer box of Pillow's blur for `sigma`: integer radius, the 24-bit weight `ww`
 * of the 2r+1 inner values and `fw` of the two just outside; `undefined` when the blur
 * is the identity (sigma 0).
 */
export function boxWeights(sigma: number): { radius: number; ww: number; fw: number } | undefined {
  const fr = extendedBoxRadius(sigma);
  if (!(fr > 0)) return undefined;
  const radius = Math.trunc(fr);
  const ww = Math.trunc(f32(16777216 / f32(fr * 2 + 1)));
  const fw = Math.trunc((16777216 - (radius * 2 + 1) * ww) / 2);
  return { radius, ww, fw };
}

/**
 * Pillow-exact gaussian blur with standard deviation `sigma` (Pillow's "radius"), in place.
 *
 * @example
 * ```ts
 * gaussianBlurInPlace(img, 1.2);
 * ```
 */
export function gaussianBlurInPlace(image: RgbImage, sigma: number): void {
  const box = boxWeights(sigma);
  if (box === undefined) return;
  const { radius, ww, fw } = box;
  const { width: w, height: h, data } = image;
  if (w === 0 || h === 0) return;
  if (radius <= 1) {
    // Centre, near pair, far pair weights: r = 0 -> (ww, fw, 0); r = 1 -> (ww, ww, fw).
    const k1 = radius === 0 ? fw : ww;
    const k2 = radius === 0 ? 0 : fw;
    const stride = w * 3;
    for (let y = 0; y < h; y++) smallBoxRow(data, y * stride, w, ww, k1, k2);
    for (let x = 0; x < stride; x++) smallBoxLine(data, x, h, stride, ww, k1, k2);
    return;
  }
  for (let pass = 0; pass < PASSES; pass++) horizontalPass(data, w, h, radius, ww, fw);
  for (let pass = 0; pass < PASSES; pass++) verticalPass(data, w, h, radius, ww, fw);
}
