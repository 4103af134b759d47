/**
 * What every tower provides: its parameter specs (pure data) and a forward function over a
 * {@link ParamSource}. Towers hold no tensors; a {@link DeclipModel} owns the variables.
 *
 * @example
 * ```ts
 * const tower = imageTowers.vit(config.vision as ViTConfig, 128);
 * tower.specs.length; // number of named parameters
 * ```
 */
import type * as tf from '@tensorflow/tfjs-core';
import type { ParamSpec } from '../params.js';
import type { ImageTowerKind } from './config.js';
import type { ParamSource } from './layers.js';

export interface ImageTower {
  readonly kind: ImageTowerKind;
  /** Parameter and buffer specs, names prefixed `visual.`. */
  readonly specs: readonly ParamSpec[];
  /** Input side S (images are NHWC `[B, S, S, 3]`). */
  readonly imageSize: number;
  /** Output embedding size (the model's embedDim). */
  readonly outputDim: number;
  /** Un-normalised image embeddings `[B, outputDim]`. `training` switches BatchNorm mode. */
  forward(p: ParamSource, images: tf.Tensor4D, training: boolean): tf.Tensor2D;
}
