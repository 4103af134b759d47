/**
 * CLIP text transformer: token + positional embedding, causal pre-LN blocks, ln_final,
 * pooled at the end-of-text index, `text_projection`. Also returns the final token features
 * (after ln_final) for the MLM head, which is a Linear over the text width to the vocabulary
 * evaluated ONLY at the masked positions (gathered first).
 * Names: `token_embedding.weight` `[V, w]`, `positional_embedding` `[ctx, w]`,
 * `transformer.resblocks.<i>.*`, `ln_final`, `text_projection` `[w, embed]`,
 * `mlm_head.weight` `[V, w]`, `mlm_head.bias`.
 *
 * @example
 * ```ts
 * const { embedding, tokens } = textForward(store, config.text, ids, eot); // [B, E], [B, L, w]
 * const logits = mlmLogits(store, tokens, maskedFlatIndex); // [M, V]
 * ```
 */
import * as tf from '@tensorflow/tfjs-core';
import { type ParamSpec, embedding, layerNormSpec, linearSpec, noDecay, normal, uniform, weight } from '../params.js';
import type { TextConfig } from './config.js';
import { type ParamSource, gatherRows, layerNorm, linear } from './layers.js';
import { transformerForward, transformerSpecs } from './transformer.js';

/** Additive causal mask value for blocked (future) positions. */
export const MASK_VALUE = -1e9;

export function textSpecs(c: TextConfig, embedDim: number): ParamSpec[] {
  return [
    embedding('token_embedding.weight', [c.vocabSize, c.width], normal(0.02)),
    embedding('positional_embedding', [c.contextLength, c.width], normal(0.01)),
    ...transformerSpecs('transformer', c),
    ...layerNormSpec('ln_final', c.width),
    weight('text_projection', [c.width, embedDim], normal(c.width ** -0.5)),
    // PyTorch nn.Linear's default bias init, as the official text tower keeps it.
    ...(c.projectionBias ? [noDecay('text_projection.bias', [embedDim], uniform(c.width ** -0.5))] : []),
  ];
}

export function mlmHeadSpecs(c: TextConfig): ParamSpec[] {
  return linearSpec('mlm_head', c.width, c.vocabSize);
}

/** `[L, L]` additive mask: 0 on and below the diagonal, {@link MASK_VALUE} above. */
export function causalMask(length: number): tf.Tensor2D {
  const values = new Float32Array(length * length);
  for (let i = 0; i < length; i++) for (let j = i + 1; j < length; j++) values[i * length + j] = MASK_VALUE;
  return tf.tensor2d(values, [length, length]);
}

export interface TextFeatures {
  /** Projected, un-normalised caption embeddings `[B, embed]` (pooled at EOT). */
  readonly embedding: tf.Tensor2D;
  /** Final token features after ln_final `[B, L, width]`. */
  readonly tokens: tf.Tensor3D;
}

/** Run the text tower on ids `[B, L]` (int32, L <= contextLength) with EOT indices `[B]`. */
export function textForward(p: ParamSource, c: TextConfig, ids: tf.Tensor2D, eot: tf.Tensor1D): TextFeatures {
  const [b, l] = ids.shape;
  const w = c.width;
  const emb = tf.reshape(gatherRows(p.get('token_embedding.weight') as tf.Tensor2D, tf.reshape(ids, [b * l])), [b, l, w]);
  const pos = tf.slice(p.get('positional_embedding'), [0, 0], [l, w]);
  let x = tf.add(emb, pos) as tf.Tensor3D;
  x = transformerForward(p, 'transformer', c, x, causalMask(l));
  x = layerNorm(p, 'ln_final', x);
  // Pool at EOT with a one-hot mask (differentiable without gather/UnsortedSegmentSum).
  const pick = tf.reshape(tf.oneHot(tf.cast(eot, 'int32'), l, 1, 0, 'float32'), [b, l, 1]);
  const pooled = tf.sum(tf.mul(x, pick), 1) as tf.Tensor2D;
  const projected: tf.Tensor2D = tf.matMul(pooled, p.get('text_projection') as tf.Tensor2D);
  return { embedding: c.projectionBias ? (tf.add(projected, p.get('text_projection.bias')) as tf.Tensor2D) : projected, tokens: x };
}

/**
 * MLM logits at the chosen positions only: gather `tokens` `[B, L, w]` rows at
 * `flatIndex` `[M]` (b * L + position), then the Linear head: `[M, vocab]`.
 */
export function mlmLogits(p: ParamSource, tokens: tf.Tensor3D, flatIndex: tf.Tensor1D): tf.Tensor2D {
  const [b, l, w] = tokens.shape;
  const chosen = gatherRows(tf.reshape(tokens, [b * l, w]), flatIndex);
  return linear(p, 'mlm_head', chosen);
}
