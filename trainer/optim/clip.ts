/**
 * Gradient clipping by global norm (as `torch.nn.utils.clip_grad_norm_`):
 * `norm = sqrt(sum_i ||g_i||^2)`, every gradient is scaled by `min(1, maxNorm / (norm + 1e-6))`.
 *
 * Every read is asynchronous (`await t.data()`): the webgpu backend cannot read synchronously
 * in Node.js. {@link globalNormSquared} keeps the sum on the device for callers that decide
 * there (the training step masks its update with the norm's finiteness, see
 * trainer/replica.ts).
 *
 * Ownership: the input tensors are left alone (the caller disposes them); the returned
 * gradients are new tensors the caller owns.
 *
 * @example
 * ```ts
 * const { grads: clipped, norm } = await clipByGlobalNorm(grads, 1.0);
 * tf.dispose(Object.values(grads));
 * ```
 */
import * as tf from '@tensorflow/tfjs-core';
import { sumOfSquaresWebGpu } from '../kernels/webgpu/fused.js';
import type { NamedGrads } from './param.js';

/** `sum_i ||g_i||^2` as a scalar on the device (0 for no gradients). Caller disposes it. */
export function globalNormSquared(grads: NamedGrads): tf.Scalar {
  const tensors = Object.values(grads);
  if (tensors.length === 0) return tf.scalar(0);
  return sumOfSquaresWebGpu(tensors) ?? (tf.tidy(() => tf.addN(tensors.map((g) => tf.sum(tf.square(g))))) as tf.Scalar);
}

/** The global L2 norm of a set of gradients (reads one number back, asynchronously). */
export async function globalNorm(grads: NamedGrads): Promise<number> {
  const sq = globalNormSquared(grads);
  try {
    return Math.sqrt((await sq.data())[0] ?? 0);
  } finally {
    sq.dispose();
  }
}

/** torch's clip factor for a norm measured on the host. */
export function clipScale(norm: number, maxNorm: number): number {
  return Number.isFinite(maxNorm) ? Math.min(1, maxNorm / (norm + 1e-6)) : 1;
}

export interface ClippedGrads {
  /** New tensors, owned by the caller. */
  readonly grads: Record<string, tf.Tensor>;
  /** The global norm before clipping. */
  readonly norm: number;
  /** The factor applied (1 when the norm was within bounds). */
  readonly scale: number;
}

/** `grads` times a host number (clones when it is 1). New tensors, owned by the caller. */
export function scaleGrads(grads: NamedGrads, scale: number | tf.Scalar): Record<string, tf.Tensor> {
  const out: Record<string, tf.Tensor> = {};
  for (const [name, g] of Object.entries(grads)) out[name] = scale === 1 ? tf.clone(g) : tf.tidy(() => tf.mul(g, scale));
  return out;
}

/** Scale `grads` so their global norm is at most `maxNorm` (`Infinity` = only measure). */
export async function clipByGlobalNorm(grads: NamedGrads, maxNorm: number): Promise<ClippedGrads> {
  const norm = await globalNorm(grads);
  const scale = clipScale(norm, maxNorm);
  return { grads: scaleGrads(grads, scale), norm, scale };
}
