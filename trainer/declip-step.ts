/**
 * All DeCLIP losses for one batch, in ONE function usable inside `tf.variableGrads`.
 *
 * `total = w_clip * CLIP(MVS) + w_nns * NNS + w_simsiam * SimSiam + w_mlm * MLM` (terms with
 * weight 0 are not computed). Follows the official code (test/reference/official_losses.py is its
 * transcription): text view 1 is the MLM-masked caption (one text pass serves CLIP, NNS and MLM),
 * text view 2 the EDA caption;
 * NN lookups use the queue as it was before this batch; the rows to enqueue (EDA embeddings,
 * then caption embeddings, normalised) are returned and pushed AFTER the step, outside the
 * gradient.
 *
 * Ownership: {@link declipLosses} returns tensors that survive the gradient function's tidy
 * (`tf.keep`); the caller frees them with {@link disposeLossOutput} (or reads and frees them
 * with {@link readLossValues}). {@link declipGradients} does all of that and returns numbers
 * plus gradients that the caller disposes.
 *
 * @example
 * ```ts
 * const model = createDeclipModel('tiny', { seed: 1 });
 * const queue = new NearestNeighbourQueue({ size: 4096, dim: model.embedDim, seed: 2 });
 * const inputs = batchToInputs(batch);
 * const { grads, values } = await declipGradients(model, inputs, queue, lossPresets.declip);
 * // ... optimiser applies grads (Map name -> tensor), then:
 * for (const g of grads.values()) g.dispose();
 * disposeInputs(inputs);
 * console.log(values.total, values.terms.mlm);
 * ```
 */
import * as tf from '@tensorflow/tfjs-core';
import { InvalidOptionError } from '../core/errors.js';
import type { DeclipBatch } from '../pipeline/types.js';
import type { LossConfig, LossTerm } from './losses/config.js';
import { lossTerms } from './losses/config.js';
import { multiViewInfoNCE } from './losses/infonce.js';
import { maskedPositions, mlmLoss } from './losses/mlm.js';
import type { NearestNeighbourQueue } from './losses/nn-queue.js';
import { nnsLoss } from './losses/nns.js';
import { simsiamLoss } from './losses/simsiam.js';
import type { DeclipModel } from './models/declip-model.js';
import { l2Normalize, stopGradient } from './models/layers.js';

/** One batch as tensors (see {@link batchToInputs}). Int tensors are int32. */
export interface DeclipInputs {
  /** `[B, S, S, 3]` float32, NHWC. */
  readonly images1: tf.Tensor4D;
  /** `[B, S, S, 3]`; unused with one image view. */
  readonly images2: tf.Tensor4D;
  /** Caption ids `[B, L]`. */
  readonly tokens: tf.Tensor2D;
  /** EDA caption ids `[B, L]`. */
  readonly tokensEda: tf.Tensor2D;
  /** MLM-masked caption ids `[B, L]`. */
  readonly tokensMasked: tf.Tensor2D;
  /** EOT index per row of `tokens`/`tokensMasked` `[B]`. */
  readonly eot: tf.Tensor1D;
  /** EOT index per row of `tokensEda` `[B]`. */
  readonly eotEda: tf.Tensor1D;
  /** Flat positions `b * L + l` where the MLM label is not -100 `[M]`. */
  readonly mlmIndex: tf.Tensor1D;
  /** The MLM labels at those positions `[M]`. */
  readonly mlmTargets: tf.Tensor1D;
}

/** Tensors from a pipeline batch (the MLM positions are found on the host). Caller disposes. */
export function batchToInputs(batch: DeclipBatch): DeclipInputs {
  const { size: b, imageSize: s, contextLength: l } = batch;
  const { index, targets } = maskedPositions(batch.mlmLabels);
  return {
    images1: tf.tensor4d(batch.images1, [b, s, s, 3]),
    images2: tf.tensor4d(batch.images2, [b, s, s, 3]),
    tokens: tf.tensor2d(batch.tokens, [b, l], 'int32'),
    tokensEda: tf.tensor2d(batch.tokensEda, [b, l], 'int32'),
    tokensMasked: tf.tensor2d(batch.tokensMasked, [b, l], 'int32'),
    eot: tf.tensor1d(batch.eot, 'int32'),
    eotEda: tf.tensor1d(batch.eotEda, 'int32'),
    mlmIndex: tf.tensor1d(index, 'int32'),
    mlmTargets: tf.tensor1d(targets, 'int32'),
  };
}

