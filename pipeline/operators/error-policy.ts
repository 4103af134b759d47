/**
 * The error policy for bad samples: `throw` fails the stream with the sample's error
 * (it names the `__key__` and shard); `warn` reports and drops it; `skip` drops it
 * silently. Dropped samples are counted by reason and give their credit back.
 *
 * @example
 * ```ts
 * outcomes$.pipe(applyErrorPolicy({ policy: 'skip', metrics, onDrop: () => credit.release(1) }))
 * ```
 */
import { EMPTY, mergeMap, of, throwError, type OperatorFunction } from 'rxjs';
import type { SampleError } from '../../core/errors.js';
import type { PipelineMetrics } from '../metrics.js';
import type { AugmentedSample, FailedSample, SampleOutcome } from './augment.js';

export const ERROR_POLICIES = ['throw', 'warn', 'skip'] as const;
export type ErrorPolicy = (typeof ERROR_POLICIES)[number];

export interface ErrorPolicyOptions {
  readonly policy: ErrorPolicy;
  readonly metrics: PipelineMetrics;
  /** Called for each dropped sample (after counting). */
  readonly onDrop: (sample: FailedSample) => void;
  /** Called under `warn` with each dropped sample's error. */
  readonly onWarn: (error: SampleError) => void;
}

/** The error-policy operator (see the module example). */
export function applyErrorPolicy(options: ErrorPolicyOptions): OperatorFunction<SampleOutcome, AugmentedSample> {
  const { policy, metrics, onDrop, onWarn } = options;
  return mergeMap((outcome: SampleOutcome) => {
    if (outcome.ok) return of(outcome);
    if (policy === 'throw') return throwError(() => outcome.error);
    metrics.countSkip(outcome.error.reason);
    metrics.add('samplesInPipeline', -1);
    if (policy === 'warn') onWarn(outcome.error);
    onDrop(outcome);
    return EMPTY;
  });
}
