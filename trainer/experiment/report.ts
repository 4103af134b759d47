/**
 * The report of a comparison: `report.md` (setup, the row table with mean ± sd over
 * seeds, paired differences with a paired t-test, the data-size curve, every run),
 * `results.json` (everything), and SVG plots (loss curves, zero-shot per seed, the
 * data-size curve) in the output folder; and the JSON summary the CLI prints.
 */
import { writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { readMetrics } from '../log/metrics.js';
import { lineChart } from '../log/plot.js';
import { type EvalTask } from './evaluate.js';
import { ROW_LABELS, type ExperimentRow } from './rows.js';
import type { PairedTTest } from './stats.js';
import { dataEfficiency, type ExperimentRun, type SizeSummary, type SummaryMetric } from './summary.js';

/** What the report says about the setting. */
export interface ReportContext {
  readonly title: string;
  readonly out: string;
  /** One sentence on the data. */
  readonly dataLine: string;
  /** One sentence on the training setting. */
  readonly setupLine: string;
  readonly tasks: readonly EvalTask[];
  readonly rows: readonly ExperimentRow[];
  readonly seeds: readonly number[];
  readonly testPairs: number;
  /** Test pairs retrieval ranks among. */
  readonly retrievalPairs: number;
  /** The options, echoed into results.json. */
  readonly options: Readonly<Record<string, unknown>>;
}

const pct = (x: number | undefined): string => (x === undefined || !Number.isFinite(x) ? '-' : `${(100 * x).toFixed(1)}%`);
const pts = (mean: number, sd: number, signed = false): string => `${signed && mean >= 0 ? '+' : ''}${(100 * mean).toFixed(1)} ± ${(100 * sd).toFixed(1)}`;
const signedPoints = (x: number): string => `${x >= 0 ? '+' : ''}${(100 * x).toFixed(1)}`;
const pValue = (p: number): string => (Number.isNaN(p) ? '-' : p < 0.001 ? '< 0.001' : p.toFixed(3));

/** The JSON summary (`--json`'s last line): the largest size's rows, the seeds, and the curve with several sizes. */
export function jsonSummary(sizes: readonly SizeSummary[], seeds: readonly number[]): Record<string, unknown> {
  const largest = sizes.reduce<SizeSummary | undefined>((a, s) => (a === undefined || s.trainPairs > a.trainPairs ? s : a), undefined);
  const rowsOf = (s: SizeSummary | undefined) => (s === undefined ? {} : s.rows);
  return {
    rows: rowsOf(largest),
    seeds: [...seeds],
    trainPairs: largest?.trainPairs ?? 0,
    paired: largest?.paired ?? [],
    ...(sizes.length > 1 ? { curve: sizes.map((s) => ({ trainPairs: s.trainPairs, rows: s.rows, paired: s.paired })), dataEfficiency: dataEfficiency(sizes) } : {}),
  };
}

/** The comparison table of one size: a row per model (mean ± sd) and paired differences. */
export function comparisonTable(size: SizeSummary, ctx: Pick<ReportContext, 'tasks'>): string[] {
  const extra = ctx.tasks.slice(1);
  const head = ctx.tasks[0]?.name ?? 'class';
  const cols = [`${head} zero-shot top-1`, `${head} linear probe`, ...extra.flatMap((t) => [`${t.name} zero-shot`, `${t.name} probe`]), 'i2t R@1', 't2i R@1', 'val zero-shot'];
  const seedsOf = (r: ExperimentRow) => size.rows[r]?.perSeed.map((s) => s.seed) ?? [];
  const lines = [`| ${size.trainPairs} pairs, % (mean ± sd over seeds) | seeds | ${cols.join(' | ')} |`, `| --- | ---: |${cols.map(() => ' ---: |').join('')}`];
  for (const [row, s] of Object.entries(size.rows) as [ExperimentRow, NonNullable<SizeSummary['rows'][ExperimentRow]>][]) {
    const taskCells = extra.flatMap((t) => {
      const zs = s.perSeed.map((p) => p.tasks[t.name]?.zeroShotTop1 ?? Number.NaN);
      const lp = s.perSeed.map((p) => p.tasks[t.name]?.linearProbe ?? Number.NaN);
      return [pts(...msd(zs)), pts(...msd(lp))];
    });
    const cell = (m: SummaryMetric) => pts(s[m], s.sd[m]);
    lines.push(`| ${ROW_LABELS[row]} | ${seedsOf(row).length} | ${[cell('zeroShotTop1'), cell('linearProbe'), ...taskCells, cell('i2tR1'), cell('t2iR1'), cell('valZeroShotTop1')].join(' | ')} |`);
  }
  return lines;
}

function msd(xs: readonly number[]): [number, number] {
  const mean = xs.reduce((a, x) => a + x, 0) / Math.max(1, xs.length);
  const sd = xs.length < 2 ? 0 : Math.sqrt(xs.reduce((a, x) => a + (x - mean) ** 2, 0) / (xs.length - 1));
  return [mean, sd];
}

function testCell(t: PairedTTest): string {
  return `${pts(t.mean, t.sd, true)} | ${t.ahead}/${t.n} | ${Number.isFinite(t.t) ? t.t.toFixed(2) : '-'} | ${pValue(t.p)}`;
}

/** Paired differences (row - baseline, by seed) with the paired two-sided t-test. */
export function pairedTable(size: SizeSummary, task = 'class'): string[] {
  if (size.paired.length === 0) return [];
  const lines = [
    `| ${size.trainPairs} pairs: difference, points | ${task} zero-shot (mean ± sd) | ahead | t | p | ${task} linear probe (mean ± sd) | ahead | t | p |`,
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const p of size.paired) lines.push(`| ${ROW_LABELS[p.row]} - ${ROW_LABELS[p.baseline]} | ${testCell(p.zeroShotTop1)} | ${testCell(p.linearProbe)} |`);
  return lines;
}

/** The data-size curve: zero-shot top-1 (mean ± sd) per size and row. */
export function curveTable(sizes: readonly SizeSummary[], rows: readonly ExperimentRow[]): string[] {
  const present = rows.filter((r) => sizes.some((s) => s.rows[r] !== undefined));
  const lines = [`| training pairs | ${present.map((r) => ROW_LABELS[r]).join(' | ')} |`, `| ---: |${present.map(() => ' ---: |').join('')}`];
  for (const s of sizes) lines.push(`| ${s.trainPairs} | ${present.map((r) => { const x = s.rows[r]; return x === undefined ? '-' : `${pts(x.zeroShotTop1, x.sd.zeroShotTop1)} (${x.perSeed.length})`; }).join(' | ')} |`);
  return lines;
}

/** Write report.md, results.json and the plots; returns the lines printed as the summary. */
export async function writeReport(runs: readonly ExperimentRun[], sizes: readonly SizeSummary[], ctx: ReportContext): Promise<string[]> {
  const label = (r: ExperimentRun) => `${r.row}${ctx.seeds.length > 1 ? ` s${r.seed}` : ''}${sizes.length > 1 ? ` n${r.trainPairs}` : ''}`;
  const largest = sizes.at(-1);
  const shown = runs.filter((r) => r.trainPairs === largest?.trainPairs && r.seed === ctx.seeds[0]);
  const curves = await Promise.all(runs.map(async (r) => ({ r, m: await readMetrics(join(r.dir, 'metrics.jsonl')).catch(() => []) })));
  const series = (key: string) => curves.filter(({ r }) => shown.includes(r)).map(({ r, m }) => ({ name: label(r), points: m.map((x) => [x.step, Number(x[key])] as const) }));
  const plots: string[] = [];
  const plot = async (file: string, svg: string) => {
    await writeFile(join(ctx.out, file), svg);
    plots.push(file);
  };
  await plot('compare-loss.svg', lineChart({ title: `total loss (seed ${ctx.seeds[0] ?? 0})`, series: series('loss') }));
  await plot('compare-clip-term.svg', lineChart({ title: `contrastive term (seed ${ctx.seeds[0] ?? 0})`, series: series('clip') }));
  const head = ctx.tasks[0]?.name ?? 'class';
  if (largest !== undefined && ctx.seeds.length > 1) {
    const perSeed = (Object.entries(largest.rows) as [ExperimentRow, NonNullable<SizeSummary['rows'][ExperimentRow]>][]).map(([row, s]) => ({ name: row, points: s.perSeed.map((p) => [p.seed, 100 * p.zeroShotTop1] as const) }));
    await plot('zero-shot-per-seed.svg', lineChart({ title: `${head} zero-shot top-1 (%) per training seed`, series: perSeed, xLabel: 'seed' }));
  }
  if (sizes.length > 1) {
    const curve = ctx.rows.map((row) => ({ name: row, points: sizes.flatMap((s) => { const x = s.rows[row]; return x === undefined ? [] : [[Math.log2(s.trainPairs), 100 * x.zeroShotTop1] as const]; }) }));
    await plot('data-size-curve.svg', lineChart({ title: `${head} zero-shot top-1 (%, mean over seeds) against training pairs`, series: curve, xLabel: 'log2(training pairs)' }));
  }
  const classes = ctx.tasks[0]?.classes.length ?? 1;
  const chance = `Chance: ${head} zero-shot and probe ${pct(1 / classes)} (${classes} classes), retrieval R@1 ${pct(1 / Math.max(1, ctx.retrievalPairs))} (ranked among the first ${ctx.retrievalPairs} of the ${ctx.testPairs} test pairs; zero-shot and probe use all ${ctx.testPairs}).`;
  const eff = dataEfficiency(sizes);
  const comparison = sizes.flatMap((s) => [...comparisonTable(s, ctx), '', ...pairedTable(s, head), '']);
  const md = [
    `# ${ctx.title} report`,
    '',
    ctx.dataLine,
    ctx.setupLine,
    `Training seeds: ${ctx.seeds.join(', ')}. Zero-shot: a class embedding is the mean over its prompts (no label is used); the linear probe is a logistic regression on frozen image embeddings of the training pairs, its L2 penalty chosen on the validation split; "val zero-shot" is the validation split's. Differences are paired by seed; p is the two-sided paired Student t-test.`,
    chance,
    '',
    '## Comparison',
    '',
    ...comparison,
    ...(sizes.length > 1
      ? [
          '## Data-size curve',
          '',
          `${head} zero-shot top-1, % (seeds per cell in brackets).`,
          '',
          ...curveTable(sizes, ctx.rows),
          '',
          ...(eff.length === 0 ? [] : eff.map((e) => `- DeCLIP on ${e.trainPairs} pairs: ${pct(e.declip)}; CLIP on ${2 * e.trainPairs}: ${pct(e.clipOn2x)} (${e.declip >= e.clipOn2x ? 'DeCLIP matches or beats CLIP on twice the data' : 'CLIP on twice the data is ahead'}; difference ${signedPoints(e.test.diff)} points, Welch t-test over ${e.test.na} and ${e.test.nb} seeds: p ${pValue(e.test.p)})`)),
          '',
        ]
      : []),
    '## Runs',
    '',
    `| run | pairs | steps | time | final loss | ${head} zero-shot | top-5 | probe (L2) | i2t R@1 | t2i R@1 |`,
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...runs.map((r) => `| ${ROW_LABELS[r.row]}, seed ${r.seed} | ${r.trainPairs} | ${r.steps}${r.steps < r.plannedSteps ? ` of ${r.plannedSteps} (${r.stopped})` : ''} | ${r.reused ? 'reused' : `${r.seconds.toFixed(0)} s`} | ${curves.find((c) => c.r === r)?.m.at(-1)?.loss.toFixed(3) ?? '-'} | ${pct(r.scores.zeroShotTop1)} | ${pct(r.scores.zeroShotTop5)} | ${pct(r.scores.linearProbe)} (${r.scores.probeL2}) | ${pct(r.scores.i2tR1)} | ${pct(r.scores.t2iR1)} |`),
    '',
    '## Plots',
    '',
    ...plots.map((p) => `![${p}](${p})`),
    '',
    ...runs.map((r) => `- ${label(r)}: \`${relative(ctx.out, join(r.dir, 'metrics.jsonl'))}\`, checkpoint \`${relative(ctx.out, join(r.dir, 'checkpoints'))}\``),
    '',
  ];
  await writeFile(join(ctx.out, 'report.md'), md.join('\n'));
  const results = {
    options: ctx.options,
    summary: jsonSummary(sizes, ctx.seeds),
    runs: runs.map((r) => ({ row: r.row, seed: r.seed, trainPairs: r.trainPairs, steps: r.steps, plannedSteps: r.plannedSteps, stopped: r.stopped, seconds: Math.round(r.seconds), ...r.scores })),
  };
  await writeFile(join(ctx.out, 'results.json'), JSON.stringify(results, null, 1) + '\n');
  return [...comparison, chance, '', `report: ${join(ctx.out, 'report.md')}`];
}
