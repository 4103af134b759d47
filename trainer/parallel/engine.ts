/**
 * Exact data-parallel training over N compute worker threads (the main-thread side).
 *
 * Each worker (trainer/parallel/worker.ts) loads the backend in its own tfjs instance (one
 * wasm instance = one core) and holds a full {@link Replica}, built from the same seed.
 * For each micro-batch the main thread cuts the batch into N contiguous slices (posted by
 * transfer; one step in flight, so at most one batch is held here) and every worker runs
 * forward + backward on its slice, exchanging embeddings and loss values through shared
 * memory (trainer/parallel/collective.ts). `update` sums the gradients over the workers and
 * applies the same clip + AdamW everywhere, so the replicas stay identical and the update
 * equals the one-thread update on the whole batch (up to float rounding).
 *
 * Failures: a worker that throws raises the shared abort flag (its peers stop waiting) and
 * the call rejects with a {@link WorkerError} (a {@link BackendError} for a wasm trap, such
 * as running out of the 4 GiB heap) naming the worker; a worker that exits does the same.
 * After a failure the engine only closes. `close()` stops every worker and resolves when
 * all have exited (idempotent).
 *
 * @example
 * ```ts
 * const engine = await ParallelEngine.start({ config, threads: 2, backend: 'wasm' });
 * try {
 *   const values = await engine.microStep(batch);
 *   if (Number.isFinite(values.total)) await engine.update(1e-3);
 * } finally {
 *   await engine.close();
 * }
 * ```
 */
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { BackendError, DeclipError, type DeclipErrorCode, InvalidOptionError, WorkerError } from '../../core/errors.js';
import { runningFromSources } from '../../core/package-info.js';
import { expectInteger } from '../../core/validate.js';
import type { DeclipBatch } from '../../pipeline/types.js';
import type { BackendName } from '../backend/select.js';
import type { TrainConfig } from '../config.js';
import { IGNORE_LABEL } from '../losses/mlm.js';
import { modelSpecs } from '../models/declip-model.js';
import { sizeOf } from '../params.js';
import type { TrainEngine } from '../engine.js';
import type { BatchSlice, MicroStepValues, ReplicaState } from '../replica.js';
import { abortCollective, type CollectiveBuffers, createCollectiveBuffers } from './collective.js';

/** The arrays of one worker's slice of a batch (posted by transfer): the batch's training inputs, without labels, keys or position. */
export type SliceData = Pick<
  DeclipBatch,
  'size' | 'imageSize' | 'contextLength' | 'images1' | 'images2' | 'tokens' | 'tokensEda' | 'tokensMasked' | 'mlmLabels' | 'eot' | 'eotEda'
>;

/** What a compute worker is started with. */
export interface WorkerInit {
  readonly rank: number;
  readonly buffers: CollectiveBuffers;
  readonly config: TrainConfig;
  readonly backend: BackendName;
  readonly timeoutMs: number;
}

export type WorkerRequest =
  | { readonly type: 'micro'; readonly id: number; readonly batch: SliceData; readonly slice: BatchSlice }
  | { readonly type: 'discard'; readonly id: number }
  | { readonly type: 'update'; readonly id: number; readonly lr: number }
  | { readonly type: 'export'; readonly id: number }
  | { readonly type: 'import'; readonly id: number; readonly state: ReplicaState; readonly source: string }
  | { readonly type: 'digest'; readonly id: number }
  | { readonly type: 'close' };

/** An error as data (classes do not survive structured clone). */
export interface WireError {
  readonly name: string;
  readonly message: string;
  readonly code: string | undefined;
  /** The worker stopped because a peer failed (not the cause of the failure). */
  readonly peerAbort: boolean;
}

export type WorkerReply =
  | { readonly type: 'ready'; readonly parameters: number }
  | { readonly type: 'done'; readonly id: number; readonly value: unknown }
  | { readonly type: 'failed'; readonly id: number | null; readonly error: WireError };

export interface ParallelEngineOptions {
  readonly config: TrainConfig;
  /** Compute worker threads (>= 1). */
  readonly threads: number;
  /** Backend each worker loads. */
  readonly backend: BackendName;
  /** Longest wait for the peers at one exchange (default 300,000 ms). */
  readonly timeoutMs?: number;
  /** How long `close()` waits for the workers to exit before terminating them (default 10,000 ms). */
  readonly closeTimeoutMs?: number;
  readonly log?: (line: string) => void;
}

