/**
 * Pipeline options in three shapes: the readonly partial input {@link PipelineOptions},
 * the frozen {@link PIPELINE_DEFAULTS}, and {@link ResolvedPipelineOptions}. Validated
 * once, in {@link resolvePipelineOptions}.
 *
 * @example
 * ```ts
 * const opts = resolvePipelineOptions({ shards: 'data/train-{000000..000009}.tar', tokenizerFile: 'tok.json' });
 * opts.batchSize; // 64
 * ```
 */
import { availableParallelism } from 'node:os';
import type { SampleError } from '../core/errors.js';
import { invalidOption, expectBoolean, expectInteger, expectNumber, expectOneOf, expectString } from '../core/validate.js';
import { ERROR_POLICIES, type ErrorPolicy } from './operators/error-policy.js';
import type { OpenEpoch } from './operators/source.js';

export interface PipelineOptions {
  /** Shard URLs (brace patterns, `::` lists, paths, http(s), pipe:); required unless `open` is given. */
  readonly shards?: string | readonly string[];
  /** Custom sample source per epoch, instead of reading `shards` (tests, other formats). */
  readonly open?: OpenEpoch;
  /** Saved tokenizer JSON file; each worker loads it once. Required by the default worker. */
  readonly tokenizerFile?: string;
  /** Samples per batch (default 64). */
  readonly batchSize?: number;
  /** Image side S of both views (default 224). */
  readonly imageSize?: number;
  /** Token row length L (default 77). */
  readonly contextLength?: number;
  /** Augmentation worker threads (default: core count). */
  readonly workers?: number;
  /** Tasks handed to one worker at a time (default 2). */
  readonly tasksPerWorker?: number;
  /** Samples per worker task (default 4). */
  readonly samplesPerTask?: number;
  /** Tasks dispatched but not yet out of the re-order stage (default 2 x workers x tasksPerWorker). */
  readonly reorderWindow?: number;
  /** Batches of samples allowed ahead of the consumer (default 2). */
  readonly prefetch?: number;
  /** Sample shuffle buffer of the shard reader; 0 = no shuffling (default 1000). */
  readonly shuffleBuffer?: number;
  /** Shuffle the shard list each epoch (default true). */
  readonly shuffleShards?: boolean;
  /** Seed of every random choice: shuffles and augmentations (default 0). */
  readonly seed?: number;
  /** First epoch (default 0). */
  readonly startEpoch?: number;
  /** Epochs to run (default 1; Infinity for ever). */
  readonly epochs?: number;
  /** Samples of `startEpoch` to pass over, undecoded (resume; default 0). */
  readonly skipSamples?: number;
  /** Bad samples and errors inside shards: throw (default), warn, skip. */
  readonly onError?: ErrorPolicy;
  /** Shards that cannot be opened (missing, HTTP error, failing `pipe:`): throw (default), warn, skip. */
  readonly onShardError?: ErrorPolicy;
  /** A `pipe:` or HTTP shard silent this long (ms) fails as `stalled` (default 60000). */
  readonly stallTimeoutMs?: number;
  /**
   * One augmentation task running longer than this (ms) is a hung worker: the thread is
   * terminated and replaced and the task retried once (default 60000).
   */
  readonly taskTimeoutMs?: number;
  /** Threads that have not exited this long (ms) after being asked to stop are terminated (default 5000). */
  readonly shutdownTimeoutMs?: number;
  /** Where `warn` reports (default: one line on stderr). */
  readonly onWarn?: (error: SampleError | Error) => void;
  /** Pixel limit of a decoded image (default 100 megapixels... see augment/image). */
  readonly pixelLimit?: number;
  /**
   * Decode plain JPEGs with libjpeg-turbo directly instead of sharp (about 4x less CPU;
   * pixels within a few levels of sharp's, see augment/image/decode.ts). Default true.
   */
  readonly fastJpeg?: boolean;
  /**
   * Zero-copy batches (default true): workers write the image views straight into shared
   * batch buffers that become the batches' `images1`/`images2` (SharedArrayBuffer-backed;
   * no copy on this thread). Call `batch.release()` when done with a batch so its buffer
   * is reused (docs/pipeline.md, "Batch memory"). false: every batch gets its own
   * ArrayBuffers, copied in on this thread (about 5x more main-thread time).
   */
  readonly sharedBatches?: boolean;
  /**
   * Batch buffers the zero-copy pool keeps for reuse (each 2 x batchSize x S x S x 3
   * floats). Default: prefetch + the re-order window's batches + 2 (5 with the defaults:
   * the batch the consumer holds, the prefetched ones, the ones being filled). When every
   * pooled buffer is held (a consumer that does not release), batches are copied into
   * fresh arrays, as with `sharedBatches: false`. 0: always copy.
   */
  readonly batchBuffers?: number;
  /** Custom worker module (exports `augment(task)`), for other augmentations and tests. */
  readonly workerFile?: string;
  /** Extra data for a custom worker module. */
  readonly workerExtra?: Readonly<Record<string, unknown>>;
  /** Give the event loop a turn before each batch is returned (default true). */
  readonly yieldOnPull?: boolean;
  /**
   * Run reading, dispatch and batch assembly in a dedicated loader thread that posts
   * finished batches to this one (needs `shards`). Use it when the consumer blocks this
   * thread for long stretches (tfjs training steps). Default false.
   */
  readonly loaderThread?: boolean;
  /**
   * Stops the pipeline; a pending pull rejects with the signal's reason at once, while the
   * threads wind down. `await pipeline.close()` (or `await using`) after an abort resolves
   * once nothing of the pipeline is left.
   */
  readonly signal?: AbortSignal;
}

