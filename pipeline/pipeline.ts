/**
 * The DeCLIP input pipeline: shards -> samples (reader, with its shuffle buffer) ->
 * augment in workers -> batch -> prefetch, consumed by pulling.
 *
 * The consumer pulls batches (`for await`); nothing upstream reads more than the bounds
 * below, whatever the consumer's speed:
 * - samples between reader and consumer <= prefetch x batchSize + reorderWindow x samplesPerTask
 * - tasks in workers <= workers x tasksPerWorker
 * - tasks dispatched and not yet re-ordered <= reorderWindow (default 2 x workers x tasksPerWorker)
 * - the reader's shuffle buffer <= shuffleBuffer samples
 *
 * @example
 * ```ts
 * await using pipeline = createPipeline({ shards: 'train-{000000..000009}.tar', tokenizerFile: 'tok.json', workers: 2 });
 * console.log(pipeline.describe());
 * for await (const batch of pipeline) trainStep(batch);
 * ```
 */
import { finalize } from 'rxjs';
import { Credit } from './credit.js';
import { pipelineHandle } from './handle.js';
import { createLoaderPipeline } from './loader.js';
import { PipelineMetrics, type MetricsSnapshot } from './metrics.js';
import { applyErrorPolicy } from './operators/error-policy.js';
import { augmentInWorkers } from './operators/augment.js';
import { batchSamples } from './operators/batch.js';
import { creditedTasks, epochStream, type OpenEpoch } from './operators/source.js';
import { openShards } from './operators/shards.js';
import { resolvePipelineOptions, samplesInPipelineBound, type PipelineOptions, type ResolvedPipelineOptions } from './options.js';
import { AugmentPool } from './pool.js';
import { BatchSlots } from './slots.js';
import { pullEdge, type PullEdge } from './prefetch.js';
import type { PipelineBatch } from './types.js';

