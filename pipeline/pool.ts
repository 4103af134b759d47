/**
 * The augmentation worker pool (piscina): a fixed number of threads, each holding at
 * most `tasksPerWorker` tasks, with per-worker initialisation done once per thread (the
 * worker reads its {@link WorkerInit} from `workerData` on its first task).
 *
 * Task buffers are transferred to the worker and result buffers back, never cloned.
 *
 * @example
 * ```ts
 * const pool = new AugmentPool({ workers: 2, tasksPerWorker: 2, init: { imageSize: 224, contextLength: 77, tokenizerFile } });
 * try { const result = await pool.run(packTask(items, 0, seed)); } finally { await pool.close(); }
 * ```
 */
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import { WorkerError } from '../core/errors.js';
import { runningFromSources } from '../core/package-info.js';
import { expectInteger, expectString } from '../core/validate.js';
import type { AugmentResult, AugmentTask } from './task.js';

/** What every worker of the pool is initialised with (sent once, as `workerData`). */
export interface WorkerInit {
  /** Image side S of both views. */
  readonly imageSize: number;
  /** Token rows' length L. */
  readonly contextLength: number;
  /** Path of a saved tokenizer JSON file (loaded once per worker). */
  readonly tokenizerFile?: string | undefined;
  /** Images with more pixels than this are rejected before decoding (decompression bombs). */
  readonly pixelLimit?: number | undefined;
  /** Anything else a custom worker module needs (structured-cloneable). */
  readonly extra?: Readonly<Record<string, unknown>> | undefined;
}

export interface AugmentPoolOptions {
  /** Worker threads; default: the core count (`os.availableParallelism()`). */
  readonly workers?: number;
  /** Tasks handed to one worker at a time (the named in-flight bound); default 2. */
  readonly tasksPerWorker?: number;
  /** Worker module exporting `augment(task): AugmentResult`; default: pipeline/workers/augment-worker. */
  readonly filename?: string;
  readonly init: WorkerInit;
}

export interface ResolvedPoolOptions {
  readonly workers: number;
  readonly tasksPerWorker: number;
  readonly filename: string;
  readonly init: WorkerInit;
}

/** Defaults (frozen). `workers` is resolved at construction from the core count. */
export const POOL_DEFAULTS = Object.freeze({ tasksPerWorker: 2 });

/** The default worker module: the .ts source under tsx, the compiled .js from dist/. */
export function defaultWorkerFile(): string {
  const ext = runningFromSources() ? 'ts' : 'js';
  return fileURLToPath(new URL(`./workers/augment-worker.${ext}`, import.meta.url));
}

/** Validate pool options once (house messages) and fill in defaults. */
export function resolvePoolOptions(options: AugmentPoolOptions): ResolvedPoolOptions {
  return {
    workers: expectInteger('workers', options.workers ?? availableParallelism(), 1, 256),
    tasksPerWorker: expectInteger('tasksPerWorker', options.tasksPerWorker ?? POOL_DEFAULTS.tasksPerWorker, 1, 64),
    filename: expectString('filename', options.filename ?? defaultWorkerFile()),
    init: options.init,
  };
}

/** The pool (see the module example). */
export class AugmentPool {
  readonly options: ResolvedPoolOptions;
  readonly #piscina: Piscina<AugmentTask, AugmentResult>;
  #closing: Promise<void> | undefined;

  constructor(options: AugmentPoolOptions) {
    this.options = resolvePoolOptions(options);
    const { workers, tasksPerWorker, filename, init } = this.options;
    this.#piscina = new Piscina<AugmentTask, AugmentResult>({
      filename,
      name: 'augment',
      minThreads: workers,
      maxThreads: workers,
      concurrentTasksPerWorker: tasksPerWorker,
      // The pipeline never has more than workers * tasksPerWorker tasks out; this is a safety net.
      maxQueue: workers * tasksPerWorker,
      workerData: init,
      idleTimeout: 2 ** 31 - 1,
    });
    // A crashed worker surfaces as a rejected run(); keep the emitter from throwing.
    this.#piscina.on('error', () => {});
  }

  /** Most tasks the pool holds at once. */
  get capacity(): number {
    return this.options.workers * this.options.tasksPerWorker;
  }

  /** Live worker threads (0 after {@link close}). */
  get threadCount(): number {
    return this.#piscina.threads.length;
  }

  /** Run one task; its `data` buffer is transferred (detached here). */
  async run(task: AugmentTask, signal?: AbortSignal): Promise<AugmentResult> {
    if (this.#closing !== undefined) throw new WorkerError('the augmentation pool is closed');
    try {
      return await this.#piscina.run(task, { transferList: [task.data], signal: signal ?? null });
    } catch (err) {
      if (signal?.aborted === true) throw err;
      throw new WorkerError(`augmentation task ${task.seq} failed: ${err instanceof Error ? err.message : String(err)}`, {
        cause: err,
      });
    }
  }

  /** Stop every worker; resolves once they have exited and their ports are closed. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      await this.#piscina.destroy();
      // Port handles close in the event loop's close phase: pass through one before resolving.
      for (let i = 0; i < 2; i++) await new Promise<void>((resolve) => setImmediate(resolve));
    })();
    return this.#closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
