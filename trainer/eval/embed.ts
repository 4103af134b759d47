/**
 * From a checkpoint to embeddings: load the model and the run's tokenizer, encode texts,
 * and stream labelled shards through the pipeline with the evaluation image transform
 * (resize, centre crop, normalise) to get image and caption embeddings.
 *
 * @example
 * ```ts
 * const ev = await loadEvalModel('runs/tiny');                  // newest checkpoint of a run
 * const { image, text, labels, d } = await embedShards(ev, { shards: 'test-{000000..000001}.tar' });
 * const classEmb = classEmbeddings(encodeTexts(ev, buildPrompts(names, DEFAULT_TEMPLATES)), names.length, DEFAULT_TEMPLATES.length, d);
 * ev.dispose();
 * ```
 */
import { dirname, join, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { CheckpointError } from '../../core/errors.js';
import { CaptionTokenizer } from '../../augment/text/tokenizer.js';
import { evalTransform } from '../../augment/image/presets.js';
import { createPipeline } from '../../pipeline/pipeline.js';
import { loadCheckpoint } from '../checkpoint/checkpoint.js';
import { resolveModelConfig, type ModelConfig } from '../models/config.js';
import { createDeclipModel, type DeclipModel } from '../models/declip-model.js';
import { loadModelWeights } from '../loop.js';

/** A model loaded for evaluation, with its tokenizer. `dispose()` is idempotent. */
export interface EvalModel {
  readonly model: DeclipModel;
  readonly tokenizer: CaptionTokenizer;
  readonly tokenizerFile: string;
  readonly config: ModelConfig;
  /** The checkpoint folder it came from. */
  readonly checkpoint: string;
  readonly step: number;
  dispose(): void;
}

/** Load the newest checkpoint of a run folder (or a `step-*` folder) for evaluation. */
export async function loadEvalModel(path: string): Promise<EvalModel> {
  const ck = await loadCheckpoint(path);
  const saved = ck.state.config as { model?: unknown } | null;
  if (saved === null || typeof saved !== 'object' || saved.model === undefined) throw new CheckpointError(ck.dir, 'state.json has no model config');
  const config = resolveModelConfig(saved.model as Record<string, unknown>);
  if (ck.state.tokenizer === undefined) throw new CheckpointError(ck.dir, 'state.json names no tokenizer');
  const runDir = dirname(dirname(ck.dir));
  const tokenizerFile = resolve(runDir, ck.state.tokenizer);
  const tokenizer = await CaptionTokenizer.load(tokenizerFile);
  const model = createDeclipModel(config, { seed: 0 });
  try {
    loadModelWeights(model, ck.weights, join(ck.dir, 'model.safetensors'));
  } catch (err) {
    model.dispose();
    throw err;
  }
  return { model, tokenizer, tokenizerFile, config, checkpoint: ck.dir, step: ck.state.step, dispose: () => model.dispose() };
}

/** Un-normalised text embeddings [n, d] of `texts`, encoded in batches of `batch` (read asynchronously: any backend). */
export async function encodeTexts(ev: EvalModel, texts: readonly string[], batch = 64): Promise<Float32Array> {
  const d = ev.model.embedDim;
  const L = ev.config.text.contextLength;
  const out = new Float32Array(texts.length * d);
  for (let start = 0; start < texts.length; start += batch) {
    const chunk = texts.slice(start, start + batch);
    const { ids, eot } = ev.tokenizer.encode(chunk, L);
    const emb = tf.tidy(() => ev.model.encodeText(tf.tensor2d(ids, [chunk.length, L], 'int32'), tf.tensor1d(eot, 'int32')).embedding);
    try {
      out.set(await emb.data(), start * d);
    } finally {
      emb.dispose();
    }
  }
  return out;
}

export interface EmbedShardsOptions {
  /** Shard URL(s) (brace patterns allowed). */
  readonly shards: string | readonly string[];
  /** Samples per forward pass (default 64). */
  readonly batch?: number;
  /** Augmentation worker threads (default 2). */
  readonly workers?: number;
  /** Stop after this many samples (default: all). */
  readonly limit?: number;
  /** A shard that cannot be opened: throw (default), warn, skip. */
  readonly onShardError?: 'throw' | 'warn' | 'skip';
  readonly signal?: AbortSignal;
}

export interface ShardEmbeddings {
  /** [n, d] un-normalised image embeddings (evaluation transform). */
  readonly image: Float32Array;
  /** [n, d] un-normalised caption embeddings. */
  readonly text: Float32Array;
  /** [n] `cls` labels, -1 where a sample has none. */
  readonly labels: Int32Array;
  readonly keys: readonly string[];
  readonly d: number;
  readonly n: number;
}

/** Embed every sample of `shards` once, in shard order (no shuffling, no augmentation). */
export async function embedShards(ev: EvalModel, options: EmbedShardsOptions): Promise<ShardEmbeddings> {
  const d = ev.model.embedDim;
  const S = ev.config.vision.imageSize;
  const L = ev.config.text.contextLength;
  const pipeline = createPipeline({
    shards: options.shards,
    tokenizerFile: ev.tokenizerFile,
    batchSize: options.batch ?? 64,
    imageSize: S,
    contextLength: L,
    workers: options.workers ?? 2,
    shuffleBuffer: 0,
    shuffleShards: false,
    epochs: 1,
    onError: 'warn',
    onShardError: options.onShardError ?? 'throw',
    workerExtra: { imageTransform: evalTransform({ size: S }) },
    ...(options.signal === undefined ? {} : { signal: options.signal }),
  });
  const images: Float32Array[] = [];
  const texts: Float32Array[] = [];
  const labels: number[] = [];
  const keys: string[] = [];
  const limit = options.limit ?? Infinity;
  try {
    for await (const batch of pipeline) {
      const b = Math.min(batch.size, limit - keys.length);
      const [img, txt] = tf.tidy(() => {
        const x = tf.tensor4d(batch.images1.subarray(0, b * S * S * 3), [b, S, S, 3]);
        const ids = tf.tensor2d(batch.tokens.subarray(0, b * L), [b, L], 'int32');
        const eot = tf.tensor1d(batch.eot.subarray(0, b), 'int32');
        return [ev.model.encodeImage(x, false), ev.model.encodeText(ids, eot).embedding];
      });
      try {
        const [i, t] = await Promise.all([img.data(), txt.data()]);
        images.push(Float32Array.from(i as Float32Array));
        texts.push(Float32Array.from(t as Float32Array));
      } finally {
        tf.dispose([img, txt]);
      }
      labels.push(...batch.labels.subarray(0, b));
      keys.push(...batch.keys.slice(0, b));
      batch.release(); // its values are read: the buffer goes back to the pipeline's pool (else it falls back to copies after a few batches)
      if (keys.length >= limit) break;
    }
  } finally {
    await pipeline.close();
  }
  const concat = (parts: Float32Array[]): Float32Array => {
    const out = new Float32Array(keys.length * d);
    let o = 0;
    for (const p of parts) {
      out.set(p, o);
      o += p.length;
    }
    return out;
  };
  return { image: concat(images), text: concat(texts), labels: Int32Array.from(labels), keys, d, n: keys.length };
}
