import t from 'tap';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { compareRuns, type DemoRun, meanSd, parseSeedList, runDemo } from '../../cli/demo.js';
import { MICRO_MODEL } from './micro-model.js';

function capture(): { stream: PassThrough; text: () => string } {
  const stream = new PassThrough();
  let text = '';
  stream.on('data', (d: Buffer) => (text += d.toString()));
  return { stream, text: () => text };
}

t.test('the demo trains both modes on the same pairs, evaluates them and writes a report', async (t) => {
  const out = join(t.testdir(), 'demo');
  const stdout = capture();
  const stderr = capture();
  const code = await runDemo(
    {
      out,
      train: 32,
      heldout: 16,
      maxCount: 16,
      seed: 1,
      imageSize: 32,
      steps: 2,
      batch: 8,
      trainConfig: {
        model: MICRO_MODEL,
        loss: { queueSize: 32 },
        data: { workers: 1, shuffleBuffer: 16 },
        compute: { threads: 1 },
      },
    },
    { stdout: stdout.stream, stderr: stderr.stream },
  );
  t.equal(code, 0, stderr.text());
  const report = await readFile(join(out, 'report.md'), 'utf8');
  t.match(report, /\| CLIP baseline \| 2 \|/);
  t.match(report, /\| DeCLIP \| 2 \|/);
  t.match(report, /zero-shot top-1/);
  const files = await readdir(out);
  t.ok(files.includes('compare-loss.svg') && files.includes('compare-clip-term.svg'));
  t.same((await readdir(join(out, 'runs'))).sort(), ['clip', 'declip']);
  t.match(stdout.text(), /report: .*report\.md/);
  t.match(report, /## Comparison\n\n\| over 1 seed \(1\), % \| shape zero-shot \| shape probe \| colour zero-shot \| colour probe \| i2t R@1 \| t2i R@1 \|/);
  t.match(report, /\| DeCLIP - CLIP, paired by seed \(seeds where DeCLIP is ahead\) \| [+-]\d+\.\d ± 0\.0 \([01]\/1\) \|/);
  const runsTable = report.slice(report.indexOf('## Runs'));
  const rows = runsTable.split('\n').filter((l) => l.startsWith('| CLIP') || l.startsWith('| DeCLIP'));
  t.equal(rows.length, 2);
  for (const row of rows) {
    const cells = row.split('|').map((c) => c.trim());
    t.ok(cells.slice(5, 12).every((c) => /^\d+\.\d%$/.test(c)), `every metric is a percentage: ${row}`);
  }
});

t.test('several training seeds: one run per mode and seed, and the mean over seeds', async (t) => {
  const out = join(t.testdir(), 'demo');
  const stdout = capture();
  const stderr = capture();
  const code = await runDemo(
    {
      out,
      train: 16,
      heldout: 8,
      maxCount: 16,
      seed: 1,
      seeds: [3, 4],
      modes: ['clip'],
      imageSize: 32,
      steps: 1,
      batch: 8,
      trainConfig: { model: MICRO_MODEL, loss: { queueSize: 16 }, data: { workers: 1, shuffleBuffer: 8 }, compute: { threads: 1 } },
    },
    { stdout: stdout.stream, stderr: stderr.stream },
  );
  t.equal(code, 0, stderr.text());
  t.same((await readdir(join(out, 'runs'))).sort(), ['clip-seed3', 'clip-seed4']);
  const report = await readFile(join(out, 'report.md'), 'utf8');
  t.match(report, /\| over 2 seeds \(3, 4\), % \|/);
  t.match(report, /\| CLIP baseline \| \d+\.\d ± \d+\.\d \|/);
  t.match(report, /\| CLIP baseline, seed 4 \| 1 \|/);
  const results = JSON.parse(await readFile(join(out, 'results.json'), 'utf8')) as { runs: { mode: string; seed: number }[] };
  t.same(results.runs.map((r) => [r.mode, r.seed]), [['clip', 3], ['clip', 4]]);
});

function fakeRun(mode: DemoRun['mode'], seed: number, top1: number, probe: number): DemoRun {
  return {
    mode,
    seed,
    dir: '',
    steps: 1,
    stopped: 'done',
    seconds: 1,
    metrics: [],
    zeroShot: { top1, top5: 1, n: 10 },
    retrieval: { i2t: { r1: 0.1, r5: 0.5, r10: 1 }, t2i: { r1: 0.2, r5: 0.5, r10: 1 }, n: 10 },
    linearProbe: { top1: probe, n: 10 },
    tasks: { colour: { zeroShot: { top1: 0.8, top5: 1, n: 10 }, linearProbe: { top1: 0.9, n: 10 } } },
  };
}

t.test('compareRuns: mean ± sd per mode and the DeCLIP - CLIP difference paired by seed', async (t) => {
  t.same(meanSd([1, 2, 3]), { mean: 2, sd: 1 });
  t.same(meanSd([0.5]), { mean: 0.5, sd: 0 });
  const lines = compareRuns([
    fakeRun('clip', 0, 0.2, 0.5),
    fakeRun('declip', 0, 0.3, 0.4),
    fakeRun('clip', 1, 0.4, 0.5),
    fakeRun('declip', 1, 0.6, 0.6),
  ]);
  t.equal(lines[0], '| over 2 seeds (0, 1), % | shape zero-shot | shape probe | colour zero-shot | colour probe | i2t R@1 | t2i R@1 |');
  t.equal(lines[2], '| CLIP baseline | 30.0 ± 14.1 | 50.0 ± 0.0 | 80.0 ± 0.0 | 90.0 ± 0.0 | 10.0 ± 0.0 | 20.0 ± 0.0 |');
  t.equal(lines[3], '| DeCLIP | 45.0 ± 21.2 | 50.0 ± 14.1 | 80.0 ± 0.0 | 90.0 ± 0.0 | 10.0 ± 0.0 | 20.0 ± 0.0 |');
  t.equal(lines[4], '| DeCLIP - CLIP, paired by seed (seeds where DeCLIP is ahead) | +15.0 ± 7.1 (2/2) | +0.0 ± 14.1 (1/2) | +0.0 ± 0.0 (0/2) | +0.0 ± 0.0 (0/2) | +0.0 ± 0.0 (0/2) | +0.0 ± 0.0 (0/2) |');
});

t.test('parseSeedList', async (t) => {
  t.same(parseSeedList('0,1, 2'), [0, 1, 2]);
  t.throws(() => parseSeedList('1,1'), { name: 'InvalidOptionError', field: '--seeds' });
  t.throws(() => parseSeedList('a'), { name: 'InvalidOptionError', field: '--seeds' });
});
