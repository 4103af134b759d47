/**
 * The public `DeclipPipeline` object, the same whether batches come from the main thread
 * (pipeline.ts) or from a loader thread (loader.ts): iterable once, `close()` detaches the
 * abort listener and tears everything down, `return()` (a `break` in `for await`) closes too.
 */
import type { MetricsSnapshot } from './metrics.js';
import type { ResolvedPipelineOptions } from './options.js';
import type { DeclipPipeline } from './pipeline.js';
import type { PipelineBatch } from './types.js';

export interface PipelineHandleParts {
  readonly options: ResolvedPipelineOptions;
  readonly describe: () => string;
  readonly metrics: () => MetricsSnapshot;
  readonly threadCount: () => number;
  /** Pull the next batch. */
  readonly next: () => Promise<IteratorResult<PipelineBatch>>;
  /** Tear everything down (idempotent). */
  readonly close: () => Promise<void>;
  /** The listener registered on `options.signal`, removed by `close()`. */
  readonly onAbort: () => void;
}

export function pipelineHandle(parts: PipelineHandleParts): DeclipPipeline {
  const { options, close, onAbort } = parts;
  let iterated = false;
  return {
    options,
    describe: parts.describe,
    metrics: parts.metrics,
    get threadCount() {
      return parts.threadCount();
    },
    close: async () => {
      options.signal?.removeEventListener('abort', onAbort);
      await close();
    },
    [Symbol.asyncDispose]() {
      return this.close();
    },
    [Symbol.asyncIterator](): AsyncIterator<PipelineBatch> {
      if (iterated) throw new Error('a DeclipPipeline can be iterated once; create another for another pass');
      iterated = true;
      return {
        next: parts.next,
        return: async () => {
          await close();
          return { value: undefined, done: true };
        },
      };
    },
  };
}
