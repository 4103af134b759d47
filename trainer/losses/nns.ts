/**
 * Nearest-neighbour supervision (NNS), as the official DeCLIP code computes it: the mean of
 * image->text cross-entropies, one for every pair (image view k, neighbour set j), each over
 * the rows of `scale * I_k NN_j^T` with the diagonal as targets. With DeCLIP's two image views
 * and the neighbours of the caption and of the EDA caption that is FOUR terms:
 *
 * `NNS = [CE(s I1 NN(T)^T) + CE(s I1 NN(T')^T) + CE(s I2 NN(T)^T) + CE(s I2 NN(T')^T)] / 4`
 *
 * (official `declip.py` builds `logits_per_image_{1,2}_nn{,_aug}`; `declip_solver.py` takes
 * `ClipInfoCELoss(logits_per_image_k_nn, logits_per_image_k_nn_aug)` for k = 1, 2 and averages;
 * `ClipInfoCELoss(a, b) = (CE(a) + CE(b)) / 2`. There is no text->image direction.) The
 * neighbours come from the queue (constants), so the gradient reaches the image tower and the
 * logit scale only. test/reference/ holds a PyTorch transcription of the official code that
 * test/trainer/official-reference.test.ts checks this against.
 *
 * @example
 * ```ts
 * const nn = [queue.lookup(t1), queue.lookup(t2)];
 * const loss = nnsLoss([i1, i2], nn, scale);
 * ```
 */
import * as tf from '@tensorflow/tfjs-core';
import { InvalidOptionError } from '../../core/errors.js';
import { imageToTextCE } from './infonce.js';

/**
 * Mean of {@link imageToTextCE}`(images[k], neighbours[j], scale)` over every k and j.
 * `images` are L2-normalised image embeddings `[B, D]`, `neighbours` the normalised queue rows
 * nearest to each text view `[B, D]`, `scale` the logit multiplier (exp of the logit scale).
 */
export function nnsLoss(
  images: readonly tf.Tensor2D[],
  neighbours: readonly tf.Tensor2D[],
  scale: tf.Scalar | number,
): tf.Scalar {
  if (images.length === 0) throw new InvalidOptionError('images', 'nnsLoss: at least one image view is required');
  if (neighbours.length === 0) throw new InvalidOptionError('neighbours', 'nnsLoss: at least one neighbour set is required');
  const terms: tf.Scalar[] = [];
  for (const img of images) for (const nn of neighbours) terms.push(imageToTextCE(img, nn, scale));
  return tf.div(tf.addN(terms), terms.length) as tf.Scalar;
}
