/**
 * Zero-copy image hand-off with recycled memory: the views of a batch are written by the
 * workers straight into one SharedArrayBuffer that then becomes the batch's `images1`
 * and `images2`, so the main thread neither receives nor copies image bytes; when the
 * consumer hands the batch back (`batch.release()`), its buffer goes back to a bounded
 * pool and the next batch is written into it.
 *
 * Each dispatched sample gets a row of a batch buffer: [images1 rows | images2 rows],
 * B rows each. Rows are given in dispatch order, one buffer after another. A buffer is
 * laid out for the delivered batch its rows are expected to form; a dropped (bad) sample
 * shifts the samples after it, and the allocator re-aligns at its next buffer using the
 * drops seen so far. A batch whose rows are not exactly rows 0..b-1 of one buffer (just
 * after a drop) is copied into fresh arrays instead: the batch is the same either way,
 * only its memory differs.
 *
 * Recycling. Every row handed out is outstanding until its sample is dropped, copied
 * into a batch, or its zero-copy batch is released. A pooled buffer that the allocator
 * has moved past and that has no outstanding row is free: no worker writes into it and
 * no batch views it. The pool owns at most `capacity` buffers. When none is free, the
 * next batch's worth of rows has no buffer: its tasks go without targets, their views
 * come back in the workers' result buffers and the batch is copied into fresh arrays,
 * as with `sharedBatches: false` (so a consumer that never releases neither deadlocks
 * the pipeline nor grows its memory: fresh arrays are ordinary garbage once dropped).
 * Shared memory held by the pool is at most `capacity` buffers, however long the run.
 *
 * @example
 * ```ts
 * const slots = new BatchSlots(64, 224 * 224 * 3, 5);
 * const targets = slots.nextGroup(4); // [{ buffer, view1, view2 }, ...]: float offsets of each sample's two views
 * slots.finish(targets[0].buffer, 1); // the row's sample was dropped, copied, or its batch released
 * ```
 */

/** Where a worker writes one sample's two views (float offsets into `buffer`). */
export interface SlotTarget {
  readonly buffer: SharedArrayBuffer;
  readonly view1: number;
  readonly view2: number;
}

/** How the pool has been used so far (for tests, benchmarks and logs). */
export interface SlotStats {
  /** Buffers the pool owns (at most `capacity`). */
  readonly pooled: number;
  /** Pooled buffers free now. */
  readonly free: number;
  /** Times a new buffer was started on a recycled pooled buffer. */
  readonly reused: number;
  /** Batches' worth of rows sent through the copy path because no pooled buffer was free (the consumer held on to its batches). */
  readonly copied: number;
}

/** The row allocator and buffer pool of the batch buffers (see the module example). */
export class BatchSlots {
  readonly batchSize: number;
  /** Floats per view (S * S * 3). */
  readonly pixels: number;
  /** Most buffers the pool owns. */
  readonly capacity: number;
  /** The buffer being filled; null: no pooled buffer was free for these rows (copy path). */
  #buffer: SharedArrayBuffer | null | undefined;
  #row = 0;
  /** Samples dispatched, and dropped samples reported so far. */
  #dispatched = 0;
  #dropped = 0;
  /** Outstanding rows of each pooled buffer that is not free. */
  readonly #outstanding = new Map<SharedArrayBuffer, number>();
  readonly #free: SharedArrayBuffer[] = [];
  #pooled = 0;
  #reused = 0;
  #copied = 0;

  constructor(batchSize: number, pixels: number, capacity = 4) {
    if (!Number.isInteger(capacity) || capacity < 0) throw new RangeError(`Expected integer >= 0 for capacity but received ${capacity}`);
    this.batchSize = batchSize;
    this.pixels = pixels;
    this.capacity = capacity;
  }

