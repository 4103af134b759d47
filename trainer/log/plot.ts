/**
 * Line charts of training curves as standalone SVG (hand-written: no plotting dependency).
 *
 * @example
 * ```ts
 * const svg = lineChart({ title: 'loss', series: [{ name: 'loss', points: rows.map((r) => [r.step, r.loss]) }] });
 * await writePlots(runDir, rows); // loss.svg, lr.svg, logit-scale.svg, throughput.svg
 * ```
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { StepMetrics } from './metrics.js';

export interface Series {
  readonly name: string;
  readonly points: readonly (readonly [number, number])[];
}

export interface LineChartOptions {
  readonly title: string;
  readonly series: readonly Series[];
  readonly xLabel?: string;
  readonly width?: number;
  readonly height?: number;
}

const COLOURS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f'];

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function fmt(x: number): string {
  if (x === 0) return '0';
  const a = Math.abs(x);
  if (a >= 1e4 || a < 1e-3) return x.toExponential(1);
  return Number(x.toPrecision(3)).toString();
}

/** "Nice" tick values covering [lo, hi]. */
export function ticks(lo: number, hi: number, count = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

/** One SVG line chart with axes, ticks and a legend. Non-finite points are skipped. */
export function lineChart(options: LineChartOptions): string {
  const width = options.width ?? 640;
  const height = options.height ?? 360;
  const m = { l: 64, r: 16, t: 32, b: 44 };
  const pts = options.series.flatMap((s) => s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y)));
  let [x0, x1] = [Math.min(...pts.map((p) => p[0])), Math.max(...pts.map((p) => p[0]))];
  let [y0, y1] = [Math.min(...pts.map((p) => p[1])), Math.max(...pts.map((p) => p[1]))];
  if (pts.length === 0) [x0, x1, y0, y1] = [0, 1, 0, 1];
  if (x1 === x0) [x0, x1] = [x0 - 1, x1 + 1];
  if (y1 === y0) [y0, y1] = [y0 - (Math.abs(y0) || 1) * 0.1, y1 + (Math.abs(y1) || 1) * 0.1];
  const pad = (y1 - y0) * 0.05;
  y0 -= pad;
  y1 += pad;
  const sx = (x: number): number => m.l + ((x - x0) / (x1 - x0)) * (width - m.l - m.r);
  const sy = (y: number): number => height - m.b - ((y - y0) / (y1 - y0)) * (height - m.t - m.b);
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="${width / 2}" y="18" text-anchor="middle" font-size="14">${esc(options.title)}</text>`,
  ];
  for (const v of ticks(y0, y1)) {
    const y = sy(v).toFixed(1);
    out.push(`<line x1="${m.l}" x2="${width - m.r}" y1="${y}" y2="${y}" stroke="#eee"/>`);
    out.push(`<text x="${m.l - 6}" y="${y}" text-anchor="end" dominant-baseline="middle">${fmt(v)}</text>`);
  }
  for (const v of ticks(x0, x1)) {
    const x = sx(v).toFixed(1);
    out.push(`<line x1="${x}" x2="${x}" y1="${m.t}" y2="${height - m.b}" stroke="#f3f3f3"/>`);
    out.push(`<text x="${x}" y="${height - m.b + 16}" text-anchor="middle">${fmt(v)}</text>`);
  }
  out.push(`<rect x="${m.l}" y="${m.t}" width="${width - m.l - m.r}" height="${height - m.t - m.b}" fill="none" stroke="#444"/>`);
  out.push(`<text x="${(m.l + width - m.r) / 2}" y="${height - 8}" text-anchor="middle">${esc(options.xLabel ?? 'step')}</text>`);
  options.series.forEach((s, i) => {
    const colour = COLOURS[i % COLOURS.length] ?? '#000';
    const d = s.points
      .filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y))
      .map(([x, y], k) => `${k === 0 ? 'M' : 'L'}${sx(x).toFixed(1)},${sy(y).toFixed(1)}`)
      .join(' ');
    if (d !== '') out.push(`<path d="${d}" fill="none" stroke="${colour}" stroke-width="1.5"><title>${esc(s.name)}</title></path>`);
    const ly = m.t + 14 + i * 14;
    out.push(`<line x1="${width - m.r - 110}" x2="${width - m.r - 92}" y1="${ly}" y2="${ly}" stroke="${colour}" stroke-width="2"/>`);
    out.push(`<text x="${width - m.r - 88}" y="${ly}" dominant-baseline="middle">${esc(s.name)}</text>`);
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}

function series(rows: readonly StepMetrics[], key: string, name = key): Series {
  return { name, points: rows.map((r) => [r.step, Number(r[key])] as const) };
}

/** The chart files {@link writePlots} writes, by file name. */
export function metricsCharts(rows: readonly StepMetrics[], title = ''): Record<string, string> {
  const prefix = title === '' ? '' : `${title}: `;
  const terms = ['clip', 'nns', 'simsiam', 'mlm'].filter((k) => rows.some((r) => Number(r[k]) !== 0));
  return {
    'loss.svg': lineChart({ title: `${prefix}loss (total and unweighted terms)`, series: [series(rows, 'loss', 'total'), ...terms.map((k) => series(rows, k))] }),
    'lr.svg': lineChart({ title: `${prefix}learning rate`, series: [series(rows, 'lr')] }),
    'logit-scale.svg': lineChart({ title: `${prefix}logit scale exp(s)`, series: [series(rows, 'logitScale')] }),
    'throughput.svg': lineChart({ title: `${prefix}samples/s and data wait (ms)`, series: [series(rows, 'samplesPerSecond', 'samples/s'), series(rows, 'dataWaitMs', 'data wait ms')] }),
  };
}

/** Write loss.svg, lr.svg, logit-scale.svg and throughput.svg into `dir`; returns their paths. */
export async function writePlots(dir: string, rows: readonly StepMetrics[], title = ''): Promise<string[]> {
  const paths: string[] = [];
  for (const [name, svg] of Object.entries(metricsCharts(rows, title))) {
    const p = join(dir, name);
    await writeFile(p, svg);
    paths.push(p);
  }
  return paths;
}
