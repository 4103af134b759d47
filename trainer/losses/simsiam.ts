/**
 * SimSiam loss with stop-gradient: `-1/2 [cos(p1, sg(z2)) + cos(p2, sg(z1))]`, each cosine
 * averaged over the batch (PyTorch `F.cosine_similarity`, eps 1e-8). `z` are projector
 * outputs of the two image views, `p` the predictor outputs; the inputs to the projector
 * are the un-normalised image embeddings.
 *
 * @example
 * ```ts
 * const loss = simsiamLoss(p1, p2, z1, z2); // scalar in [-1, 1]
 * ```
 */
import * as tf from '@tensorflow/tfjs-core';
import { l2Normalize, stopGradient } from '../models/layers.js';

/** Mean over rows of the cosine similarity of `a` and `b` `[B, D]`. */
export function meanCosine(a: tf.Tensor2D, b: tf.Tensor2D, eps = 1e-8): tf.Scalar {
  return tf.mean(tf.sum(tf.mul(l2Normalize(a, eps), l2Normalize(b, eps)), 1)) as tf.Scalar;
}

export function simsiamLoss(p1: tf.Tensor2D, p2: tf.Tensor2D, z1: tf.Tensor2D, z2: tf.Tensor2D): tf.Scalar {
  const a = meanCosine(p1, stopGradient(z2));
  const b = meanCosine(p2, stopGradient(z1));
  return tf.mul(tf.add(a, b), -0.5) as tf.Scalar;
}
