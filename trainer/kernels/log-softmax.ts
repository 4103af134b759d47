/**
 * Log-softmax over the last axis as one fused kernel forward and one backward on the wasm
 * backend. tfjs composes it from Max, Sub, Exp, Sum, Log and Sub (and its gradient from
 * Exp, Sum, Multiply, Sub), and the backend's Exp is a scalar loop: on the MLM head's
 * [masked positions, vocabulary] logits that was the largest elementwise cost of a step.
 * The arithmetic is in kernels.wasm (assembly/softmax.ts, SIMD); `DeclipLogSoftmax` saves
 * its output for `DeclipLogSoftmaxGrad` (dx = dy - softmax * sum(dy)).
 *
 * {@link logSoftmax} is the op: the fused kernel where the active backend has it, tfjs's
 * `tf.logSoftmax` elsewhere.
 */
import * as tf from '@tensorflow/tfjs-core';
import { fusedElementwise } from './fused-elementwise.js';
import { sizeOf } from './wasm-memory.js';

/** [rows, cols] of a tensor seen as rows of its last axis. */
function rowsCols(shape: readonly number[]): [number, number] {
  const cols = shape[shape.length - 1] ?? 1;
  return [cols === 0 ? 0 : sizeOf(shape) / cols, cols];
}

export const fusedLogSoftmax = fusedElementwise({
  name: 'DeclipLogSoftmax',
  save: 'output',
  forward: (k, x, out, shape) => k.logSoftmax(x, out, ...rowsCols(shape)),
  backward: (k, y, dy, dx, shape) => k.logSoftmaxGrad(y, dy, dx, ...rowsCols(shape)),
  fallback: (x) => tf.logSoftmax(x, -1),
});

export const LOG_SOFTMAX = fusedLogSoftmax.name;
export const LOG_SOFTMAX_GRAD = fusedLogSoftmax.gradName;

/**
 * Log-softmax over the last axis: the fused kernel on backends that have one, else
 * `tf.logSoftmax(x, -1)`.
 *
 * @example
 * ```ts
 * const logp = logSoftmax(tf.tensor2d([[1, 2, 3]])); // [[-2.4076, -1.4076, -0.4076]]
 * ```
 */
export function logSoftmax<T extends tf.Tensor>(x: T): T {
  return fusedLogSoftmax.apply(x);
}
