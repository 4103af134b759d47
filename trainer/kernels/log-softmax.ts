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
import { getGradient, getKernel, registerGradient, type GradConfig, type KernelConfig } from '@tensorflow/tfjs-core';
import { heapKernels } from './wasm/heap.js';
import { asWasm, floatInput, offsetOf, sizeOf } from './wasm-memory.js';

export const LOG_SOFTMAX = 'DeclipLogSoftmax';
export const LOG_SOFTMAX_GRAD = 'DeclipLogSoftmaxGrad';

function rowsCols(shape: readonly number[]): [number, number] {
  const cols = shape[shape.length - 1] ?? 1;
  return [cols === 0 ? 0 : sizeOf(shape) / cols, cols];
}

export const logSoftmaxConfig: KernelConfig = {
  kernelName: LOG_SOFTMAX,
  backendName: 'wasm',
  kernelFunc: ({ inputs, backend: b }) => {
    const backend = asWasm(b);
    const x = floatInput(LOG_SOFTMAX, 'x', inputs['x']);
    const out = backend.makeOutput([...x.shape], 'float32');
    const [rows, cols] = rowsCols(x.shape);
    heapKernels(backend).logSoftmax(offsetOf(backend, x), offsetOf(backend, out), rows, cols);
    return out;
  },
};

export const logSoftmaxGradConfig: KernelConfig = {
  kernelName: LOG_SOFTMAX_GRAD,
  backendName: 'wasm',
  kernelFunc: ({ inputs, backend: b }) => {
    const backend = asWasm(b);
    const y = floatInput(LOG_SOFTMAX_GRAD, 'y', inputs['y']);
    const dy = floatInput(LOG_SOFTMAX_GRAD, 'dy', inputs['dy']);
    if (sizeOf(dy.shape) !== sizeOf(y.shape)) throw new TypeError(`${LOG_SOFTMAX_GRAD}: dy has shape [${dy.shape}], y has [${y.shape}]`);
    const dx = backend.makeOutput([...y.shape], 'float32');
    const [rows, cols] = rowsCols(y.shape);
    heapKernels(backend).logSoftmaxGrad(offsetOf(backend, y), offsetOf(backend, dy), offsetOf(backend, dx), rows, cols);
    return dx;
  },
};

export const logSoftmaxGradient: GradConfig = {
  kernelName: LOG_SOFTMAX,
  outputsToSave: [true],
  gradFunc: (dy, saved) => {
    const [y] = saved;
    if (y === undefined || Array.isArray(dy)) throw new TypeError(`${LOG_SOFTMAX}: gradient called without its saved output`);
    return { x: () => tf.engine().runKernel(LOG_SOFTMAX_GRAD, { y, dy }) as tf.Tensor };
  },
};

/** Register the gradient of the fused kernel (idempotent). */
export function registerLogSoftmaxGradient(): void {
  if (getGradient(LOG_SOFTMAX) === undefined) registerGradient(logSoftmaxGradient);
}

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
  if (x.dtype === 'float32' && x.rank >= 1 && getKernel(LOG_SOFTMAX, tf.getBackend()) !== undefined) {
    return tf.engine().runKernel(LOG_SOFTMAX, { x }) as T;
  }
  return tf.logSoftmax(x, -1);
}
