/**
 * CLIP's `Transformer`: pre-LN residual attention blocks, shared by the ViT and the text
 * tower. Parameter names match CLIP (`<prefix>.resblocks.<i>.attn.in_proj_weight`,
 * `.ln_1`, `.mlp.c_fc`, `.mlp.c_proj`, `.ln_2`); init follows CLIP's
 * `initialize_parameters` (attention std w^-1/2, output projections w^-1/2 (2L)^-1/2,
 * c_fc (2w)^-1/2, biases zero).
 *
 * @example
 * ```ts
 * const specs = transformerSpecs('transformer', { width: 16, layers: 1, heads: 2 });
 * const y = tf.tidy(() => transformerForward(store, 'transformer', { width: 16, layers: 1, heads: 2, activation: 'gelu' }, x));
 * ```
 */
import * as tf from '@tensorflow/tfjs-core';
import { type ParamSpec, layerNormSpec, noDecay, normal, weight, zeros } from '../params.js';
import type { Activation } from './config.js';
import { type ParamSource, activationFns, layerNorm, linear, packedSelfAttention } from './layers.js';

export interface TransformerShape {
  readonly width: number;
  readonly layers: number;
  readonly heads: number;
}

/** Parameter specs of a transformer with `layers` blocks (MLP ratio 4). */
export function transformerSpecs(prefix: string, shape: TransformerShape): ParamSpec[] {
  const { width: w, layers } = shape;
  const attnStd = w ** -0.5;
  const projStd = w ** -0.5 * (2 * Math.max(layers, 1)) ** -0.5;
  const fcStd = (2 * w) ** -0.5;
  const specs: ParamSpec[] = [];
  for (let i = 0; i < layers; i++) {
    const b = `${prefix}.resblocks.${i}`;
    specs.push(
      weight(`${b}.attn.in_proj_weight`, [3 * w, w], normal(attnStd)),
      noDecay(`${b}.attn.in_proj_bias`, [3 * w], zeros),
      weight(`${b}.attn.out_proj.weight`, [w, w], normal(projStd)),
      noDecay(`${b}.attn.out_proj.bias`, [w], zeros),
      ...layerNormSpec(`${b}.ln_1`, w),
      weight(`${b}.mlp.c_fc.weight`, [4 * w, w], normal(fcStd)),
      noDecay(`${b}.mlp.c_fc.bias`, [4 * w], zeros),
      weight(`${b}.mlp.c_proj.weight`, [w, 4 * w], normal(projStd)),
      noDecay(`${b}.mlp.c_proj.bias`, [w], zeros),
      ...layerNormSpec(`${b}.ln_2`, w),
    );
  }
  return specs;
}

const qScales = new Map<string, Float32Array>();

/**
 * `[3w, 1]` factors for the rows of `in_proj`: `1/sqrt(w / heads)` for the q rows, 1 for k
 * and v. Scaling the `[3w, w]` weight (and the bias) costs less than scaling q `[B*L, w]`
 * or the scores, forward and backward.
 */
function qScale(w: number, heads: number): tf.Tensor2D {
  const key = `${w}/${heads}`;
  let values = qScales.get(key);
  if (values === undefined) {
    values = new Float32Array(3 * w).fill(1);
    values.fill(1 / Math.sqrt(w / heads), 0, w);
    qScales.set(key, values);
  }
  return tf.tensor2d(values, [3 * w, 1]);
}

/** One pre-LN block on x `[B, L, w]`: `x + attn(ln_1 x)`, then `x + mlp(ln_2 x)`. */
export function residualBlock(
  p: ParamSource,
  name: string,
  heads: number,
  activation: Activation,
  x: tf.Tensor3D,
  mask?: tf.Tensor2D,
): tf.Tensor3D {
  const [b, l, w] = x.shape;
  const flat = tf.reshape(x, [b * l, w]) as tf.Tensor2D;
  const y = layerNorm(p, `${name}.ln_1`, flat);
  const scale = qScale(w, heads);
  const qkv = tf.add(
    tf.matMul(y, tf.mul(p.get(`${name}.attn.in_proj_weight`), scale), false, true),
    tf.mul(p.get(`${name}.attn.in_proj_bias`), tf.reshape(scale, [3 * w])),
  ) as tf.Tensor2D;
  const attended = packedSelfAttention(qkv, b, l, heads, mask);
  const x1 = tf.add<tf.Tensor2D>(flat, linear(p, `${name}.attn.out_proj`, attended));
  const hidden = activationFns[activation](linear(p, `${name}.mlp.c_fc`, layerNorm(p, `${name}.ln_2`, x1)));
  const x2 = tf.add(x1, linear(p, `${name}.mlp.c_proj`, hidden));
  return tf.reshape(x2, [b, l, w]);
}

/** All blocks in order. */
export function transformerForward(
  p: ParamSource,
  prefix: string,
  shape: TransformerShape & { readonly activation: Activation },
  x: tf.Tensor3D,
  mask?: tf.Tensor2D,
): tf.Tensor3D {
  let h = x;
  for (let i = 0; i < shape.layers; i++) h = residualBlock(p, `${prefix}.resblocks.${i}`, shape.heads, shape.activation, h, mask);
  return h;
}