/** Floats of one all-reduce and scalars of one exchange, from the model's specs. */
function collectiveSizes(config: TrainConfig, world: number): { reduceFloats: number; gatherFloats: number; scalars: number } {
  const specs = modelSpecs(config.model);
  const trainable = specs.filter((s) => s.trainable);
  const params = trainable.reduce((s, p) => s + sizeOf(p.shape), 0);
  const buffers = specs.filter((s) => !s.trainable).reduce((s, p) => s + sizeOf(p.shape), 0);
  return {
    reduceFloats: Math.max(params, buffers),
    // two image views, two text views and the NN-queue neighbours of both text views
    gatherFloats: 6 * Math.max(config.batch, world) * config.model.embedDim,
    scalars: 5 + trainable.length,
  };
}

function startWorker(init: WorkerInit): Worker {
  if (!runningFromSources()) return new Worker(fileURLToPath(new URL('./worker.js', import.meta.url)), { workerData: init });
  // From the TypeScript sources (tests, tsx): an eval'd worker does not get the --import
  // loader hooks, so load the entry through tsx's API (a dev dependency, present there).
  const href = pathToFileURL(fileURLToPath(new URL('./worker.ts', import.meta.url))).href;
  const code = `import('tsx/esm/api').then((tsx) => tsx.tsImport(${JSON.stringify(href)}, ${JSON.stringify(import.meta.url)}));`;
  return new Worker(code, { eval: true, workerData: init });
}

function revive(rank: number, backend: string, e: WireError): Error {
  const text = `compute worker ${rank}: ${e.message}`;
  if (e.name === 'RuntimeError') return new BackendError(backend, `${text} (a wasm trap; running out of the 4 GiB wasm heap is the usual cause: try a smaller batch or more threads)`);
  if (e.code !== undefined && e.code !== 'ERR_DECLIP_WORKER') return new DeclipError(text, { code: e.code as DeclipErrorCode });
  return new WorkerError(e.name === 'WorkerError' || e.name === 'PeerAbortError' ? text : `compute worker ${rank}: ${e.name}: ${e.message}`);
}

let live = 0;

/** Compute worker threads started and not yet exited (in this thread), for diagnostics and tests. */
export function liveComputeWorkers(): number {
  return live;
}

interface Pending {
  readonly resolve: (value: unknown) => void;
  readonly reject: (err: Error & { peerAbort?: boolean }) => void;
}

/** One compute worker and its outstanding requests. */
class Peer {
  readonly rank: number;
  readonly worker: Worker;
  readonly exited: Promise<void>;
  readonly ready: Promise<number>;
  readonly #pending = new Map<number, Pending>();
  #alive = true;
  #failure: Error | undefined;

