/**
 * batch: gather `batchSize` augmented samples (the last batch of a finite stream may be
 * smaller) and assemble them into one {@link DeclipBatch} of contiguous typed arrays.
 *
 * @example
 * ```ts
 * samples$.pipe(batchSamples({ batchSize: 64, imageSize: 224, contextLength: 77, metrics }))
 * ```
 */
import { bufferCount, defer, map, tap, type OperatorFunction } from 'rxjs';
import type { PipelineMetrics } from '../metrics.js';
import type { DeclipBatch, PipelineBatch } from '../types.js';
import type { AugmentedSample } from './augment.js';
import { sharedBatchImages, type BatchSlots } from '../slots.js';

export interface BatchOptions {
  readonly batchSize: number;
  readonly imageSize: number;
  readonly contextLength: number;
  readonly metrics: PipelineMetrics;
  /** The shared batch buffers the workers wrote into: rows are handed back to them when copied or released. */
  readonly slots?: BatchSlots | undefined;
}

/**
 * Copy samples into one batch. `batchIndex` and `samplesBefore` place it in the run.
 * With `batchCapacity` (the batch size B), rows written in order into one shared batch
 * buffer (pipeline/slots.ts) become the batch's image arrays without a copy.
 *
 * @example
 * ```ts
 * const batch = assembleBatch(rows, 0, 0, 224, 77); // batch.images1.length === rows.length * 224 * 224 * 3
 * ```
 */
export function assembleBatch(
  rows: readonly AugmentedSample[],
  batchIndex: number,
  samplesBefore: number,
  imageSize: number,
  contextLength: number,
  batchCapacity?: number,
): DeclipBatch {
  const b = rows.length;
  const L = contextLength;
  const pixels = imageSize * imageSize * 3;
  // Zero-copy when the workers wrote the batch's rows into one shared batch buffer in order.
  const shared = batchCapacity === undefined ? undefined : sharedBatchImages(rows, batchCapacity, pixels);
  const images1 = shared?.images1 ?? new Float32Array(b * pixels);
  const images2 = shared?.images2 ?? new Float32Array(b * pixels);
  const tokens = new Int32Array(b * L);
  const tokensEda = new Int32Array(b * L);
  const tokensMasked = new Int32Array(b * L);
  const mlmLabels = new Int32Array(b * L);
  const eot = new Int32Array(b);
  const eotEda = new Int32Array(b);
  const labels = new Int32Array(b);
  const keys: string[] = [];
  rows.forEach((s, i) => {
    if (shared === undefined) {
      images1.set(s.view1, i * pixels);
      images2.set(s.view2, i * pixels);
    }
    tokens.set(s.ints.subarray(0, L), i * L);
    tokensEda.set(s.ints.subarray(L, 2 * L), i * L);
    tokensMasked.set(s.ints.subarray(2 * L, 3 * L), i * L);
    mlmLabels.set(s.ints.subarray(3 * L, 4 * L), i * L);
    eot[i] = s.ints[4 * L] ?? 0;
    eotEda[i] = s.ints[4 * L + 1] ?? 0;
    labels[i] = s.label;
    keys.push(s.key);
  });
  const last = rows[b - 1];
  return {
    size: b,
    imageSize,
    images1,
    images2,
    contextLength,
    tokens,
    tokensEda,
    tokensMasked,
    mlmLabels,
    eot,
    eotEda,
    labels,
    keys,
    position: {
      epoch: rows[0]?.epoch ?? 0,
      samplesBefore,
      batchIndex,
      resumeFrom: { epoch: last?.epoch ?? 0, skipSamples: (last?.index ?? -1) + 1 },
    },
  };
}

const NOTHING_TO_RELEASE = (): void => {};

/**
 * The batch with its `release()`: a zero-copy batch gives its rows back to `slots` (once);
 * a copied batch's rows are given back at once (their bytes are in the copy) and its
 * `release()` does nothing.
 */
function releasable(batch: DeclipBatch, rows: readonly AugmentedSample[], slots: BatchSlots | undefined): PipelineBatch {
  if (slots === undefined) return { ...batch, release: NOTHING_TO_RELEASE };
  const buffer = batch.images1.buffer;
  if (buffer instanceof SharedArrayBuffer && rows[0]?.view1.buffer === buffer) {
    let released = false;
    return {
      ...batch,
      release: () => {
        if (released) return;
        released = true;
        slots.finish(buffer, batch.size);
      },
    };
  }
  for (const row of rows) if (row.view1.buffer instanceof SharedArrayBuffer) slots.finish(row.view1.buffer, 1);
  return { ...batch, release: NOTHING_TO_RELEASE };
}

/** The batch operator (see the module example). */
export function batchSamples(options: BatchOptions): OperatorFunction<AugmentedSample, PipelineBatch> {
  const { batchSize, imageSize, contextLength, metrics, slots } = options;
  return (source) =>
    defer(() => {
      let samplesBefore = 0;
      return source.pipe(
        tap(() => metrics.add('batchFill', 1)),
        bufferCount(batchSize),
        map((rows, batchIndex) => {
          metrics.add('batchFill', -rows.length);
          const batch = assembleBatch(rows, batchIndex, samplesBefore, imageSize, contextLength, batchSize);
          samplesBefore += rows.length;
          return releasable(batch, rows, slots);
        }),
      );
    });
}
