/**
 * Resume is exact (issue 11): after a stop and a resume, and after a kill that leaves only
 * an older checkpoint on disk, the weights, the AdamW moments and the NN queue are
 * bit-identical to an uninterrupted run's; and a resume with a config that changes the
 * stream or the model is refused, naming every differing field.
 */
import { cp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { ConfigError } from '../../core/errors.js';
import { selectBackend } from '../../trainer/backend/select.js';
import { loadCheckpoint, type LoadedCheckpoint } from '../../trainer/checkpoint/checkpoint.js';
import { ResumeConfigError, resumeConfigDifferences } from '../../trainer/checkpoint/resume.js';
import type { StoredTensor } from '../../trainer/checkpoint/safetensors.js';
import { train } from '../../trainer/loop.js';
import { MICRO_MODEL, memoryStream, microConfig, type StreamLog } from './loop-fixtures.js';

await selectBackend({ backend: 'cpu', log: () => undefined });

const newLog = (): StreamLog => ({ opened: [], closed: 0, pulled: 0 });
const STEPS = 6;

function bytes(t: StoredTensor | Float32Array): Buffer {
  const data = t instanceof Float32Array ? t : t.data;
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

/** Every weight, both moments of every parameter and the NN queue: byte for byte. */
function sameState(t: Test, got: LoadedCheckpoint, want: LoadedCheckpoint): void {
  t.equal(got.state.step, want.state.step);
  t.same(got.state.position, want.state.position);
  const names = Object.keys(want.weights).sort();
  t.same(Object.keys(got.weights).sort(), names);
  const differing = names.filter((n) => !bytes(got.weights[n] as StoredTensor).equals(bytes(want.weights[n] as StoredTensor)));
  t.same(differing, [], `all ${names.length} weight tensors bit-identical`);
  t.equal(got.optimizer?.step, want.optimizer?.step, 'AdamW step');
  const moments = Object.keys(want.optimizer?.moments ?? {}).sort();
  t.ok(moments.length > 0);
  t.same(Object.keys(got.optimizer?.moments ?? {}).sort(), moments);
  const momentDiff = moments.filter((n) => {
    const a = got.optimizer?.moments[n];
    const b = want.optimizer?.moments[n];
    return a === undefined || b === undefined || !bytes(a.m).equals(bytes(b.m)) || !bytes(a.v).equals(bytes(b.v));
  });
  t.same(momentDiff, [], `all ${moments.length} first and second moments bit-identical`);
  const q = (c: LoadedCheckpoint): Buffer => bytes(c.extra['nns.queue'] as StoredTensor);
  t.ok(q(got).equals(q(want)), 'NN queue bit-identical');
  t.equal(got.extra['nns.pointer']?.data[0], want.extra['nns.pointer']?.data[0]);
}

let reference: LoadedCheckpoint | undefined;
async function uninterrupted(t: Test): Promise<LoadedCheckpoint> {
  if (reference !== undefined) return reference;
  const dir = join(t.testdir(), 'uninterrupted');
  await train({ config: microConfig({ steps: STEPS, checkpointEvery: 2, keepCheckpoints: 0 }), runDir: dir, openBatches: memoryStream(9, newLog()), plots: false });
  reference = await loadCheckpoint(dir);
  return reference;
}

t.test('stopped at step 3 and resumed: weights and AdamW moments equal the uninterrupted run bit for bit', async (t) => {
  const want = await uninterrupted(t);
  const runDir = join(t.testdir(), 'stopped');
  const controller = new AbortController();
  const first = await train({
    config: microConfig({ steps: STEPS, checkpointEvery: 2, keepCheckpoints: 0 }),
    runDir,
    openBatches: memoryStream(9, newLog()),
    signal: controller.signal,
    plots: false,
    onStep: (m) => {
      if (m.step === 3) controller.abort();
    },
  });
  t.equal(first.step, 3);
  await train({ config: microConfig({ steps: STEPS, checkpointEvery: 2, keepCheckpoints: 0 }), runDir, openBatches: memoryStream(9, newLog()), resume: true, plots: false });
  sameState(t, await loadCheckpoint(runDir), want);
});

t.test('killed after step 5 with only the step-2 checkpoint on disk: the resumed run ends bit-identical', async (t) => {
  const want = await uninterrupted(t);
  // A kill leaves what was written: copy a finished run and cut it back to its step-2 checkpoint.
  const dir = t.testdir(); // (a second t.testdir() call would empty it)
  const full = join(dir, 'full');
  await train({ config: microConfig({ steps: STEPS, checkpointEvery: 2, keepCheckpoints: 0 }), runDir: full, openBatches: memoryStream(9, newLog()), plots: false });
  const runDir = join(dir, 'run');
  await cp(full, runDir, { recursive: true });
  for (const step of ['step-000004', 'step-000006']) await rm(join(runDir, 'checkpoints', step), { recursive: true });
  await writeFile(join(runDir, 'checkpoints', 'latest'), 'step-000002\n');
  t.equal((await loadCheckpoint(runDir)).state.step, 2);
  const streamLog = newLog();
  await train({ config: microConfig({ steps: STEPS, checkpointEvery: 2, keepCheckpoints: 0 }), runDir, openBatches: memoryStream(9, streamLog), resume: true, plots: false });
  t.same(streamLog.opened, [{ epoch: 0, skipSamples: 8 }]);
  sameState(t, await loadCheckpoint(runDir), want);
});

t.test('--resume refuses a config that changes the stream or the model, naming each field', async (t) => {
  const runDir = t.testdir();
  await train({ config: microConfig({ steps: 2 }), runDir, openBatches: memoryStream(4, newLog()), plots: false });
  const changed = microConfig({
    steps: 4,
    batch: 8,
    seed: 6,
    model: { ...MICRO_MODEL, embedDim: 32 },
    loss: { queueSize: 64 },
    data: { shards: ['other-{0..3}.tar'] },
  });
  const err = await train({ config: changed, runDir, openBatches: memoryStream(4, newLog()), resume: true, plots: false }).catch((e: unknown) => e);
  t.ok(err instanceof ResumeConfigError);
  t.ok(err instanceof ConfigError, 'a ConfigError');
  t.same((err as ResumeConfigError).fields, ['batch', 'seed', 'data.shards', 'model.embedDim', 'loss.queueSize']);
  t.match((err as Error).message, /batch \(4 -> 8\), seed \(5 -> 6\), data\.shards \(\[\] -> \["other-\{0\.\.3\}\.tar"\]\), model\.embedDim \(16 -> 32\), loss\.queueSize \(32 -> 64\)/);

  t.same(resumeConfigDifferences(JSON.parse(JSON.stringify(microConfig({ steps: 2 }))), microConfig({ steps: 9, checkpointEvery: 3, maxNonFinite: 1, optimizer: { lr: 1e-4, warmupSteps: 2, clipGradNorm: 1 } })), [], 'steps, checkpoints, lr may change');
  t.same(
    resumeConfigDifferences(JSON.parse(JSON.stringify(microConfig())), microConfig({ mode: 'clip', data: { augment: 'light', shuffleBuffer: 10 }, optimizer: { accumulate: 2, warmupSteps: 2, clipGradNorm: 1, lr: 1e-3 } })).map((d) => d.field),
    ['optimizer.accumulate', 'data.shuffleBuffer', 'data.augment', 'mode', 'loss.weights.clip', 'loss.weights.nns', 'loss.weights.simsiam', 'loss.weights.mlm', 'loss.imageViews', 'loss.textViews', 'loss.maskedCaptionAsView'],
  );
  const resumed = await train({ config: microConfig({ steps: 3 }), runDir, openBatches: memoryStream(4, newLog()), resume: true, plots: false });
  t.equal(resumed.step, 3, 'the same config with more steps resumes');
});
