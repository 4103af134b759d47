/**
 * What the optimizer needs to know about one model parameter.
 *
 * Models expose their parameters as a list of these; the optimizer never looks at
 * names to decide anything except through the `decay` flag (biases, norm weights and
 * the logit scale carry `decay: false`).
 */
import type * as tf from '@tensorflow/tfjs-core';

export interface OptimParam {
  /** Unique, stable name (also the safetensors key in checkpoints). */
  readonly name: string;
  /** The variable updated in place. */
  readonly variable: tf.Variable;
  /** Whether decoupled weight decay applies (false for biases, norm weights, logit scale). */
  readonly decay: boolean;
  /** A token/positional/class embedding: decayed only when AdamW's `decayEmbeddings` is on. */
  readonly embedding?: boolean;
}

/** Gradients by parameter name, as `tf.variableGrads` returns them. */
export type NamedGrads = Readonly<Record<string, tf.Tensor>>;
