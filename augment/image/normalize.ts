/**
 * Normalisation to float32 NHWC, torchvision's `ToTensor()` + `Normalize(mean, std)`:
 * `((v / 255) - mean[c]) / std[c]`, every step in float32, through a 3 x 256 table.
 */
import type { RgbImage } from './types.js';

const f32 = Math.fround;

/**
 * The 768-entry table `lut[c * 256 + v]` for {@link normalizeInto}.
 *
 * @example
 * ```ts
 * const lut = normalizeTable([0.485, 0.456, 0.406], [0.229, 0.224, 0.225]);
 * ```
 */
export function normalizeTable(mean: readonly [number, number, number], std: readonly [number, number, number]): Float32Array {
  const lut = new Float32Array(768);
  for (let c = 0; c < 3; c++) {
    const m = f32(mean[c] as number);
    const s = f32(std[c] as number);
    for (let v = 0; v < 256; v++) lut[c * 256 + v] = f32(f32(f32(v / 255) - m) / s);
  }
  return lut;
}

/**
 * Writes the normalised image into `out` starting at element `offset` (NHWC, so a
 * batch of `B` images of side `S` is `out.length === B * S * S * 3` and image `b`
 * goes at `offset = b * S * S * 3`). No allocation.
 *
 * @example
 * ```ts
 * const batch = new Float32Array(64 * 224 * 224 * 3);
 * normalizeInto(view, lut, batch, 5 * 224 * 224 * 3); // sample 5 of the batch
 * ```
 */
export function normalizeInto(image: RgbImage, lut: Float32Array, out: Float32Array, offset: number): void {
  const d = image.data;
  const n = d.length;
  if (!Number.isInteger(offset) || offset < 0 || offset + n > out.length) {
    throw new RangeError(`normalizeInto: ${n} values at offset ${offset} do not fit in an array of ${out.length}`);
  }
  for (let i = 0; i < n; i += 3) {
    out[offset + i] = lut[d[i] as number] as number;
    out[offset + i + 1] = lut[256 + (d[i + 1] as number)] as number;
    out[offset + i + 2] = lut[512 + (d[i + 2] as number)] as number;
  }
}
