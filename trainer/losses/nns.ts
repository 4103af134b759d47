/**
 * Nearest-neighbour supervision: InfoNCE between each image view and the nearest queued
 * text embedding of the paired text view, averaged. Official (2 views each):
 * `NNS = (L(i1, NN(t)) + L(i2, NN(t_eda))) / 2`. The neighbours come from the queue
 * (constants), so the gradient reaches the image tower (and logit_scale) only.
 *
 * @example
 * ```ts
 * const nn = [queue.lookup(t1), queue.lookup(t2)];
 * const loss = nnsLoss([i1, i2], nn, scale);
 * ```
 */
import * as tf from '@tensorflow/tfjs-core';
import { InvalidOptionError } from '../../core/errors.js';
import { infoNCE } from './infonce.js';

/** Mean of `infoNCE(images[k], neighbours[k])` over k (same length). */
export function nnsLoss(
  images: readonly tf.Tensor2D[],
  neighbours: readonly tf.Tensor2D[],
  scale: tf.Scalar | number,
): tf.Scalar {
  const terms = images.map((img, k) => {
    const nn = neighbours[k];
    if (nn === undefined) throw new InvalidOptionError('neighbours', 'nnsLoss: one neighbour tensor per image view is required');
    return infoNCE(img, nn, scale);
  });
  return tf.div(tf.addN(terms), terms.length) as tf.Scalar;
}
