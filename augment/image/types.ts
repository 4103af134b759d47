/**
 * The pixel type every image operator works on: 8-bit RGB, interleaved, row-major,
 * no padding between rows (`data.length === width * height * 3`).
 */

/**
 * An 8-bit RGB image (channels interleaved: R G B R G B ...).
 *
 * @example
 * ```ts
 * const red: RgbImage = { width: 1, height: 1, data: Uint8Array.of(255, 0, 0) };
 * ```
 */
export interface RgbImage {
  readonly width: number;
  readonly height: number;
  /** `width * height * 3` bytes, R G B per pixel, rows top to bottom. */
  readonly data: Uint8Array;
}

/**
 * A new black image of the given size.
 *
 * @example
 * ```ts
 * const img = createRgbImage(224, 224); // img.data.length === 224 * 224 * 3
 * ```
 */
export function createRgbImage(width: number, height: number): RgbImage {
  return { width, height, data: new Uint8Array(width * height * 3) };
}

/** A deep copy (the operators that work in place are given copies by the ops API). */
export function cloneRgbImage(image: RgbImage): RgbImage {
  return { width: image.width, height: image.height, data: image.data.slice() };
}

/** Python's `round()` (half to even), which torchvision's crop arithmetic uses. */
export function roundHalfEven(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}
