import t from 'tap';
import { WorkerError, DeclipError } from '../../core/errors.js';
import { selectBackend } from '../../trainer/backend/select.js';
import type { TrainConfig } from '../../trainer/config.js';
import { LocalEngine, resolveThreads } from '../../trainer/engine.js';
import { abortCollective, Collective, createCollectiveBuffers, PeerAbortError } from '../../trainer/parallel/collective.js';
import { liveComputeWorkers, ParallelEngine, sliceRows } from '../../trainer/parallel/engine.js';
import type { MicroStepValues, ReplicaState } from '../../trainer/replica.js';
import { loadCheckpoint } from '../../trainer/checkpoint/checkpoint.js';
import { readMetrics } from '../../trainer/log/metrics.js';
import { train } from '../../trainer/loop.js';
import { makeBatch, memoryStream, MICRO_MODEL, microConfig, type StreamLog } from './loop-fixtures.js';

await selectBackend({ backend: 'wasm', log: () => undefined });

/**
 * The micro DeCLIP model with all four losses. AdamW's eps is 1e-6 rather than 1e-8: some
 * parameters have an exactly zero gradient in exact arithmetic (biases in front of a
 * BatchNorm, attention key biases) and get float noise (~1e-9) instead, which Adam with
 * eps 1e-8 turns into steps of ~0.1 lr with a random sign on any two backends or thread
 * counts; eps 1e-6 keeps the comparison about the gradients.
 */
function config(over: Record<string, unknown> = {}): TrainConfig {
  return microConfig({ batch: 7, steps: 3, seed: 11, optimizer: { lr: 1e-3, eps: 1e-6, clipGradNorm: 1 }, compute: { threads: 2 }, ...over });
}

function maxDiff(a: ReplicaState, b: ReplicaState): number {
  let max = 0;
  for (const [name, w] of Object.entries(a.weights)) {
    const o = b.weights[name];
    if (o === undefined) return Infinity;
    for (let i = 0; i < w.data.length; i++) max = Math.max(max, Math.abs((w.data[i] as number) - (o.data[i] as number)));
  }
  return max;
}

const close = (a: number, b: number, rel = 1e-5): boolean => Math.abs(a - b) <= rel * Math.max(1, Math.abs(a));

t.test('batch slices: contiguous, the first ones one larger', async (t) => {
  t.same(sliceRows(7, 2), [
    { offset: 0, size: 4 },
    { offset: 4, size: 3 },
  ]);
  t.same(sliceRows(8, 3).map((s) => s.size), [3, 3, 2]);
  t.equal(resolveThreads(3, 64), 3);
  t.equal(resolveThreads('auto', 64, 'tensorflow'), 1, 'libtensorflow is multi-threaded itself');
  t.ok(resolveThreads('auto', 1, 'wasm') === 1 && resolveThreads('auto', 64, 'wasm') >= 1);
});

t.test('collectives: a barrier whose peer never comes times out; an abort wakes waiters with a typed error', async (t) => {
  const buffers = createCollectiveBuffers({ world: 2, gatherFloats: 8, reduceFloats: 8, scalars: 2 });
  const c = new Collective(buffers, 0, { timeoutMs: 20 });
  t.throws(() => c.barrier('the test barrier'), new WorkerError('worker 0: the peers did not reach the test barrier within 20 ms'));
  t.throws(() => c.barrier('again'), PeerAbortError, 'a timeout raises the abort flag for everyone');
  const other = createCollectiveBuffers({ world: 2, gatherFloats: 8, reduceFloats: 8, scalars: 2 });
  abortCollective(other, 1);
  const err = (() => {
    try {
      new Collective(other, 0).barrier('the loss exchange');
    } catch (e) {
      return e;
    }
    return undefined;
  })();
  t.ok(err instanceof PeerAbortError && err.failedRank === 1, String(err));
  t.match(String(err), /worker 0: stopped at the loss exchange: worker 1 failed/);
  const solo = new Collective(createCollectiveBuffers({ world: 1, gatherFloats: 4, reduceFloats: 4, scalars: 1 }), 0);
  t.same([...solo.allReduceSum(new Float32Array([1, 2]))], [1, 2]);
  // the sum handed to the consumer is a view of the shared slot, not a copy
  const input = solo.reduceInput(2);
  input.set([3, 4]);
  let seen: Float32Array | undefined;
  solo.allReduceSumInto(input, (sum) => (seen = sum));
  t.same([...(seen ?? [])], [3, 4]);
  t.equal(seen?.buffer, input.buffer);
});

