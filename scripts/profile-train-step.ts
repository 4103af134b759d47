/**
 * Per-kernel profile of one real DeCLIP training step (forward + backward) on a backend:
 * `npx tsx scripts/profile-train-step.ts [wasm|cpu] [tiny|small] [batch] [shapes]`.
 * Prints the kernels by total time (wall, from tf.profile), grouped by name, or by name
 * and input shapes with `shapes`.
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
const step = (): void => {
  const inputs = batchToInputs(randomBatch(rng, batch, preset.vision.imageSize, preset.text.contextLength, preset.text.vocabSize));
  const { grads } = declipGradients(model, inputs, queue, lossPresets.declip);
  for (const g of grads.values()) g.dispose();
  disposeInputs(inputs);
};
step(); // warm-up
const t0 = performance.now();
const info = await tf.profile(step);
const wall = performance.now() - t0;
const totals = new Map<string, { ms: number; n: number }>();
let sum = 0;
for (const k of info.kernels) {
  const key = byShape ? `${k.name} ${k.inputShapes.map((s) => JSON.stringify(s)).join(' ')}` : k.name;
  const ms = typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0;
  const e = totals.get(key) ?? { ms: 0, n: 0 };
  e.ms += ms;
  e.n += 1;
  totals.set(key, e);
  sum += ms;
}
console.log(`${config} batch ${batch} on ${backend}: ${info.kernels.length} kernels, ${sum.toFixed(0)} ms in kernels, ${wall.toFixed(0)} ms wall (profiled)`);
for (const [k, e] of [...totals].sort((a, b) => b[1].ms - a[1].ms).slice(0, Number(process.env.TOP ?? 30))) {
  console.log(`${(e.ms / sum * 100).toFixed(1).padStart(5)}% ${e.ms.toFixed(1).padStart(8)} ms ${String(e.n).padStart(4)}x ${k}`);
}
queue.dispose();
model.dispose();
