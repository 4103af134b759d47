/**
 * Exact GELU as one fused kernel forward and one backward on the wasm backend, instead
 * of the five elementwise kernels of `0.5 x (1 + erf(x / sqrt 2))` and the dozen of their
 * gradient (erf's gradient alone is a scalar `Exp` over the whole activation). The
 * arithmetic is in kernels.wasm (assembly/gelu.ts, SIMD); `DeclipGelu` saves its input
 * for `DeclipGeluGrad`.
 *
 * {@link gelu} is the op: the fused kernel where the active backend has it, the composed
 * formula elsewhere (cpu, webgl, tfjs-node), with the same values within float tolerance.
 */
import * as tf from '@tensorflow/tfjs-core';
import { getGradient, getKernel, registerGradient, type GradConfig, type KernelConfig } from '@tensorflow/tfjs-core';
import { heapKernels } from './wasm/heap.js';
import { asWasm, floatInput, offsetOf, sizeOf } from './wasm-memory.js';

export const GELU = 'DeclipGelu';
export const GELU_GRAD = 'DeclipGeluGrad';

export const geluConfig: KernelConfig = {
  kernelName: GELU,
  backendName: 'wasm',
  kernelFunc: ({ inputs, backend: b }) => {
    const backend = asWasm(b);
    const x = floatInput(GELU, 'x', inputs['x']);
    const out = backend.makeOutput([...x.shape], 'float32');
    heapKernels(backend).gelu(offsetOf(backend, x), offsetOf(backend, out), sizeOf(x.shape));
    return out;
  },
};

export const geluGradConfig: KernelConfig = {
  kernelName: GELU_GRAD,
  backendName: 'wasm',
  kernelFunc: ({ inputs, backend: b }) => {
    const backend = asWasm(b);
    const x = floatInput(GELU_GRAD, 'x', inputs['x']);
    const dy = floatInput(GELU_GRAD, 'dy', inputs['dy']);
    if (sizeOf(dy.shape) !== sizeOf(x.shape)) throw new TypeError(`${GELU_GRAD}: dy has shape [${dy.shape}], x has [${x.shape}]`);
    const dx = backend.makeOutput([...x.shape], 'float32');
    heapKernels(backend).geluGrad(offsetOf(backend, x), offsetOf(backend, dy), offsetOf(backend, dx), sizeOf(x.shape));
    return dx;
  },
};

export const geluGradient: GradConfig = {
  kernelName: GELU,
  inputsToSave: ['x'],
  gradFunc: (dy, saved) => {
    const [x] = saved;
    if (x === undefined || Array.isArray(dy)) throw new TypeError(`${GELU}: gradient called without its saved input`);
    return { x: () => tf.engine().runKernel(GELU_GRAD, { x, dy }) as tf.Tensor };
  },
};

/** Register the gradient of the fused kernel (idempotent; gradients are backend-independent). */
export function registerGeluGradient(): void {
  if (getGradient(GELU) === undefined) registerGradient(geluGradient);
}

/**
 * Exact GELU `0.5 x (1 + erf(x / sqrt 2))` (PyTorch nn.GELU): the fused kernel on
 * backends that have one, else the composed formula.
 *
 * @example
 * ```ts
 * const y = gelu(tf.tensor1d([-1, 0, 1])); // [-0.1587, 0, 0.8413]
 * ```
 */
export function gelu<T extends tf.Tensor>(x: T): T {
  if (x.dtype === 'float32' && getKernel(GELU, tf.getBackend()) !== undefined) {
    return tf.engine().runKernel(GELU, { x }) as T;
  }
  return tf.mul(tf.mul(x, 0.5), tf.add(tf.erf(tf.mul(x, Math.SQRT1_2)), 1));
}
