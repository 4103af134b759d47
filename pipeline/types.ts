/**
 * The hand-off between the pipeline and the trainer: one batch of typed arrays, ready
 * to become tensors (NHWC images, what TensorFlow.js takes). Token ids use the
 * tokenizer's special ids: [PAD]=0, [SOT]=1, [EOT]=2, [MASK]=3.
 */
export interface DeclipBatch {
  /** Number of samples B (the last batch of a finite stream may be smaller). */
  readonly size: number;
  /** Image side S: images are [B, S, S, 3]. */
  readonly imageSize: number;
  /** First augmented view, normalised, [B, S, S, 3] float32. */
  readonly images1: Float32Array;
  /** Second augmented view, normalised, [B, S, S, 3] float32. */
  readonly images2: Float32Array;
  /** Context length L: token arrays are [B, L]. */
  readonly contextLength: number;
  /** The caption, tokenized: [SOT] ... [EOT] [PAD]*. */
  readonly tokens: Int32Array;
  /** The EDA-augmented caption, tokenized. */
  readonly tokensEda: Int32Array;
  /** `tokens` with MLM masking applied (same length, same EOT position). */
  readonly tokensMasked: Int32Array;
  /** MLM targets: the original id at chosen positions, -100 elsewhere. [B, L]. */
  readonly mlmLabels: Int32Array;
  /** Index of [EOT] in each row of `tokens` (and `tokensMasked`). [B]. */
  readonly eot: Int32Array;
  /** Index of [EOT] in each row of `tokensEda`. [B]. */
  readonly eotEda: Int32Array;
  /** Class label from the sample's `cls` member, -1 when it has none. [B]. */
  readonly labels: Int32Array;
  /** Sample keys, in batch order. */
  readonly keys: readonly string[];
  /** Where this batch sits in the deterministic stream, for resumable training. */
  readonly position: BatchPosition;
  /**
   * Hand the batch's memory back to the pipeline once its data has been used (uploaded
   * to tensors, copied): the image buffer is then reused for a later batch, so the batch
   * must not be read after this call. Idempotent. Batches from `createPipeline` always
   * have it (see {@link PipelineBatch}); batches made by hand may leave it out.
   */
  readonly release?: () => void;
}

/**
 * A batch as the pipeline delivers it: call `release()` when done with it (see
 * docs/pipeline.md, "Batch memory"). A consumer that never releases still gets every
 * batch, copied into fresh arrays once the pipeline's buffer pool is used up.
 */
export interface PipelineBatch extends DeclipBatch {
  readonly release: () => void;
}

export interface BatchPosition {
  readonly epoch: number;
  /** Samples delivered (in batches) before this batch, counted from the start of the run. */
  readonly samplesBefore: number;
  /** Zero-based index of this batch in the run. */
  readonly batchIndex: number;
  /**
   * Where to restart to continue right after this batch: pass `epoch` as the pipeline's
   * `startEpoch` and `skipSamples` as its `skipSamples` (source samples of that epoch
   * already consumed, delivered or dropped as bad; skipped before any decoding).
   */
  readonly resumeFrom: { readonly epoch: number; readonly skipSamples: number };
}
