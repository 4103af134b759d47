/**
 * The AdamW update of one parameter as a single pass on the wasm heap (kernels.wasm
 * `adamw`), instead of the dozen tfjs ops per parameter of trainer/optim/adamw.ts (each
 * allocating an output): the same float32 operations in the same order. The moments are
 * updated in place; the parameter gets a new buffer, assigned to its variable: the wasm
 * backend caches XNNPACK operators holding packed copies of a matmul's right operand
 * (and of convolution filters) by tensor id, so a parameter written in place would keep
 * being multiplied with its old values.
 */
import * as tf from '@tensorflow/tfjs-core';
import { heapKernels, heapKernelsAvailable } from './wasm/heap.js';
import { asWasm, offsetOf } from './wasm-memory.js';

/** The update's scalars, computed in float64 by the caller (they are rounded to float32 here, as tfjs scalars would be). */
export interface AdamWScalars {
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  /** 1 - beta2^t. */
  readonly bc2: number;
  /** lr / (1 - beta1^t). */
  readonly stepSize: number;
  /** 1 - lr * weightDecay, or 1 for parameters without decay. */
  readonly decay: number;
}

/**
 * Apply one AdamW update from gradient `grad`: `m` and `v` in place, `param` assigned a
 * new value. Returns false, changing nothing, where it does not apply: another backend
 * than wasm, no kernels.wasm, a dtype other than float32, mismatched sizes, or a buffer of
 * `m` or `v` shared with another tensor (writing it would change that tensor too).
 *
 * @example
 * ```ts
 * if (!adamwInPlace(p.variable, g, m, v, scalars)) { ...tfjs ops... }
 * ```
 */
export function adamwInPlace(param: tf.Variable, grad: tf.Tensor, m: tf.Tensor, v: tf.Tensor, s: AdamWScalars): boolean {
  if (tf.getBackend() !== 'wasm' || !heapKernelsAvailable()) return false;
  const ts = [param, grad, m, v];
  if (ts.some((t) => t.dtype !== 'float32' || t.size !== param.size)) return false;
  const backend = asWasm(tf.backend());
  if (m.dataId === v.dataId || [m, v].some((t) => backend.dataIdMap.get(t.dataId)?.refCount !== 1)) return false;
  const out = backend.makeOutput([...param.shape], 'float32');
  heapKernels(backend).adamw(
    offsetOf(backend, param), offsetOf(backend, grad), offsetOf(backend, m), offsetOf(backend, v), offsetOf(backend, out), param.size,
    s.beta1, 1 - s.beta1, s.beta2, 1 - s.beta2, s.eps, s.bc2, s.stepSize, s.decay,
  );
  const next = tf.engine().makeTensorFromTensorInfo(out);
  param.assign(next);
  next.dispose();
  return true;
}
