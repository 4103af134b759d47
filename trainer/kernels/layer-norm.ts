/**
 * LayerNorm over the last axis as one fused kernel forward and one backward on the wasm
 * backend, instead of the dozen small kernels of the composed formula (`Mean`, `Sub`,
 * `Square`, `Rsqrt`, `Mul`, `Add` forward; their gradients, with `Sum`s over rows that
 * the wasm backend runs through a transpose, backward). The arithmetic is in kernels.wasm
 * (assembly/layernorm.ts, SIMD over the feature axis).
 *
 * `DeclipLayerNorm` takes `x` (any rank, normalised over the last axis of width `w`),
 * `gain` and `bias` (both `[w]`) and attr `eps`; it returns `[y, mean, rstd]`, the per-row
 * statistics being saved for `DeclipLayerNormGrad`, which returns `[dx, dgain, dbias]` in
 * one pass over the rows.
 *
 * {@link layerNorm} is the op: the fused kernel where the active backend has it, the
 * composed formula elsewhere (cpu, webgl, tfjs-node), with the same values within float
 * tolerance.
 */
import * as tf from '@tensorflow/tfjs-core';
import { getGradient, getKernel, registerGradient, type GradConfig, type KernelConfig, type TensorInfo } from '@tensorflow/tfjs-core';
import { heapKernels } from './wasm/heap.js';
import { asWasm, offsetOf, sizeOf } from './wasm-memory.js';

export const LAYER_NORM = 'DeclipLayerNorm';
export const LAYER_NORM_GRAD = 'DeclipLayerNormGrad';

function floatInput(name: string, t: TensorInfo | undefined, kernel: string): TensorInfo {
  if (t === undefined || t.dtype !== 'float32') throw new TypeError(`${kernel}: input ${name} must be a float32 tensor`);
  return t;
}

/** The row width (last axis) and row count of x, checked against the `[w]` parameters. */
function rowsOf(kernel: string, x: TensorInfo, ...params: Array<[string, TensorInfo]>): { rows: number; width: number } {
  const width = x.shape[x.shape.length - 1];
  if (width === undefined || width === 0) throw new TypeError(`${kernel}: x must have a non-empty last axis, got shape [${x.shape}]`);
  for (const [name, p] of params) {
    if (p.shape.length !== 1 || p.shape[0] !== width) throw new TypeError(`${kernel}: ${name} must have shape [${width}], got [${p.shape}]`);
  }
  return { rows: sizeOf(x.shape) / width, width };
}

export const layerNormConfig: KernelConfig = {
  kernelName: LAYER_NORM,
  backendName: 'wasm',
  kernelFunc: ({ inputs, attrs, backend: b }) => {
    const backend = asWasm(b);
    const x = floatInput('x', inputs['x'], LAYER_NORM);
    const gain = floatInput('gain', inputs['gain'], LAYER_NORM);
    const bias = floatInput('bias', inputs['bias'], LAYER_NORM);
    const eps = attrs?.['eps'];
    if (typeof eps !== 'number' || !(eps >= 0)) throw new TypeError(`${LAYER_NORM}: attr eps must be a number >= 0`);
    const { rows, width } = rowsOf(LAYER_NORM, x, ['gain', gain], ['bias', bias]);
    const y = backend.makeOutput([...x.shape], 'float32');
    const mean = backend.makeOutput([rows], 'float32');
    const rstd = backend.makeOutput([rows], 'float32');
    heapKernels(backend).layerNorm(
      offsetOf(backend, x), offsetOf(backend, gain), offsetOf(backend, bias),
      offsetOf(backend, y), offsetOf(backend, mean), offsetOf(backend, rstd), rows, width, eps,
    );
    return [y, mean, rstd];
  },
};

