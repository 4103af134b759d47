/**
 * augment in workers: send each task to the pool with at most `maxInFlight` tasks out,
 * re-order the answers to source order, and split them back into per-sample results.
 *
 * @example
 * ```ts
 * tasks$.pipe(augmentInWorkers((task) => pool.run(task, signal), { maxInFlight: pool.capacity, metrics, imageSize: 224, contextLength: 77 }))
 * ```
 */
import { concatMap, finalize, from, map, mergeMap, pipe, type OperatorFunction } from 'rxjs';
import { SampleError } from '../../core/errors.js';
import type { DeclipErrorCode } from '../../core/errors.js';
import type { PipelineMetrics } from '../metrics.js';
import { intsPerSample, type AugmentResult, type AugmentTask, type TaskSample } from '../task.js';
import { inSourceOrder } from './reorder.js';

/** One augmented sample: views and token rows are views into the task's result buffers. */
export interface AugmentedSample {
  readonly ok: true;
  readonly key: string;
  readonly url: string;
  readonly epoch: number;
  readonly index: number;
  readonly label: number;
  /** [S, S, 3] each. */
  readonly view1: Float32Array;
  readonly view2: Float32Array;
  /** [4L + 2]: tokens, tokensEda, tokensMasked, mlmLabels, eot, eotEda. */
  readonly ints: Int32Array;
}

/** A sample that could not be used; `error` names its key and shard. */
export interface FailedSample {
  readonly ok: false;
  readonly epoch: number;
  readonly index: number;
  readonly error: SampleError;
  /** The shared batch buffer its row was in (pipeline/slots.ts), if any. */
  readonly slot?: SharedArrayBuffer | undefined;
}

export type SampleOutcome = AugmentedSample | FailedSample;

export interface AugmentInWorkersOptions {
  /** Most tasks out at once (workers x tasksPerWorker). */
  readonly maxInFlight: number;
  readonly imageSize: number;
  readonly contextLength: number;
  readonly metrics: PipelineMetrics;
  /** Called when a task's results leave the re-order stage (frees a re-order window slot). */
  readonly onTaskDone?: () => void;
}

const CODES = new Set<string>(['ERR_DECLIP_IMAGE', 'ERR_DECLIP_TEXT', 'ERR_DECLIP_SAMPLE']);

function outcomes(task: AugmentTask, result: AugmentResult, imageSize: number, contextLength: number): SampleOutcome[] {
  const pixels = imageSize * imageSize * 3;
  const rowInts = intsPerSample(contextLength);
  return task.samples.map((s: TaskSample, i): SampleOutcome => {
    const failure = result.failures[i];
    if (failure !== null && failure !== undefined) {
      const code = (CODES.has(failure.code) ? failure.code : 'ERR_DECLIP_SAMPLE') as DeclipErrorCode;
      const error = new SampleError(failure.reason, failure.message, { url: s.url, key: s.key }, { code });
      return { ok: false, epoch: s.epoch, index: s.index, error, slot: task.targets?.[i]?.buffer };
    }
    const target = result.images.length === 0 ? task.targets?.[i] : undefined;
    return {
      ok: true,
      key: s.key,
      url: s.url,
      epoch: s.epoch,
      index: s.index,
      label: s.label,
      view1:
        target === undefined
          ? result.images.subarray(2 * i * pixels, (2 * i + 1) * pixels)
          : new Float32Array(target.buffer, target.view1 * Float32Array.BYTES_PER_ELEMENT, pixels),
      view2:
        target === undefined
          ? result.images.subarray((2 * i + 1) * pixels, (2 * i + 2) * pixels)
          : new Float32Array(target.buffer, target.view2 * Float32Array.BYTES_PER_ELEMENT, pixels),
      ints: result.ints.subarray(i * rowInts, (i + 1) * rowInts),
    };
  });
}

/** The augment operator (see the module example). */
export function augmentInWorkers(
  run: (task: AugmentTask) => Promise<AugmentResult>,
  options: AugmentInWorkersOptions,
): OperatorFunction<AugmentTask, SampleOutcome> {
  const { maxInFlight, metrics, imageSize, contextLength, onTaskDone } = options;
  return pipe(
    mergeMap((task: AugmentTask) => {
      metrics.add('inFlightTasks', 1);
      return from(run(task)).pipe(
        map((result) => ({ task, result })),
        finalize(() => metrics.add('inFlightTasks', -1)),
      );
    }, maxInFlight),
    inSourceOrder(({ task }) => task.seq, (held) => metrics.set('reorderWaiting', held)),
    concatMap(({ task, result }) => {
      onTaskDone?.();
      return outcomes(task, result, imageSize, contextLength);
    }),
  );
}
