/**
 * The augmentation worker pool (piscina): a fixed number of threads, each holding at
 * most `tasksPerWorker` tasks, with per-worker initialisation done once per thread (the
 * worker reads its {@link WorkerInit} from `workerData` on its first task).
 *
 * Task buffers are transferred to the worker and result buffers back, never cloned.
 *
 * Faults (bounded in time, never silent): a task that runs past `taskTimeoutMs` is a hung
 * worker; a thread that exits or dies of an uncaught error while holding a task is a
 * crashed one. Either way piscina terminates and replaces the thread, and the task is run
 * again sample by sample (a copy of its bytes is kept for that) in a quarantine: a second,
 * one-thread pool that runs one sample at a time, so a crash or hang there is that
 * sample's own (a thread holding two tasks cannot tell which one hung it). A sample that
 * crashes or hangs its thread there too (its second time) comes back as a failed sample
 * (`worker-crashed`, `task-timeout`), which the pipeline's sample policy (`onError`)
 * handles like any bad sample; the others come through. A task that throws (not a crash: e.g. the worker cannot load its tokenizer)
 * fails at once with a WorkerError. {@link AugmentPool.close} terminates threads that have
 * not exited `shutdownTimeoutMs` after being asked to.
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
import { intsPerSample, type AugmentResult, type AugmentTask } from './task.js';

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
  /** A task running longer than this (ms) is a hung worker (default 60000). */
  readonly taskTimeoutMs?: number;
  /** close(): threads still alive this long (ms) after the pool was destroyed are terminated again (default 5000). */
  readonly shutdownTimeoutMs?: number;
  /** Told of every crashed or hung worker (the task is retried). */
  readonly onCrash?: (error: WorkerError) => void;
}

export interface ResolvedPoolOptions {
  readonly workers: number;
  readonly tasksPerWorker: number;
  readonly filename: string;
  readonly init: WorkerInit;
  readonly taskTimeoutMs: number;
  readonly shutdownTimeoutMs: number;
  readonly onCrash: ((error: WorkerError) => void) | undefined;
}

/** Defaults (frozen). `workers` is resolved at construction from the core count. */
export const POOL_DEFAULTS = Object.freeze({ tasksPerWorker: 2, taskTimeoutMs: 60_000, shutdownTimeoutMs: 5_000 });

