/**
 * Symmetric InfoNCE (the CLIP loss) and its multi-view mean (DeCLIP's MVS).
 *
 * `logits = s * I T^T` for L2-normalised image rows I `[B, D]` and text rows T `[B, D]`;
 * loss = (CE over rows + CE over columns) / 2 with the diagonal as targets:
 * `-1/(2B) sum_i [log softmax_j(logits_ij)_ii + log softmax_j(logits_ji)_ii]`.
 *
 * @example
 * ```ts
 * const loss = tf.tidy(() => infoNCE(l2Normalize(img), l2Normalize(txt), model.logitScale()));
 * ```
 */
import * as tf from '@tensorflow/tfjs-core';
import { logSoftmax } from '../kernels/log-softmax.js';

/** Mean cross-entropy over the rows of `logits` `[B, B]` with the diagonal as targets. */
function diagonalCE(logits: tf.Tensor2D): tf.Scalar {
  const b = logits.shape[0];
  return tf.div(tf.sum(tf.mul(logSoftmax(logits), tf.eye(b))), -b) as tf.Scalar;
}

/** Symmetric InfoNCE of normalised `image` and `text` `[B, D]` at scale `scale` (scalar). */
export function infoNCE(image: tf.Tensor2D, text: tf.Tensor2D, scale: tf.Scalar | number): tf.Scalar {
  const logits = tf.mul(tf.matMul(image, text, false, true), scale) as tf.Tensor2D;
  return tf.div(tf.add(diagonalCE(logits), diagonalCE(tf.transpose(logits))), 2) as tf.Scalar;
}

/**
 * One direction only: the mean cross-entropy over the rows of `scale * image text^T` with the
 * diagonal as targets, `-1/B sum_i log softmax_j(logits_ij)_ii` (PyTorch
 * `F.cross_entropy(logits, arange(B))`). NNS is made of these.
 */
export function imageToTextCE(image: tf.Tensor2D, text: tf.Tensor2D, scale: tf.Scalar | number): tf.Scalar {
  return diagonalCE(tf.mul(tf.matMul(image, text, false, true), scale) as tf.Tensor2D);
}

/**
 * MVS: the mean of {@link infoNCE} over every (image view, text view) pair. With two views
 * each this is DeCLIP's CLIP term `(L(i1,t1) + L(i2,t1) + L(i1,t2) + L(i2,t2)) / 4`; with
 * one view each it is plain CLIP.
 */
export function multiViewInfoNCE(
  images: readonly tf.Tensor2D[],
  texts: readonly tf.Tensor2D[],
  scale: tf.Scalar | number,
): tf.Scalar {
  const terms: tf.Scalar[] = [];
  for (const t of texts) for (const i of images) terms.push(infoNCE(i, t, scale));
  return tf.div(tf.addN(terms), terms.length) as tf.Scalar;
}
