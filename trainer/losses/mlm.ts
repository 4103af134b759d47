/**
 * Masked language modelling loss: mean cross-entropy over the chosen positions only,
 * `-1/M sum_m log softmax(logits_m)[target_m]`. The logits are computed by the MLM head
 * on gathered positions (see {@link maskedPositions}), so positions labelled -100 cost nothing.
 *
 * @example
 * ```ts
 * const { index, targets } = maskedPositions(batch.mlmLabels);
 * const loss = mlmLoss(model.mlmLogits(tokens, tf.tensor1d(index, 'int32')), tf.tensor1d(targets, 'int32'));
 * ```
 */
import * as tf from '@tensorflow/tfjs-core';
import { logSoftmax } from '../kernels/log-softmax.js';

/** The ignore label of MLM targets (as PyTorch's cross_entropy `ignore_index`). */
export const IGNORE_LABEL = -100;

/** Flat indices (row-major over `[B, L]`) of labels != -100, and the labels there. */
export function maskedPositions(labels: Int32Array): { index: Int32Array; targets: Int32Array } {
  let m = 0;
  for (const v of labels) if (v !== IGNORE_LABEL) m++;
  const index = new Int32Array(m);
  const targets = new Int32Array(m);
  let k = 0;
  labels.forEach((v, i) => {
    if (v !== IGNORE_LABEL) {
      index[k] = i;
      targets[k++] = v;
    }
  });
  return { index, targets };
}

/**
 * Mean cross-entropy of `logits` `[M, V]` against int32 `targets` `[M]`. With M = 0 (no
 * position chosen in the batch) the loss is 0 (PyTorch would give NaN). `count` replaces
 * M as the denominator: data-parallel workers divide their part by the whole batch's count
 * so that the parts sum to the full-batch mean.
 */
export function mlmLoss(logits: tf.Tensor2D, targets: tf.Tensor1D, count?: number): tf.Scalar {
  const [m, v] = logits.shape;
  if (m === 0) return tf.scalar(0);
  const picked = tf.sum(tf.mul(logSoftmax(logits), tf.oneHot(tf.cast(targets, 'int32'), v, 1, 0, 'float32')));
  return tf.div(picked, -(count ?? m)) as tf.Scalar;
}