/** A running pipeline: iterate it once; close it (or `await using`) when done. */
export interface DeclipPipeline extends AsyncIterable<PipelineBatch> {
  readonly options: ResolvedPipelineOptions;
  /** One line for logs: "shards(4) -> untar -> shuffle(1000) -> augment[2 workers] -> batch(64) -> prefetch(2)". */
  describe(): string;
  metrics(): MetricsSnapshot;
  /** Live augmentation threads (0 once closed). */
  readonly threadCount: number;
  /**
   * Stop reading, close the shard files and the worker threads; resolves once every thread
   * has exited (no file, thread, message port or timer of the pipeline is left). Also the
   * way to finish after an abort: the `signal` rejects a waiting pull at once, and
   * `await close()` then completes the teardown. Idempotent.
   */
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** The one-line description of a pipeline with these options. */
/**
 * The one-line description of a pipeline with these options.
 *
 * @example
 * ```ts
 * describePipeline(resolvePipelineOptions({ shards: 'a-{0..3}.tar', workers: 2 }));
 * ```
 */
export function describePipeline(o: ResolvedPipelineOptions): string {
  const parts: string[] = [];
  if (o.shards !== undefined) parts.push(`shards(${o.shards.join(' ')})`, 'untar');
  else parts.push('samples(custom)');
  if (o.skipSamples > 0) parts.push(`skip(${o.skipSamples})`);
  if (o.shuffleBuffer > 0 && o.shards !== undefined) parts.push(`shuffle(${o.shuffleBuffer})`);
  parts.push(
    `augment[${o.workers} worker${o.workers === 1 ? '' : 's'} x ${o.tasksPerWorker} tasks x ${o.samplesPerTask} samples]`,
    `reorder(${o.reorderWindow})`,
    `batch(${o.batchSize})`,
    `prefetch(${o.prefetch})`,
  );
  return parts.join(' -> ');
}

function abortError(message: string): DOMException {
  return new DOMException(message, 'AbortError');
}

/**
 * Build the pipeline (worker threads start now; reading starts on the first pull).
 * Options are validated here (InvalidOptionError with the house message).
 *
 * @example
 * ```ts
 * const p = createPipeline({ shards: 'train-{000000..000009}.tar', tokenizerFile: 'tok.json', onError: 'skip' });
 * try { for await (const batch of p) step(batch); } finally { await p.close(); }
 * ```
 */
export function createPipeline(options: PipelineOptions): DeclipPipeline {
  const o = resolvePipelineOptions(options);
  if (o.loaderThread) return createLoaderPipeline(o, options, describePipeline(o));
  const metrics = new PipelineMetrics();
  const controller = new AbortController();
  const credit = new Credit(samplesInPipelineBound(o));
  const taskWindow = new Credit(o.reorderWindow);
  const slots = o.sharedBatches ? new BatchSlots(o.batchSize, o.imageSize * o.imageSize * 3, o.batchBuffers) : undefined;
  let shuttingDown: Promise<void> | undefined;
  const shutdown = (): Promise<void> => {
    shuttingDown ??= (async () => {
      controller.abort(abortError('the pipeline was closed'));
      credit.close();
      taskWindow.close();
      await pool.close();
    })();
    return shuttingDown;
  };
  const pool = new AugmentPool({
    workers: o.workers,
    tasksPerWorker: o.tasksPerWorker,
    ...(o.workerFile === undefined ? {} : { filename: o.workerFile }),
    taskTimeoutMs: o.taskTimeoutMs,
    shutdownTimeoutMs: o.shutdownTimeoutMs,
    // a crashed or hung worker is replaced and its task retried: say so (unless told to be quiet)
    onCrash: (err) => {
      if (o.onError !== 'skip') o.onWarn(err);
    },
    init: {
      imageSize: o.imageSize,
      contextLength: o.contextLength,
      tokenizerFile: o.tokenizerFile,
      pixelLimit: o.pixelLimit,
      fastJpeg: o.fastJpeg,
      extra: o.workerExtra,
    },
  });
  const open: OpenEpoch =
    o.open ??
    ((epoch, signal) =>
      openShards(o, epoch, signal, (reason, error, scope) => {
        metrics.countSkip(reason);
        if ((scope === 'shard' ? o.onShardError : o.onError) === 'warn') o.onWarn(error);
      }));

  const items = epochStream({ open, startEpoch: o.startEpoch, epochs: o.epochs, skipSamples: o.skipSamples, signal: controller.signal });
  const batches$ = creditedTasks(items, credit, { samplesPerTask: o.samplesPerTask, seed: o.seed, metrics, window: taskWindow, slots }).pipe(
    augmentInWorkers((task) => pool.run(task, controller.signal), {
      maxInFlight: pool.capacity,
      imageSize: o.imageSize,
      contextLength: o.contextLength,
      metrics,
      onTaskDone: () => taskWindow.release(1),
    }),
    applyErrorPolicy({ policy: o.onError, metrics, onDrop: (sample) => {
        credit.release(1);
        slots?.dropped(sample.slot);
      }, onWarn: o.onWarn }),
    batchSamples({ batchSize: o.batchSize, imageSize: o.imageSize, contextLength: o.contextLength, metrics, slots }),
    // Ended, failed or unsubscribed: nothing more will be read or augmented.
    finalize(() => void shutdown()),
  );

  const edge: PullEdge<PipelineBatch> = pullEdge(batches$, {
    onTake: (batch) => {
      metrics.delivered(batch.size);
      metrics.add('samplesInPipeline', -batch.size);
      credit.release(batch.size);
    },
    onDepth: (depth) => metrics.set('prefetched', depth),
    onWait: (ms) => {
      metrics.consumerWaitMs += ms;
    },
    yieldOnPull: o.yieldOnPull,
  });

  const close = (reason?: unknown): Promise<void> => {
    edge.close(reason);
    return shutdown();
  };
  const onAbort = (): void => void close(o.signal?.reason ?? abortError('the pipeline was aborted'));
  if (o.signal?.aborted === true) onAbort();
  else o.signal?.addEventListener('abort', onAbort, { once: true });

  return pipelineHandle({
    options: o,
    describe: () => describePipeline(o),
    metrics: () => (slots === undefined ? metrics.snapshot() : { ...metrics.snapshot(), batchBuffers: slots.stats() }),
    threadCount: () => pool.threadCount,
    next: () => edge.next(),
    close: () => close(),
    onAbort,
  });
}
