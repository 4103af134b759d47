/**
 * Pointwise colour operators on 8-bit RGB, in place, with the arithmetic of
 * torchvision's PIL path (which is what MoCo v2 and DeCLIP ran):
 *
 * - brightness: `Image.blend(black, img, f)`; contrast: blend with the rounded mean of
 *   the grey image; saturation: blend with the grey image. Pillow blends in float32 and
 *   truncates toward zero, clamping to [0, 255] when extrapolating (f > 1).
 * - hue: Pillow's RGB -> HSV (8-bit channels), hue channel + `uint8(f * 255)` modulo 256,
 *   HSV -> RGB.
 * - grey: ITU-R 601-2 luma in Pillow's fixed point, `(19595 R + 38470 G + 7471 B + 32768) >> 16`.
 * - solarize: invert every channel value `>= threshold`.
 */
import type { RgbImage } from './types.js';

const f32 = Math.fround;

/** Pillow's `L` conversion of one pixel. */
export function luma(r: number, g: number, b: number): number {
  return (r * 19595 + g * 38470 + b * 7471 + 0x8000) >>> 16;
}

/** Pillow's `Image.blend(a, b, alpha)` for one 8-bit value (float32, truncation, clamp). */
export function blendValue(a: number, b: number, alpha: number): number {
  const t = f32(a + f32(f32(alpha) * (b - a)));
  return t <= 0 ? 0 : t >= 255 ? 255 : Math.trunc(t);
}

/** The identity 8-bit table. */
export const IDENTITY_LUT: Uint8Array = Uint8Array.from({ length: 256 }, (_, v) => v);

/** `data[i] = lut[data[i]]` for every value. */
export function applyLut(data: Uint8Array, lut: Uint8Array): void {
  for (let i = 0; i < data.length; i++) data[i] = lut[data[i] as number] as number;
}

/**
 * Brightness: blend with black by `factor` (0 = black, 1 = unchanged), in place.
 *
 * @example
 * ```ts
 * adjustBrightness(img, 1.3);
 * ```
 */
export function adjustBrightness(image: RgbImage, factor: number): void {
  applyLut(image.data, brightnessLut(factor));
}

/** Mean of the grey image, rounded as Pillow's `ImageEnhance.Contrast` does. */
export function meanLuma(image: RgbImage, inLut: Uint8Array = IDENTITY_LUT): number {
  const d = image.data;
  let sum = 0;
  if (inLut === IDENTITY_LUT) {
    for (let i = 0; i < d.length; i += 3) sum += ((d[i] as number) * 19595 + (d[i + 1] as number) * 38470 + (d[i + 2] as number) * 7471 + 0x8000) >>> 16;
  } else {
    for (let i = 0; i < d.length; i += 3) sum += luma(inLut[d[i] as number] as number, inLut[d[i + 1] as number] as number, inLut[d[i + 2] as number] as number);
  }
  const n = image.width * image.height;
  return n === 0 ? 0 : Math.trunc(sum / n + 0.5);
}

/**
 * Contrast: blend with the (rounded) mean grey level by `factor`, in place.
 *
 * @example
 * ```ts
 * adjustContrast(img, 0.7);
 * ```
 */
export function adjustContrast(image: RgbImage, factor: number): void {
  applyLut(image.data, contrastLut(meanLuma(image), factor));
}

/** The 8-bit table of a brightness adjustment (blend with black). */
export function brightnessLut(factor: number): Uint8Array {
  const lut = new Uint8Array(256);
  for (let v = 0; v < 256; v++) lut[v] = blendValue(0, v, factor);
  return lut;
}

/** The 8-bit table of a contrast adjustment around grey level `mean`. */
export function contrastLut(mean: number, factor: number): Uint8Array {
  const lut = new Uint8Array(256);
  for (let v = 0; v < 256; v++) lut[v] = blendValue(mean, v, factor);
  return lut;
}

/** The 8-bit table of solarize. */
export function solarizeLut(threshold: number): Uint8Array {
  const lut = new Uint8Array(256);
  for (let v = 0; v < 256; v++) lut[v] = v >= threshold ? 255 - v : v;
  return lut;
}

/**
 * Saturation: blend each pixel with its grey level by `factor` (0 = grey), in place.
 * Pixels are read through `inLut` (default: identity), so a pending table op fuses in.
 *
 * @example
 * ```ts
 * adjustSaturation(img, 1.4);
 * ```
 */
