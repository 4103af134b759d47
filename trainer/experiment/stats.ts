/**
 * Statistics of a multi-seed comparison: mean and sample standard deviation, the
 * paired two-sided Student t-test of two rows over the seeds they share, and Welch's
 * two-sample t-test for rows trained on different data (the data-size check; the t
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
  const p = twoSidedP(t, df);
  return { n, mean, sd, ahead, t, df, p };
}

/** The two-sided p-value of a t statistic with `df` degrees of freedom (jStat's Student t CDF). */
function twoSidedP(t: number, df: number): number {
  return Math.min(1, 2 * (1 - jstat.jStat.studentt.cdf(Math.abs(t), df)));
}

/** Welch's two-sample t-test: the difference of means `a - b` and its two-sided p-value. */
export interface WelchTTest {
  readonly na: number;
  readonly nb: number;
  /** Mean of `a` minus mean of `b`. */
  readonly diff: number;
  /** t statistic (diff / sqrt(var a / na + var b / nb)); NaN with fewer than 2 values on a side. */
  readonly t: number;
  /** Welch-Satterthwaite degrees of freedom. */
  readonly df: number;
  /** Two-sided p-value; NaN when undefined. */
  readonly p: number;
}

/** Welch's unequal-variance two-sided t-test of `a` against `b` (independent samples). */
export function welchTTest(a: readonly number[], b: readonly number[]): WelchTTest {
  const x = meanSd(a);
  const y = meanSd(b);
  const na = a.length;
  const nb = b.length;
  const diff = x.mean - y.mean;
  if (na < 2 || nb < 2) return { na, nb, diff, t: Number.NaN, df: Number.NaN, p: Number.NaN };
  const va = (x.sd * x.sd) / na;
  const vb = (y.sd * y.sd) / nb;
  if (va + vb === 0) return { na, nb, diff, t: diff === 0 ? Number.NaN : Math.sign(diff) * Infinity, df: na + nb - 2, p: diff === 0 ? 1 : 0 };
  const t = diff / Math.sqrt(va + vb);
  const df = (va + vb) ** 2 / (va ** 2 / (na - 1) + vb ** 2 / (nb - 1));
  const p = twoSidedP(t, df);
  return { na, nb, diff, t, df, p };
}
