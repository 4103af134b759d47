/**
 * Zero-copy image hand-off: the views of a batch are written by the workers straight
 * into one SharedArrayBuffer that then becomes the batch's `images1` and `images2`, so
 * the main thread neither receives nor copies image bytes.
 *
 * Each dispatched sample gets a row of a batch buffer: [images1 rows | images2 rows],
 * B rows each. Rows are given in dispatch order, one buffer after another. A buffer is
 * laid out for the delivered batch its rows are expected to form; a dropped (bad) sample
 * shifts the samples after it, and the allocator re-aligns at its next buffer using the
 * drops seen so far. A batch whose rows are not exactly rows 0..b-1 of one buffer (just
 * after a drop) is copied into fresh arrays instead: the batch is the same either way,
 * only its memory differs. Nothing keeps a buffer alive but the samples and batches that
 * view it (the garbage collector frees it), so memory stays within the pipeline's bounds.
 *
 * @example
 * ```ts
 * const slots = new BatchSlots(64, 224 * 224 * 3);
 * const t = slots.next(); // { buffer, view1, view2 }: float offsets of this sample's two views
 * ```
 */

/** Where a worker writes one sample's two views (float offsets into `buffer`). */
export interface SlotTarget {
  readonly buffer: SharedArrayBuffer;
  readonly view1: number;
  readonly view2: number;
}

/** The row allocator of the batch buffers (see the module example). */
export class BatchSlots {
  readonly batchSize: number;
  /** Floats per view (S * S * 3). */
  readonly pixels: number;
  #buffer: SharedArrayBuffer | undefined;
  #row = 0;
  /** Samples dispatched, and dropped samples reported so far. */
  #dispatched = 0;
  #dropped = 0;

  constructor(batchSize: number, pixels: number) {
    this.batchSize = batchSize;
    this.pixels = pixels;
  }

  /** The row of the next dispatched sample. */
  next(): SlotTarget {
    const B = this.batchSize;
    if (this.#buffer === undefined || this.#row >= B) {
      // Expected delivered position of this sample, from the drops known now.
      const position = this.#dispatched - this.#dropped;
      this.#buffer = new SharedArrayBuffer(2 * B * this.pixels * Float32Array.BYTES_PER_ELEMENT);
      this.#row = position % B;
    }
    const row = this.#row++;
    this.#dispatched++;
    return { buffer: this.#buffer, view1: row * this.pixels, view2: (B + row) * this.pixels };
  }

  /** A dispatched sample was dropped (bad sample under `skip`/`warn`). */
  dropped(): void {
    this.#dropped++;
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
