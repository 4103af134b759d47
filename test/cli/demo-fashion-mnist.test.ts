import t from 'tap';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { Rng } from '../../core/rng.js';
import { runDemo } from '../../cli/demo.js';
import { fashionMnistPrompts, FASHION_MNIST_CLASSES } from '../../datasets/convert/index.js';
import { MICRO_MODEL } from './micro-model.js';

function capture(): { stream: PassThrough; text: () => string } {
  const stream = new PassThrough();
  let text = '';
  stream.on('data', (d: Buffer) => (text += d.toString()));
  return { stream, text: () => text };
}

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

const TRAIN_CONFIG = {
  model: MICRO_MODEL,
  loss: { queueSize: 16 },
  data: { workers: 1, shuffleBuffer: 16 },
  compute: { threads: 1 },
} as const;

interface Results {
  options: { data?: string; train: number; heldout: number };
  runs: { mode: string; seed: number; steps: number; seconds: number; [metric: string]: unknown }[];
}

t.test('--data fashion-mnist: train split for training, test split held out, class zero-shot and linear probe', async (t) => {
  const root = t.testdir();
  const input = join(root, 'idx');
  await idxFixture(input, 'train', 40, 1);
  await idxFixture(input, 't10k', 30, 2);
  const go = async (out: string, steps: number) => {
    const stdout = capture();
    const stderr = capture();
    const code = await runDemo(
      { data: 'fashion-mnist', input, out, train: 32, heldout: 20, maxCount: 16, seed: 3, steps, batch: 8, trainConfig: TRAIN_CONFIG },
      { stdout: stdout.stream, stderr: stderr.stream },
    );
    return { code, stdout: stdout.text(), stderr: stderr.text() };
  };
  const a = await go(join(root, 'a'), 2);
  t.equal(a.code, 0, a.stderr);
  t.match(a.stdout, /declip demo: Fashion-MNIST from .*idx \(train split for training, test split held out; caption seed 3\)/);
  t.match(a.stdout, /train: .*train-%06d\.tar\n {2}index: {6}32 samples in 2 shards/);
  t.match(a.stdout, /heldout: .*heldout-%06d\.tar\n {2}index: {6}20 samples in 2 shards/);
  // Labels cycle 0..9: the first 32 train images hold 4 of classes 0-1, the first 20 test images 2 of each.
  t.match(a.stdout, `classes:    ${FASHION_MNIST_CLASSES.map((c, i) => `${c} ${i < 2 ? 4 : 3}`).join(', ')}\n`);
  t.match(a.stdout, `classes:    ${FASHION_MNIST_CLASSES.map((c) => `${c} 2`).join(', ')}\n`);
  t.match(a.stdout, /\| over 1 seed \(3\), % \| zero-shot \| linear probe \| i2t R@1 \| t2i R@1 \|/);
  t.match(a.stdout, /chance: zero-shot 10\.0%, R@1 5\.0%/);
  t.same((await readdir(join(root, 'a', 'runs'))).sort(), ['clip', 'declip']);
  const report = await readFile(join(root, 'a', 'report.md'), 'utf8');
  t.match(report, /Fashion-MNIST \(.*caption seed 3\): the first 32 images of the train split as training pairs, the first 20 of the test split held out \(10 classes\)/);
  t.match(report, /\| DeCLIP - CLIP, paired by seed \(seeds where DeCLIP is ahead\) \| [+-]\d+\.\d ± 0\.0 \([01]\/1\) \|/);
  t.notMatch(report, /colour/);
  const results = JSON.parse(await readFile(join(root, 'a', 'results.json'), 'utf8')) as Results;
  t.equal(results.options.data, 'fashion-mnist');
  t.same(results.runs.map((r) => [r.mode, r.seed, r.steps]), [['clip', 3, 2], ['declip', 3, 2]]);
  for (const r of results.runs) {
    t.same(Object.keys(r).slice(4), ['zero-shot', 'linear probe', 'i2t R@1', 't2i R@1']);
    // 20 held-out images: every accuracy is a multiple of 1/20.
    for (const k of ['zero-shot', 'linear probe', 'i2t R@1', 't2i R@1']) {
      const v = r[k] as number;
      t.ok(v >= 0 && v <= 1 && Math.abs(v * 20 - Math.round(v * 20)) < 1e-9, `${r.mode} ${k} = ${v}`);
    }
  }

  // Matching shards are reused; the synthetic shards' index is not taken for Fashion-MNIST ones.
  const c = await go(join(root, 'a'), 0);
  t.equal(c.code, 0, c.stderr);
  t.match(c.stdout, /train: .*\(reused\)/);
  const synth = await runDemo({ out: join(root, 'a'), train: 32, heldout: 20, maxCount: 16, seed: 3, imageSize: 32 }, { stdout: capture().stream, stderr: capture().stream });
  t.equal(synth, 0);
  const d = await go(join(root, 'a'), 0);
  t.notMatch(d.stdout, /\(reused\)/);
});

t.test('--data fashion-mnist rejects more samples than the split holds, and an unknown data set', async (t) => {
  const root = t.testdir();
  const input = join(root, 'idx');
  await idxFixture(input, 'train', 12, 1);
  await idxFixture(input, 't10k', 10, 2);
  const io = { stdout: capture().stream, stderr: capture().stream };
  await t.rejects(runDemo({ data: 'fashion-mnist', input, out: join(root, 'o'), train: 20, heldout: 5 }, io), { name: 'InvalidOptionError', field: '--train' });
  await t.rejects(runDemo({ data: 'fashion-mnist', input, out: join(root, 'o'), train: 12, heldout: 11 }, io), { name: 'InvalidOptionError', field: '--heldout' });
  await t.rejects(runDemo({ data: 'fashion-mnist', input: join(root, 'none'), out: join(root, 'o') }, io), { name: 'SourceDataError' });
  // @ts-expect-error: not a data set of the demo
  await t.rejects(runDemo({ data: 'cifar', out: join(root, 'o') }, io), { name: 'InvalidOptionError', field: 'data' });
});

t.test('fashionMnistPrompts: every caption wording, class-major', async (t) => {
  const prompts = fashionMnistPrompts();
  t.equal(prompts.length, 10);
  t.ok(prompts.every((p) => p.length === 40 && new Set(p).size === 40));
  t.equal(prompts[9]?.[0], 'a photo of an ankle boot');
  t.ok(prompts[1]?.includes('a pair of slacks on a black background'));
});
