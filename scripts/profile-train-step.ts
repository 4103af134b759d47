/**
 * Per-kernel profile of one real DeCLIP training step (forward + backward) on a backend:
 * `npx tsx scripts/profile-train-step.ts [wasm|cpu] [tiny|small] [batch] [shapes]`.
 * Prints the kernels by total time (wall, from tf.profile), grouped by name, or by name
 * and input shapes with `shapes`. Env: `TOP=n` rows (default 30), `REPEAT=n` steps profiled
 * (each row and the wall time: the minimum over them).
 */
import * as tf from '@tensorflow/tfjs-core';
import { Rng } from '../core/rng.js';
import { randomBatch } from '../cli/bench-train.js';
import { selectBackend } from '../trainer/backend/select.js';
import { batchToInputs, declipGradients, disposeInputs } from '../trainer/declip-step.js';
import { lossPresets } from '../trainer/losses/config.js';
import { NearestNeighbourQueue } from '../trainer/losses/nn-queue.js';
import { modelPresets } from '../trainer/models/config.js';
import { createDeclipModel } from '../trainer/models/declip-model.js';

const backend = process.argv[2] === 'cpu' ? 'cpu' : 'wasm';
const config = process.argv[3] === 'small' ? 'small' : 'tiny';
const batch = Number(process.argv[4] ?? 64);
const byShape = process.argv[5] === 'shapes';
await selectBackend({ backend });
const preset = modelPresets[config];
const model = createDeclipModel(config, { seed: 0 });
const queue = new NearestNeighbourQueue({ size: 4096, dim: model.embedDim, seed: 1 });
const rng = new Rng(2);
const step = async (): Promise<void> => {
  const inputs = batchToInputs(randomBatch(rng, batch, preset.vision.imageSize, preset.text.contextLength, preset.text.vocabSize));
  const { grads } = await declipGradients(model, inputs, queue, lossPresets.declip);
  for (const g of grads.values()) g.dispose();
  disposeInputs(inputs);
};
await step(); // warm-up
// REPEAT=n profiles n steps and keeps, for each row and for the wall time, the smallest of
// the n (robust to a busy machine: preemption only ever adds time).
const repeat = Math.max(1, Number(process.env['REPEAT'] ?? 1));
let totals = new Map<string, { ms: number; n: number }>();
let wall = Infinity;
let kernelCount = 0;
for (let r = 0; r < repeat; r++) {
  const t0 = performance.now();
  const info = await tf.profile(step);
  wall = Math.min(wall, performance.now() - t0);
  kernelCount = info.kernels.length;
  const run = new Map<string, { ms: number; n: number }>();
  for (const k of info.kernels) {
    const key = byShape ? `${k.name} ${k.inputShapes.map((s) => JSON.stringify(s)).join(' ')}` : k.name;
    const ms = typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0;
    const e = run.get(key) ?? { ms: 0, n: 0 };
    e.ms += ms;
    e.n += 1;
    run.set(key, e);
  }
  if (r === 0) totals = run;
  else for (const [key, e] of run) {
    const best = totals.get(key);
    if (best === undefined || e.ms < best.ms) totals.set(key, e);
  }
}
let sum = 0;
for (const e of totals.values()) sum += e.ms;
console.log(`${config} batch ${batch} on ${backend}: ${kernelCount} kernels, ${sum.toFixed(0)} ms in kernels, ${wall.toFixed(0)} ms wall (profiled${repeat > 1 ? `, min of ${repeat}` : ''})`);
for (const [k, e] of [...totals].sort((a, b) => b[1].ms - a[1].ms).slice(0, Number(process.env.TOP ?? 30))) {
  console.log(`${(e.ms / sum * 100).toFixed(1).padStart(5)}% ${e.ms.toFixed(1).padStart(8)} ms ${String(e.n).padStart(4)}x ${k}`);
}
queue.dispose();
model.dispose();
