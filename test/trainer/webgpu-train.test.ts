/**
 * Training runs on the webgpu backend (the longer half of the webgpu tests, see
 * webgpu.test.ts): memory over many steps, the tiny preset's bench against wasm, the
 * rollback of a non-finite step with the next one in flight.
 */
import t from 'tap';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { runTrainBench } from '../../cli/bench-train.js';
import { selectBackend } from '../../trainer/backend/select.js';
import { readMetrics } from '../../trainer/log/metrics.js';
import { train } from '../../trainer/loop.js';
import { Replica } from '../../trainer/replica.js';
import { memoryStream, microConfig, type StreamLog } from './loop-fixtures.js';
import { maxRelDiff, useWebGpu, webGpuReadSynchronously } from './webgpu-fixtures.js';

const newLog = (): StreamLog => ({ opened: [], closed: 0, pulled: 0 });
const quiet = { log: () => undefined };

t.test('training on webgpu: tensor count and GPU memory stay flat over many steps', async (t) => {
  if (!(await useWebGpu(t))) return;
  const steps = 200;
  const counts: number[] = [];
  const bytes: number[] = [];
  const result = await train({
    config: microConfig({ steps, checkpointEvery: 50 }),
    runDir: t.testdir(),
    openBatches: memoryStream(4, newLog()),
    plots: false,
    onStep: () => {
      const m = tf.memory() as tf.MemoryInfo & { numBytesInGPUAllocated?: number };
      counts.push(m.numTensors);
      bytes.push(m.numBytesInGPUAllocated ?? m.numBytes);
    },
  });
  t.equal(result.step, steps);
  // One step may be in flight when a step's metrics are written (its loss values, norm and
  // queue rows being read; a checkpoint drains it): a few tensors up or down, no growth.
  // The next batch's 9 input tensors are staged (uploaded ahead) until the last two steps.
  const levels = [...new Set(counts.slice(1, steps - 2))].sort((a, b) => a - b);
  t.ok((levels.at(-1) ?? 0) - (levels[0] ?? 0) <= 4, `tensor count from step 2 to ${steps - 2} within 4 of its lowest: ${levels.join(', ')}`);
  t.ok(Math.max(...counts.slice(steps - 2)) <= Math.max(...levels), `the last steps no higher: ${counts.slice(steps - 2).join(', ')}`);
  t.ok(Math.max(...counts.slice(steps / 2)) <= Math.max(...counts.slice(1, steps / 2)), 'no growth in the second half');
  const settled = bytes.slice(10);
  t.ok(Math.max(...settled) <= Math.min(...settled) * 1.05 + 1e6, `GPU bytes flat from step 11 on: ${Math.min(...settled)} .. ${Math.max(...settled)}`);
  t.notOk(webGpuReadSynchronously(), 'no GPU buffer was read synchronously');
});

t.test('on webgpu the next batch is uploaded while the steps in flight run: before the older step is read, one batch ahead', async (t) => {
  if (!(await useWebGpu(t))) return;
  const steps = 6;
  const imageShape = [4, 8, 8, 3].join(); // microConfig's batch, makeBatch's image size (memoryStream)
  const proto = Object.getPrototypeOf(tf.backend()) as { uploadToGPU(dataId: object): void };
  const original = proto.uploadToGPU;
  const events: string[] = [];
  proto.uploadToGPU = function (this: { tensorMap: { get(id: object): { resource?: unknown; shape: number[] } | undefined } }, dataId: object): void {
    const data = this.tensorMap.get(dataId);
    if (data !== undefined && data.resource == null && data.shape.join() === imageShape) events.push('upload');
    original.call(this, dataId);
  };
  t.teardown(() => {
    proto.uploadToGPU = original;
  });
  await train({ config: microConfig({ steps }), runDir: t.testdir(), openBatches: memoryStream(4, newLog()), plots: false, onStep: (row) => events.push(`read ${row.step}`) });
  // Each batch uploads two image tensors (the two views). When step j's values are read,
  // step j + 1 is in flight and batch j + 2 is uploaded already (not after the read, and
  // no further ahead). Batch 1 is not staged: its tensors are uploaded at first use, and
  // this micro batch's images (768 values) are under tfjs-backend-webgpu's CPU hand-off
  // size, so its first kernels read them on the host and no upload is seen; batches 2.. are.
  let uploads = 0;
  const seen: string[] = [];
  for (const e of events) {
    if (e === 'upload') uploads++;
    else {
      const j = Number(e.slice('read '.length));
      seen.push(`${e}: ${uploads / 2} batches uploaded`);
      t.equal(uploads / 2, Math.min(j + 2, steps) - 1, `when step ${j} is read, batches 2..${Math.min(j + 2, steps)} are uploaded`);
    }
  }
  t.equal(seen.length, steps, seen.join('; '));
});

t.test('bench train on webgpu (the tiny preset) follows wasm within 2e-3 and reports the adapter', async (t) => {
  const options = { config: 'tiny', batch: 4, steps: 2, threads: 1, seed: 5, log: () => undefined } as const;
  const wasm = await runTrainBench({ ...options, backend: 'wasm' });
  t.equal(wasm.adapter, null, 'no adapter off webgpu');
  if (!(await useWebGpu(t))) return;
  const gpu = await runTrainBench({ ...options, backend: 'webgpu' });
  t.equal(gpu.backend, 'webgpu');
  t.match(gpu.adapter, { vendor: String, description: String, isFallbackAdapter: Boolean });
  t.ok(maxRelDiff(gpu.losses, wasm.losses) <= 2e-3, `losses ${gpu.losses.join(', ')} vs wasm ${wasm.losses.join(', ')}`);
});

t.test('a non-finite batch on webgpu, with the next step already in flight: rolled back, skipped, the same curve as wasm', async (t) => {
  const run = async (backend: 'webgpu' | 'wasm'): Promise<{ losses: number[]; skipped: readonly number[]; opened: StreamLog['opened'] }> => {
    const streamLog = newLog();
    const result = await train({ config: microConfig({ steps: 5, checkpointEvery: 2 }), runDir: join(root, backend), openBatches: memoryStream(3, streamLog, { nanAt: new Set([3]) }), plots: false });
    t.equal(result.step, 5, `${backend}: 5 steps`);
    return { losses: (await readMetrics(result.metricsPath)).map((r) => r.loss), skipped: result.skippedBatches, opened: streamLog.opened };
  };
  const root = t.testdir();
  await selectBackend({ backend: 'wasm', ...quiet });
  const wasm = await run('wasm');
  if (!(await useWebGpu(t))) return;
  const probe = new Replica(microConfig());
  t.equal(probe.deferred, true, 'webgpu issues steps without reading back');
  probe.dispose();
  const gpu = await run('webgpu');
  t.same(gpu.skipped, [3]);
  t.same(gpu.opened, wasm.opened, 're-opened at the same checkpoint as wasm');
  t.ok(gpu.losses.every(Number.isFinite), 'no non-finite row in the metrics');
  t.ok(maxRelDiff(gpu.losses, wasm.losses) <= 2e-3, `losses ${gpu.losses.join(', ')} vs wasm ${wasm.losses.join(', ')}`);
});
