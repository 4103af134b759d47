import t from 'tap';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { selectBackend } from '../../trainer/backend/select.js';
import { train } from '../../trainer/loop.js';
import { readMetrics } from '../../trainer/log/metrics.js';
import { loadCheckpoint } from '../../trainer/checkpoint/checkpoint.js';
import { InvalidOptionError, NonFiniteLossError } from '../../core/errors.js';
import { memoryStream, microConfig, nonFiniteGradientStep, type StreamLog } from './loop-fixtures.js';

await selectBackend({ backend: 'cpu', log: () => undefined });

const newLog = (): StreamLog => ({ opened: [], closed: 0, pulled: 0 });

t.test('trains N steps: one metrics line per step with every term, no tensor leak, plots, final checkpoint', async (t) => {
  const runDir = t.testdir();
  const streamLog = newLog();
  const counts: number[] = [];
  const before = tf.memory().numTensors;
  const result = await train({
    config: microConfig({ steps: 5, checkpointEvery: 2 }),
    runDir,
    openBatches: memoryStream(1, streamLog),
    onStep: () => counts.push(tf.memory().numTensors),
  });
  t.equal(result.step, 5);
  t.equal(result.stopped, 'completed');
  t.equal(tf.memory().numTensors, before, 'everything is disposed at the end');
  t.equal(new Set(counts.slice(1)).size, 1, `tensor count flat from step 2 on: ${counts.join(',')}`);
  const rows = await readMetrics(result.metricsPath);
  t.same(rows.map((r) => r.step), [1, 2, 3, 4, 5]);
  for (const r of rows) {
    for (const k of ['loss', 'clip', 'nns', 'simsiam', 'mlm', 'lr', 'logitScale', 'samplesPerSecond', 'dataWaitMs']) {
      t.ok(Number.isFinite(r[k]), `step ${r.step} ${k} = ${r[k]}`);
    }
    t.ok(Math.abs(r.loss - (0.4 * r.clip + 0.2 * r.nns + 0.2 * r.simsiam + 0.2 * r.mlm)) < 1e-4, 'total = weighted sum of the terms');
  }
  t.ok((rows[0]?.lr ?? 0) < (rows[1]?.lr ?? 0), 'warm-up raises the learning rate');
  t.ok(streamLog.pulled <= 5 + 1, `pulled ${streamLog.pulled} batches for 5 steps: at most one ahead`);
  t.equal(streamLog.closed, 1);
  const ckpts = (await readdir(join(runDir, 'checkpoints'))).filter((n) => n.startsWith('step-'));
  t.same(ckpts, ['step-000002', 'step-000004', 'step-000005']);
  const ck = await loadCheckpoint(runDir);
  t.equal(ck.state.step, 5);
  t.same(ck.state.position, { epoch: 0, skipSamples: 20, samplesConsumed: 20, batchesConsumed: 5 });
  t.ok(ck.extra['nns.queue'] !== undefined && ck.extra['nns.pointer']?.data[0] === (5 * 8) % 32, 'NN queue saved with its pointer');
  t.ok(Object.keys(ck.weights).some((k) => k.endsWith('running_mean')), 'BatchNorm buffers saved');
  t.same(result.plots.map((p) => p.slice(runDir.length + 1)).sort(), ['logit-scale.svg', 'loss.svg', 'lr.svg', 'throughput.svg']);
  t.match(await readFile(join(runDir, 'metrics.jsonl'), 'utf8'), /"event":"start"/);
});

t.test('a run stopped by its signal and resumed follows the uninterrupted loss curve', async (t) => {
  const full = await train({ config: microConfig({ steps: 6 }), runDir: t.testdir(), openBatches: memoryStream(2, newLog()), plots: false });
  const runDir = t.testdir();
  const controller = new AbortController();
  const first = await train({
    config: microConfig({ steps: 6 }),
    runDir,
    openBatches: memoryStream(2, newLog()),
    signal: controller.signal,
    plots: false,
    onStep: (m) => {
      if (m.step === 3) controller.abort();
    },
  });
  t.equal(first.stopped, 'aborted');
  t.equal(first.step, 3);
  t.equal((await loadCheckpoint(runDir)).state.step, 3, 'checkpoint written on the signal');
  await t.rejects(train({ config: microConfig({ steps: 6 }), runDir, openBatches: memoryStream(2, newLog()) }), InvalidOptionError, 'a fresh start refuses a folder with checkpoints');
  const streamLog = newLog();
  const second = await train({ config: microConfig({ steps: 6 }), runDir, openBatches: memoryStream(2, streamLog), resume: true, plots: false });
  t.equal(second.step, 6);
  t.same(streamLog.opened, [{ epoch: 0, skipSamples: 12 }], 'the stream re-opens after the 3 batches consumed');
  const a = await readMetrics(full.metricsPath);
  const b = await readMetrics(join(runDir, 'metrics.jsonl'));
  t.same(b.map((r) => r.step), [1, 2, 3, 4, 5, 6]);
  for (let i = 0; i < 6; i++) {
    for (const k of ['loss', 'clip', 'nns', 'simsiam', 'mlm', 'logitScale', 'lr'] as const) {
      t.ok(Math.abs((a[i]?.[k] as number) - (b[i]?.[k] as number)) < 1e-5, `step ${i + 1} ${k}: ${a[i]?.[k]} vs ${b[i]?.[k]}`);
    }
  }
});

