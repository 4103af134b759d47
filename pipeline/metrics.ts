/**
 * Pipeline metrics: throughput, per-stage queue depth (current and peak), and the time
 * the consumer spent waiting for data.
 *
 * @example
 * ```ts
 * const m = pipeline.metrics();
 * log({ samplesPerSecond: m.samplesPerSecond, waitMs: m.consumerWaitMs, inFlight: m.stages.inFlightTasks });
 * ```
 */

/** The stages whose queue depth is tracked. */
export const STAGES = [
  /** Samples read from the source and not yet handed to the consumer (all stages together). */
  'samplesInPipeline',
  /** Augmentation tasks sent to workers and not yet answered. */
  'inFlightTasks',
  /** Tasks answered but waiting for an earlier one (re-ordering to source order). */
  'reorderWaiting',
  /** Good samples waiting to fill the next batch. */
  'batchFill',
  /** Finished batches waiting for the consumer (the prefetch ring). */
  'prefetched',
] as const;
export type Stage = (typeof STAGES)[number];

export interface StageDepth {
  readonly current: number;
  readonly peak: number;
}

/** A point-in-time copy of the metrics. */
export interface MetricsSnapshot {
  /** Samples read from the source (after `skipSamples`). */
  readonly samplesRead: number;
  /** Samples delivered to the consumer in batches. */
  readonly samplesDelivered: number;
  readonly batchesDelivered: number;
  /** Samples dropped under the `skip`/`warn` policy, by reason slug. */
  readonly skipped: Readonly<Record<string, number>>;
  /** Delivered samples per second, timed from the delivery of the first batch (0 before the second). */
  readonly samplesPerSecond: number;
  /** Total milliseconds the consumer waited on an empty prefetch ring. */
  readonly consumerWaitMs: number;
  readonly stages: Readonly<Record<Stage, StageDepth>>;
  /** The zero-copy batch buffer pool (absent with `sharedBatches: false`): buffers pooled, free, reused, fresh. */
  readonly batchBuffers?: SlotStats;
}

import type { SlotStats } from './slots.js';

/**
 * Mutable metrics owned by one pipeline (readers use {@link PipelineMetrics.snapshot}).
 *
 * @example
 * ```ts
 * const m = new PipelineMetrics(); m.add('inFlightTasks', 1); m.snapshot().stages.inFlightTasks; // { current: 1, peak: 1 }
 * ```
 */
export class PipelineMetrics {
  samplesRead = 0;
  samplesDelivered = 0;
  batchesDelivered = 0;
  consumerWaitMs = 0;
  readonly skipped = new Map<string, number>();
  #firstBatchAt: number | undefined;
  #samplesAfterFirst = 0;
  #lastBatchAt = 0;
  readonly #current = new Map<Stage, number>();
  readonly #peak = new Map<Stage, number>();

  /** Add `delta` to a stage's depth and track its peak. */
  add(stage: Stage, delta: number): void {
    const v = (this.#current.get(stage) ?? 0) + delta;
    this.#current.set(stage, v);
    if (v > (this.#peak.get(stage) ?? 0)) this.#peak.set(stage, v);
  }

  set(stage: Stage, value: number): void {
    this.add(stage, value - (this.#current.get(stage) ?? 0));
  }

  depth(stage: Stage): number {
    return this.#current.get(stage) ?? 0;
  }

  countSkip(reason: string): void {
    this.skipped.set(reason, (this.skipped.get(reason) ?? 0) + 1);
  }

  /** Record a batch handed to the consumer. */
  delivered(size: number, now = performance.now()): void {
    this.samplesDelivered += size;
    this.batchesDelivered += 1;
    if (this.#firstBatchAt === undefined) this.#firstBatchAt = now;
    else this.#samplesAfterFirst += size;
    this.#lastBatchAt = now;
  }

  snapshot(): MetricsSnapshot {
    const stages = {} as Record<Stage, StageDepth>;
    for (const s of STAGES) stages[s] = { current: this.#current.get(s) ?? 0, peak: this.#peak.get(s) ?? 0 };
    const elapsed = this.#firstBatchAt === undefined ? 0 : (this.#lastBatchAt - this.#firstBatchAt) / 1000;
    return {
      samplesRead: this.samplesRead,
      samplesDelivered: this.samplesDelivered,
      batchesDelivered: this.batchesDelivered,
      skipped: Object.fromEntries([...this.skipped].sort(([a], [b]) => a.localeCompare(b))),
      samplesPerSecond: elapsed > 0 ? this.#samplesAfterFirst / elapsed : 0,
      consumerWaitMs: this.consumerWaitMs,
      stages,
    };
  }
}
