/**
 * A fused op with one float32 input and an output of the same shape, run by one heap
 * kernel forward and one backward on the wasm backend (GELU, log-softmax): the two kernel
 * configs, the gradient (saving the forward's input or its output for the backward), and
 * the op, which uses the fused kernel where the active backend has it and the op's tfjs
 * formula elsewhere.
 *
 * @example
 * ```ts
 * const gelu = fusedElementwise({
 *   name: 'DeclipGelu', save: 'input',
 *   forward: (k, x, out, shape) => k.gelu(x, out, sizeOf(shape)),
 *   backward: (k, x, dy, dx, shape) => k.geluGrad(x, dy, dx, sizeOf(shape)),
 *   fallback: (x) => tf.mul(tf.mul(x, 0.5), tf.add(tf.erf(tf.mul(x, Math.SQRT1_2)), 1)),
 * });
 * ```
 */
import * as tf from '@tensorflow/tfjs-core';
import { getGradient, getKernel, registerGradient, type GradConfig, type KernelConfig } from '@tensorflow/tfjs-core';
import { type HeapKernels, heapKernels } from './wasm/heap.js';
import { asWasm, floatInput, offsetOf, sizeOf } from './wasm-memory.js';

export interface FusedElementwiseSpec {
  /** Kernel name of the forward; the backward is `${name}Grad`. */
  readonly name: string;
  /** What the backward reads besides dy: the forward's input x, or its output y. */
  readonly save: 'input' | 'output';
  /** Write the op of the tensor at `x` (shape `shape`) to `out` (heap byte offsets). */
  readonly forward: (k: HeapKernels, x: number, out: number, shape: readonly number[]) => void;
  /** Write the gradient to `dx` from the saved tensor and `dy`. */
  readonly backward: (k: HeapKernels, saved: number, dy: number, dx: number, shape: readonly number[]) => void;
  /** The op where the fused kernel is absent (other backends, other dtypes). */
  readonly fallback: <T extends tf.Tensor>(x: T) => T;
}

export interface FusedElementwise {
  readonly name: string;
  readonly gradName: string;
  /** The forward and backward kernel configs for the wasm backend. */
  readonly configs: readonly [KernelConfig, KernelConfig];
  readonly gradient: GradConfig;
  /** Register the gradient (idempotent; gradients are backend-independent). */
  registerGradient(): void;
  /** The op. */
  apply<T extends tf.Tensor>(x: T): T;
}

export function fusedElementwise(spec: FusedElementwiseSpec): FusedElementwise {
  const { name, save } = spec;
  const gradName = `${name}Grad`;
  const savedName = save === 'input' ? 'x' : 'y';
  const forward: KernelConfig = {
    kernelName: name,
    backendName: 'wasm',
    kernelFunc: ({ inputs, backend: b }) => {
      const backend = asWasm(b);
      const x = floatInput(name, 'x', inputs['x']);
      const out = backend.makeOutput([...x.shape], 'float32');
      spec.forward(heapKernels(backend), offsetOf(backend, x), offsetOf(backend, out), x.shape);
      return out;
    },
  };
  const backward: KernelConfig = {
    kernelName: gradName,
    backendName: 'wasm',
    kernelFunc: ({ inputs, backend: b }) => {
      const backend = asWasm(b);
      const s = floatInput(gradName, savedName, inputs[savedName]);
      const dy = floatInput(gradName, 'dy', inputs['dy']);
      if (sizeOf(dy.shape) !== sizeOf(s.shape)) throw new TypeError(`${gradName}: dy has shape [${dy.shape}], ${savedName} has [${s.shape}]`);
      const dx = backend.makeOutput([...s.shape], 'float32');
      spec.backward(heapKernels(backend), offsetOf(backend, s), offsetOf(backend, dy), offsetOf(backend, dx), s.shape);
      return dx;
    },
  };
  const gradient: GradConfig = {
    kernelName: name,
    ...(save === 'input' ? { inputsToSave: ['x'] } : { outputsToSave: [true] }),
    gradFunc: (dy, saved) => {
      const [s] = saved;
      if (s === undefined || Array.isArray(dy)) throw new TypeError(`${name}: gradient called without its saved ${save}`);
      return { x: () => tf.engine().runKernel(gradName, { [savedName]: s, dy }) as tf.Tensor };
    },
  };
  return {
    name,
    gradName,
    configs: [forward, backward],
    gradient,
    registerGradient: () => {
      if (getGradient(name) === undefined) registerGradient(gradient);
    },
    apply: <T extends tf.Tensor>(x: T): T => {
      if (x.dtype === 'float32' && x.rank >= 1 && getKernel(name, tf.getBackend()) !== undefined) {
        return tf.engine().runKernel(name, { x }) as T;
      }
      return spec.fallback(x);
    },
  };
}