t.test('two workers give the one-thread update on the whole batch; the replicas stay identical', async (t) => {
  const cfg = config();
  const local = new LocalEngine(cfg);
  const par = await ParallelEngine.start({ config: cfg, threads: 2, backend: 'wasm' });
  t.teardown(async () => {
    await par.close();
    await local.close();
  });
  t.equal(par.numParameters, local.numParameters);
  const compare = (a: MicroStepValues, b: MicroStepValues, what: string): void => {
    t.ok(close(a.total, b.total), `${what} total: ${a.total} vs ${b.total}`);
    for (const k of ['clip', 'nns', 'simsiam', 'mlm'] as const) t.ok(close(a.terms[k] ?? NaN, b.terms[k] ?? NaN), `${what} ${k}: ${a.terms[k]} vs ${b.terms[k]}`);
    t.ok(close(a.logitScale, b.logitScale), `${what} logit scale`);
  };
  // steps 1-2: one micro-batch of 7 (slices 4 + 3); step 3: two micro-batches (accumulation)
  const plan = [[0], [1], [2, 3]];
  for (const [s, micro] of plan.entries()) {
    for (const index of micro) compare(await local.microStep(makeBatch(3, index, 7)), await par.microStep(makeBatch(3, index, 7)), `step ${s + 1} batch ${index}`);
    const [na, np] = [await local.update(1e-3), await par.update(1e-3)];
    t.ok(close(na, np), `step ${s + 1} gradient norm ${na} vs ${np}`);
  }
  const [a, b] = [await local.exportState(), await par.exportState()];
  const diff = maxDiff(a, b);
  t.ok(diff < 1e-4, `parameters after 3 steps: max abs diff ${diff}`);
  let queueDiff = 0;
  a.queue?.data.forEach((v, i) => (queueDiff = Math.max(queueDiff, Math.abs(v - (b.queue?.data[i] ?? NaN)))));
  t.ok(queueDiff < 1e-5 && a.queue?.pointer === b.queue?.pointer, `NN queue: same pointer, max diff ${queueDiff}`);
  t.equal(a.optimizer?.step, b.optimizer?.step);
  const digests = await par.digests();
  t.equal(new Set(digests).size, 1, `replica digests ${digests.join(' ')}`);

  // a non-finite batch is not applied anywhere (its forward pass did move the BatchNorm
  // running statistics, on every worker alike, as in one thread: the loop reloads a checkpoint)
  const poisoned = makeBatch(3, 9, 7, 8, 8, new Set([9]));
  const bad = await par.microStep(poisoned);
  t.ok(Number.isNaN(bad.total), 'NaN in one slice makes the whole-batch loss NaN on every worker');
  await par.discard();
  t.equal(new Set(await par.digests()).size, 1, 'the replicas are still identical');

  // state round trip: the one-thread state imported into the workers continues identically
  await par.importState(a, 'one-thread state');
  const after = await par.digests();
  t.equal(new Set(after).size, 1);
  compare(await local.microStep(makeBatch(3, 5, 7)), await par.microStep(makeBatch(3, 5, 7)), 'after import');
  await Promise.all([local.update(1e-3), par.update(1e-3)]);
  t.ok(maxDiff(await local.exportState(), await par.exportState()) < 1e-4);
  // errors inside the workers come back typed, naming the worker
  const broken: ReplicaState = { ...a, weights: { ...a.weights, logit_scale: { dtype: 'F32', shape: [3], data: new Float32Array(3) } } };
  const err = await par.importState(broken, 'bad.safetensors').catch((e: unknown) => e);
  t.ok(err instanceof DeclipError && err.code === 'ERR_DECLIP_CHECKPOINT', String(err));
  t.match(String(err), /compute worker 0: .*logit_scale has shape \[3\]/);
  await t.rejects(par.microStep(makeBatch(3, 0, 8)), { name: 'InvalidOptionError', message: /at most 7 samples/ });
  await t.rejects(par.microStep(makeBatch(3, 0, 1)), { name: 'InvalidOptionError', message: /at least 2 samples/ });
});