  constructor(init: WorkerInit, onDeath: () => void) {
    this.rank = init.rank;
    this.worker = startWorker(init);
    live++;
    let readyResolve: (n: number) => void = () => undefined;
    let readyReject: (e: Error) => void = () => undefined;
    this.ready = new Promise<number>((resolve, reject) => {
      readyResolve = resolve;
      readyReject = reject;
    });
    this.ready.catch(() => undefined);
    this.worker.on('message', (m: WorkerReply) => {
      if (m.type === 'ready') readyResolve(m.parameters);
      else if (m.type === 'done') this.#settle(m.id, (p) => p.resolve(m.value));
      else {
        const err = Object.assign(revive(this.rank, init.backend, m.error), { peerAbort: m.error.peerAbort });
        if (m.id === null) {
          this.#failure ??= err;
          readyReject(err);
        } else this.#settle(m.id, (p) => p.reject(err));
      }
    });
    this.worker.on('error', (err) => {
      this.#failure ??= new WorkerError(`compute worker ${this.rank} failed: ${err.message}`, { cause: err });
      readyReject(this.#failure);
    });
    this.exited = new Promise<void>((resolve) =>
      this.worker.once('exit', (code) => {
        this.#alive = false;
        live--;
        const err = this.#failure ?? new WorkerError(`compute worker ${this.rank} exited (code ${code})`);
        readyReject(err);
        for (const p of this.#pending.values()) p.reject(err);
        this.#pending.clear();
        onDeath();
        resolve();
      }),
    );
  }

  get alive(): boolean {
    return this.#alive;
  }

  #settle(id: number, f: (p: Pending) => void): void {
    const p = this.#pending.get(id);
    if (p === undefined) return;
    this.#pending.delete(id);
    f(p);
  }

  request(message: WorkerRequest & { readonly id: number }, transfer: ArrayBuffer[] = []): Promise<unknown> {
    if (!this.#alive) return Promise.reject(this.#failure ?? new WorkerError(`compute worker ${this.rank} has exited`));
    return new Promise<unknown>((resolve, reject) => {
      this.#pending.set(message.id, { resolve, reject });
      this.worker.postMessage(message, transfer);
    });
  }
}

/** Row ranges of `total` rows over `world` workers (the first `total % world` get one more). */
export function sliceRows(total: number, world: number): { offset: number; size: number }[] {
  const base = Math.floor(total / world);
  const extra = total % world;
  const out: { offset: number; size: number }[] = [];
  let offset = 0;
  for (let r = 0; r < world; r++) {
    const size = base + (r < extra ? 1 : 0);
    out.push({ offset, size });
    offset += size;
  }
  return out;
}

function cut(batch: DeclipBatch, offset: number, size: number): SliceData {
  const px = batch.imageSize * batch.imageSize * 3;
  const l = batch.contextLength;
  const rows = <T extends Float32Array | Int32Array>(a: T, w: number): T => a.slice(offset * w, (offset + size) * w) as T;
  return {
    size,
    imageSize: batch.imageSize,
    contextLength: l,
    images1: rows(batch.images1, px),
    images2: rows(batch.images2, px),
    tokens: rows(batch.tokens, l),
    tokensEda: rows(batch.tokensEda, l),
    tokensMasked: rows(batch.tokensMasked, l),
    mlmLabels: rows(batch.mlmLabels, l),
    eot: rows(batch.eot, 1),
    eotEda: rows(batch.eotEda, 1),
  };
}

/** See the module comment. */
export class ParallelEngine implements TrainEngine {
  readonly threads: number;
  readonly backend: BackendName;
  /** Largest micro-batch the exchange buffers hold. */
  readonly capacity: number;
  readonly #peers: readonly Peer[];
  readonly #buffers: CollectiveBuffers;
  readonly #closeTimeoutMs: number;
  #parameters = 0;
  #nextId = 1;
  #broken: Error | undefined;
  #closing: Promise<void> | undefined;

  private constructor(peers: readonly Peer[], buffers: CollectiveBuffers, options: ParallelEngineOptions) {
    this.#peers = peers;
    this.#buffers = buffers;
    this.threads = peers.length;
    this.backend = options.backend;
    this.capacity = options.config.batch;
    this.#closeTimeoutMs = expectInteger('closeTimeoutMs', options.closeTimeoutMs ?? 10_000, 1);
  }

  /** Start the workers and wait until each has built its replica. */
  static async start(options: ParallelEngineOptions): Promise<ParallelEngine> {
    const threads = expectInteger('threads', options.threads, 1, 256);
    const timeoutMs = expectInteger('timeoutMs', options.timeoutMs ?? 300_000, 1);
    const sizes = collectiveSizes(options.config, threads);
    const buffers = createCollectiveBuffers({ world: threads, ...sizes });
    const peers = Array.from(
      { length: threads },
      (_, rank) => new Peer({ rank, buffers, config: options.config, backend: options.backend, timeoutMs }, () => abortCollective(buffers, -1)),
    );
    const engine = new ParallelEngine(peers, buffers, options);
    try {
      engine.#parameters = (await Promise.all(peers.map((p) => p.ready)))[0] ?? 0;
    } catch (err) {
      engine.#broken = err as Error;
      await engine.close();
      throw err;
    }
    options.log?.(`compute: ${threads} worker threads on ${options.backend}, one model replica each (data-parallel)`);
    return engine;
  }

  /** Trainable parameters of the model. */
  get numParameters(): number {
    return this.#parameters;
  }

  /** Send one request per worker (`build(rank)`) and wait for all; the first real failure wins. */
  async #all(build: (rank: number, id: number) => { message: WorkerRequest & { readonly id: number }; transfer?: ArrayBuffer[] } | undefined): Promise<unknown[]> {
    if (this.#broken !== undefined) throw new WorkerError(`The compute workers stopped after an earlier failure: ${this.#broken.message}`, { cause: this.#broken });
    if (this.#closing !== undefined) throw new WorkerError('The compute workers are closed');
    const id = this.#nextId++;
    const settled = await Promise.allSettled(
      this.#peers.map((p) => {
        const m = build(p.rank, id);
        return m === undefined ? Promise.resolve(undefined) : p.request(m.message, m.transfer);
      }),
    );
    const failures = settled.filter((s): s is PromiseRejectedResult => s.status === 'rejected').map((s) => s.reason as Error & { peerAbort?: boolean });
    if (failures.length > 0) {
      const primary = failures.find((e) => e.peerAbort !== true) ?? (failures[0] as Error);
      this.#broken = primary;
      abortCollective(this.#buffers, -1);
      throw primary;
    }
    return settled.map((s) => (s as PromiseFulfilledResult<unknown>).value);
  }

  /** Forward + backward of one micro-batch, cut into one slice per worker. */
  async microStep(batch: DeclipBatch): Promise<MicroStepValues> {
    if (batch.size > this.capacity) {
      throw new InvalidOptionError('batch', `Expected at most ${this.capacity} samples (the configured batch) per micro-batch but received ${batch.size}`);
    }
    if (batch.size < this.threads) {
      throw new InvalidOptionError('batch', `Expected at least ${this.threads} samples (one per compute thread) per micro-batch but received ${batch.size}`);
    }
    let mlmCount = 0;
    for (const v of batch.mlmLabels) if (v !== IGNORE_LABEL) mlmCount++;
    const ranges = sliceRows(batch.size, this.threads);
    const values = await this.#all((rank, id) => {
      const { offset, size } = ranges[rank] as { offset: number; size: number };
      const data = cut(batch, offset, size);
      const transfer = [data.images1, data.images2, data.tokens, data.tokensEda, data.tokensMasked, data.mlmLabels, data.eot, data.eotEda].map((a) => a.buffer as ArrayBuffer);
      return { message: { type: 'micro', id, batch: data, slice: { offset, total: batch.size, mlmCount } }, transfer };
    });
    return values[0] as MicroStepValues;
  }