/** Free the tensors of {@link batchToInputs}. Idempotent. */
export function disposeInputs(inputs: DeclipInputs): void {
  tf.dispose(Object.values(inputs) as tf.Tensor[]);
}

/** Result of {@link declipLosses}: every tensor is kept; free with {@link disposeLossOutput}. */
export interface DeclipLossOutput {
  /** The weighted total (the scalar to differentiate). */
  readonly total: tf.Scalar;
  /** Each term, unweighted; null when its weight is 0. */
  readonly terms: Readonly<Record<LossTerm, tf.Scalar | null>>;
  /** `min(exp(logit_scale), max)` used for the logits. */
  readonly logitScale: tf.Scalar;
  /** Rows to push into the NN queue after the step (official order), null when NNS is off. */
  readonly enqueue: tf.Tensor2D | null;
}

/**
 * How a data-parallel worker sees the rest of the batch (see trainer/parallel/). The
 * contrastive terms and the SimSiam heads need the whole batch: {@link LossExchange.gather}
 * returns, for each of this worker's embedding tensors `[b, D]`, the whole batch's `[B, D]`
 * in batch order, with this worker's rows still on the gradient tape and the other
 * workers' rows as constants. The MLM mean is divided by the whole batch's masked count.
 */
export interface LossExchange {
  gather(local: readonly tf.Tensor2D[]): tf.Tensor2D[];
  /** Masked positions in the whole batch. */
  readonly mlmCount: number;
}

/** Loss values as numbers (after the step). */
export interface LossValues {
  readonly total: number;
  readonly terms: Readonly<Record<LossTerm, number | null>>;
  readonly logitScale: number;
}

/** What {@link combineLosses} needs: the towers' and heads' outputs for one batch. */
export interface TermInputs {
  /** Image embeddings, one per view, un-normalised `[B, D]`. */
  readonly images: readonly tf.Tensor2D[];
  /** Text embeddings (caption, then EDA caption), un-normalised `[B, D]`. */
  readonly texts: readonly tf.Tensor2D[];
  /** SimSiam predictor (`p`) and projector (`z`) outputs of the two image views; null when off. */
  readonly simsiam: { readonly p1: tf.Tensor2D; readonly p2: tf.Tensor2D; readonly z1: tf.Tensor2D; readonly z2: tf.Tensor2D } | null;
  /**
   * The queue's nearest neighbours of each normalised text view `[B, D]` (constants), when
   * the caller looked them up already (data-parallel workers look up their own rows and
   * exchange the result); absent: looked up here.
   */
  readonly neighbours?: readonly tf.Tensor2D[];
  /** MLM logits at the masked positions `[M, V]`, their targets `[M]`, and the mean's denominator (default M). */
  readonly mlm: { readonly logits: tf.Tensor2D; readonly targets: tf.Tensor1D; readonly count?: number } | null;
}

/**
 * The loss terms and their weighted total from the towers' outputs, as the official code
 * combines them (test/reference/official_losses.py transcribes it; the reference test checks
 * every term and gradient): MVS over every (image view, text view) pair, NNS over every
 * (image view, neighbours of a text view) pair, SimSiam with stop-gradient, MLM over the
 * masked positions. Terms with weight 0 (or without their inputs) are null. `enqueue` holds the
 * normalised text rows to push into the queue after the step (EDA first, then caption, the
 * official order). Call inside a tidy or gradient function; nothing is kept here.
 */
export function combineLosses(
  inputs: TermInputs,
  queue: NearestNeighbourQueue | null,
  config: LossConfig,
  scale: tf.Scalar,
): { total: tf.Scalar; terms: Record<LossTerm, tf.Scalar | null>; enqueue: tf.Tensor2D | null } {
  const w = config.weights;
  const images = inputs.images.map((x) => l2Normalize(x));
  const texts = inputs.texts.map((x) => l2Normalize(x));
  const terms: Record<LossTerm, tf.Scalar | null> = { clip: null, nns: null, simsiam: null, mlm: null };
  if (w.clip > 0) {
    // Multi-view supervision over every (image, text) view pair; without it (the CLIP + SS ablation) image view 1 and the caption only.
    const mvs = config.multiView ?? true;
    terms.clip = multiViewInfoNCE(mvs ? images : images.slice(0, 1), mvs ? texts : texts.slice(0, 1), scale);
  }
  let enqueue: tf.Tensor2D | null = null;
  if (w.nns > 0) {
    if (queue === null) throw new InvalidOptionError('queue', 'NNS weight is > 0 but no NearestNeighbourQueue was given');
    // Official pairing: every image view against the neighbours of every text view
    // (2 x 2 = four image->text cross-entropies with DeCLIP's views).
    terms.nns = nnsLoss(images, inputs.neighbours ?? texts.map((t) => queue.lookup(t)), scale);
    enqueue = tf.concat([...texts].reverse(), 0);
  }
  const s = inputs.simsiam;
  if (w.simsiam > 0 && s !== null) terms.simsiam = simsiamLoss(s.p1, s.p2, s.z1, s.z2);
  const m = inputs.mlm;
  if (w.mlm > 0 && m !== null) terms.mlm = mlmLoss(m.logits, m.targets, m.count);
  const weighted: tf.Scalar[] = [];
  for (const k of lossTerms) {
    const t = terms[k];
    if (t !== null) weighted.push(tf.mul(t, w[k]));
  }
  if (weighted.length === 0) throw new InvalidOptionError('loss.weights', 'Every loss weight is 0');
  const total = weighted.length === 1 ? (weighted[0] as tf.Scalar) : (tf.addN(weighted) as tf.Scalar);
  return { total, terms, enqueue };
}

