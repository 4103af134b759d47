/**
 * The main-thread side of the loader thread (`createPipeline({ loaderThread: true })`):
 * a pull edge that receives finished batches from pipeline/workers/loader-worker and
 * asks for one more each time the consumer takes one. At most `prefetch` batches are
 * posted ahead of the consumer; the loader's own pipeline holds one more. Closing asks
 * the thread to stop and terminates it when it has not exited `shutdownTimeoutMs` later.
 *
 * @example
 * ```ts
 * await using p = createPipeline({ shards, tokenizerFile, loaderThread: true });
 * for await (const batch of p) trainStepThatBlocksTheMainThread(batch);
 * ```
 */
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { DeclipError, SampleError, ShardFormatError, ShardReadError, WorkerError, type DeclipErrorCode } from '../core/errors.js';
import { runningFromSources } from '../core/package-info.js';
import type { MetricsSnapshot } from './metrics.js';
import type { PipelineOptions, ResolvedPipelineOptions } from './options.js';
import type { DeclipPipeline } from './pipeline.js';
import { pipelineHandle } from './handle.js';
import { defaultWorkerFile } from './pool.js';
import type { DeclipBatch, PipelineBatch } from './types.js';

/** A typed error, as data (errors do not survive structured clone with their class). */
export interface WireError {
  readonly name: string;
  readonly message: string;
  readonly code: string | undefined;
  readonly reason: string | undefined;
  readonly url: string | undefined;
  readonly key: string | undefined;
}

export type LoaderMessage =
  | { readonly type: 'batch'; readonly batch: DeclipBatch; readonly metrics: MetricsSnapshot; readonly description: string }
  | { readonly type: 'warn'; readonly message: string }
  | { readonly type: 'end'; readonly metrics: MetricsSnapshot }
  | { readonly type: 'error'; readonly error: WireError; readonly metrics: MetricsSnapshot };

export type MainMessage =
  | { readonly type: 'credit'; readonly n: number }
  | { readonly type: 'release'; readonly batchIndex: number }
  | { readonly type: 'close' };

/** The message as it was (it already names the shard and key). */
function keepMessage<E extends Error>(err: E, message: string): E {
  Object.defineProperty(err, 'message', { value: message });
  return err;
}

function revive(e: WireError): Error {
  if (e.code === 'ERR_DECLIP_SHARD_READ' && e.reason !== undefined && e.url !== undefined) {
    return keepMessage(new ShardReadError(e.reason, e.message, e.url), e.message);
  }
  if (e.code === 'ERR_DECLIP_SHARD_FORMAT' && e.reason !== undefined && e.url !== undefined) {
    return keepMessage(new ShardFormatError(e.reason, e.message, { url: e.url, key: e.key }), e.message);
  }
  if (e.reason !== undefined && e.url !== undefined) {
    return keepMessage(new SampleError(e.reason, e.message, { url: e.url, key: e.key }, { code: (e.code ?? 'ERR_DECLIP_SAMPLE') as DeclipErrorCode }), e.message);
  }
  if (e.code !== undefined) return new DeclipError(e.message, { code: e.code as DeclipErrorCode });
  return new WorkerError(`loader thread: ${e.name}: ${e.message}`);
}

function startLoader(workerData: unknown): Worker {
  if (!runningFromSources()) return new Worker(fileURLToPath(new URL('./workers/loader-worker.js', import.meta.url)), { workerData });
  // From the TypeScript sources (tests, tsx): an eval'd worker does not get the --import
  // loader hooks, so load the entry through tsx's API (a dev dependency, present there).
  const href = pathToFileURL(fileURLToPath(new URL('./workers/loader-worker.ts', import.meta.url))).href;
  const code = `import('tsx/esm/api').then((tsx) => tsx.tsImport(${JSON.stringify(href)}, ${JSON.stringify(import.meta.url)}));`;
  return new Worker(code, { eval: true, workerData });
}

const EMPTY_METRICS: MetricsSnapshot = {
  samplesRead: 0,
  samplesDelivered: 0,
  batchesDelivered: 0,
  skipped: {},
  samplesPerSecond: 0,
  consumerWaitMs: 0,
  stages: {
    samplesInPipeline: { current: 0, peak: 0 },
    inFlightTasks: { current: 0, peak: 0 },
    reorderWaiting: { current: 0, peak: 0 },
    batchFill: { current: 0, peak: 0 },
    prefetched: { current: 0, peak: 0 },
  },
};

