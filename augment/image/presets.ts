/**
 * The two transforms DeCLIP uses, as data.
 *
 * - `mocov2`: the MoCo v2 training recipe DeCLIP uses for both image views
 *   (RandomResizedCrop(size, scale 0.2-1, ratio 3/4-4/3); ColorJitter(0.4, 0.4, 0.4,
 *   0.1) with p 0.8; RandomGrayscale p 0.2; GaussianBlur sigma 0.1-2.0 with p 0.5;
 *   horizontal flip p 0.5; ImageNet normalisation).
 * - `eval`: resize the shorter side to 256/224 of the size, centre crop, normalise.
 */
import { expectInteger } from '../../core/validate.js';
import type { ImageTransformSpec } from './spec.js';

/** ImageNet channel means (RGB), as torchvision and DeCLIP normalise. */
export const IMAGENET_MEAN = Object.freeze([0.485, 0.456, 0.406] as const);
/** ImageNet channel standard deviations (RGB). */
export const IMAGENET_STD = Object.freeze([0.229, 0.224, 0.225] as const);

/** Options of the presets. */
export interface PresetOptions {
  /** Output side in pixels (default 224). */
  readonly size?: number;
}

function presetSize(options: PresetOptions): number {
  return options.size === undefined ? 224 : expectInteger('size', options.size, 8, 4096);
}

/**
 * The DeCLIP / MoCo v2 training augmentation.
 *
 * @example
 * ```ts
 * const t = compileImageTransform(mocov2Transform({ size: 160 }));
 * ```
 */
export function mocov2Transform(options: PresetOptions = {}): ImageTransformSpec {
  const size = presetSize(options);
  return [
    { op: 'randomResizedCrop', params: { size, scale: [0.2, 1], ratio: [3 / 4, 4 / 3] } },
    { op: 'colorJitter', params: { brightness: 0.4, contrast: 0.4, saturation: 0.4, hue: 0.1 }, p: 0.8 },
    { op: 'grayscale', p: 0.2 },
    { op: 'gaussianBlur', params: { sigma: [0.1, 2] }, p: 0.5 },
    { op: 'horizontalFlip', p: 0.5 },
    { op: 'normalize', params: { mean: IMAGENET_MEAN, std: IMAGENET_STD } },
  ];
}

/**
 * A light training augmentation for small synthetic images whose captions name colours
 * and positions: a milder crop (area 0.6-1), mild brightness/contrast/saturation jitter
 * with p 0.8, no hue change, grayscale, blur or flip (those would contradict the caption
 * or erase a 32-pixel image's detail); ImageNet normalisation.
 *
 * @example
 * ```ts
 * const t = compileImageTransform(lightTransform({ size: 32 }));
 * ```
 */
export function lightTransform(options: PresetOptions = {}): ImageTransformSpec {
  const size = presetSize(options);
  return [
    { op: 'randomResizedCrop', params: { size, scale: [0.6, 1], ratio: [3 / 4, 4 / 3] } },
    { op: 'colorJitter', params: { brightness: 0.2, contrast: 0.2, saturation: 0.2, hue: 0 }, p: 0.8 },
    { op: 'normalize', params: { mean: IMAGENET_MEAN, std: IMAGENET_STD } },
  ];
}

/**
 * The evaluation transform: resize the shorter side to `round(size * 256 / 224)`,
 * centre crop `size`, normalise (at 224: resize 256, crop 224).
 *
 * @example
 * ```ts
 * const t = compileImageTransform(evalTransform());
 * ```
 */
export function evalTransform(options: PresetOptions = {}): ImageTransformSpec {
  const size = presetSize(options);
  return [
    { op: 'resize', params: { size: Math.round((size * 256) / 224) } },
    { op: 'centerCrop', params: { size } },
    { op: 'normalize', params: { mean: IMAGENET_MEAN, std: IMAGENET_STD } },
  ];
}

/** The presets by name. */
export const IMAGE_PRESETS = {
  mocov2: mocov2Transform,
  light: lightTransform,
  eval: evalTransform,
} as const satisfies Record<string, (options?: PresetOptions) => ImageTransformSpec>;

export type ImagePresetName = keyof typeof IMAGE_PRESETS;
