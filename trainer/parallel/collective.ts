/**
 * Shared-memory collectives of data-parallel training: a barrier, an all-gather of rows
 * and an all-reduce (sum) over `world` worker threads, on `SharedArrayBuffer`s that the
 * main thread allocates once ({@link createCollectiveBuffers}) and hands to every worker.
 *
 * Everything here is synchronous (`Atomics.wait`), so it can run inside a tfjs gradient
 * function. Every wait is bounded: a waiter wakes at least once a second to look at the
 * abort flag (set by a failing worker or by the main thread when a worker dies or the run
 * is torn down) and gives up after `timeoutMs`, so a dead peer never deadlocks the others.
 *
 * Buffer reuse is safe without extra barriers: a region written in one collective is next
 * written only after a later barrier that every worker reaches after reading it.
 *
 * @example
 * ```ts
 * // main thread
 * const buffers = createCollectiveBuffers({ world: 2, gatherFloats: 4 * 64 * 128, reduceFloats: params, scalars: 16 });
 * // in worker `rank`
 * const c = new Collective(buffers, rank, { timeoutMs: 300_000 });
 * const all = c.allReduceSum(localGradients); // identical on every worker
 * ```
 */
import { WorkerError } from '../../core/errors.js';
import { expectInteger } from '../../core/validate.js';

/** Slots of the control array. */
const ABORT = 0;
const COUNT = 1;
const GEN = 2;
const FAILED = 3;
const CONTROL_SLOTS = 4;

/** The shared buffers of one run (structured-cloneable: they are shared, not copied). */
export interface CollectiveBuffers {
  readonly world: number;
  /** Barrier state and abort flag (Int32). */
  readonly control: SharedArrayBuffer;
  /** Rows exchanged by {@link Collective.gatherRows} (Float32, `gatherFloats`). */
  readonly gather: SharedArrayBuffer;
  /** `world` slots of `reduceFloats` floats for {@link Collective.allReduceSum}. */
  readonly reduce: SharedArrayBuffer;
  readonly reduceFloats: number;
  /** `world` slots of `scalars` float64 values for {@link Collective.allGatherScalars}. */
  readonly scalars: SharedArrayBuffer;
  readonly scalarSlots: number;
}

export interface CollectiveSizes {
  readonly world: number;
  /** Floats of the row exchange (capacity of one gather: every worker's rows together). */
  readonly gatherFloats: number;
  /** Floats of one all-reduce (the flat gradient size). */
  readonly reduceFloats: number;
  /** Numbers each worker contributes to one scalar all-gather. */
  readonly scalars: number;
}

/** Allocate the shared buffers (main thread). */
export function createCollectiveBuffers(sizes: CollectiveSizes): CollectiveBuffers {
  const world = expectInteger('world', sizes.world, 1, 256);
  const gatherFloats = expectInteger('gatherFloats', sizes.gatherFloats, 0);
  const reduceFloats = expectInteger('reduceFloats', sizes.reduceFloats, 0);
  const scalars = expectInteger('scalars', sizes.scalars, 0);
  return {
    world,
    control: new SharedArrayBuffer(CONTROL_SLOTS * 4),
    gather: new SharedArrayBuffer(gatherFloats * 4),
    reduce: new SharedArrayBuffer(world * reduceFloats * 4),
    reduceFloats,
    scalars: new SharedArrayBuffer(world * scalars * 8),
    scalarSlots: scalars,
  };
}

/**
 * Raise the abort flag and wake every waiter (any thread; idempotent). `rank` names the
 * failing worker (-1: the main thread).
 */
export function abortCollective(buffers: CollectiveBuffers, rank: number): void {
  const control = new Int32Array(buffers.control);
  if (Atomics.compareExchange(control, ABORT, 0, 1) === 0) Atomics.store(control, FAILED, rank);
  Atomics.notify(control, GEN);
}

/** Whether the abort flag is up. */
export function collectiveAborted(buffers: CollectiveBuffers): boolean {
  return Atomics.load(new Int32Array(buffers.control), ABORT) !== 0;
}

/** Thrown by a waiting worker when a peer failed or the run was torn down. */
export class PeerAbortError extends WorkerError {
  /** The rank that raised the flag (-1: the main thread). */
  readonly failedRank: number;
  constructor(rank: number, failedRank: number, where: string) {
    super(`worker ${rank}: stopped at ${where}: ${failedRank < 0 ? 'the run was stopped' : `worker ${failedRank} failed`}`);
    this.failedRank = failedRank;
  }
}

export interface CollectiveOptions {
  /** Longest wait for the peers at one barrier (default 300,000 ms). */
  readonly timeoutMs?: number;
}

/** One worker's view of the collectives. */
export class Collective {
  readonly rank: number;
  readonly world: number;
  readonly timeoutMs: number;
  readonly #buffers: CollectiveBuffers;
  readonly #control: Int32Array;
  readonly #gather: Float32Array;
  readonly #scalars: Float64Array;

  constructor(buffers: CollectiveBuffers, rank: number, options: CollectiveOptions = {}) {
    this.world = buffers.world;
    this.rank = expectInteger('rank', rank, 0, buffers.world - 1);
    this.timeoutMs = expectInteger('timeoutMs', options.timeoutMs ?? 300_000, 1);
    this.#buffers = buffers;
    this.#control = new Int32Array(buffers.control);
    this.#gather = new Float32Array(buffers.gather);
    this.#scalars = new Float64Array(buffers.scalars);
  }

