/**
 * Learning-rate schedule: linear warm-up then cosine decay (the official DeCLIP recipe:
 * 1e-4 -> 1e-3 over 2,500 steps, then cosine to 0).
 *
 * Steps are 1-based optimizer updates: `lr(1)` is the rate of the first update,
 * `lr(warmupSteps)` is `peakLr`, `lr(totalSteps)` is `minLr`.
 *
 * @example
 * ```ts
 * const lr = warmupCosine({ peakLr: 1e-3, warmupStartLr: 1e-4, warmupSteps: 2500, totalSteps: 100_000, minLr: 0 });
 * lr(1); // 1.00036e-4
 * ```
 */
import { expectInteger, expectNumber, invalidOption } from '../../core/validate.js';

export interface WarmupCosineOptions {
  /** Rate at the end of warm-up (the top of the curve). */
  readonly peakLr: number;
  /** Rate the warm-up starts from (at step 0). Default 0. */
  readonly warmupStartLr?: number;
  /** Length of the linear warm-up, in optimizer steps (0 = none). */
  readonly warmupSteps: number;
  /** Total optimizer steps of the run (the cosine reaches `minLr` there). */
  readonly totalSteps: number;
  /** Rate at the end of the cosine. Default 0. */
  readonly minLr?: number;
}

/** A schedule: 1-based step -> learning rate. */
export type LrSchedule = (step: number) => number;

/** Linear warm-up from `warmupStartLr` to `peakLr`, then cosine from `peakLr` to `minLr`. */
export function warmupCosine(options: WarmupCosineOptions): LrSchedule {
  const peak = expectNumber('peakLr', options.peakLr, 0);
  const start = expectNumber('warmupStartLr', options.warmupStartLr ?? 0, 0);
  const warmup = expectInteger('warmupSteps', options.warmupSteps, 0);
  const total = expectInteger('totalSteps', options.totalSteps, 1);
  const min = expectNumber('minLr', options.minLr ?? 0, 0);
  if (min > peak) throw invalidOption('minLr', `number of at most peakLr (${peak})`, min);
  return (step: number): number => {
    const t = Math.max(0, step);
    if (t <= warmup && warmup > 0) return start + ((peak - start) * t) / warmup;
    if (total <= warmup) return peak;
    const progress = Math.min(1, (t - warmup) / (total - warmup));
    return min + (peak - min) * 0.5 * (1 + Math.cos(Math.PI * progress));
  };
}