t.test('a non-finite loss reloads the last checkpoint, skips the batch, and goes on', async (t) => {
  const runDir = t.testdir();
  const streamLog = newLog();
  const result = await train({
    config: microConfig({ steps: 5, checkpointEvery: 2 }),
    runDir,
    openBatches: memoryStream(3, streamLog, { nanAt: new Set([3]) }),
    plots: false,
  });
  t.equal(result.step, 5);
  t.same(result.skippedBatches, [3]);
  t.same(streamLog.opened, [{ epoch: 0, skipSamples: 0 }, { epoch: 0, skipSamples: 8 }], 're-opened at the step-2 checkpoint');
  const rows = await readMetrics(result.metricsPath);
  t.same(rows.map((r) => r.step), [1, 2, 3, 4, 5]);
  t.ok(rows.every((r) => Number.isFinite(r.loss)));
  t.match(await readFile(result.metricsPath, 'utf8'), /"event":"non-finite","atStep":4,"batch":3/);
  t.same((await loadCheckpoint(runDir)).state.skippedBatches, [3]);
  t.equal(rows[4]?.samples, 24, '6 batches consumed for 5 steps');
});

t.test('repeated non-finite losses stop the run with NonFiniteLossError', async (t) => {
  const err = await train({
    config: microConfig({ steps: 5, maxNonFinite: 1 }),
    runDir: t.testdir(),
    openBatches: memoryStream(3, newLog(), { nanAt: new Set([1, 2]) }),
    plots: false,
  }).catch((e: unknown) => e);
  t.ok(err instanceof NonFiniteLossError, String(err));
  if (err instanceof NonFiniteLossError) t.equal(err.step, 2);
});

t.test('gradient accumulation takes K batches per step; clip mode logs zero extra terms; short data ends the run', async (t) => {
  const streamLog = newLog();
  const acc = await train({ config: microConfig({ steps: 2, optimizer: { accumulate: 2 } }), runDir: t.testdir(), openBatches: memoryStream(4, streamLog), plots: false });
  t.equal(acc.step, 2);
  t.equal(acc.last?.samples, 16);
  const clip = await train({ config: microConfig({ steps: 2, mode: 'clip' }), runDir: t.testdir(), openBatches: memoryStream(4, newLog()), plots: false });
  t.equal(clip.last?.nns, 0);
  t.equal(clip.last?.mlm, 0);
  t.ok(Math.abs((clip.last?.loss ?? 0) - (clip.last?.clip ?? 1)) < 1e-6);
  const short = await train({ config: microConfig({ steps: 5 }), runDir: t.testdir(), openBatches: memoryStream(4, newLog(), { limit: 2 }), plots: false });
  t.equal(short.stopped, 'end-of-data');
  t.equal(short.step, 2);
  t.equal((await loadCheckpoint(short.checkpoint)).state.step, 2);
});

t.test('a non-finite gradient with a finite loss skips the update: weights and moments untouched', async (t) => {
  const { before, after } = await nonFiniteGradientStep(t);
  t.equal(after.optimizer?.step, before.optimizer?.step, 'no AdamW step');
});

t.test('the non-finite count is stored in checkpoints and survives resume', async (t) => {
  const runDir = t.testdir();
  const first = await train({ config: microConfig({ steps: 3, maxNonFinite: 1 }), runDir, openBatches: memoryStream(3, newLog(), { nanAt: new Set([1]) }), plots: false });
  t.same(first.skippedBatches, [1]);
  t.equal((await loadCheckpoint(runDir)).state.extra?.['nonFinite'], 1, 'the count is in the checkpoint');
  // One more non-finite batch after the resume makes 2 > maxNonFinite = 1: the run stops.
  const err = await train({
    config: microConfig({ steps: 6, maxNonFinite: 1 }),
    runDir,
    openBatches: memoryStream(3, newLog(), { nanAt: new Set([1, 5]) }),
    resume: true,
    plots: false,
  }).catch((e: unknown) => e);
  t.ok(err instanceof NonFiniteLossError, String(err));
});
