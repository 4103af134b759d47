/**
 * SimSiam heads on the image embedding. Names follow the reference's `nn.Sequential`
 * indices: projector = Linear `projector.0`, BN `.1`, ReLU, Linear `.3`, BN `.4`, ReLU,
 * Linear `.6`, BN `.7` (BN on every layer, no ReLU after the last); predictor = Linear
 * `predictor.0`, BN `.1`, ReLU, Linear `.3` (bottleneck, BN+ReLU on the hidden layer only).
 *
 * @example
 * ```ts
 * const z = projectorForward(store, f, true); // [B, projector[2]]
 * const pz = predictorForward(store, z, true);
 * ```
 */
import * as tf from '@tensorflow/tfjs-core';
import { type ParamSpec, batchNormSpec, linearSpec } from '../params.js';
import type { SimSiamConfig } from './config.js';
import { type ParamSource, batchNorm, linear } from './layers.js';

export function simsiamSpecs(c: SimSiamConfig, embedDim: number): ParamSpec[] {
  const [a, b, out] = c.projector;
  return [
    ...linearSpec('projector.0', embedDim, a),
    ...batchNormSpec('projector.1', a),
    ...linearSpec('projector.3', a, b),
    ...batchNormSpec('projector.4', b),
    ...linearSpec('projector.6', b, out),
    ...batchNormSpec('projector.7', out),
    ...linearSpec('predictor.0', out, c.predictorHidden),
    ...batchNormSpec('predictor.1', c.predictorHidden),
    ...linearSpec('predictor.3', c.predictorHidden, out),
  ];
}

/** Projector: 3 x (Linear + BN), ReLU between. */
export function projectorForward(p: ParamSource, x: tf.Tensor2D, training: boolean): tf.Tensor2D {
  let h = tf.relu(batchNorm(p, 'projector.1', linear(p, 'projector.0', x), training));
  h = tf.relu(batchNorm(p, 'projector.4', linear(p, 'projector.3', h), training));
  return batchNorm(p, 'projector.7', linear(p, 'projector.6', h), training);
}

/** Predictor: Linear + BN + ReLU, then Linear. */
export function predictorForward(p: ParamSource, z: tf.Tensor2D, training: boolean): tf.Tensor2D {
  const h = tf.relu(batchNorm(p, 'predictor.1', linear(p, 'predictor.0', z), training));
  return linear(p, 'predictor.3', h);
}
