import t from 'tap';
import { execFile } from 'node:child_process';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { Rng } from '../../core/rng.js';
import { experimentOptions, parseRows, parseSeeds, parseTrainPairs } from '../../cli/experiment.js';
import { fashionMnistPrompts } from '../../datasets/convert/index.js';
import { readSamples } from '../../datasets/reader/index.js';
import { readShardIndex } from '../../datasets/shard-index.js';
import { MICRO_MODEL } from './micro-model.js';

const run = promisify(execFile);
const BIN = resolve(import.meta.dirname, '../../cli/bin.ts');

/** IDX files of `n` 28x28 images per split: class c is a bright band at rows 2c..2c+7 plus seeded noise. */
async function idxFixture(dir: string, prefix: 'train' | 't10k', n: number, seed: number): Promise<void> {
  const rng = new Rng(seed);
  const head = Buffer.alloc(16);
  head.writeUInt32BE(0x00000803, 0);
  head.writeUInt32BE(n, 4);
  head.writeUInt32BE(28, 8);
  head.writeUInt32BE(28, 12);
  const labels = Array.from({ length: n }, (_, i) => i % 10);
  const images = labels.map((c) => Buffer.from(Array.from({ length: 28 * 28 }, (_, p) => (Math.floor(p / 28) - 2 * c) in [0, 1, 2, 3, 4, 5, 6, 7] ? 200 + rng.int(56) : rng.int(40))));
  const lhead = Buffer.alloc(8);
  lhead.writeUInt32BE(0x00000801, 0);
  lhead.writeUInt32BE(n, 4);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, `${prefix}-images-idx3-ubyte`), Buffer.concat([head, ...images]));
  await writeFile(join(dir, `${prefix}-labels-idx1-ubyte`), Buffer.concat([lhead, Buffer.from(labels)]));
}