/**
 * Compute every enabled loss term for one batch. Call inside the function given to
 * `tf.variableGrads` (it returns `out.total`) or inside `tf.tidy`. `training` selects
 * BatchNorm batch statistics (and updates the running buffers). `queue` is required when
 * the NNS weight is > 0; it is only read here. With `exchange` (data-parallel workers) the
 * inputs are this worker's slice of the batch; every term but MLM is the whole batch's, and
 * MLM is this slice's share of the whole batch's mean.
 */
export function declipLosses(
  model: DeclipModel,
  inputs: DeclipInputs,
  queue: NearestNeighbourQueue | null,
  config: LossConfig,
  training: boolean,
  exchange?: LossExchange,
): DeclipLossOutput {
  const w = config.weights;
  const useSimSiam = w.simsiam > 0;
  const useMlm = w.mlm > 0;
  if (useSimSiam && (config.imageViews !== 2 || !model.hasSimSiam)) {
    throw new InvalidOptionError('loss.weights.simsiam', 'SimSiam needs 2 image views and a model with SimSiam heads');
  }
  if (useMlm && !model.hasMlmHead) throw new InvalidOptionError('loss.weights.mlm', 'MLM needs a model with an MLM head');
  const maskedView = useMlm && config.maskedCaptionAsView;

  let result: DeclipLossOutput | undefined;
  tf.tidy(() => {
    const scale = model.logitScale();
    let f1 = model.encodeImage(inputs.images1, training);
    let f2 = config.imageViews === 2 ? model.encodeImage(inputs.images2, training) : null;
    const caption = model.encodeText(maskedView ? inputs.tokensMasked : inputs.tokens, inputs.eot);
    const eda = config.textViews === 2 ? model.encodeText(inputs.tokensEda, inputs.eotEda) : null;
    let captionEmbedding = caption.embedding;
    let edaEmbedding = eda?.embedding ?? null;
    let neighbours: tf.Tensor2D[] | undefined;
    if (exchange !== undefined) {
      // The NN lookup is row by row: each worker looks up its own rows (off the tape) and
      // the neighbours travel with the embeddings, instead of every worker searching the
      // queue for the whole batch. Same rows, same arithmetic: the same neighbours.
      const localTexts = edaEmbedding === null ? [captionEmbedding] : [captionEmbedding, edaEmbedding];
      const localNeighbours = w.nns > 0 && queue !== null ? localTexts.map((t) => queue.lookup(stopGradient(l2Normalize(t)))) : [];
      const local = [f1, f2, captionEmbedding, edaEmbedding];
      const present = local.filter((x): x is tf.Tensor2D => x !== null);
      const whole = exchange.gather([...present, ...localNeighbours]);
      const all = local.map((x) => (x === null ? null : (whole[present.indexOf(x)] as tf.Tensor2D)));
      [f1, f2, captionEmbedding, edaEmbedding] = [all[0] as tf.Tensor2D, all[1] ?? null, all[2] as tf.Tensor2D, all[3] ?? null];
      if (localNeighbours.length > 0) neighbours = whole.slice(present.length);
    }

    let simsiam: TermInputs['simsiam'] = null;
    if (useSimSiam && f2 !== null) {
      const z1 = model.project(f1, training);
      const z2 = model.project(f2, training);
      simsiam = { p1: model.predict(z1, training), p2: model.predict(z2, training), z1, z2 };
    }
    let mlm: TermInputs['mlm'] = null;
    if (useMlm) {
      const tokens = maskedView ? caption.tokens : model.encodeText(inputs.tokensMasked, inputs.eot).tokens;
      mlm = { logits: model.mlmLogits(tokens, inputs.mlmIndex), targets: inputs.mlmTargets, ...(exchange === undefined ? {} : { count: exchange.mlmCount }) };
    }
    const images = f2 === null ? [f1] : [f1, f2];
    const texts = edaEmbedding === null ? [captionEmbedding] : [captionEmbedding, edaEmbedding];
    const { total, terms, enqueue } = combineLosses({ images, texts, simsiam, mlm, ...(neighbours === undefined ? {} : { neighbours }) }, queue, config, scale);
    result = { total, terms, logitScale: scale, enqueue };
    tf.keep(total);
    tf.keep(scale);
    if (enqueue !== null) tf.keep(enqueue);
    for (const k of lossTerms) {
      const t = terms[k];
      if (t !== null) tf.keep(t);
    }
  });
  if (result === undefined) throw new InvalidOptionError('loss', 'No loss was computed');
  return result;
}