  async discard(): Promise<void> {
    await this.#all((_, id) => ({ message: { type: 'discard', id } }));
  }

  async update(lr: number): Promise<number> {
    const norms = await this.#all((_, id) => ({ message: { type: 'update', id, lr } }));
    return norms[0] as number;
  }

  /** The state of worker 0 (all replicas are identical). */
  async exportState(): Promise<ReplicaState> {
    const states = await this.#all((rank, id) => (rank === 0 ? { message: { type: 'export', id } } : undefined));
    return states[0] as ReplicaState;
  }

  async importState(state: ReplicaState, source: string): Promise<void> {
    await this.#all((_, id) => ({ message: { type: 'import', id, state, source } }));
  }

  /**
   * A SHA-256 of each worker's weights, buffers and optimizer state (rank order): equal
   * strings mean identical replicas.
   */
  async digests(): Promise<string[]> {
    return (await this.#all((_, id) => ({ message: { type: 'digest', id } }))) as string[];
  }

  /** The worker threads (rank order), for diagnostics. */
  get workers(): readonly Worker[] {
    return this.#peers.map((p) => p.worker);
  }

  /** Stop every worker; resolves when all have exited. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      if (this.#broken !== undefined) abortCollective(this.#buffers, -1);
      for (const p of this.#peers) if (p.alive) p.worker.postMessage({ type: 'close' } satisfies WorkerRequest);
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), this.#closeTimeoutMs);
      });
      const all = Promise.all(this.#peers.map((p) => p.exited));
      const first = await Promise.race([all, timeout]);
      clearTimeout(timer);
      if (first === 'timeout') {
        abortCollective(this.#buffers, -1);
        await Promise.all(this.#peers.map((p) => (p.alive ? p.worker.terminate() : undefined)));
        await all;
      }
    })();
    return this.#closing;
  }
}
