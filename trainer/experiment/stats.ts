/**
 * Statistics of a multi-seed comparison: mean and sample standard deviation, and the
 * paired two-sided Student t-test of two rows over the seeds they share (the t
 * distribution's CDF comes from jStat).
 *
 * @example
 * ```ts
 * pairedTTest([0.57, 0.57, 0.58], [0.57, 0.50, 0.57]); // { n: 3, mean: 0.027, sd: 0.038, t: 1.2, df: 2, p: 0.34 }
 * ```
 */
import jstat from 'jstat';

/** Mean and sample standard deviation (0 for one value). */
export function meanSd(xs: readonly number[]): { mean: number; sd: number } {
  const mean = xs.reduce((a, x) => a + x, 0) / Math.max(1, xs.length);
  const sd = xs.length < 2 ? 0 : Math.sqrt(xs.reduce((a, x) => a + (x - mean) ** 2, 0) / (xs.length - 1));
  return { mean, sd };
}

/** A paired t-test: the mean difference `a - b` and its two-sided p-value. */
export interface PairedTTest {
  /** Pairs. */
  readonly n: number;
  /** Mean and sample sd of the differences `a[i] - b[i]`. */
  readonly mean: number;
  readonly sd: number;
  /** Pairs where `a` is ahead. */
  readonly ahead: number;
  /** t statistic (mean / (sd / sqrt n)); NaN with fewer than 2 pairs or sd 0 and mean 0. */
  readonly t: number;
  /** Degrees of freedom (n - 1). */
  readonly df: number;
  /** Two-sided p-value; NaN when undefined (fewer than 2 pairs). */
  readonly p: number;
}

/** Paired two-sided Student t-test of `a - b` (same length, pair i = seed i). */
export function pairedTTest(a: readonly number[], b: readonly number[]): PairedTTest {
  if (a.length !== b.length) throw new RangeError(`pairedTTest: ${a.length} values against ${b.length}`);
  const diffs = a.map((x, i) => x - (b[i] ?? Number.NaN));
  const { mean, sd } = meanSd(diffs);
  const n = diffs.length;
  const df = n - 1;
  const ahead = diffs.filter((d) => d > 0).length;
  if (n < 2) return { n, mean, sd, ahead, t: Number.NaN, df, p: Number.NaN };
  if (sd === 0) return { n, mean, sd, ahead, t: mean === 0 ? Number.NaN : Math.sign(mean) * Infinity, df, p: mean === 0 ? 1 : 0 };
  const t = mean / (sd / Math.sqrt(n));
  const p = Math.min(1, 2 * (1 - jstat.jStat.studentt.cdf(Math.abs(t), df)));
  return { n, mean, sd, ahead, t, df, p };
}