export function adjustSaturation(image: RgbImage, factor: number, inLut: Uint8Array = IDENTITY_LUT): void {
  const d = image.data;
  // scaled[255 + k] = float32(alpha * k) for k in [-255, 255]; the float32 sum with the
  // grey level is then truncated (|0) after the clamp, as Pillow's blend does.
  const scaled = saturationTable(factor);
  for (let i = 0; i < d.length; i += 3) {
    const r = inLut[d[i] as number] as number;
    const g = inLut[d[i + 1] as number] as number;
    const b = inLut[d[i + 2] as number] as number;
    const l = (r * 19595 + g * 38470 + b * 7471 + 0x8000) >>> 16;
    const o = 255 - l;
    let t = f32(l + (scaled[o + r] as number));
    d[i] = t <= 0 ? 0 : t >= 255 ? 255 : t | 0;
    t = f32(l + (scaled[o + g] as number));
    d[i + 1] = t <= 0 ? 0 : t >= 255 ? 255 : t | 0;
    t = f32(l + (scaled[o + b] as number));
    d[i + 2] = t <= 0 ? 0 : t >= 255 ? 255 : t | 0;
  }
}

/** `float32(float32(factor) * k)` at index `255 + k`, k = -255..255: the saturation blend's scaled differences. */
export function saturationTable(factor: number): Float64Array {
  const alpha = f32(factor);
  const scaled = new Float64Array(511);
  for (let k = -255; k <= 255; k++) scaled[255 + k] = f32(alpha * k);
  return scaled;
}

/** The 8-bit hue step torchvision adds: `np.uint8(hueFactor * 255)` (truncation, wrap). */
export function hueShift(hueFactor: number): number {
  return ((Math.trunc(hueFactor * 255) % 256) + 256) % 256;
}

/**
 * Hue: rotate the HSV hue by `hueFactor` of a turn (in [-0.5, 0.5]), in place, through
 * Pillow's 8-bit HSV. Pixels are read through `inLut` (default: identity).
 *
 * @example
 * ```ts
 * adjustHue(img, 0.05);
 * ```
 */
export function adjustHue(image: RgbImage, hueFactor: number, inLut: Uint8Array = IDENTITY_LUT): void {
  const shift = hueShift(hueFactor);
  const { hue, sat } = hsvTables();
  const div = divisionTable();
  // Even a zero shift goes through the (lossy) 8-bit HSV round trip, as in torchvision.
  const d = image.data;
  for (let i = 0; i < d.length; i += 3) {
    const r = inLut[d[i] as number] as number;
    const g = inLut[d[i + 1] as number] as number;
    const b = inLut[d[i + 2] as number] as number;
    const maxc = r > g ? (r > b ? r : b) : g > b ? g : b;
    const minc = r < g ? (r < b ? r : b) : g < b ? g : b;
    const us = sat[((maxc - minc) << 8) | maxc] as number;
    if (us === 0) {
      // grey (h = s = 0) or saturation below one step: v = max for all three
      d[i] = maxc;
      d[i + 1] = maxc;
      d[i + 2] = maxc;
      continue;
    }
    // RGB -> HSV (Pillow rgb2hsv) through the 8-bit hue table, then the shift.
    let h: number;
    if (r === maxc) h = hue[((maxc - b) << 8) | (maxc - g)] as number;
    else if (g === maxc) h = hue[65536 | ((maxc - r) << 8) | (maxc - b)] as number;
    else h = hue[131072 | ((maxc - g) << 8) | (maxc - r)] as number;
    const uh = (h + shift) & 255;
    // HSV -> RGB (Pillow hsv2rgb).
    const sector = hueSector[uh] as number;
    const f = hueFraction[uh] as number;
    const fs = div[(us << 8) | 255] as number;
    const v = maxc;
    const p = clampRound(v * (1 - fs));
    const q = clampRound(v * (1 - fs * f));
    const t = clampRound(v * (1 - fs * (1 - f)));
    switch (sector) {
      case 0: case 6: d[i] = v; d[i + 1] = t; d[i + 2] = p; break;
      case 1: d[i] = q; d[i + 1] = v; d[i + 2] = p; break;
      case 2: d[i] = p; d[i + 1] = v; d[i + 2] = t; break;
      case 3: d[i] = p; d[i + 1] = q; d[i + 2] = v; break;
      case 4: d[i] = t; d[i + 1] = p; d[i + 2] = v; break;
      default: d[i] = v; d[i + 1] = p; d[i + 2] = q; break;
    }
  }
}

