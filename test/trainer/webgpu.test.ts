/**
 * The webgpu backend (Dawn) on whatever adapter the machine has: in CI, Mesa's lavapipe
 * (software Vulkan, see .ci/vulkan-driver). Micro models only: every new kernel shape
 * compiles a shader (0.2-5 s on lavapipe; Mesa caches them on disk).
 */
import t, { type Test } from 'tap';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { BackendError } from '../../core/errors.js';
import { selectBackend } from '../../trainer/backend/select.js';
import { webGpuAdapter, webGpuDevice } from '../../trainer/backend/webgpu.js';
import { loadCheckpoint } from '../../trainer/checkpoint/checkpoint.js';
import { readMetrics } from '../../trainer/log/metrics.js';
import { createEngine } from '../../trainer/engine.js';
import { train } from '../../trainer/loop.js';
import { Replica } from '../../trainer/replica.js';
import { makeBatch, memoryStream, microConfig, nonFiniteGradientStep, type StreamLog } from './loop-fixtures.js';
import { maxRelDiff, useWebGpu, webGpuReadSynchronously } from './webgpu-fixtures.js';

const newLog = (): StreamLog => ({ opened: [], closed: 0, pulled: 0 });
const quiet = { log: () => undefined };

async function use(t: Test, backend: 'webgpu' | 'wasm'): Promise<boolean> {
  if (backend === 'webgpu') return useWebGpu(t);
  await selectBackend({ backend, ...quiet });
  return true;
}

/** Loss and gradient norm of the first `steps` steps of a fresh replica (seeded batches). */
async function firstSteps(steps: number): Promise<{ losses: number[]; norms: number[]; counts: number[] }> {
  const replica = new Replica(microConfig());
  const losses: number[] = [];
  const norms: number[] = [];
  const counts: number[] = [];
  try {
    for (let i = 0; i < steps; i++) {
      losses.push((await replica.microStep(makeBatch(5, i))).total);
      norms.push(await replica.update(1e-3));
      counts.push(tf.memory().numTensors);
    }
  } finally {
    replica.dispose();
  }
  return { losses, norms, counts };
}

t.test('the first training steps on webgpu match wasm (loss and gradient norm), with no synchronous read', async (t) => {
  await selectBackend({ backend: 'wasm', ...quiet });
  const wasm = await firstSteps(3);
  if (!(await useWebGpu(t))) return;
  t.ok(webGpuAdapter() !== undefined, 'the adapter is known');
  const gpu = await firstSteps(3);
  t.ok(maxRelDiff(gpu.losses, wasm.losses) <= 2e-3, `losses ${gpu.losses.join(', ')} vs wasm ${wasm.losses.join(', ')}`);
  t.ok(maxRelDiff(gpu.norms, wasm.norms) <= 2e-3, `gradient norms ${gpu.norms.join(', ')} vs wasm ${wasm.norms.join(', ')}`);
  t.equal(new Set(gpu.counts.slice(1)).size, 1, `tensor count flat after step 1: ${gpu.counts.join(', ')}`);
  t.notOk(webGpuReadSynchronously(), 'no GPU buffer was read synchronously');
});

t.test('more than one compute thread on webgpu is refused with a clear InvalidOptionError', async (t) => {
  if (!(await useWebGpu(t))) return;
  await t.rejects(createEngine(microConfig(), { threads: 2 }), { name: 'InvalidOptionError', message: /webgpu backend trains one replica on the GPU: use --threads 1/ });
});

t.test('AddN over more inputs than the storage-buffer limit is right (it was silently zero)', async (t) => {
  if (!(await useWebGpu(t))) return;
  const xs = Array.from({ length: 82 }, (_, i) => tf.fill([5], i + 1));
  const sum = tf.addN(xs);
  t.same(Array.from(await sum.data()), new Array(5).fill((82 * 83) / 2));
  tf.dispose([...xs, sum]);
});

t.test('a WebGPU validation error fails the step with a BackendError, and the next step works', async (t) => {
  if (!(await useWebGpu(t))) return;
  const replica = new Replica(microConfig());
  t.teardown(() => replica.dispose());
  const device = webGpuDevice() as { createBuffer(d: { size: number; usage: number }): unknown };
  device.createBuffer({ size: 4, usage: 0 }); // usage 0 is invalid: Dawn reports a validation error
  await t.rejects(replica.microStep(makeBatch(5, 0)), BackendError);
  replica.discard();
  t.ok(Number.isFinite((await replica.microStep(makeBatch(5, 1))).total), 'the error was reported once');
  t.ok(Number.isFinite(await replica.update(1e-3)));
});

t.test('a non-finite gradient (finite loss) on webgpu: the masked update leaves weights, moments and logit scale alone', async (t) => {
  if (!(await useWebGpu(t))) return;
  // BatchNorm running statistics move in the forward pass (the loop reloads its checkpoint); parameters must not.
  const { before, after } = await nonFiniteGradientStep(t);
  for (const [name, m] of Object.entries(before.optimizer?.moments ?? {})) {
    t.same(after.optimizer?.moments[name]?.m, m.m, `${name} first moment unchanged`);
    t.same(after.optimizer?.moments[name]?.v, m.v, `${name} second moment unchanged`);
  }
});

t.test('checkpoints are portable: written on webgpu and resumed on wasm, and the other way round', async (t) => {
  // The reference: 4 uninterrupted steps on wasm.
  await selectBackend({ backend: 'wasm', ...quiet });
  const ref = await train({ config: microConfig({ steps: 4 }), runDir: t.testdir(), openBatches: memoryStream(3, newLog()), plots: false });
  const refLosses = (await readMetrics(ref.metricsPath)).map((r) => r.loss);
  const root = t.testdir();
  for (const [first, second] of [
    ['webgpu', 'wasm'],
    ['wasm', 'webgpu'],
  ] as const) {
    const runDir = join(root, first);
    if (!(await use(t, first))) return;
    await train({ config: microConfig({ steps: 2 }), runDir, openBatches: memoryStream(3, newLog()), plots: false });
    t.equal((await loadCheckpoint(runDir)).state.step, 2);
    if (!(await use(t, second))) return;
    const resumed = await train({ config: microConfig({ steps: 4 }), runDir, openBatches: memoryStream(3, newLog()), resume: true, plots: false });
    t.equal(resumed.step, 4);
    const losses = (await readMetrics(resumed.metricsPath)).map((r) => r.loss);
    t.ok(maxRelDiff(losses, refLosses) <= 2e-3, `${first} then ${second}: ${losses.join(', ')} vs wasm ${refLosses.join(', ')}`);
  }
});
