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
import { fusedElementwise } from './fused-elementwise.js';
import { sizeOf } from './wasm-memory.js';

export const fusedGelu = fusedElementwise({
  name: 'DeclipGelu',
  save: 'input',
  forward: (k, x, out, shape) => k.gelu(x, out, sizeOf(shape)),
  backward: (k, x, dy, dx, shape) => k.geluGrad(x, dy, dx, sizeOf(shape)),
  fallback: (x) => tf.mul(tf.mul(x, 0.5), tf.add(tf.erf(tf.mul(x, Math.SQRT1_2)), 1)),
});

export const GELU = fusedGelu.name;
export const GELU_GRAD = fusedGelu.gradName;

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
  return fusedGelu.apply(x);
}
