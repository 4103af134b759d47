import t from 'tap';
import { appendFile, readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { MetricsLog, parseMetrics, readMetrics, type StepMetrics } from '../../trainer/log/metrics.js';
import { lineChart, metricsCharts, ticks, writePlots } from '../../trainer/log/plot.js';
import { createProgress } from '../../trainer/log/progress.js';

function row(step: number, loss: number): StepMetrics {
  return { step, loss, clip: loss, nns: 0, simsiam: 0, mlm: 0, lr: 0.001 * step, logitScale: 14.28, samplesPerSecond: 10, dataWaitMs: 1 };
}

t.test('metrics lines are on disk after each write; later lines for a step win', async (t) => {
  const dir = t.testdir();
  const path = join(dir, 'sub', 'metrics.jsonl');
  const log = MetricsLog.open(path);
  log.write(row(1, 5));
  t.equal((await readFile(path, 'utf8')).split('\n').length, 2, 'flushed synchronously');
  log.write(row(2, 4));
  log.write(row(3, 3));
  log.close();
  log.close();
  t.throws(() => log.write(row(4, 1)), /after close/);
  // A resumed run appends steps 3 and 4 again; a crash had cut a line short before that.
  await appendFile(path, '{"step": 4, "lo');
  await appendFile(path, '\n');
  const resumed = MetricsLog.open(path);
  resumed.write({ event: 'resume', fromStep: 2 });
  resumed.write(row(3, 2.5));
  resumed.write(row(4, 2));
  resumed.close();
  const rows = await readMetrics(path);
  t.same(rows.map((r) => [r.step, r.loss]), [[1, 5], [2, 4], [3, 2.5], [4, 2]]);
  t.same(await readMetrics(join(dir, 'missing.jsonl')), []);
  t.same(parseMetrics('[1]\n"x"\n{"step": 1.5}\n'), []);
});

t.test('ticks are round numbers covering the range', async (t) => {
  t.same(ticks(0, 1), [0, 0.2, 0.4, 0.6, 0.8, 1]);
  t.same(ticks(3, 3), [3]);
  const tk = ticks(-0.013, 0.041);
  t.ok(tk.length >= 3 && tk.every((v, i) => i === 0 || v > (tk[i - 1] ?? -Infinity)));
});

t.test('SVG charts draw one path per series with every finite point', async (t) => {
  const svg = lineChart({ title: 'a <b>', series: [{ name: 's1', points: [[1, 2], [2, NaN], [3, 1]] }, { name: 's2', points: [[1, 5]] }] });
  t.match(svg, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
  t.match(svg, /a &lt;b&gt;/);
  const paths = [...svg.matchAll(/<path d="([^"]+)"/g)].map((m) => m[1] ?? '');
  t.equal(paths.length, 2);
  t.equal(paths[0]?.split(' ').length, 2, 'the NaN point is skipped');
  t.equal((svg.match(/<svg/g) ?? []).length, (svg.match(/<\/svg>/g) ?? []).length);
  const rows = [row(1, 3), row(2, 2), row(3, 1)];
  const charts = metricsCharts(rows, 'run');
  t.same(Object.keys(charts).sort(), ['logit-scale.svg', 'loss.svg', 'lr.svg', 'throughput.svg']);
  t.notMatch(charts['loss.svg'] ?? '', /<title>nns<\/title>/, 'terms that are always 0 are not drawn');
  const dir = t.testdir();
  const written = await writePlots(dir, rows);
  t.equal(written.length, 4);
  t.same((await readdir(dir)).sort(), ['logit-scale.svg', 'loss.svg', 'lr.svg', 'throughput.svg']);
  t.ok(lineChart({ title: 'empty', series: [] }).includes('</svg>'));
});

t.test('the progress bar is silent off a TTY and draws when forced', async (t) => {
  const quiet = createProgress(10, new PassThrough() as unknown as NodeJS.WriteStream);
  quiet.update(1, { loss: 1, samplesPerSecond: 2 });
  quiet.stop();
  const sink = new PassThrough();
  let text = '';
  sink.on('data', (d: Buffer) => (text += d.toString()));
  const bar = createProgress(10, sink as unknown as NodeJS.WriteStream, 0, true);
  bar.update(5, { loss: 1.23456, samplesPerSecond: 7 });
  bar.stop();
  bar.stop();
  t.match(text, /1\.2346/);
});