/** A worker thread died or hung while it held a task (the task may be retried). */
export class WorkerCrashError extends WorkerError {
  constructor(
    readonly reason: 'worker-crashed' | 'task-timeout',
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Resolves after `ms` (unref'd: it never keeps the process alive), or with the promise, whichever is first. */
async function within(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
    timer.unref();
  });
  try {
    return await Promise.race([promise.then(() => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

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
    taskTimeoutMs: expectInteger('taskTimeoutMs', options.taskTimeoutMs ?? POOL_DEFAULTS.taskTimeoutMs, 1, 2 ** 31 - 1),
    shutdownTimeoutMs: expectInteger('shutdownTimeoutMs', options.shutdownTimeoutMs ?? POOL_DEFAULTS.shutdownTimeoutMs, 1, 2 ** 31 - 1),
    onCrash: options.onCrash,
  };
}

/** The pool (see the module example). */
type Pool = Piscina<AugmentTask, AugmentResult>;

export class AugmentPool {
  readonly options: ResolvedPoolOptions;
  readonly #piscina: Pool;
  /** The one-thread pool that re-runs the samples of a crashed task one at a time (made on the first crash). */
  #quarantine: Pool | undefined;
  /** Serialises the quarantine: its timer starts when a sample's turn comes, not while it queues. */
  #quarantineTurn: Promise<unknown> = Promise.resolve();
  /**
   * Every worker thread seen and not yet exited, with the promise of its 'exit'. Piscina's
   * `destroy()` only waits for the threads still in its pool; a thread it dropped earlier
   * (after a crash) is not waited for, and its message port stays open until it has exited.
   */
  readonly #live = new Map<Worker, Promise<void>>();
  #closing: Promise<void> | undefined;
  /** When a thread last became ready (a replacement's start-up does not count against a task's time). */
  #readyAt = performance.now();

  constructor(options: AugmentPoolOptions) {
    this.options = resolvePoolOptions(options);
    const { workers, tasksPerWorker } = this.options;
    // The pipeline never has more than workers * tasksPerWorker tasks out; maxQueue is a safety net.
    this.#piscina = this.#pool(workers, workers, tasksPerWorker, workers * tasksPerWorker);
    this.#track();
  }

  #pool(minThreads: number, maxThreads: number, perThread: number, maxQueue: number): Pool {
    const pool = new Piscina<AugmentTask, AugmentResult>({
      filename: this.options.filename,
      name: 'augment',
      minThreads,
      maxThreads,
      concurrentTasksPerWorker: perThread,
      maxQueue,
      workerData: this.options.init,
      idleTimeout: 2 ** 31 - 1,
    });
    // A crashed worker surfaces as a rejected run(); keep the emitter from throwing.
    pool.on('error', () => {});
    pool.on('workerCreate', () => {
      this.#readyAt = performance.now();
      this.#track();
    });
    return pool;
  }

  #pools(): Pool[] {
    return this.#quarantine === undefined ? [this.#piscina] : [this.#piscina, this.#quarantine];
  }

  /** Record the pools' current threads, so that {@link close} can wait for each one's exit. */
  #track(): void {
    for (const worker of this.#pools().flatMap((p) => p.threads)) {
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
    return this.#pools().reduce((n, p) => n + p.threads.length, 0);
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
    const running = this.#runRetried(task);
    if (signal === undefined) return running;
    return new Promise<AugmentResult>((resolve, reject) => {
      const onAbort = (): void => reject(signal.reason);
      signal.addEventListener('abort', onAbort, { once: true });
      void running.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
    });
  }

  /**
   * One attempt: the task's buffer is transferred; a timeout terminates the thread (piscina
   * replaces it). Crashes and timeouts reject with {@link WorkerCrashError}, other failures
   * with a WorkerError.
   */
  async #attempt(pool: Pool, task: AugmentTask): Promise<AugmentResult> {
    // A retry after close() must not make piscina start threads again.
    if (this.#closing !== undefined) throw new WorkerError('the augmentation pool is closed');
    const timer = new AbortController();
    const limit = this.options.taskTimeoutMs;
    // The deadline is `limit` after the later of dispatch and the last thread start-up.
    let timeout: NodeJS.Timeout;
    const arm = (ms: number): void => {
      timeout = setTimeout(() => {
        const since = performance.now() - this.#readyAt;
        if (since < limit) arm(limit - since);
        else timer.abort();
      }, ms);
    };
    arm(limit);
    try {
      const result = pool.run(task, { transferList: [task.data], signal: timer.signal });
      this.#track();
      return await result;
    } catch (err) {
      const what = `augmentation task ${task.seq} (samples ${task.samples.map((s) => s.key).join(', ')})`;
      if (timer.signal.aborted) {
        throw new WorkerCrashError('task-timeout', `${what} ran longer than ${this.options.taskTimeoutMs} ms: its worker thread was terminated`, { cause: err });
      }
      const message = err instanceof Error ? err.message : String(err);
      // A thread that exited, or was dropped by piscina after an uncaught error (it is still
      // alive, tracked, but in no pool), is a crash.
      const pooled = new Set(this.#pools().flatMap((p) => p.threads));
      const dropped = [...this.#live.keys()].some((w) => !pooled.has(w) && w.threadId >= 0);
      if (this.#closing === undefined && (/^worker exited with code/.test(message) || dropped)) {
        throw new WorkerCrashError('worker-crashed', `${what} crashed its worker thread: ${message}`, { cause: err });
      }
      throw new WorkerError(`${what} failed: ${message}`, { cause: err });
    } finally {
      clearTimeout(timeout!);
      this.#track();
    }
  }

  /** {@link #attempt}, and after a crash or hang: each sample alone, once, in the quarantine. */
  async #runRetried(task: AugmentTask): Promise<AugmentResult> {
    // The buffer is transferred (detached here) on each attempt: keep a copy for a retry.
    const spare = task.data.slice(0);
    try {
      return await this.#attempt(this.#piscina, task);
    } catch (err) {
      if (!(err instanceof WorkerCrashError)) throw err;
      this.#crashed(err);
    }
    const parts: AugmentResult[] = [];
    for (const [i, sample] of task.samples.entries()) {
      const single = (): AugmentTask => ({
        seed: task.seed,
        seq: task.seq,
        samples: [sample],
        data: spare.slice(0),
        ...(task.targets === undefined ? {} : { targets: [task.targets[i] as NonNullable<AugmentTask['targets']>[number]] }),
      });
      try {
        parts.push(await this.#isolated(single()));
      } catch (err) {
        if (!(err instanceof WorkerCrashError)) throw err;
        this.#crashed(err);
        parts.push(this.#failedSample(task, sample, err));
      }
    }
    return this.#merge(task, parts);
  }

  /** One attempt in the quarantine pool, after the attempts queued before it. */
  #isolated(task: AugmentTask): Promise<AugmentResult> {
    // minThreads 0: its thread starts on demand, so its start-up moves the deadline (#readyAt).
    this.#quarantine ??= this.#pool(0, 1, 1, 4);
    const pool = this.#quarantine;
    const turn = this.#quarantineTurn.then(() => this.#attempt(pool, task));
    this.#quarantineTurn = turn.catch(() => undefined);
    return turn;
  }

  #crashed(err: WorkerCrashError): void {
    this.options.onCrash?.(err);
    if (this.#closing === undefined && this.#piscina.threads.length === 0) {
      throw new WorkerError(`no augmentation thread is left (the last one failed while starting): ${err.message}`, { cause: err });
    }
  }

  /** A one-sample result that reports the sample as failed. */
  #failedSample(task: AugmentTask, sample: AugmentTask['samples'][number], err: WorkerCrashError): AugmentResult {
    const { imageSize: S, contextLength: L } = this.options.init;
    const what = err.reason === 'task-timeout' ? 'hung' : 'crashed';
    return {
      seq: task.seq,
      images: new Float32Array(task.targets === undefined ? 2 * S * S * 3 : 0),
      ints: new Int32Array(intsPerSample(L)),
      failures: [{ reason: err.reason, message: `sample ${what} its worker thread twice (shard ${sample.url}, sample ${sample.key}): ${err.message}`, code: 'ERR_DECLIP_SAMPLE' }],
    };
  }

  /** One result from one-sample results, in sample order. */
  #merge(task: AugmentTask, parts: readonly AugmentResult[]): AugmentResult {
    const images = new Float32Array(parts.reduce((n, p) => n + p.images.length, 0));
    const ints = new Int32Array(parts.reduce((n, p) => n + p.ints.length, 0));
    let at = 0;
    let atInts = 0;
    for (const p of parts) {
      images.set(p.images, at);
      ints.set(p.ints, atInts);
      at += p.images.length;
      atInts += p.ints.length;
    }
    return { seq: task.seq, images, ints, failures: parts.map((p) => p.failures[0] ?? null) };
  }

  /**
   * Stop every worker (a task still running is cut short and its promise rejects); resolves
   * once every thread the pool started has emitted 'exit', so no thread or message port of
   * the pool is left. A thread that has not exited `shutdownTimeoutMs` after piscina's
   * `destroy()` is terminated again (and waited for). Idempotent.
   */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      const limit = this.options.shutdownTimeoutMs;
      // A thread terminated earlier (a hung task) that exits only after destroy() makes piscina
      // start replacements: destroy again until every thread seen has exited and none is left.
      do {
        this.#track();
        await within(Promise.all(this.#pools().map((p) => p.destroy())), limit);
        // A thread's own ports are unref'd before its 'exit' is emitted; piscina closed its side
        // of each thread's task channel together with the terminate() call.
        if (!(await within(Promise.all(this.#live.values()), limit))) {
          for (const worker of this.#live.keys()) void worker.terminate();
        }
        await Promise.all(this.#live.values());
      } while (this.threadCount > 0);
    })();
    return this.#closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
