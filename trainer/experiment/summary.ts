/**
 * Summaries of a comparison's runs: per row the mean and sd over seeds of every metric,
 * the per-seed values, and each row's paired difference from the baseline (paired
 * two-sided t-test over the seeds both rows ran).
 */
import { meanSd, pairedTTest, type PairedTTest, welchTTest, type WelchTTest } from './stats.js';
import type { RunScores } from './evaluate.js';
import type { ExperimentRow } from './rows.js';

/** One trained and evaluated run. */
export interface ExperimentRun {
  readonly row: ExperimentRow;
  readonly seed: number;
  readonly trainPairs: number;
  readonly dir: string;
  /** Steps completed and the steps asked for. */
  readonly steps: number;
  readonly plannedSteps: number;
  readonly stopped: string;
  readonly seconds: number;
  readonly scores: RunScores;
  /** Reused from an earlier invocation (its `scores.json` matched). */
  readonly reused: boolean;
}

/** The metrics summarised per row, as fractions. */
export const SUMMARY_METRICS = ['zeroShotTop1', 'zeroShotTop5', 'linearProbe', 'i2tR1', 't2iR1', 'valZeroShotTop1', 'valLinearProbe'] as const;
export type SummaryMetric = (typeof SUMMARY_METRICS)[number];

/** One seed's values of a row. */
export type SeedValues = { readonly seed: number; readonly steps: number; readonly tasks: RunScores['tasks'] } & Readonly<Record<SummaryMetric, number>>;

/** A row's means over seeds (the JSON contract's fields), sds and per-seed values. */
export type RowSummary = Readonly<Record<SummaryMetric, number>> & {
  readonly sd: Readonly<Record<SummaryMetric, number>>;
  readonly perSeed: readonly SeedValues[];
};

/** A row against the baseline, paired by seed, on zero-shot and linear probe. */
export interface PairedSummary {
  readonly row: ExperimentRow;
  readonly baseline: ExperimentRow;
  readonly zeroShotTop1: PairedTTest;
  readonly linearProbe: PairedTTest;
}

/** Everything summarised for one training-set size. */
export interface SizeSummary {
  readonly trainPairs: number;
  readonly rows: Partial<Record<ExperimentRow, RowSummary>>;
  readonly paired: readonly PairedSummary[];
}

/** Summarise the runs of one size (rows in the order given). */
export function summariseSize(runs: readonly ExperimentRun[], trainPairs: number, rows: readonly ExperimentRow[]): SizeSummary {
  const mine = runs.filter((r) => r.trainPairs === trainPairs);
  const summaries: Partial<Record<ExperimentRow, RowSummary>> = {};
  for (const row of rows) {
    const rs = mine.filter((r) => r.row === row).sort((a, b) => a.seed - b.seed);
    if (rs.length === 0) continue;
    const perSeed = rs.map((r): SeedValues => ({ seed: r.seed, steps: r.steps, tasks: r.scores.tasks, ...pick(r.scores) }));
    const stats = SUMMARY_METRICS.map((m) => [m, meanSd(perSeed.map((s) => s[m]))] as const);
    summaries[row] = {
      ...(Object.fromEntries(stats.map(([m, s]) => [m, s.mean])) as Record<SummaryMetric, number>),
      sd: Object.fromEntries(stats.map(([m, s]) => [m, s.sd])) as Record<SummaryMetric, number>,
      perSeed,
    };
  }
  return { trainPairs, rows: summaries, paired: pairedAgainst(mine, rows) };
}

function pick(s: RunScores): Record<SummaryMetric, number> {
  return Object.fromEntries(SUMMARY_METRICS.map((m) => [m, s[m]])) as Record<SummaryMetric, number>;
}

/** Paired tests: every row against `clip`, and `declip` against `clip-2x`. */
function pairedAgainst(runs: readonly ExperimentRun[], rows: readonly ExperimentRow[]): PairedSummary[] {
  const pairs: [ExperimentRow, ExperimentRow][] = rows.filter((r) => r !== 'clip').map((r) => [r, 'clip']);
  if (rows.includes('declip') && rows.includes('clip-2x')) pairs.push(['declip', 'clip-2x']);
  const out: PairedSummary[] = [];
  for (const [row, baseline] of pairs) {
    const seeds = [...new Set(runs.filter((r) => r.row === row).map((r) => r.seed))].filter((s) => runs.some((r) => r.row === baseline && r.seed === s)).sort((a, b) => a - b);
    if (seeds.length === 0) continue;
    const get = (rw: ExperimentRow, m: 'zeroShotTop1' | 'linearProbe') => seeds.map((s) => runs.find((r) => r.row === rw && r.seed === s)?.scores[m] ?? Number.NaN);
    out.push({
      row,
      baseline,
      zeroShotTop1: pairedTTest(get(row, 'zeroShotTop1'), get(baseline, 'zeroShotTop1')),
      linearProbe: pairedTTest(get(row, 'linearProbe'), get(baseline, 'linearProbe')),
    });
  }
  return out;
}

/** DeCLIP on N pairs against CLIP on 2N (zero-shot top-1 means over seeds, fractions). */
export interface DataEfficiency {
  readonly trainPairs: number;
  readonly declip: number;
  readonly clipOn2x: number;
  /** DeCLIP's per-seed values against CLIP-on-2N's: Welch's test (different training data, so not paired). */
  readonly test: WelchTTest;
}

/**
 * The data-efficiency check: sizes N where DeCLIP trained on N pairs matches or beats
 * CLIP trained on 2N pairs (mean zero-shot top-1 over seeds), with both means and
 * Welch's two-sample t-test of the per-seed values.
 */
export function dataEfficiency(sizes: readonly SizeSummary[]): DataEfficiency[] {
  const out: DataEfficiency[] = [];
  for (const s of sizes) {
    const twice = sizes.find((o) => o.trainPairs === 2 * s.trainPairs);
    const d = s.rows.declip;
    const c = twice?.rows.clip;
    if (d !== undefined && c !== undefined) {
      const test = welchTTest(d.perSeed.map((p) => p.zeroShotTop1), c.perSeed.map((p) => p.zeroShotTop1));
      out.push({ trainPairs: s.trainPairs, declip: d.zeroShotTop1, clipOn2x: c.zeroShotTop1, test });
    }
  }
  return out;
}
