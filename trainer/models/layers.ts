/**
 * Functional layers over named parameters (tfjs-core ops only). Each takes a
 * {@link ParamSource} and the layer's name prefix; shapes follow PyTorch (Linear weight
 * `[out, in]`, conv kernel `[out, in, kh, kw]`). Call inside `tf.tidy` (or a gradient
 * function): intermediates are not disposed here.
 *
 * @example
 * ```ts
 * const y = tf.tidy(() => linear(store, 'projector.0', x)); // x [N, in] -> [N, out]
 * ```
 */
import * as tf from '@tensorflow/tfjs-core';
import { gelu } from '../kernels/gelu.js';
import { layerNorm as layerNormOp } from '../kernels/layer-norm.js';
import type { Activation } from './config.js';

/** Exact GELU (PyTorch nn.GELU): a fused kernel on the wasm backend, the erf formula elsewhere. */
export { gelu };

/** Where layers find their variables (a {@link ParamStore} is one). */
export interface ParamSource {
  get(name: string): tf.Variable;
}

/** `x @ W^T + b` for x `[N, in]`, W `[out, in]`. */
export function linear(p: ParamSource, name: string, x: tf.Tensor2D, bias = true): tf.Tensor2D {
  const y = tf.matMul<tf.Tensor2D>(x, p.get(`${name}.weight`), false, true);
  return bias ? tf.add<tf.Tensor2D>(y, p.get(`${name}.bias`)) : y;
}

/** LayerNorm over the last axis (eps 1e-5, as PyTorch): a fused kernel on the wasm backend, the composed formula elsewhere. */
export function layerNorm<T extends tf.Tensor>(p: ParamSource, name: string, x: T, eps = 1e-5): T {
  return layerNormOp(x, p.get(`${name}.weight`), p.get(`${name}.bias`), eps);
}

/** BatchNorm options (PyTorch defaults). */
export interface BatchNormOptions {
  readonly momentum: number;
  readonly eps: number;
}
const bnDefaults: BatchNormOptions = Object.freeze({ momentum: 0.1, eps: 1e-5 });

/**
 * BatchNorm over every axis but the last (BatchNorm1d on `[N, C]`, BatchNorm2d on NHWC).
 * Training: normalise with batch statistics (biased variance) and update the running
 * buffers in place (`running = (1 - m) * running + m * batch`, unbiased variance, as
 * PyTorch). Eval: normalise with the running buffers, which are left unchanged.
 */
export function batchNorm<T extends tf.Tensor>(
  p: ParamSource,
  name: string,
  x: T,
  training: boolean,
  options: BatchNormOptions = bnDefaults,
): T {
  const gain = p.get(`${name}.weight`);
  const shift = p.get(`${name}.bias`);
  const runningMean = p.get(`${name}.running_mean`);
  const runningVar = p.get(`${name}.running_var`);
  let mean: tf.Tensor;
  let variance: tf.Tensor;
  if (training) {
    const axes = x.shape.slice(0, -1).map((_, i) => i);
    ({ mean, variance } = tf.moments(x, axes));
    const n = x.size / (x.shape[x.rank - 1] ?? 1);
    const m = options.momentum;
    const bm = mean;
    const bv = variance;
    const newMean = tf.tidy(() => tf.add(tf.mul(runningMean, 1 - m), tf.mul(bm, m)));
    const newVar = tf.tidy(() => tf.add(tf.mul(runningVar, 1 - m), tf.mul(bv, (m * n) / Math.max(n - 1, 1))));
    runningMean.assign(newMean);
    runningVar.assign(newVar);
    newMean.dispose();
    newVar.dispose();
  } else {
    mean = runningMean;
    variance = runningVar;
  }
  const normed = tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, options.eps)));
  return tf.add(tf.mul(normed, gain), shift);
}

/** CLIP's QuickGELU `x * sigmoid(1.702 x)`. */
export function quickGelu<T extends tf.Tensor>(x: T): T {
  return tf.mul(x, tf.sigmoid(tf.mul(x, 1.702)));
}

export const activationFns = {
  gelu,
  quick_gelu: quickGelu,
} as const satisfies Record<Activation, <T extends tf.Tensor>(x: T) => T>;

/**
 * Identity in the forward pass, zero gradient in the backward pass (PyTorch `.detach()`
 * inside a differentiated function). The result is a new tensor.
 */
export function stopGradient<T extends tf.Tensor>(x: T): T {
  const f = tf.customGrad((...inputs: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const input = inputs[0] as tf.Tensor;
    return { value: tf.clone(input), gradFunc: (dy: tf.Tensor) => tf.zerosLike(dy) };
  });
  return f(x) as T;
}

/**
 * Rows of `table` `[N, w]` at `indices` `[M]` -> `[M, w]` (an embedding lookup). tfjs
 * differentiates `gather` with `UnsortedSegmentSum`, which the cpu backend runs as one
 * masked pass per row of `table` (O(N M w): minutes for a 4k-token vocabulary); there the
 * backward pass here is a host scatter-add, O(M w), and the indices are read to the host
 * once (a small int32 download). Other backends use `tf.gather` and its own gradient (on
 * wasm the toolkit's heap kernels: a row copy forward, a scatter-add backward).
 */
