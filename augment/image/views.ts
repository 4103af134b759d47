/**
 * Decode once, cut every view from the decoded image.
 */
import { InvalidOptionError } from '../../core/errors.js';
import type { Rng } from '../../core/rng.js';
import { expectFixedSize } from './compile.js';
import type { CompiledImageTransform } from './compile.js';
import { decodeImage } from './decode.js';
import type { DecodeOptions, ResolvedDecodeOptions } from './decode.js';
import type { RgbImage } from './types.js';

/** Where one view goes: `out[offset ...]`, NHWC float32 (`width * height * 3` values). */
export interface ViewTarget {
  readonly out: Float32Array;
  readonly offset: number;
}

/**
 * Makes `rngs.length` views of an already decoded image with `transform`, normalised
 * into `targets` (one per rng). Synchronous, no allocation beyond the small views.
 *
 * @example
 * ```ts
 * augmentDecodedViews(image, t, [new Rng(s1), new Rng(s2)], [{ out: images1, offset }, { out: images2, offset }]);
 * ```
 */
export function augmentDecodedViews(
  image: RgbImage,
  transform: CompiledImageTransform,
  rngs: readonly Rng[],
  targets: readonly ViewTarget[],
): void {
  const size = expectFixedSize(transform);
  if (rngs.length !== targets.length) {
    throw new InvalidOptionError('targets', `Expected one target per rng (${rngs.length}) but received ${targets.length}`);
  }
  const n = size.width * size.height * 3;
  for (const [i, t] of targets.entries()) {
    if (!Number.isInteger(t.offset) || t.offset < 0 || t.offset + n > t.out.length) {
      throw new InvalidOptionError(`targets[${i}]`, `Expected room for ${n} values at offset ${t.offset} but the array holds ${t.out.length}`);
    }
  }
  for (let v = 0; v < rngs.length; v++) {
    const rng = rngs[v] as Rng;
    const target = targets[v] as ViewTarget;
    transform.applyInto(image, rng, target.out, target.offset);
  }
}

/**
 * Decodes `bytes` once and writes one normalised view per rng into `targets`. The
 * caller derives each view's seed from (seed, epoch, sample key, view) with
 * `deriveSeed`, so a sample's views do not depend on which worker runs it or when.
 * Rejects with `ImageError` for empty, corrupt, unsupported or oversized images.
 *
 * @example
 * ```ts
 * const t = compileImageTransform(mocov2Transform({ size: 224 })); // once per worker
 * const S = 224 * 224 * 3;
 * await augmentViews(sample.files['jpg'], t,
 *   [new Rng(deriveSeed(seed, epoch, sample.__key__, 1)), new Rng(deriveSeed(seed, epoch, sample.__key__, 2))],
 *   [{ out: images1, offset: b * S }, { out: images2, offset: b * S }]);
 * ```
 */
export async function augmentViews(
  bytes: Uint8Array,
  transform: CompiledImageTransform,
  rngs: readonly Rng[],
  targets: readonly ViewTarget[],
  decodeOptions?: DecodeOptions | ResolvedDecodeOptions,
): Promise<{ readonly width: number; readonly height: number }> {
  expectFixedSize(transform);
  const image = await decodeImage(bytes, decodeOptions);
  augmentDecodedViews(image, transform, rngs, targets);
  return { width: image.width, height: image.height };
}