  /** The row of the next dispatched sample; null when no pooled buffer was free for it. */
  next(): SlotTarget | null {
    const B = this.batchSize;
    if (this.#buffer === undefined || this.#row >= B) {
      // Expected delivered position of this sample, from the drops known now.
      const position = this.#dispatched - this.#dropped;
      const sealed = this.#buffer;
      this.#buffer = undefined;
      // a sealed buffer already done with (its batch released) is taken again at once
      if (sealed !== undefined && sealed !== null) this.#freeIfDone(sealed);
      this.#buffer = this.#acquire();
      this.#row = position % B;
    }
    const buffer = this.#buffer;
    const row = this.#row++;
    this.#dispatched++;
    if (buffer === null) return null;
    this.#outstanding.set(buffer, (this.#outstanding.get(buffer) ?? 0) + 1);
    return { buffer, view1: row * this.pixels, view2: (B + row) * this.pixels };
  }

  /**
   * The rows of a task's `n` samples, or undefined when any of them has no buffer (the
   * task then goes through the copy path; its rows that had one are given back).
   */
  nextGroup(n: number): SlotTarget[] | undefined {
    const targets = Array.from({ length: n }, () => this.next());
    if (targets.every((t): t is SlotTarget => t !== null)) return targets;
    for (const t of targets) if (t !== null) this.finish(t.buffer, 1);
    return undefined;
  }

  /** A dispatched sample was dropped (bad sample under `skip`/`warn`); `buffer`: its row's buffer. */
  dropped(buffer?: SharedArrayBuffer): void {
    this.#dropped++;
    if (buffer !== undefined) this.finish(buffer, 1);
  }

  /**
   * `rows` rows of `buffer` are done with (copied into a batch, dropped, or their batch
   * released). A buffer not owned by the pool is ignored.
   */
  finish(buffer: SharedArrayBuffer, rows: number): void {
    const n = this.#outstanding.get(buffer);
    if (n === undefined) return;
    this.#outstanding.set(buffer, Math.max(0, n - rows));
    if (buffer !== this.#buffer) this.#freeIfDone(buffer);
  }

  stats(): SlotStats {
    return { pooled: this.#pooled, free: this.#free.length, reused: this.#reused, copied: this.#copied };
  }

  #acquire(): SharedArrayBuffer | null {
    const recycled = this.#free.pop();
    if (recycled !== undefined) {
      this.#reused++;
      this.#outstanding.set(recycled, 0);
      return recycled;
    }
    if (this.#pooled >= this.capacity) {
      this.#copied++;
      return null;
    }
    const buffer = new SharedArrayBuffer(2 * this.batchSize * this.pixels * Float32Array.BYTES_PER_ELEMENT);
    this.#pooled++;
    this.#outstanding.set(buffer, 0);
    return buffer;
  }

  #freeIfDone(buffer: SharedArrayBuffer): void {
    if (this.#outstanding.get(buffer) !== 0) return;
    this.#outstanding.delete(buffer);
    this.#free.push(buffer);
  }
}

/**
 * The batch's two image arrays as views of one batch buffer, when `rows` (view1 arrays
 * of the batch's samples, in order) are exactly rows 0..b-1 of one buffer; otherwise
 * `undefined` (the caller copies).
 *
 * @example
 * ```ts
 * const shared = sharedBatchImages(rows, 64, 224 * 224 * 3); // rows: { view1, view2 }[]
 * ```
 */
export function sharedBatchImages(
  rows: readonly { readonly view1: Float32Array; readonly view2: Float32Array }[],
  batchSize: number,
  pixels: number,
): { images1: Float32Array; images2: Float32Array } | undefined {
  const first = rows[0];
  if (first === undefined || !(first.view1.buffer instanceof SharedArrayBuffer)) return undefined;
  const buffer = first.view1.buffer;
  const bytes = pixels * Float32Array.BYTES_PER_ELEMENT;
  if (buffer.byteLength !== 2 * batchSize * bytes) return undefined;
  for (let i = 0; i < rows.length; i++) {
    const { view1, view2 } = rows[i] as { view1: Float32Array; view2: Float32Array };
    if (view1.buffer !== buffer || view1.byteOffset !== i * bytes || view1.length !== pixels) return undefined;
    if (view2.buffer !== buffer || view2.byteOffset !== (batchSize + i) * bytes || view2.length !== pixels) return undefined;
  }
  const b = rows.length;
  return {
    images1: new Float32Array(buffer, 0, b * pixels),
    images2: new Float32Array(buffer, batchSize * pixels * Float32Array.BYTES_PER_ELEMENT, b * pixels),
  };
}
