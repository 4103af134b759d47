/**
 * Where the geometric operators cut: torchvision's parameter sampling and size
 * arithmetic, with all randomness from an {@link Rng}.
 */
import type { Rng } from '../../core/rng.js';
import type { Rect } from './resample.js';
import { roundHalfEven } from './types.js';

/**
 * torchvision's `RandomResizedCrop.get_params`: up to 10 tries of a random area
 * fraction in `scale` and a log-uniform aspect ratio in `ratio`; if none fits, a
 * central crop clamped to the ratio range. Draws: per try, area then log-ratio, then
 * top then left when it fits.
 *
 * @example
 * ```ts
 * const box = sampleResizedCropBox(500, 375, [0.2, 1], [3 / 4, 4 / 3], new Rng(7));
 * ```
 */
export function sampleResizedCropBox(
  width: number,
  height: number,
  scale: readonly [number, number],
  ratio: readonly [number, number],
  rng: Rng,
): Rect {
  const area = width * height;
  const logLo = Math.log(ratio[0]);
  const logHi = Math.log(ratio[1]);
  for (let attempt = 0; attempt < 10; attempt++) {
    const targetArea = area * rng.uniform(scale[0], scale[1]);
    const aspect = Math.exp(rng.uniform(logLo, logHi));
    const w = roundHalfEven(Math.sqrt(targetArea * aspect));
    const h = roundHalfEven(Math.sqrt(targetArea / aspect));
    if (w > 0 && w <= width && h > 0 && h <= height) {
      const y = rng.int(height - h + 1);
      const x = rng.int(width - w + 1);
      return { x, y, width: w, height: h };
    }
  }
  return centralFallbackBox(width, height, ratio);
}

/** The fallback of {@link sampleResizedCropBox}: the largest central crop within the ratio range. */
export function centralFallbackBox(width: number, height: number, ratio: readonly [number, number]): Rect {
  const inRatio = width / height;
  let w = width;
  let h = height;
  if (inRatio < Math.min(ratio[0], ratio[1])) {
    h = roundHalfEven(w / Math.min(ratio[0], ratio[1]));
  } else if (inRatio > Math.max(ratio[0], ratio[1])) {
    w = roundHalfEven(h * Math.max(ratio[0], ratio[1]));
  }
  return { x: Math.floor((width - w) / 2), y: Math.floor((height - h) / 2), width: w, height: h };
}

/**
 * torchvision's `Resize(size)` output size for an int `size`: the shorter side becomes
 * `size`, the longer `floor(size * long / short)`.
 *
 * @example
 * ```ts
 * resizedSize(500, 375, 256); // { width: 341, height: 256 }
 * ```
 */
export function resizedSize(width: number, height: number, size: number): { width: number; height: number } {
  if (width <= height) return { width: size, height: Math.trunc((size * height) / width) };
  return { width: Math.trunc((size * width) / height), height: size };
}

/**
 * torchvision's `CenterCrop` window: offsets `round((in - out) / 2)` (half to even);
 * negative when the crop is larger than the image (that part is black padding).
 *
 * @example
 * ```ts
 * centerCropWindow(341, 256, 224, 224); // { x: 58, y: 16, width: 224, height: 224 }
 * ```
 */
export function centerCropWindow(width: number, height: number, cropWidth: number, cropHeight: number): Rect {
  const pad = (inSize: number, out: number): number =>
    out > inSize ? -Math.floor((out - inSize) / 2) : roundHalfEven((inSize - out) / 2);
  return { x: pad(width, cropWidth), y: pad(height, cropHeight), width: cropWidth, height: cropHeight };
}
