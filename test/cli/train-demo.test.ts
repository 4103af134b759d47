import t from 'tap';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { demoExperimentOptions, parseSeedList, runDemo } from '../../cli/demo.js';
import { MICRO_MODEL } from './micro-model.js';
import { capture } from '../capture.js';


const TRAIN_CONFIG = {
  model: MICRO_MODEL,
  loss: { queueSize: 32 },
  data: { workers: 1, shuffleBuffer: 16 },
  compute: { threads: 1 },
} as const;

t.test('the demo makes and reads back the data, trains both rows on the same pairs, evaluates them and writes a report led by the colour task', async (t) => {
  const out = join(t.testdir(), 'demo');
  const stdout = capture();
  const stderr = capture();
  const options = { out, train: 32, heldout: 16, validation: 16, maxCount: 16, seed: 1, imageSize: 32, steps: 2, batch: 8, trainConfig: TRAIN_CONFIG };
  const code = await runDemo(options, { stdout: stdout, stderr: stderr });
  t.equal(code, 0, stderr.text());
  t.match(stdout.text(), /declip demo: built-in synthetic shapes \(seed 1, 32x32 PNG\)/);
  t.match(stdout.text(), /train: .*train-32-%06d\.tar\n {2}index: {6}32 samples in 2 shards/);
  t.match(stdout.text(), /validation: .*\n {2}index: {6}16 samples in 1 shard,/);
  t.match(stdout.text(), /test: .*\n {2}index: {6}16 samples in 1 shard,.*\n.*\n {2}read back: {2}16 samples \(matches the index\)/);
  t.match(stdout.text(), /report: .*report\.md/);
  const report = await readFile(join(out, 'report.md'), 'utf8');
  t.match(report, /\| 32 pairs, % \(mean ± sd over seeds\) \| seeds \| colour zero-shot top-1 \| colour linear probe \| shape zero-shot \| shape probe \| i2t R@1 \| t2i R@1 \| val zero-shot \|/);
  t.match(report, /\| CLIP \| 1 \| \d+\.\d ± 0\.0 \|/);
  t.match(report, /\| DeCLIP \(\+ NNS\) - CLIP \| [+-]\d+\.\d ± 0\.0 \| [01]\/1 \| - \| - \|/);
  t.match(report, /Chance: colour zero-shot and probe 12\.5% \(8 classes\), retrieval R@1 6\.3% \(ranked among the first 16 of the 16 test pairs; zero-shot and probe use all 16\)/);
  const runs = report.slice(report.indexOf('## Runs')).split('\n').filter((l) => /^\| (CLIP|DeCLIP)/.test(l));
  t.equal(runs.length, 2);
  for (const row of runs) {
    const cells = row.split('|').map((c) => c.trim());
    t.match(cells[3], /^2$/, `2 steps: ${row}`);
    t.ok(cells.slice(6, 8).every((c) => /^\d+\.\d%$/.test(c)), `zero-shot cells are percentages: ${row}`);
  }
  t.same((await readdir(join(out, 'runs', '32'))).sort(), ['clip-seed1', 'declip-seed1']);
  const files = await readdir(out);
  t.ok(files.includes('compare-loss.svg') && files.includes('compare-clip-term.svg') && files.includes('results.json'));
  const results = JSON.parse(await readFile(join(out, 'results.json'), 'utf8')) as { runs: { row: string; seed: number; tasks: Record<string, unknown> }[] };
  t.same(results.runs.map((r) => [r.row, r.seed, Object.keys(r.tasks)]), [['clip', 1, ['colour', 'shape']], ['declip', 1, ['colour', 'shape']]]);

  // A second invocation reuses the shards and the scored runs.
  const again = capture();
  const err2 = capture();
  t.equal(await runDemo(options, { stdout: again, stderr: err2 }), 0);
  t.match(again.text(), /train: .*\(reused\)/);
  t.match(err2.text(), /clip, seed 1, 32 pairs: reused/);
  t.notMatch(err2.text(), /training clip/);
});

t.test('several training seeds and an ablation row', async (t) => {
  const out = join(t.testdir(), 'demo');
  const stderr = capture();
  const code = await runDemo(
    { out, train: 16, heldout: 8, validation: 8, maxCount: 16, seed: 1, seeds: [3, 4], modes: ['clip', 'clip+ss'], imageSize: 32, steps: 1, batch: 8, trainConfig: TRAIN_CONFIG },
    { stdout: capture(), stderr: stderr },
  );
  t.equal(code, 0, stderr.text());
  t.same((await readdir(join(out, 'runs', '16'))).sort(), ['clip+ss-seed3', 'clip+ss-seed4', 'clip-seed3', 'clip-seed4']);
  const report = await readFile(join(out, 'report.md'), 'utf8');
  t.match(report, /Training seeds: 3, 4\./);
  t.match(report, /\| CLIP \+ SS \(SimSiam, MLM\) \| 2 \| \d+\.\d ± \d+\.\d \|/);
  t.match(report, /\| CLIP \+ SS \(SimSiam, MLM\) - CLIP \| [+-]\d+\.\d ± \d+\.\d \| [0-2]\/2 \| (-|-?\d+\.\d\d|-?Infinity) \| (-|< 0\.001|\d\.\d\d\d) \|/);
  t.ok((await readdir(out)).includes('zero-shot-per-seed.svg'));
});

t.test('demo options: npm start defaults and validation', async (t) => {
  const o = demoExperimentOptions({ steps: 80 });
  t.same([o.dataset, o.trainPairs, o.test, o.validation, o.probeTrain, o.seeds, o.rows, o.budgetMinutes, o.readBack], ['synthetic', [2000], 500, 500, 1000, [0], ['clip', 'declip'], 11, true]);
  t.equal(demoExperimentOptions({ seeds: [0, 1, 2] }).budgetMinutes, 33);
  // @ts-expect-error: not a data set of the demo
  t.throws(() => demoExperimentOptions({ data: 'cifar' }), { name: 'InvalidOptionError', field: 'data' });
  t.same(parseSeedList('0,1, 2'), [0, 1, 2]);
  t.throws(() => parseSeedList('1,1'), { name: 'InvalidOptionError', field: '--seeds' });
  t.throws(() => parseSeedList('a'), { name: 'InvalidOptionError', field: '--seeds' });
});
