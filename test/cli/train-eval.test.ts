import t from 'tap';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { convertToShards, syntheticSource } from '../../datasets/convert/index.js';
import { selectBackend } from '../../trainer/backend/select.js';
import { resolveTrainConfig } from '../../trainer/config.js';
import { runTraining } from '../../cli/train.js';
import { classNamesFor, readNameList, runLinearProbeCommand, runRetrievalCommand, runZeroShotCommand, type EvalIO } from '../../cli/eval.js';
import { ConfigError } from '../../core/errors.js';
import { MICRO_MODEL } from './micro-model.js';

await selectBackend({ backend: 'cpu', log: () => undefined });
const dir = t.testdir();
await convertToShards(syntheticSource({ count: 24, seed: 4, imageSize: 32 }), { pattern: join(dir, 'train-%06d.tar'), maxCount: 24 });
await convertToShards(syntheticSource({ count: 12, start: 24, seed: 4, imageSize: 32 }), { pattern: join(dir, 'test-%06d.tar'), maxCount: 12 });
const trainShards = join(dir, 'train-000000.tar');
const testShards = join(dir, 'test-000000.tar');
const run = join(dir, 'run');
await runTraining({
  config: resolveTrainConfig({
    model: MICRO_MODEL,
    loss: { queueSize: 32 },
    batch: 8,
    steps: 1,
    data: { shards: [trainShards], workers: 1, shuffleBuffer: 8 },
    compute: { threads: 1 },
  }),
  runDir: run,
});

function io(): EvalIO & { lines: string[] } {
  const lines: string[] = [];
  return { lines, out: (l) => lines.push(l), err: () => undefined };
}

t.test('eval zeroshot --json ends with {top1, top5, n}; classes come from the shard index', async (t) => {
  const o = io();
  const r = await runZeroShotCommand({ checkpoint: run, shards: testShards, json: true, backend: 'cpu', workers: 1 }, o);
  const last = JSON.parse(o.lines.at(-1) ?? '{}') as Record<string, number>;
  t.same(Object.keys(last).sort(), ['n', 'top1', 'top5']);
  t.equal(last.n, 12);
  t.ok((last.top1 ?? -1) >= 0 && (last.top1 ?? 2) <= (last.top5 ?? -1) && (last.top5 ?? 2) <= 1);
  t.same(last, { top1: r.top1, top5: r.top5, n: r.n });
  t.equal((await classNamesFor(testShards)).length, 8);
  const classes = join(dir, 'classes.txt');
  await writeFile(classes, '# shapes\ncircle\nsquare\n\ntriangle\nstar\ncross\ndiamond\nhexagon\nheart\n');
  const templates = join(dir, 'templates.txt');
  await writeFile(templates, 'a drawing of a {}.\n{}\n');
  t.equal((await readNameList(templates, 'templates')).length, 2);
  const o2 = io();
  await runZeroShotCommand({ checkpoint: join(run, 'checkpoints', 'step-000001'), shards: testShards, classes, templates, backend: 'cpu', workers: 1 }, o2);
  t.match(o2.lines.at(-1), /^zero-shot: top-1 [\d.]+%, top-5 [\d.]+% on 12 images, 8 classes, 2 templates$/);
  await t.rejects(classNamesFor(join(dir, 'nowhere-000000.tar')), ConfigError);
});

t.test('eval retrieval --json ends with {i2t, t2i, n}', async (t) => {
  const o = io();
  await runRetrievalCommand({ checkpoint: run, shards: testShards, json: true, backend: 'cpu', workers: 1 }, o);
  const last = JSON.parse(o.lines.at(-1) ?? '{}') as { i2t: Record<string, number>; t2i: Record<string, number>; n: number };
  t.equal(last.n, 12);
  for (const side of [last.i2t, last.t2i]) {
    t.same(Object.keys(side).sort(), ['r1', 'r10', 'r5']);
    t.ok((side.r1 ?? 2) <= (side.r5 ?? -1) && (side.r5 ?? 2) <= (side.r10 ?? -1) && (side.r10 ?? 2) <= 1);
  }
});

t.test('eval linear-probe --json ends with {top1, n}', async (t) => {
  const o = io();
  const r = await runLinearProbeCommand({ checkpoint: run, train: trainShards, test: testShards, json: true, backend: 'cpu', workers: 1 }, o);
  const last = JSON.parse(o.lines.at(-1) ?? '{}') as Record<string, number>;
  t.same(last, { top1: r.top1, n: 12 });
  t.ok(r.top1 >= 0 && r.top1 <= 1 && Number.isInteger(r.top1 * 12), `top1 ${r.top1} is a count over 12 test images`);
});
