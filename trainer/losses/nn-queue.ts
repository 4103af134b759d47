/**
 * The FIFO queue of past text embeddings for nearest-neighbour supervision (NNS).
 *
 * Official behaviour (Sense-GVT/DeCLIP, as in the reference step): the queue starts as
 * random unit vectors; each step, every caption embedding and every EDA-caption embedding
 * (L2-normalised, detached) is matched to its top-1 cosine neighbour in the queue as it
 * was BEFORE this batch; after the loss, the EDA embeddings and then the caption
 * embeddings are enqueued, overwriting the oldest rows (a ring with a write pointer).
 * Unlike the official code the state is exportable for checkpoints.
 *
 * Ownership: {@link NearestNeighbourQueue.lookup} returns a new tensor owned by the caller;
 * the queue's own tensor is internal and freed by {@link NearestNeighbourQueue.dispose}.
 *
 * @example
 * ```ts
 * const queue = new NearestNeighbourQueue({ size: 4096, dim: 128, seed: 7 });
 * const nn = tf.tidy(() => queue.lookup(textEmbeddings)); // [B, 128], no gradient
 * queue.enqueue(await textEmbeddings.data() as Float32Array); // after the step
 * const saved = queue.exportState();
 * queue.dispose();
 * ```
 */
import * as tf from '@tensorflow/tfjs-core';
import { CheckpointError, DeclipError, InvalidOptionError } from '../../core/errors.js';
import { Rng } from '../../core/rng.js';
import { expectInteger } from '../../core/validate.js';
import { stopGradient } from '../models/layers.js';

export interface NearestNeighbourQueueOptions {
  /** Number of queued embeddings (official 65,536; the reference step uses 4,096). */
  readonly size: number;
  /** Embedding size. */
  readonly dim: number;
  /** Seed of the initial random unit vectors. */
  readonly seed: number;
}

/** Serialisable queue state (row-major `[size, dim]` data and the write pointer). */
export interface QueueState {
  readonly size: number;
  readonly dim: number;
  readonly pointer: number;
  readonly data: Float32Array;
}

export class NearestNeighbourQueue {
  readonly size: number;
  readonly dim: number;
  #data: Float32Array;
  #pointer = 0;
  #tensor: tf.Tensor2D | undefined;
  #disposed = false;
  /** Host copies of device-side enqueues still being read back, in order. */
  #hostSync: Promise<void> = Promise.resolve();
  /** Bumped by importState: a late host copy of an older state is dropped. */
  #generation = 0;

  constructor(options: NearestNeighbourQueueOptions) {
    this.size = expectInteger('queue.size', options.size, 1);
    this.dim = expectInteger('queue.dim', options.dim, 1);
    const seed = expectInteger('queue.seed', options.seed, 0, 4294967295);
    const rng = new Rng(seed);
    this.#data = new Float32Array(this.size * this.dim);
    for (let r = 0; r < this.size; r++) {
      let norm = 0;
      const row = this.#data.subarray(r * this.dim, (r + 1) * this.dim);
      for (let j = 0; j < this.dim; j++) {
        const v = rng.normal();
        row[j] = v;
        norm += v * v;
      }
      const inv = 1 / Math.max(Math.sqrt(norm), 1e-12);
      for (let j = 0; j < this.dim; j++) row[j] = (row[j] ?? 0) * inv;
    }
  }

  /** Index of the next row to be overwritten. */
  get pointer(): number {
    return this.#pointer;
  }

  /** The queue as a tensor `[size, dim]` (internal, cached until the next enqueue). */
  #asTensor(): tf.Tensor2D {
    this.#assertOpen();
    if (this.#tensor === undefined) this.#tensor = tf.keep(tf.tensor2d(this.#data, [this.size, this.dim]));
    return this.#tensor;
  }

  /** Top-1 cosine neighbour index in the queue of each row of `queries` `[B, dim]`. */
  nearestIndices(queries: tf.Tensor2D): tf.Tensor1D {
    return tf.argMax(tf.matMul(stopGradient(queries), this.#asTensor(), false, true), 1);
  }

  /**
   * The nearest queued embedding (top-1 cosine) of each query row, `[B, dim]`. Queries
   * should be L2-normalised (the ranking is the same either way). The result is a constant
   * for gradients. Runs on the device (no read-back). Caller owns it.
   */
  lookup(queries: tf.Tensor2D): tf.Tensor2D {
    // One custom-gradient node with a zero gradient: nothing links the int32 indices to the
    // queries on the gradient tape (tfjs would otherwise try to differentiate gather's
    // indices), and nothing is read back to the host inside the gradient function.
    const table = this.#asTensor();
    const nearest = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
      const q = args[0] as tf.Tensor2D;
      const shape = q.shape;
      const value = tf.gather(table, tf.argMax(tf.matMul(q, table, false, true), 1)) as tf.Tensor2D;
      return { value, gradFunc: () => tf.zeros(shape) };
    });
    return nearest(queries) as tf.Tensor2D;
  }