export interface ResolvedPipelineOptions {
  readonly shards: readonly string[] | undefined;
  readonly open: OpenEpoch | undefined;
  readonly tokenizerFile: string | undefined;
  readonly batchSize: number;
  readonly imageSize: number;
  readonly contextLength: number;
  readonly workers: number;
  readonly tasksPerWorker: number;
  readonly samplesPerTask: number;
  readonly reorderWindow: number;
  readonly prefetch: number;
  readonly shuffleBuffer: number;
  readonly shuffleShards: boolean;
  readonly seed: number;
  readonly startEpoch: number;
  readonly epochs: number;
  readonly skipSamples: number;
  readonly onError: ErrorPolicy;
  readonly onShardError: ErrorPolicy;
  readonly stallTimeoutMs: number;
  readonly taskTimeoutMs: number;
  readonly shutdownTimeoutMs: number;
  readonly onWarn: (error: SampleError | Error) => void;
  readonly pixelLimit: number | undefined;
  readonly fastJpeg: boolean;
  readonly sharedBatches: boolean;
  readonly batchBuffers: number;
  readonly workerFile: string | undefined;
  readonly workerExtra: Readonly<Record<string, unknown>> | undefined;
  readonly yieldOnPull: boolean;
  readonly loaderThread: boolean;
  readonly signal: AbortSignal | undefined;
}

export const PIPELINE_DEFAULTS = Object.freeze({
  batchSize: 64,
  imageSize: 224,
  contextLength: 77,
  tasksPerWorker: 2,
  samplesPerTask: 4,
  prefetch: 2,
  shuffleBuffer: 1000,
  shuffleShards: true,
  seed: 0,
  startEpoch: 0,
  epochs: 1,
  skipSamples: 0,
  onError: 'throw' as ErrorPolicy,
  onShardError: 'throw' as ErrorPolicy,
  stallTimeoutMs: 60_000,
  taskTimeoutMs: 60_000,
  shutdownTimeoutMs: 5_000,
  yieldOnPull: true,
  loaderThread: false,
  fastJpeg: true,
  sharedBatches: true,
});

function warnToStderr(error: Error): void {
  process.stderr.write(`declip: warning: ${error.message}\n`);
}

/**
 * Validate once and fill in defaults.
 *
 * @example
 * ```ts
 * resolvePipelineOptions({ shards: 's.tar', batchSize: 0 }); // throws: Expected integer between 1 and 65536 for batchSize but received 0 of type number
 * ```
 */