async function cli(args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, ['--import=tsx', BIN, ...args], { maxBuffer: 1 << 24 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

async function keysOf(pattern: string): Promise<string[]> {
  const found = await readShardIndex(pattern);
  const keys: string[] = [];
  for await (const s of readSamples({ urls: found?.shardUrls ?? [] })) keys.push(s.__key__);
  return keys;
}

interface Summary {
  rows: Record<string, Record<string, number> & { perSeed: { seed: number; zeroShotTop1: number }[] }>;
  seeds: number[];
  trainPairs: number;
  curve?: { trainPairs: number; rows: Record<string, { zeroShotTop1: number }> }[];
}

t.test('declip experiment on Fashion-MNIST IDX files: --json summary, data-size curve, report, plots, validation carved from train, reuse', async (t) => {
  const root = t.testdir();
  const input = join(root, 'idx');
  await idxFixture(input, 'train', 60, 1);
  await idxFixture(input, 't10k', 30, 2);
  const config = join(root, 'micro.json');
  await writeFile(config, JSON.stringify({ model: MICRO_MODEL, loss: { queueSize: 16 }, data: { workers: 1, shuffleBuffer: 16 }, compute: { threads: 1 } }));
  const out = join(root, 'out');
  const args = ['experiment', '--dataset', 'fashion-mnist', '--input', input, '--rows', 'clip,declip', '--seeds', '2', '--train-pairs', '16,32', '--validation', '10', '--steps', '1', '--batch', '8', '--config', config, '--out', out, '--json'];
  const a = await cli(args);
  t.equal(a.code, 0, a.stderr);
  const lines = a.stdout.trim().split('\n');
  t.equal(lines.length, 1, 'with --json stdout holds only the summary');
  const summary = JSON.parse(lines.at(-1) ?? '{}') as Summary;
  t.same(summary.seeds, [0, 1]);
  t.equal(summary.trainPairs, 32);
  t.same(Object.keys(summary.rows), ['clip', 'declip']);
  for (const [row, s] of Object.entries(summary.rows)) {
    for (const k of ['zeroShotTop1', 'linearProbe', 'zeroShotTop5', 'i2tR1', 't2iR1']) t.ok(s[k] !== undefined && s[k] >= 0 && s[k] <= 1, `${row} ${k} = ${s[k]}`);
    t.same(s.perSeed.map((p) => p.seed), [0, 1]);
    // 30 test images: every accuracy is a multiple of 1/30, and the mean is over the seeds.
    for (const p of s.perSeed) t.ok(Math.abs(p.zeroShotTop1 * 30 - Math.round(p.zeroShotTop1 * 30)) < 1e-9);
    t.ok(Math.abs(s['zeroShotTop1']! - (s.perSeed[0]!.zeroShotTop1 + s.perSeed[1]!.zeroShotTop1) / 2) < 1e-12);
  }
  t.same(summary.curve?.map((c) => [c.trainPairs, Object.keys(c.rows)]), [[16, ['clip', 'declip']], [32, ['clip', 'declip']]]);
  t.same(summary.curve?.[1]?.rows, summary.rows);

  const files = await readdir(out);
  for (const f of ['report.md', 'results.json', 'compare-loss.svg', 'zero-shot-per-seed.svg', 'data-size-curve.svg']) t.ok(files.includes(f), f);
  const report = await readFile(join(out, 'report.md'), 'utf8');
  t.match(report, /the first 16, 32 images of the train split as training pairs, its last 10 images as the validation split, the first 30 test images as the test split/);
  t.match(report, /## Data-size curve/);
  t.match(report, /- DeCLIP on 16 pairs: \d+\.\d%; CLIP on 32: \d+\.\d%/);
  t.match(report, /\| DeCLIP \(\+ NNS\) - CLIP \| [+-]\d+\.\d ± \d+\.\d \| [0-2]\/2 \|/);
  t.match(report, /Chance: class zero-shot and probe 10\.0% \(10 classes\), retrieval R@1 3\.3% \(ranked among the first 30 of the 30 test pairs; zero-shot and probe use all 30\)/);

  // The validation split is the train split's tail, disjoint from every training set; the test split is the t10k file.
  const val = await keysOf(join(out, 'data', 'validation-%06d.tar'));
  t.same(val, Array.from({ length: 10 }, (_, i) => `train-0000${50 + i}`));
  const train = await keysOf(join(out, 'data', 'train-32-%06d.tar'));
  t.same(train, Array.from({ length: 32 }, (_, i) => `train-${String(i).padStart(6, '0')}`));
  t.same((await keysOf(join(out, 'data', 'test-%06d.tar'))).length, 30);

  // Again: every scored run is reused, and the summary is the same.
  const b = await cli(args);
  t.equal(b.code, 0, b.stderr);
  t.equal((b.stderr.match(/: reused .*scores\.json/g) ?? []).length, 8);
  t.same(JSON.parse(b.stdout.trim()), summary);

  // --scored-only trains nothing: a third seed is left out, the two scored ones are reported.
  // Other worker counts and error policies leave the batches alone, so they keep the runs (run-key.ts).
  const plumbing = join(root, 'micro-plumbing.json');
  await writeFile(plumbing, JSON.stringify({ model: MICRO_MODEL, loss: { queueSize: 16 }, data: { workers: 2, prefetch: 3, onError: 'skip', shuffleBuffer: 16 }, compute: { threads: 1, timeoutMs: 60_000 } }));
  const scoredOnly = [...args.filter((x) => x !== '2' && x !== '--seeds').map((x) => (x === config ? plumbing : x)), '--seeds', '3', '--scored-only', '--on-shard-error', 'warn'];
  const c = await cli(scoredOnly);
  t.equal(c.code, 0, c.stderr);
  t.equal((c.stderr.match(/: reused .*scores\.json/g) ?? []).length, 8);
  t.match(c.stderr, /clip, seed 2, 16 pairs: not scored yet \(--scored-only: left out\)/);
  t.notMatch(c.stderr, /training /);
  t.same((JSON.parse(c.stdout.trim()) as Summary).rows['declip']?.perSeed.map((p) => p.seed), [0, 1]);
});

t.test('declip experiment: bad input gets a clear error', async (t) => {
  const root = t.testdir();
  const missing = await cli(['experiment', '--input', join(root, 'none'), '--steps', '1']);
  t.equal(missing.code, 1);
  t.match(missing.stderr, /SourceDataError.*no train-images-idx3-ubyte.*install Debian's dataset-fashion-mnist \(apt-get install dataset-fashion-mnist/);
  const input = join(root, 'idx');
  await idxFixture(input, 'train', 20, 1);
  await idxFixture(input, 't10k', 10, 2);
  const tooMany = await cli(['experiment', '--input', input, '--train-pairs', '15', '--validation', '10', '--steps', '0', '--out', join(root, 'o')]);
  t.equal(tooMany.code, 1);
  t.match(tooMany.stderr, /InvalidOptionError.*at most 10 training pairs \(the last 10 of the 20 train images are the validation split\)/);
  t.throws(() => parseRows('clip,foo'), { name: 'InvalidOptionError', field: '--rows' });
  t.throws(() => parseRows('clip,clip'), { name: 'InvalidOptionError', field: '--rows' });
  t.same(parseRows('clip, clip+ss,clip+ss+mvs,declip,clip-2x'), ['clip', 'clip+ss', 'clip+ss+mvs', 'declip', 'clip-2x']);
  t.equal((await experimentOptions({ onShardError: 'skip' })).onShardError, 'skip', '--on-shard-error reaches the experiment');
  await t.rejects(experimentOptions({ onShardError: 'ignore' }), { name: 'InvalidOptionError', field: '--on-shard-error' });
  t.same(parseSeeds('3'), [0, 1, 2]);
  t.same(parseSeeds('0,3,5'), [0, 3, 5]);
  t.same(parseSeeds('3,'), [3], 'one seed by a trailing comma');
  t.throws(() => parseSeeds('3,,'), { name: 'InvalidOptionError', field: '--seeds' });
  t.throws(() => parseSeeds('0'), { name: 'InvalidOptionError', field: '--seeds' });
  t.throws(() => parseSeeds('1,1'), { name: 'InvalidOptionError', field: '--seeds' });
  t.same(parseTrainPairs('1000,4000'), [1000, 4000]);
  t.throws(() => parseTrainPairs('0'), { name: 'InvalidOptionError', field: '--train-pairs' });
});

t.test('fashionMnistPrompts: every caption wording, class-major', async (t) => {
  const prompts = fashionMnistPrompts();
  t.equal(prompts.length, 10);
  t.ok(prompts.every((p) => p.length === 40 && new Set(p).size === 40));
  t.equal(prompts[9]?.[0], 'a photo of an ankle boot');
  t.ok(prompts[1]?.includes('a pair of slacks on a black background'));
});