export function gatherRows(table: tf.Tensor2D, indices: tf.Tensor1D): tf.Tensor2D {
  if (tf.getBackend() !== 'cpu') return tf.gather(table, indices);
  const [n, w] = table.shape;
  const host = Int32Array.from(indices.dataSync());
  const f = tf.customGrad((...inputs: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const x = inputs[0] as tf.Tensor2D;
    const value = tf.gather(x, tf.tensor1d(host, 'int32'));
    const gradFunc = (dy: tf.Tensor): tf.Tensor => {
      const g = dy.dataSync();
      const out = new Float32Array(n * w);
      for (let r = 0; r < host.length; r++) {
        const dst = (host[r] ?? 0) * w;
        const src = r * w;
        for (let j = 0; j < w; j++) out[dst + j] = (out[dst + j] ?? 0) + (g[src + j] ?? 0);
      }
      return tf.tensor2d(out, [n, w]);
    };
    return { value, gradFunc };
  });
  return f(table) as tf.Tensor2D;
}

/** L2-normalise rows: `x / max(||x||, eps)` (PyTorch F.normalize). */
export function l2Normalize<T extends tf.Tensor>(x: T, eps = 1e-12): T {
  const norm = tf.maximum(tf.norm(x, 'euclidean', -1, true), eps);
  return tf.div(x, norm);
}

/**
 * Softmax attention on inputs already split into heads: q `[G, Lq, d]` (already scaled by
 * `1/sqrt(d)`), k/v `[G, Lk, d]`, where G enumerates (batch item, head) pairs in the same
 * order for all three. Returns `[G, Lq, d]`.
 */
function attendHeads(qh: tf.Tensor3D, kh: tf.Tensor3D, vh: tf.Tensor3D, mask?: tf.Tensor2D): tf.Tensor3D {
  let scores: tf.Tensor3D = tf.matMul(qh, kh, false, true);
  if (mask !== undefined) scores = tf.add(scores, mask);
  return tf.matMul(tf.softmax(scores, -1), vh);
}

/**
 * Scaled dot-product attention over heads. q `[B, Lq, w]`, k/v `[B, Lk, w]` (already
 * projected); `mask` `[Lq, Lk]` is added to the scores (use a large negative number for
 * blocked positions). Returns `[B, Lq, w]` (before the output projection).
 */
export function attention(
  q: tf.Tensor3D,
  k: tf.Tensor3D,
  v: tf.Tensor3D,
  heads: number,
  mask?: tf.Tensor2D,
): tf.Tensor3D {
  const [b, lq, w] = q.shape;
  const lk = k.shape[1];
  const d = w / heads;
  const split = (x: tf.Tensor3D, l: number): tf.Tensor3D =>
    tf.reshape(tf.transpose(tf.reshape(x, [b, l, heads, d]), [0, 2, 1, 3]), [b * heads, l, d]);
  const out = attendHeads(split(tf.mul(q, 1 / Math.sqrt(d)), lq), split(k, lk), split(v, lk), mask); // [B*h, Lq, d]
  return tf.reshape(tf.transpose(tf.reshape(out, [b, heads, lq, d]), [0, 2, 1, 3]), [b, lq, w]);
}

/**
 * Self-attention from a packed projection `qkv` `[B*L, 3w]` whose columns are q | k | v
 * (PyTorch's `in_proj` layout, heads contiguous inside each), with q ALREADY scaled by
 * `1/sqrt(w / heads)`; `mask` `[L, L]` as in {@link attention}. Returns `[B*L, w]` (rows
 * b-major, before the output projection), equal to {@link attention} on the three column
 * blocks. One transpose brings all of q, k and v head-major at once
 * (`[B*L, 3h, d]` -> `[3h, B*L, d]`), so the three are contiguous blocks along the first
 * axis (a cheap split, and a cheap concat in the backward pass); attention then runs over
 * (head, batch item) pairs and one transpose brings the result back.
 *
 * @example
 * ```ts
 * const out = packedSelfAttention(qkv, 64, 24, 4, causalMask(24)); // [1536, 384] -> [1536, 128]
 * ```
 */
export function packedSelfAttention(qkv: tf.Tensor2D, b: number, l: number, heads: number, mask?: tf.Tensor2D): tf.Tensor2D {
  const w = qkv.shape[1] / 3;
  const d = w / heads;
  const headMajor = tf.transpose(tf.reshape(qkv, [b * l, 3 * heads, d]), [1, 0, 2]); // [3h, B*L, d]
  const [qh, kh, vh] = tf.split(headMajor, 3, 0).map((t) => tf.reshape(t, [heads * b, l, d]) as tf.Tensor3D) as [
    tf.Tensor3D,
    tf.Tensor3D,
    tf.Tensor3D,
  ];
  const out = attendHeads(qh, kh, vh, mask); // [h*B, L, d]
  return tf.reshape(tf.transpose(tf.reshape(out, [heads, b * l, d]), [1, 0, 2]), [b * l, w]);
}

/** PyTorch-layout conv kernel `[out, in, kh, kw]` applied to NHWC input with symmetric padding. */
export function conv2d(
  p: ParamSource,
  name: string,
  x: tf.Tensor4D,
  stride: number,
  pad: number,
): tf.Tensor4D {
  const kernel = tf.transpose(p.get(`${name}.weight`), [2, 3, 1, 0]) as tf.Tensor4D; // -> [kh, kw, in, out]
  return tf.conv2d(x, kernel, stride, pad);
}