let hsv: { hue: Uint8Array; sat: Uint8Array } | undefined;

/**
 * Pillow's rgb2hsv as 8-bit tables (built once, 256 KiB): `sat[(max - min) << 8 | max]`
 * is the 8-bit saturation, and the 8-bit hue of a pixel whose maximum is red, green or
 * blue (`k` = 0, 1, 2, checked in that order) is `hue[k << 16 | x << 8 | y]` with
 * (x, y) = (max - b, max - g), (max - r, max - b), (max - g, max - r): the hue formula
 * depends on the pixel only through these two distances (max - min is the larger one).
 * Every entry is computed with Pillow's float32 steps.
 */
export function hsvTables(): { hue: Uint8Array; sat: Uint8Array } {
  if (hsv !== undefined) return hsv;
  const div = divisionTable();
  const hue = new Uint8Array(3 << 16);
  const sat = new Uint8Array(65536);
  for (let maxc = 1; maxc < 256; maxc++) for (let cr = 1; cr <= maxc; cr++) sat[(cr << 8) | maxc] = Math.trunc((div[(cr << 8) | maxc] as number) * 255);
  for (let x = 0; x < 256; x++) {
    for (let y = 0; y < 256; y++) {
      const cr = x > y ? x : y;
      if (cr === 0) continue;
      const a = div[(x << 8) | cr] as number;
      const c = div[(y << 8) | cr] as number;
      const hs = [f32(a - c), f32(2 + a - c), f32(4 + a - c)];
      for (let k = 0; k < 3; k++) {
        let hh = (hs[k] as number) / 6 + 1; // in [0.8, 2): fmod(x, 1) is x - 1 exactly for x >= 1
        if (hh >= 1) hh -= 1;
        hue[(k << 16) | (x << 8) | y] = Math.trunc(f32(hh) * 255) & 255;
      }
    }
  }
  hsv = { hue, sat };
  return hsv;
}

/** Pillow's hsv2rgb sector `floor(h * 6 / 255)` and float32 fraction per 8-bit hue. */
export const hueSector = new Uint8Array(256);
export const hueFraction = new Float32Array(256);
for (let h = 0; h < 256; h++) {
  const h6 = (h * 6) / 255;
  hueSector[h] = Math.floor(h6);
  hueFraction[h] = h6 - Math.floor(h6);
}

let divTable: Float32Array | undefined;

/** `fround(a / b)` for 8-bit `a` and `b` at index `(a << 8) | b` (built once, 256 KiB). */
export function divisionTable(): Float32Array {
  if (divTable !== undefined) return divTable;
  const t = new Float32Array(65536);
  for (let a = 0; a < 256; a++) for (let b = 1; b < 256; b++) t[(a << 8) | b] = a / b;
  divTable = t;
  return t;
}

function clampRound(x: number): number {
  // C round() (half away from zero) of a value in [0, 255].
  return Math.floor(x + 0.5);
}

/**
 * Grey (ITU-R 601-2 luma) written to all three channels, in place; pixels are read
 * through `inLut` (default: identity).
 *
 * @example
 * ```ts
 * toGrayscale(img); // img.data[0] === img.data[1] === img.data[2]
 * ```
 */
export function toGrayscale(image: RgbImage, inLut: Uint8Array = IDENTITY_LUT): void {
  const d = image.data;
  for (let i = 0; i < d.length; i += 3) {
    const l = luma(inLut[d[i] as number] as number, inLut[d[i + 1] as number] as number, inLut[d[i + 2] as number] as number);
    d[i] = l;
    d[i + 1] = l;
    d[i + 2] = l;
  }
}

/**
 * Solarize: every channel value `>= threshold` becomes `255 - value`, in place.
 *
 * @example
 * ```ts
 * solarizeInPlace(img, 128);
 * ```
 */
export function solarizeInPlace(image: RgbImage, threshold: number): void {
  applyLut(image.data, solarizeLut(threshold));
}
