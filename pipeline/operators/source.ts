/**
 * shards -> samples: the deterministic sample stream over epochs, and the credited
 * reader that turns it into augmentation tasks only as fast as credit allows.
 *
 * @example
 * ```ts
 * const items = epochStream({ open: (epoch, signal) => readSamples({ ... }), startEpoch: 0, epochs: 1, skipSamples: 0, signal });
 * const tasks$ = creditedTasks(items, credit, { samplesPerTask: 4, seed: 7, metrics, window: new Credit(8) });
 * ```
 */
import { concatMap, defer, finalize, from, merge, startWith, takeWhile, type Observable } from 'rxjs';
import { ShardReadError } from '../../core/errors.js';
import type { Sample } from '../../datasets/sample.js';
import type { Credit } from '../credit.js';
import type { BatchSlots } from '../slots.js';
import type { PipelineMetrics } from '../metrics.js';
import { packTask, type AugmentTask, type SourceItem } from '../task.js';

/** Opens one epoch's sample stream (the shard reader, or a custom source). */
export type OpenEpoch = (epoch: number, signal: AbortSignal) => AsyncIterable<Sample>;

export interface EpochStreamOptions {
  readonly open: OpenEpoch;
  readonly startEpoch: number;
  /** Epochs to run from `startEpoch` (Infinity: until the consumer stops). */
  readonly epochs: number;
  /** Samples of `startEpoch` to pass over before anything is decoded (resume). */
  readonly skipSamples: number;
  readonly signal: AbortSignal;
}

/**
 * All epochs' samples in order, each tagged with its epoch and index in that epoch. An
 * epoch that yields no sample is an error (the shard reader raises its own, naming the
 * shards; this one covers custom sources).
 */
export async function* epochStream(options: EpochStreamOptions): AsyncGenerator<SourceItem, void, undefined> {
  const { open, startEpoch, epochs, signal } = options;
  for (let epoch = startEpoch; epoch < startEpoch + epochs; epoch++) {
    let index = 0;
    let yielded = false;
    const skip = epoch === startEpoch ? options.skipSamples : 0;
    for await (const sample of open(epoch, signal)) {
      if (signal.aborted) return;
      if (index >= skip) {
        yielded = true;
        yield { sample, epoch, index };
      }
      index++;
    }
    // An epoch without a sample is a failed run (and would repeat forever with epochs = Infinity).
    if (index === 0 && !signal.aborted) throw new ShardReadError('no-samples', `epoch ${epoch} gave no sample`, 'the custom sample source');
    if (!yielded && skip === 0) return;
  }
}

export interface CreditedTasksOptions {
  readonly samplesPerTask: number;
  /** Task credit: one unit per task until its results leave the re-order stage (the re-order window). */
  readonly window: Credit;
  readonly seed: number;
  readonly metrics: PipelineMetrics;
  /** Shared batch-buffer rows for the workers to write the views into (zero-copy batches). */
  readonly slots?: BatchSlots | undefined;
}

/**
 * Read groups of samples into tasks, taking one sample credit per sample before reading
 * it and one window credit per task.
 * Completes when the stream ends; closing the subscription returns the iterator (which
 * closes the shard files).
 */
export function creditedTasks(
  items: AsyncIterable<SourceItem>,
  credit: Credit,
  options: CreditedTasksOptions,
): Observable<AugmentTask> {
  const { samplesPerTask, seed, metrics, window, slots } = options;
  return defer(() => {
    const it = items[Symbol.asyncIterator]();
    let seq = 0;
    let done = false;
    async function* pull(): AsyncGenerator<AugmentTask | null> {
      while (!done && credit.available >= samplesPerTask && window.available >= 1) {
        credit.take(samplesPerTask);
        window.take(1);
        const group: SourceItem[] = [];
        while (group.length < samplesPerTask) {
          const r = await it.next();
          if (r.done === true) {
            done = true;
            break;
          }
          group.push(r.value);
        }
        credit.release(samplesPerTask - group.length);
        if (group.length === 0) window.release(1);
        else {
          metrics.samplesRead += group.length;
          metrics.add('samplesInPipeline', group.length);
          yield packTask(group, seq++, seed, slots?.nextGroup(group.length));
        }
      }
      if (done) yield null;
    }
    return merge(credit.wake$, window.wake$).pipe(
      startWith(undefined),
      concatMap(() => from(pull())),
      takeWhile((task): task is AugmentTask => task !== null),
      finalize(() => {
        done = true;
        Promise.resolve(it.return?.()).catch(() => {});
      }),
    );
  });
}