export const layerNormGradConfig: KernelConfig = {
  kernelName: LAYER_NORM_GRAD,
  backendName: 'wasm',
  kernelFunc: ({ inputs, backend: b }) => {
    const backend = asWasm(b);
    const x = floatInput('x', inputs['x'], LAYER_NORM_GRAD);
    const gain = floatInput('gain', inputs['gain'], LAYER_NORM_GRAD);
    const dy = floatInput('dy', inputs['dy'], LAYER_NORM_GRAD);
    const mean = floatInput('mean', inputs['mean'], LAYER_NORM_GRAD);
    const rstd = floatInput('rstd', inputs['rstd'], LAYER_NORM_GRAD);
    const { rows, width } = rowsOf(LAYER_NORM_GRAD, x, ['gain', gain]);
    if (sizeOf(dy.shape) !== sizeOf(x.shape)) throw new TypeError(`${LAYER_NORM_GRAD}: dy has shape [${dy.shape}], x has [${x.shape}]`);
    if (sizeOf(mean.shape) !== rows || sizeOf(rstd.shape) !== rows) throw new TypeError(`${LAYER_NORM_GRAD}: mean and rstd must have ${rows} values`);
    const dx = backend.makeOutput([...x.shape], 'float32');
    const dgain = backend.makeOutput([width], 'float32');
    const dbias = backend.makeOutput([width], 'float32');
    heapKernels(backend).layerNormGrad(
      offsetOf(backend, x), offsetOf(backend, gain), offsetOf(backend, dy), offsetOf(backend, mean), offsetOf(backend, rstd),
      offsetOf(backend, dx), offsetOf(backend, dgain), offsetOf(backend, dbias), rows, width,
    );
    return [dx, dgain, dbias];
  },
};

/**
 * The gradient runs the backward kernel once, when the tape reaches the node, and hands
 * its three outputs to x, gain and bias (those not needed are freed with the backward
 * pass's other intermediates).
 */
export const layerNormGradient: GradConfig = {
  kernelName: LAYER_NORM,
  inputsToSave: ['x', 'gain'],
  outputsToSave: [false, true, true],
  gradFunc: (dys, saved) => {
    const [x, gain, mean, rstd] = saved;
    const dy = Array.isArray(dys) ? dys[0] : dys;
    if (x === undefined || gain === undefined || mean === undefined || rstd === undefined || dy === undefined) {
      throw new TypeError(`${LAYER_NORM}: gradient called without its saved tensors`);
    }
    const [dx, dgain, dbias] = tf.engine().runKernel(LAYER_NORM_GRAD, { x, gain, dy, mean, rstd }) as tf.Tensor[];
    if (dx === undefined || dgain === undefined || dbias === undefined) throw new TypeError(`${LAYER_NORM_GRAD}: expected three outputs`);
    return { x: () => dx, gain: () => dgain, bias: () => dbias };
  },
};

/** Register the gradient of the fused kernel (idempotent; gradients are backend-independent). */
export function registerLayerNormGradient(): void {
  if (getGradient(LAYER_NORM) === undefined) registerGradient(layerNormGradient);
}

/**
 * LayerNorm over the last axis, `(x - mean) / sqrt(var + eps) * gain + bias` with the
 * population variance (PyTorch nn.LayerNorm): the fused kernel on backends that have
 * one (for float32 x and `[w]` gain and bias), else the composed formula. Call inside
 * `tf.tidy` (or a gradient function): the composed formula's intermediates are not disposed here.
 *
 * @example
 * ```ts
 * const y = layerNorm(tf.tensor2d([[1, 2, 3]]), tf.ones([3]), tf.zeros([3])); // [[-1.2247, 0, 1.2247]]
 * ```
 */
export function layerNorm<T extends tf.Tensor>(x: T, gain: tf.Tensor, bias: tf.Tensor, eps = 1e-5): T {
  const width = x.shape[x.shape.length - 1];
  if (
    x.dtype === 'float32' && gain.dtype === 'float32' && bias.dtype === 'float32' &&
    width !== undefined && width > 0 && x.size > 0 &&
    gain.rank === 1 && gain.shape[0] === width && bias.rank === 1 && bias.shape[0] === width &&
    getKernel(LAYER_NORM, tf.getBackend()) !== undefined
  ) {
    const [y, mean, rstd] = tf.engine().runKernel(LAYER_NORM, { x, gain, bias }, { eps }) as tf.Tensor[];
    // the statistics are only for the backward, which keeps its own reference when the tape records
    tf.dispose([mean, rstd] as tf.Tensor[]);
    return y as T;
  }
  const { mean, variance } = tf.moments(x, -1, true);
  const normed = tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, eps)));
  return tf.add(tf.mul(normed, gain), bias);
}
