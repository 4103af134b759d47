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

let lineBuf = new Int32Array(0);

/**
 * One extended-box pass over `n` values spaced `step` apart starting at `start`, for
 * each of the 3 channels (`data[start + k*step + c]`), in place.
 */
function boxLine(data: Uint8Array, start: number, n: number, step: number, radius: number, ww: number, fw: number): void {
  const pad = radius + 1;
  const len = n + 2 * pad;
  if (lineBuf.length < len) lineBuf = new Int32Array(len * 2);
  const line = lineBuf;
  const last = n - 1;
  for (let c = 0; c < 3; c++) {
    // Edge-extended copy of the line: line[k] = in[clamp(k - pad)].
    const first = data[start + c] as number;
    const lastV = data[start + last * step + c] as number;
    for (let k = 0; k < pad; k++) line[k] = first;
    for (let k = 0; k < n; k++) line[pad + k] = data[start + k * step + c] as number;
    for (let k = pad + n; k < len; k++) line[k] = lastV;
    // acc = sum of the 2r+1 values centred on x; the two values just outside get fw.
    let acc = 0;
    for (let k = 1; k <= 2 * radius + 1; k++) acc += line[k] as number;
    for (let x = 0; x < n; x++) {
      // centre at line index x + pad; window [x+1, x+2r+1]; far ends x and x+2r+2.
      const bulk = acc * ww + ((line[x] as number) + (line[x + 2 * radius + 2] as number)) * fw;
      data[start + x * step + c] = Math.floor((bulk + 8388608) / 16777216);
      acc += (line[x + 2 * radius + 2] as number) - (line[x + 1] as number);
    }
  }
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
  const fr = extendedBoxRadius(sigma);
  if (!(fr > 0)) return;
  const radius = Math.trunc(fr);
  const ww = Math.trunc(f32(16777216 / f32(fr * 2 + 1)));
  const fw = Math.trunc((16777216 - (radius * 2 + 1) * ww) / 2);
  const { width: w, height: h, data } = image;
  for (let pass = 0; pass < PASSES; pass++) {
    for (let y = 0; y < h; y++) boxLine(data, y * w * 3, w, 3, radius, ww, fw);
  }
  for (let pass = 0; pass < PASSES; pass++) {
    for (let x = 0; x < w; x++) boxLine(data, x * 3, h, w * 3, radius, ww, fw);
  }
}
