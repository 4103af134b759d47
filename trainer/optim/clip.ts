/**
 * Gradient clipping by global norm (as `torch.nn.utils.clip_grad_norm_`):
 * `norm = sqrt(sum_i ||g_i||^2)`, every gradient is scaled by `min(1, maxNorm / (norm + 1e-6))`.
 *
 * Ownership: the input tensors are left alone (the caller disposes them); the returned
 * gradients are new tensors the caller owns.
 *
 * @example
 * ```ts
 * const { grads: clipped, norm } = clipByGlobalNorm(grads, 1.0);
 * tf.dispose(Object.values(grads));
 * ```
 */
import * as tf from '@tensorflow/tfjs-core';
import type { NamedGrads } from './param.js';

/** The global L2 norm of a set of gradients (reads one number back from the backend). */
export function globalNorm(grads: NamedGrads): number {
  const tensors = Object.values(grads);
  if (tensors.length === 0) return 0;
  const sq = tf.tidy(() => tf.addN(tensors.map((g) => tf.sum(tf.square(g)))));
  const value = sq.dataSync()[0] ?? 0;
  sq.dispose();
  return Math.sqrt(value);
}

export interface ClippedGrads {
  /** New tensors, owned by the caller. */
  readonly grads: Record<string, tf.Tensor>;
  /** The global norm before clipping. */
  readonly norm: number;
  /** The factor applied (1 when the norm was within bounds). */
  readonly scale: number;
}

/** Scale `grads` so their global norm is at most `maxNorm` (`Infinity` = only measure). */
export function clipByGlobalNorm(grads: NamedGrads, maxNorm: number): ClippedGrads {
  const norm = globalNorm(grads);
  const scale = Number.isFinite(maxNorm) ? Math.min(1, maxNorm / (norm + 1e-6)) : 1;
  const out: Record<string, tf.Tensor> = {};
  for (const [name, g] of Object.entries(grads)) out[name] = scale === 1 ? tf.clone(g) : tf.tidy(() => tf.mul(g, scale));
  return { grads: out, norm, scale };
}