export function resolvePipelineOptions(options: PipelineOptions): ResolvedPipelineOptions {
  const d = PIPELINE_DEFAULTS;
  let shards: readonly string[] | undefined;
  if (options.shards !== undefined) {
    const list = typeof options.shards === 'string' ? [options.shards] : options.shards;
    if (!Array.isArray(list) || list.length === 0) throw invalidOption('shards', 'non-empty string or array of strings', options.shards);
    shards = list.map((s, i) => expectString(`shards[${i}]`, s));
  }
  if (shards === undefined && options.open === undefined) throw invalidOption('shards', 'non-empty string or array of strings', undefined);
  if (options.open !== undefined && typeof options.open !== 'function') throw invalidOption('open', 'function', options.open);
  const epochs = options.epochs ?? d.epochs;
  if (epochs !== Infinity) expectInteger('epochs', epochs, 1);
  const batchSize = expectInteger('batchSize', options.batchSize ?? d.batchSize, 1, 65536);
  const samplesPerTask = expectInteger('samplesPerTask', options.samplesPerTask ?? d.samplesPerTask, 1, 1024);
  const workers = expectInteger('workers', options.workers ?? availableParallelism(), 1, 256);
  const tasksPerWorker = expectInteger('tasksPerWorker', options.tasksPerWorker ?? d.tasksPerWorker, 1, 64);
  const prefetch = expectInteger('prefetch', options.prefetch ?? d.prefetch, 1, 1024);
  const reorderWindow = expectInteger('reorderWindow', options.reorderWindow ?? 2 * workers * tasksPerWorker, workers * tasksPerWorker, 1 << 20);
  if (options.onWarn !== undefined && typeof options.onWarn !== 'function') throw invalidOption('onWarn', 'function', options.onWarn);
  if (options.signal !== undefined && !(options.signal instanceof AbortSignal)) throw invalidOption('signal', 'AbortSignal', options.signal);
  return {
    shards,
    open: options.open,
    tokenizerFile: options.tokenizerFile === undefined ? undefined : expectString('tokenizerFile', options.tokenizerFile),
    batchSize,
    imageSize: expectInteger('imageSize', options.imageSize ?? d.imageSize, 8, 4096),
    contextLength: expectInteger('contextLength', options.contextLength ?? d.contextLength, 3, 4096),
    workers,
    tasksPerWorker,
    samplesPerTask,
    reorderWindow,
    prefetch,
    shuffleBuffer: expectInteger('shuffleBuffer', options.shuffleBuffer ?? d.shuffleBuffer, 0, 1_000_000),
    shuffleShards: expectBoolean('shuffleShards', options.shuffleShards ?? d.shuffleShards),
    seed: expectInteger('seed', options.seed ?? d.seed, 0, 2 ** 32 - 1),
    startEpoch: expectInteger('startEpoch', options.startEpoch ?? d.startEpoch, 0),
    epochs,
    skipSamples: expectInteger('skipSamples', options.skipSamples ?? d.skipSamples, 0),
    onError: expectOneOf('onError', options.onError ?? d.onError, ERROR_POLICIES),
    onShardError: expectOneOf('onShardError', options.onShardError ?? d.onShardError, ERROR_POLICIES),
    stallTimeoutMs: expectInteger('stallTimeoutMs', options.stallTimeoutMs ?? d.stallTimeoutMs, 1, 2 ** 31 - 1),
    taskTimeoutMs: expectInteger('taskTimeoutMs', options.taskTimeoutMs ?? d.taskTimeoutMs, 1, 2 ** 31 - 1),
    shutdownTimeoutMs: expectInteger('shutdownTimeoutMs', options.shutdownTimeoutMs ?? d.shutdownTimeoutMs, 1, 2 ** 31 - 1),
    onWarn: options.onWarn ?? warnToStderr,
    pixelLimit: options.pixelLimit === undefined ? undefined : expectNumber('pixelLimit', options.pixelLimit, 1),
    fastJpeg: expectBoolean('fastJpeg', options.fastJpeg ?? d.fastJpeg),
    sharedBatches: expectBoolean('sharedBatches', options.sharedBatches ?? d.sharedBatches),
    batchBuffers: expectInteger('batchBuffers', options.batchBuffers ?? prefetch + Math.ceil((reorderWindow * samplesPerTask) / batchSize) + 2, 0, 1024),
    workerFile: options.workerFile === undefined ? undefined : expectString('workerFile', options.workerFile),
    workerExtra: options.workerExtra,
    yieldOnPull: expectBoolean('yieldOnPull', options.yieldOnPull ?? d.yieldOnPull),
    loaderThread: expectBoolean('loaderThread', options.loaderThread ?? d.loaderThread),
    signal: options.signal,
  };
}

/**
 * Most samples between the reader and the consumer: the prefetch ring plus the re-order window.
 *
 * @example
 * ```ts
 * samplesInPipelineBound(resolvePipelineOptions({ shards: 's.tar', workers: 2 })); // 2 * 64 + 8 * 4
 * ```
 */
export function samplesInPipelineBound(o: ResolvedPipelineOptions): number {
  return o.prefetch * o.batchSize + o.reorderWindow * o.samplesPerTask;
}