t.test('a ResNet tower (BatchNorm per slice) trains with identical replicas; a worker that dies mid-step fails the call, never a hang', async (t) => {
  const before = liveComputeWorkers();
  const cfg = config({
    model: { ...MICRO_MODEL, vision: { kind: 'resnet', imageSize: 32, layers: [1, 1, 1, 1], width: 4, heads: 2 } },
    batch: 6,
  });
  const par = await ParallelEngine.start({ config: cfg, threads: 2, backend: 'wasm' });
  t.teardown(() => par.close());
  t.equal(liveComputeWorkers(), before + 2);
  for (let s = 0; s < 2; s++) {
    const v = await par.microStep(makeBatch(4, s, 6, 32));
    t.ok(Number.isFinite(v.total), `step ${s + 1} loss ${v.total}`);
    await par.update(1e-3);
  }
  t.equal(new Set(await par.digests()).size, 1, 'weights, averaged BatchNorm statistics and moments identical');

  const step = par.microStep(makeBatch(4, 2, 6, 32));
  await par.workers[1]?.terminate();
  const err = await step.catch((e: unknown) => e);
  t.ok(err instanceof WorkerError, String(err));
  t.match(String(err), /compute worker 1/);
  await t.rejects(par.update(1e-3), WorkerError, 'the engine refuses work after a failure');
  await par.close();
  await par.close();
  t.equal(liveComputeWorkers(), before, 'every worker has exited');
});

t.test('train() on 2 compute threads: the one-thread loss curve through a non-finite batch (checkpoint reload) and a stop; no worker left', async (t) => {
  const before = liveComputeWorkers();
  const log = (): StreamLog => ({ opened: [], closed: 0, pulled: 0 });
  const common = { steps: 5, checkpointEvery: 2 };
  const nanAt = new Set([3]);
  const one = await train({ config: microConfig({ ...common, compute: { threads: 1 } }), runDir: t.testdir(), openBatches: memoryStream(6, log(), { nanAt }), plots: false });
  const runDir = t.testdir();
  const controller = new AbortController();
  const lines: string[] = [];
  const two = await train({
    config: microConfig({ ...common, compute: { threads: 2 } }),
    runDir,
    openBatches: memoryStream(6, log(), { nanAt }),
    signal: controller.signal,
    plots: false,
    log: (l) => lines.push(l),
    onStep: (m) => {
      if (m.step === 4) controller.abort();
    },
  });
  t.equal(two.stopped, 'aborted');
  t.equal(two.step, 4);
  t.same(two.skippedBatches, [3]);
  t.equal(liveComputeWorkers(), before, 'the workers are gone after the run');
  t.match(lines.join('\n'), /compute: 2 worker threads on wasm/);
  t.equal((await loadCheckpoint(runDir)).state.step, 4, 'checkpoint (from worker 0) written on the signal');
  const a = await readMetrics(one.metricsPath);
  const b = await readMetrics(two.metricsPath);
  t.same(b.map((r) => r.step), [1, 2, 3, 4]);
  for (let i = 0; i < 4; i++) {
    for (const k of ['loss', 'clip', 'nns', 'simsiam', 'mlm', 'logitScale', 'gradNorm'] as const) {
      t.ok(close(a[i]?.[k] as number, b[i]?.[k] as number, 1e-4), `step ${i + 1} ${k}: ${a[i]?.[k]} vs ${b[i]?.[k]}`);
    }
  }
});
