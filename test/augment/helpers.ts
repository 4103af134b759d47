/** Helpers shared by the image operator and decoder tests. */
import { ImageError, reasonOf } from '../../core/errors.js';
import type { RgbImage } from '../../augment/image/index.js';

/** The formula image of fixtures/image_reference.py. */
export function pattern(w: number, h: number): RgbImage {
  const data = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      for (let c = 0; c < 3; c++) {
        data[(y * w + x) * 3 + c] = (x * 13 + y * 29 + c * 71 + ((x * y) % 17) * 9 + Math.floor(x / 5) * Math.floor(y / 4) * 31) % 256;
      }
    }
  }
  return { width: w, height: h, data };
}

/** How a decode promise ended: `resolved`, the ImageError's reason, or what else it threw. */
export async function reason(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    return err instanceof ImageError ? reasonOf(err) : `not ImageError: ${String(err)}`;
  }
  return 'resolved';
}