  /**
   * Push rows `[n, dim]` in order, overwriting the oldest (FIFO ring). Rows are stored as
   * given (pass normalised embeddings). Read a tensor first (`await rows.data()`): the
   * webgpu backend cannot read synchronously.
   */
  enqueue(values: Float32Array): void {
    this.#assertOpen();
    if (values.length % this.dim !== 0) {
      throw new InvalidOptionError('rows', `enqueue: ${values.length} values is not a whole number of rows of ${this.dim}`);
    }
    const n = values.length / this.dim;
    for (let r = 0; r < n; r++) {
      this.#data.set(values.subarray(r * this.dim, (r + 1) * this.dim), this.#pointer * this.dim);
      this.#pointer = (this.#pointer + 1) % this.size;
    }
    this.#invalidate();
  }

  /**
   * Push rows `[n, dim]` on the device, without reading them first (training steps in
   * flight on webgpu): the queue tensor is rebuilt by one gather over `[queue; rows]`
   * (exact copies, the same values as {@link enqueue}); the host copy that
   * {@link exportState} returns follows when the rows have been read back (await
   * {@link flush} first). The caller keeps ownership of `rows`. Do not mix with
   * {@link enqueue} while a device enqueue is being read back.
   */
  enqueueOnDevice(rows: tf.Tensor2D): void {
    this.#assertOpen();
    if (rows.shape[1] !== this.dim) throw new InvalidOptionError('rows', `enqueue: rows of ${rows.shape[1]} values, the queue holds rows of ${this.dim}`);
    const n = rows.shape[0];
    const start = this.#pointer;
    const source = Int32Array.from({ length: this.size }, (_, r) => r);
    for (let j = 0; j < n; j++) source[(start + j) % this.size] = this.size + j;
    this.#pointer = (start + n) % this.size;
    const table = this.#asTensor();
    this.#tensor = tf.keep(tf.tidy(() => tf.gather(tf.concat([table, rows], 0), tf.tensor1d(source, 'int32')) as tf.Tensor2D));
    table.dispose();
    const generation = this.#generation;
    // A read must finish before its tensor is freed (tfjs-backend-webgpu caches the values
    // on the tensor when they arrive): read a clone, free it when read.
    const held = tf.keep(tf.clone(rows));
    const read = held.data().finally(() => held.dispose());
    this.#hostSync = this.#hostSync.then(async () => {
      const values = (await read) as Float32Array;
      if (generation !== this.#generation) return;
      for (let j = 0; j < n; j++) this.#data.set(values.subarray(j * this.dim, (j + 1) * this.dim), ((start + j) % this.size) * this.dim);
    });
  }

  /** Wait until the host copy holds every device-side enqueue (before {@link exportState}). */
  async flush(): Promise<void> {
    await this.#hostSync;
  }

  /** A copy of the state, for checkpoints. */
  exportState(): QueueState {
    return { size: this.size, dim: this.dim, pointer: this.#pointer, data: this.#data.slice() };
  }

  /** Restore a state saved by {@link exportState} (same size and dim). */
  importState(state: QueueState): void {
    this.#assertOpen();
    if (state.size !== this.size || state.dim !== this.dim || state.data.length !== this.size * this.dim) {
      throw new CheckpointError(
        'nn-queue',
        `Queue state is [${state.size}, ${state.dim}] with ${state.data.length} values; expected [${this.size}, ${this.dim}]`,
      );
    }
    if (!Number.isInteger(state.pointer) || state.pointer < 0 || state.pointer >= this.size) {
      throw new CheckpointError('nn-queue', `Queue pointer ${state.pointer} is out of range [0, ${this.size})`);
    }
    this.#data = state.data.slice();
    this.#pointer = state.pointer;
    this.#generation++;
    this.#hostSync = Promise.resolve();
    this.#invalidate();
  }

  #invalidate(): void {
    this.#tensor?.dispose();
    this.#tensor = undefined;
  }

  #assertOpen(): void {
    if (this.#disposed) throw new DeclipError('NearestNeighbourQueue is disposed');
  }

  /** Free the cached tensor. Idempotent. */
  dispose(): void {
    this.#disposed = true;
    this.#invalidate();
  }
}
