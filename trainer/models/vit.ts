/**
 * CLIP VisionTransformer: patch embedding (a bias-free conv with kernel = stride = patch,
 * computed as patchify + matmul, so no convolution kernels are needed), class token,
 * positional embedding, ln_pre, pre-LN blocks, ln_post on the class token, projection.
 * Names: `visual.conv1.weight` `[w, 3, p, p]`, `visual.class_embedding`,
 * `visual.positional_embedding`, `visual.ln_pre`, `visual.transformer.resblocks.<i>.*`,
 * `visual.ln_post`, `visual.proj` `[w, embed]`.
 *
 * @example
 * ```ts
 * const tower = createViT({ kind: 'vit', imageSize: 16, patchSize: 8, width: 16, layers: 1, heads: 2, activation: 'gelu' }, 8);
 * ```
 */
import * as tf from '@tensorflow/tfjs-core';
import { type ParamSpec, embedding, layerNormSpec, normal, uniform, weight } from '../params.js';
import type { ViTConfig } from './config.js';
import { type ParamSource, layerNorm } from './layers.js';
import type { ImageTower } from './tower.js';
import { transformerForward, transformerSpecs } from './transformer.js';

export function vitSpecs(c: ViTConfig, embedDim: number): ParamSpec[] {
  const w = c.width;
  const p = c.patchSize;
  const grid = c.imageSize / p;
  const scale = w ** -0.5;
  return [
    weight('visual.conv1.weight', [w, 3, p, p], uniform(1 / Math.sqrt(3 * p * p))),
    embedding('visual.class_embedding', [w], normal(scale)),
    embedding('visual.positional_embedding', [grid * grid + 1, w], normal(scale)),
    ...layerNormSpec('visual.ln_pre', w),
    ...transformerSpecs('visual.transformer', c),
    ...layerNormSpec('visual.ln_post', w),
    weight('visual.proj', [w, embedDim], normal(scale)),
  ];
}

/** NHWC `[B, S, S, 3]` -> `[B * g * g, 3 * p * p]` in PyTorch conv-kernel order (c, kh, kw). */
export function patchify(images: tf.Tensor4D, patch: number): tf.Tensor2D {
  const [b, s] = images.shape;
  const g = s / patch;
  const x = tf.reshape(images, [b, g, patch, g, patch, 3]);
  return tf.reshape(tf.transpose(x, [0, 1, 3, 5, 2, 4]), [b * g * g, 3 * patch * patch]);
}

export function createViT(c: ViTConfig, embedDim: number): ImageTower {
  const grid = c.imageSize / c.patchSize;
  const n = grid * grid;
  const w = c.width;
  return {
    kind: 'vit',
    specs: vitSpecs(c, embedDim),
    imageSize: c.imageSize,
    outputDim: embedDim,
    forward(p: ParamSource, images: tf.Tensor4D): tf.Tensor2D {
      const b = images.shape[0];
      const kernel = tf.reshape(p.get('visual.conv1.weight'), [w, 3 * c.patchSize * c.patchSize]) as tf.Tensor2D;
      const patches = tf.reshape(tf.matMul(patchify(images, c.patchSize), kernel, false, true), [b, n, w]);
      const cls = tf.broadcastTo(tf.reshape(p.get('visual.class_embedding'), [1, 1, w]), [b, 1, w]);
      let x = tf.add(tf.concat([cls, patches], 1), p.get('visual.positional_embedding')) as tf.Tensor3D;
      x = layerNorm(p, 'visual.ln_pre', x);
      x = transformerForward(p, 'visual.transformer', c, x);
      const pooled = layerNorm(p, 'visual.ln_post', tf.reshape(tf.slice(x, [0, 0, 0], [b, 1, w]), [b, w]) as tf.Tensor2D);
      return tf.matMul(pooled, p.get('visual.proj') as tf.Tensor2D);
    },
  };
}
