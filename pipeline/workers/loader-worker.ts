/**
 * The loader thread: runs the whole pipeline (reader, dispatch to the augmentation pool,
 * re-ordering, batch assembly) off the main thread, and posts finished batches to it by
 * transfer, only as many as the main thread has asked for (credit). So a consumer that
 * blocks the main thread for a whole training step does not stall reading and batching.
 *
 * @example
 * ```ts
 * // used through createPipeline({ ..., loaderThread: true })
 * ```
 */
import { parentPort, workerData } from 'node:worker_threads';
import { DeclipError, SampleError, ShardFormatError, ShardReadError } from '../../core/errors.js';
import type { PipelineOptions } from '../options.js';
import { createPipeline } from '../pipeline.js';
import type { DeclipBatch, PipelineBatch } from '../types.js';
import type { LoaderMessage, MainMessage, WireError } from '../loader.js';

function wireError(err: unknown): WireError {
  const e = err instanceof Error ? err : new Error(String(err));
  return {
    name: e.name,
    message: e.message,
    code: err instanceof DeclipError ? err.code : undefined,
    reason: err instanceof SampleError || err instanceof ShardReadError || err instanceof ShardFormatError ? err.reason : undefined,
    url: err instanceof SampleError || err instanceof ShardReadError || err instanceof ShardFormatError ? err.url : undefined,
    key: err instanceof SampleError || err instanceof ShardFormatError ? err.key : undefined,
  };
}

function transferables(b: DeclipBatch): ArrayBuffer[] {
  // Shared batch buffers (SharedArrayBuffer) are shared, not transferred; one buffer may back two arrays.
  const buffers = new Set<ArrayBuffer>();
  for (const a of [b.images1, b.images2, b.tokens, b.tokensEda, b.tokensMasked, b.mlmLabels, b.eot, b.eotEda, b.labels]) {
    if (a.buffer instanceof ArrayBuffer) buffers.add(a.buffer);
  }
  return [...buffers];
}

async function run(): Promise<void> {
  const port = parentPort;
  if (port === null) return;
  const post = (m: LoaderMessage, transfer: ArrayBuffer[] = []): void => port.postMessage(m, transfer);
  const pipeline = createPipeline({
    ...(workerData as PipelineOptions),
    loaderThread: false,
    prefetch: 1,
    onWarn: (e) => post({ type: 'warn', message: e.message }),
  });
  let credit = 0;
  let closed = false;
  // Posted batches not yet released by the main thread, by batch index. Bounded: a main
  // thread that never releases has its oldest entries forgotten (their buffers then stay
  // out of the pool, and later batches take fresh ones).
  const held = new Map<number, PipelineBatch>();
  const HELD_LIMIT = 64;
  let wake: (() => void) | undefined;
  port.on('message', (m: MainMessage) => {
    if (m.type === 'credit') credit += m.n;
    else if (m.type === 'release') {
      held.get(m.batchIndex)?.release();
      held.delete(m.batchIndex);
    } else {
      closed = true;
      // ends a pending pull of the inner pipeline at once (no waiting for the next batch)
      void pipeline.close();
    }
    wake?.();
  });
  try {
    for await (const batch of pipeline) {
      while (credit === 0 && !closed) await new Promise<void>((resolve) => (wake = resolve));
      if (closed) break;
      credit--;
      const { release: _release, ...data } = batch; // a function does not cross threads
      held.set(batch.position.batchIndex, batch);
      if (held.size > HELD_LIMIT) held.delete(held.keys().next().value as number);
      post({ type: 'batch', batch: data, metrics: pipeline.metrics(), description: pipeline.describe() }, transferables(data));
    }
    post({ type: 'end', metrics: pipeline.metrics() });
  } catch (err) {
    post({ type: 'error', error: wireError(err), metrics: pipeline.metrics() });
  } finally {
    await pipeline.close();
    port.close();
  }
}

await run();
