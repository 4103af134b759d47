/**
 * Each operator as a small typed function of `(image, params, rng)` returning a new
 * image (the input is not modified). These run one op at a time, for tests, tools and
 * one-off use; pipelines compile a whole transform instead (`compileImageTransform`),
 * which fuses the geometry into one pass and runs the pixel ops in place.
 */
import type { Rng } from '../../core/rng.js';
import { compileImageTransform } from './compile.js';
import type { ColorJitterParams, GaussianBlurParams, ImageOpSpec, RandomResizedCropParams, SolarizeParams } from './spec.js';
import type { RgbImage } from './types.js';

function once(step: ImageOpSpec, image: RgbImage, rng: Rng): RgbImage {
  return compileImageTransform([step], step.op).apply(image, rng);
}

/**
 * torchvision `RandomResizedCrop(size, scale, ratio)` (bilinear, antialiased).
 *
 * @example
 * ```ts
 * const view = randomResizedCrop(img, { size: 224, scale: [0.2, 1] }, new Rng(3));
 * ```
 */
export function randomResizedCrop(image: RgbImage, params: RandomResizedCropParams, rng: Rng): RgbImage {
  return once({ op: 'randomResizedCrop', params }, image, rng);
}

/**
 * `RandomHorizontalFlip(p)`: mirrors left-right with probability `p` (default 1).
 *
 * @example
 * ```ts
 * const mirrored = horizontalFlip(img, { p: 1 }, new Rng(0));
 * ```
 */
export function horizontalFlip(image: RgbImage, params: { readonly p?: number }, rng: Rng): RgbImage {
  return once({ op: 'horizontalFlip', p: params.p ?? 1 }, image, rng);
}

/**
 * `ColorJitter(brightness, contrast, saturation, hue)` applied with probability `p`
 * (default 1), the four adjustments in random order.
 *
 * @example
 * ```ts
 * const out = colorJitter(img, { brightness: 0.4, contrast: 0.4, saturation: 0.4, hue: 0.1, p: 0.8 }, rng);
 * ```
 */
export function colorJitter(image: RgbImage, params: ColorJitterParams & { readonly p?: number }, rng: Rng): RgbImage {
  const { p, ...jitter } = params;
  return once({ op: 'colorJitter', params: jitter, p: p ?? 1 }, image, rng);
}

/**
 * `RandomGrayscale(p)`: ITU-R 601-2 luma on all three channels, with probability `p`.
 *
 * @example
 * ```ts
 * const grey = randomGrayscale(img, { p: 1 }, rng);
 * ```
 */
export function randomGrayscale(image: RgbImage, params: { readonly p?: number }, rng: Rng): RgbImage {
  return once({ op: 'grayscale', p: params.p ?? 1 }, image, rng);
}

/**
 * MoCo v2's `GaussianBlur(sigma)` (Pillow's `GaussianBlur(radius=sigma)`), with probability `p`.
 *
 * @example
 * ```ts
 * const soft = gaussianBlur(img, { sigma: [0.1, 2], p: 0.5 }, rng);
 * ```
 */
export function gaussianBlur(image: RgbImage, params: GaussianBlurParams & { readonly p?: number }, rng: Rng): RgbImage {
  return once({ op: 'gaussianBlur', params: { sigma: params.sigma }, p: params.p ?? 1 }, image, rng);
}

/**
 * `RandomSolarize(threshold, p)`: values `>= threshold` are inverted.
 *
 * @example
 * ```ts
 * const out = solarize(img, { threshold: 128 }, rng);
 * ```
 */
export function solarize(image: RgbImage, params: SolarizeParams & { readonly p?: number }, rng: Rng): RgbImage {
  return once({ op: 'solarize', params: { threshold: params.threshold }, p: params.p ?? 1 }, image, rng);
}

/**
 * `Resize(size)` (shorter side to `size`, bilinear, antialiased) then `CenterCrop(crop)`.
 *
 * @example
 * ```ts
 * const centre = resizeCenterCrop(img, { size: 256, crop: 224 }, rng);
 * ```
 */
export function resizeCenterCrop(image: RgbImage, params: { readonly size: number; readonly crop: number | readonly [number, number] }, rng: Rng): RgbImage {
  return compileImageTransform(
    [
      { op: 'resize', params: { size: params.size } },
      { op: 'centerCrop', params: { size: params.crop } },
    ],
    'resizeCenterCrop',
  ).apply(image, rng);
}