/** Free every tensor of a {@link DeclipLossOutput}. Idempotent. */
export function disposeLossOutput(out: DeclipLossOutput): void {
  const all: tf.Tensor[] = [out.total, out.logitScale];
  if (out.enqueue !== null) all.push(out.enqueue);
  for (const k of lossTerms) {
    const t = out.terms[k];
    if (t !== null) all.push(t);
  }
  tf.dispose(all);
}

/**
 * Read the values with one asynchronous download (`[total, logitScale, ...terms]` stacked
 * on the device; works on every backend, webgpu included). Leaves every tensor of `out`
 * alone.
 */
export async function readLossValues(out: DeclipLossOutput): Promise<LossValues> {
  const present = lossTerms.filter((k) => out.terms[k] !== null);
  const stacked = tf.tidy(() => tf.stack([out.total, out.logitScale, ...present.map((k) => out.terms[k] as tf.Scalar)]));
  let host: tf.backend_util.TypedArray;
  try {
    host = await stacked.data();
  } finally {
    stacked.dispose();
  }
  const terms = Object.fromEntries(lossTerms.map((k) => [k, out.terms[k] === null ? null : (host[2 + present.indexOf(k)] ?? Number.NaN)])) as Record<LossTerm, number | null>;
  return { total: host[0] ?? Number.NaN, terms, logitScale: host[1] ?? Number.NaN };
}

/** Gradients of one batch, keyed by parameter name (only parameters the loss reaches). */
export interface DeclipGradients {
  /** name -> gradient; the caller disposes every tensor. */
  readonly grads: Map<string, tf.Tensor>;
  readonly values: LossValues;
  /** This batch's rows for the NN queue (official order), null when NNS is off. */
  readonly enqueueRows: Float32Array | null;
}

/**
 * Forward + backward for one batch (training mode), then the queue update. Returns
 * gradients for the model's trainable parameters (absent for parameters the enabled terms do
 * not reach, e.g. the MLM head in `clip` mode) and the loss values. When `enqueue` is true
 * (the default) the queue receives this batch's text embeddings after the backward pass;
 * pass false to decide later (e.g. only for finite losses) and call
 * `queue.enqueue(result.enqueueRows)` yourself.
 */
export async function declipGradients(
  model: DeclipModel,
  inputs: DeclipInputs,
  queue: NearestNeighbourQueue | null,
  config: LossConfig,
  options: { readonly enqueue?: boolean } = {},
): Promise<DeclipGradients> {
  let out: DeclipLossOutput | undefined;
  const { value, grads } = tf.variableGrads(() => {
    out = declipLosses(model, inputs, queue, config, true);
    return out.total;
  }, model.trainableVariables());
  if (out === undefined) throw new InvalidOptionError('loss', 'declipLosses did not run');
  const result = out;
  try {
    const [values, rows] = await Promise.all([readLossValues(result), result.enqueue?.data()]);
    const enqueueRows = rows === undefined ? null : Float32Array.from(rows as Float32Array);
    if ((options.enqueue ?? true) && queue !== null && enqueueRows !== null) queue.enqueue(enqueueRows);
    const named = new Map<string, tf.Tensor>();
    for (const [variableName, g] of Object.entries(grads)) named.set(model.params.nameOf(variableName) ?? variableName, g);
    return { grads: named, values, enqueueRows };
  } finally {
    disposeLossOutput(result);
    value.dispose();
  }
}
