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
import type { Worker } from 'node:worker_threads';
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
  /** Decode plain JPEGs with libjpeg-turbo (augment/image/decode.ts `fastJpeg`). */
  readonly fastJpeg?: boolean | undefined;
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
  /**
   * Every worker thread seen and not yet exited, with the promise of its 'exit'. Piscina's
   * `destroy()` only waits for the threads still in its pool; a thread it dropped earlier
   * (after a crash) is not waited for, and its message port stays open until it has exited.
   */
  readonly #live = new Map<Worker, Promise<void>>();
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
    this.#piscina.on('workerCreate', () => this.#track());
    this.#track();
  }

  /** Record the pool's current threads, so that {@link close} can wait for each one's exit. */
  #track(): void {
    for (const worker of this.#piscina.threads) {
      // threadId is -1 once a thread has exited
      if (this.#live.has(worker) || worker.threadId < 0) continue;
      this.#live.set(
        worker,
        new Promise<void>((resolve) =>
          worker.once('exit', () => {
            this.#live.delete(worker);
            resolve();
          }),
        ),
      );
    }
  }

  /** Most tasks the pool holds at once. */
  get capacity(): number {
    return this.options.workers * this.options.tasksPerWorker;
  }

  /** Live worker threads (0 after {@link close}). */
  get threadCount(): number {
    return this.#piscina.threads.length;
  }

  /**
   * Run one task; its `data` buffer is transferred (detached here).
   *
   * `signal` rejects the returned promise at once with the signal's reason. The task itself
   * is not cut short: its thread finishes it (the result is dropped) or is stopped by
   * {@link close}. (Handing the signal to piscina would terminate the thread and start a
   * replacement, and piscina's `destroy()` does not wait for a thread it dropped that way:
   * its message port could outlive `close()`.)
   */
  async run(task: AugmentTask, signal?: AbortSignal): Promise<AugmentResult> {
    if (this.#closing !== undefined) throw new WorkerError('the augmentation pool is closed');
    signal?.throwIfAborted();
    const running = this.#piscina.run(task, { transferList: [task.data] }).catch((err: unknown) => {
      throw new WorkerError(`augmentation task ${task.seq} failed: ${err instanceof Error ? err.message : String(err)}`, {
        cause: err,
      });
    });
    this.#track();
    if (signal === undefined) return running;
    return new Promise<AugmentResult>((resolve, reject) => {
      const onAbort = (): void => reject(signal.reason);
      signal.addEventListener('abort', onAbort, { once: true });
      void running.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
    });
  }

  /**
   * Stop every worker (a task still running is cut short and its promise rejects); resolves
   * once every thread the pool started has emitted 'exit', so no thread or message port of
   * the pool is left. Idempotent.
   */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#track();
      await this.#piscina.destroy();
      // A thread's own ports are unref'd before its 'exit' is emitted; piscina closed its side
      // of each thread's task channel together with the terminate() call.
      await Promise.all(this.#live.values());
    })();
    return this.#closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