  /** Raise the abort flag (this worker failed). */
  abort(): void {
    abortCollective(this.#buffers, this.rank);
  }

  #check(where: string): void {
    if (Atomics.load(this.#control, ABORT) !== 0) throw new PeerAbortError(this.rank, Atomics.load(this.#control, FAILED), where);
  }

  /** Wait until every worker has arrived (bounded; see the module comment). */
  barrier(where: string): void {
    this.#check(where);
    if (this.world === 1) return;
    const c = this.#control;
    const gen = Atomics.load(c, GEN);
    if (Atomics.add(c, COUNT, 1) === this.world - 1) {
      Atomics.store(c, COUNT, 0);
      Atomics.add(c, GEN, 1);
      Atomics.notify(c, GEN);
      return;
    }
    const deadline = performance.now() + this.timeoutMs;
    while (Atomics.load(c, GEN) === gen) {
      this.#check(where);
      const left = deadline - performance.now();
      if (left <= 0) {
        this.abort();
        throw new WorkerError(`worker ${this.rank}: the peers did not reach ${where} within ${this.timeoutMs} ms`);
      }
      Atomics.wait(c, GEN, gen, Math.min(left, 1000));
    }
    this.#check(where);
  }

  /**
   * All-gather of row blocks: each worker passes its rows of every tensor (`local[k]`,
   * `rows * width` values) and where they start in the global order (`rowOffset`); returns
   * every tensor's full `[totalRows, width]` data (fresh arrays, identical on every worker).
   */
  gatherRows(local: readonly Float32Array[], rowOffset: number, totalRows: number, width: number): Float32Array[] {
    const block = totalRows * width;
    if (block * local.length > this.#gather.length) {
      throw new WorkerError(`worker ${this.rank}: ${local.length} x ${totalRows} rows of ${width} exceed the exchange buffer (${this.#gather.length} floats)`);
    }
    local.forEach((rows, k) => this.#gather.set(rows, k * block + rowOffset * width));
    this.barrier('the embedding exchange');
    return local.map((_, k) => this.#gather.slice(k * block, (k + 1) * block));
  }

  /** All-gather of a few numbers per worker: returns `[world][n]` (rank order). */
  allGatherScalars(values: readonly number[]): number[][] {
    const n = this.#buffers.scalarSlots;
    if (values.length > n) throw new WorkerError(`worker ${this.rank}: ${values.length} scalars exceed the ${n} slots`);
    values.forEach((v, i) => (this.#scalars[this.rank * n + i] = v));
    this.barrier('the loss exchange');
    return Array.from({ length: this.world }, (_, r) => Array.from(this.#scalars.subarray(r * n, r * n + values.length)));
  }

  /**
   * Sum of every worker's `local` (same length on all, at most `reduceFloats`), identical
   * on every worker: reduce-scatter (worker r sums chunk r over the slots, in rank order)
   * then all-gather. Returns a fresh array.
   */
  allReduceSum(local: Float32Array): Float32Array {
    let out = new Float32Array(0);
    this.allReduceSumInto(local, (sum) => (out = sum.slice()));
    return out;
  }

  /**
   * {@link allReduceSum} without the copy of the result: `consume` gets a view of the sum
   * in the shared buffer (identical on every worker), valid only during the call (copy out
   * what you keep; the next collective overwrites it).
   */
  allReduceSumInto(local: Float32Array, consume: (sum: Float32Array) => void): void {
    const n = local.length;
    const size = this.#buffers.reduceFloats;
    if (n > size) throw new WorkerError(`worker ${this.rank}: all-reduce of ${n} floats exceeds the buffer (${size})`);
    const slots = new Float32Array(this.#buffers.reduce);
    const mine = this.rank * size;
    if (local.buffer !== this.#buffers.reduce || local.byteOffset !== mine * 4) slots.set(local, mine);
    if (this.world === 1) {
      consume(slots.subarray(0, n));
      return;
    }
    this.barrier('the gradient all-reduce');
    const chunk = Math.ceil(n / this.world);
    const lo = Math.min(n, this.rank * chunk);
    const hi = Math.min(n, lo + chunk);
    // the sum lands in slot 0 (only this worker touches chunk r of slot 0 in this phase)
    for (let r = 1; r < this.world; r++) {
      const base = r * size;
      for (let i = lo; i < hi; i++) slots[i] = (slots[i] as number) + (slots[base + i] as number);
    }
    this.barrier('the gradient all-gather');
    consume(slots.subarray(0, n));
    this.barrier('the end of the all-reduce'); // nobody writes slot 0 again before everyone has read it
  }

  /**
   * This worker's input slot of {@link allReduceSum} (`n` floats): write the values there
   * and pass the view to `allReduceSum` to save one copy.
   */
  reduceInput(n: number): Float32Array {
    const size = this.#buffers.reduceFloats;
    if (n > size) throw new WorkerError(`worker ${this.rank}: all-reduce of ${n} floats exceeds the buffer (${size})`);
    return new Float32Array(this.#buffers.reduce, this.rank * size * 4, n);
  }
}
