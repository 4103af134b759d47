/**
 * Image operators: decode once, cut views with torchvision's (PIL path) arithmetic.
 *
 * @example
 * ```ts
 * import { compileImageTransform, mocov2Transform, augmentViews } from 'declip-ts/augment';
 * const t = compileImageTransform(mocov2Transform({ size: 224 }));
 * await augmentViews(jpegBytes, t, [rng1, rng2], [{ out: a, offset: 0 }, { out: b, offset: 0 }]);
 * ```
 */
export { type RgbImage, createRgbImage, cloneRgbImage } from './types.js';
export {
  type DecodeOptions,
  type ResolvedDecodeOptions,
  type ImageFormat,
  DEFAULT_DECODE_OPTIONS,
  decodeImage,
  fastJpegAvailable,
  resolveDecodeOptions,
  sniffImageFormat,
} from './decode.js';
export { type Rect, type ResamplePlan, resampleRgb } from './resample.js';
export { sampleResizedCropBox, centralFallbackBox, resizedSize, centerCropWindow } from './geometry.js';
export {
  adjustBrightness,
  adjustContrast,
  adjustSaturation,
  adjustHue,
  toGrayscale,
  solarizeInPlace,
  luma,
} from './colour.js';
export { gaussianBlurInPlace, extendedBoxRadius } from './blur.js';
export { normalizeTable, normalizeInto } from './normalize.js';
export {
  IMAGE_OP_NAMES,
  type ImageOpName,
  type ImageOpSpec,
  type ImageTransformSpec,
  type ResolvedImageOp,
  type RandomResizedCropParams,
  type ResizeParams,
  type CenterCropParams,
  type ColorJitterParams,
  type GaussianBlurParams,
  type SolarizeParams,
  type NormalizeParams,
  resolveImageTransform,
} from './spec.js';
export {
  type CompiledImageTransform,
  type ViewPlan,
  type PixelStep,
  type ImageKernels,
  type CompileImageOptions,
  compileImageTransform,
  expectFixedSize,
  runPixelStep,
} from './compile.js';
export {
  IMAGENET_MEAN,
  IMAGENET_STD,
  IMAGE_PRESETS,
  type ImagePresetName,
  type PresetOptions,
  mocov2Transform,
  lightTransform,
  evalTransform,
} from './presets.js';
export {
  randomResizedCrop,
  horizontalFlip,
  colorJitter,
  randomGrayscale,
  gaussianBlur,
  solarize,
  resizeCenterCrop,
} from './ops.js';
export { type ViewTarget, augmentViews, augmentDecodedViews } from './views.js';
export { WasmViewKernels, wasmKernelsAvailable } from './wasm/view.js';