/** Start the loader thread and return its pull edge (called by createPipeline with `loaderThread: true`). */
export function createLoaderPipeline(o: ResolvedPipelineOptions, input: PipelineOptions, describe: string): DeclipPipeline {
  if (o.open !== undefined) throw new WorkerError('loaderThread needs `shards` (a custom `open` function cannot cross threads)');
  const { open: _open, onWarn: _onWarn, signal: _signal, ...cloneable } = input;
  // Resolved here: code loaded through tsx's API in the loader cannot tell sources from dist.
  const worker = startLoader({ ...cloneable, workerFile: o.workerFile ?? defaultWorkerFile() });
  const ring: PipelineBatch[] = [];
  let metrics = EMPTY_METRICS;
  let waitMs = 0;
  let waiter: { resolve: (r: IteratorResult<PipelineBatch>) => void; reject: (e: unknown) => void; since: number } | undefined;
  let failure: { error: unknown } | undefined;
  let ended = false;
  let exited = false;
  const exitedPromise = new Promise<void>((resolve) => worker.once('exit', () => {
    exited = true;
    if (!ended) {
      ended = true;
      failure ??= { error: new WorkerError('the loader thread exited early') };
    }
    settle();
    resolve();
  }));

  const settle = (): void => {
    const w = waiter;
    if (w === undefined) return;
    if (ring.length > 0) {
      waiter = undefined;
      waitMs += performance.now() - w.since;
      w.resolve({ value: take(), done: false });
    } else if (failure !== undefined) {
      waiter = undefined;
      w.reject(failure.error);
    } else if (ended) {
      waiter = undefined;
      w.resolve({ value: undefined, done: true });
    }
  };
  const take = (): PipelineBatch => {
    const batch = ring.shift() as PipelineBatch;
    if (!exited) worker.postMessage({ type: 'credit', n: 1 } satisfies MainMessage);
    return batch;
  };

  worker.on('message', (m: LoaderMessage) => {
    if (m.type === 'batch') {
      // release() goes back to the loader thread, where the batch's buffer pool lives
      const { batchIndex } = m.batch.position;
      let released = false;
      ring.push({
        ...m.batch,
        release: () => {
          if (released || exited) return;
          released = true;
          worker.postMessage({ type: 'release', batchIndex } satisfies MainMessage);
        },
      });
      metrics = m.metrics;
    } else if (m.type === 'warn') o.onWarn(new Error(m.message));
    else if (m.type === 'end') {
      metrics = m.metrics;
      ended = true;
    } else {
      metrics = m.metrics;
      failure = { error: revive(m.error) };
      ended = true;
    }
    settle();
  });
  worker.on('error', (err) => {
    failure ??= { error: new WorkerError(`the loader thread failed: ${err.message}`, { cause: err }) };
    ended = true;
    settle();
  });
  worker.postMessage({ type: 'credit', n: o.prefetch } satisfies MainMessage);

  let closing: Promise<void> | undefined;
  const close = (reason?: unknown): Promise<void> => {
    closing ??= (async () => {
      if (reason !== undefined && failure === undefined && !ended) failure = { error: reason };
      ended = true;
      ring.length = 0;
      settle();
      if (!exited) worker.postMessage({ type: 'close' } satisfies MainMessage);
      // A loader that does not wind down in time (stuck in a read, a worker...) is terminated.
      let timer: NodeJS.Timeout | undefined;
      const late = await Promise.race([
        exitedPromise.then(() => false),
        new Promise<boolean>((resolve) => {
          timer = setTimeout(() => resolve(true), o.shutdownTimeoutMs);
        }),
      ]);
      clearTimeout(timer);
      if (late) await worker.terminate();
      await exitedPromise;
    })();
    return closing;
  };
  const onAbort = (): void => void close(o.signal?.reason);
  if (o.signal?.aborted === true) onAbort();
  else o.signal?.addEventListener('abort', onAbort, { once: true });

  return pipelineHandle({
    options: o,
    describe: () => `${describe} -> loader thread`,
    metrics: () => ({ ...metrics, consumerWaitMs: waitMs, stages: { ...metrics.stages, prefetched: { current: ring.length, peak: Math.max(ring.length, metrics.stages.prefetched.peak) } } }),
    threadCount: () => (exited ? 0 : 1),
    next: async () => {
      if (ring.length > 0) return { value: take(), done: false };
      if (failure !== undefined) throw failure.error;
      if (ended) return { value: undefined, done: true };
      return new Promise<IteratorResult<PipelineBatch>>((resolve, reject) => {
        waiter = { resolve, reject, since: performance.now() };
      });
    },
    close: () => close(),
    onAbort,
  });
}
