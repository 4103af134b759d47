import t from 'tap';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { BackendError, InvalidOptionError } from '../../core/errors.js';
import { Rng } from '../../core/rng.js';
import { randomBatch } from '../../cli/bench-train.js';
import { ensureGradients } from '../../trainer/backend/gradients.js';
import { selectBackend, wasmBinaryDir } from '../../trainer/backend/select.js';
import { batchToInputs, declipGradients, disposeInputs } from '../../trainer/declip-step.js';
import { type LossConfig, lossPresets } from '../../trainer/losses/config.js';
import { NearestNeighbourQueue } from '../../trainer/losses/nn-queue.js';
import { type ModelConfig, modelPresets } from '../../trainer/models/config.js';
import { createDeclipModel } from '../../trainer/models/declip-model.js';
import { AdamW } from '../../trainer/optim/adamw.js';

t.test('auto falls back past the missing tfjs-node packages to wasm and logs why', async (tt) => {
  const lines: string[] = [];
  const chosen = await selectBackend({ log: (l) => lines.push(l) });
  tt.equal(chosen.name, 'wasm');
  tt.equal(tf.getBackend(), 'wasm');
  tt.same(
    chosen.attempts.map((a) => [a.name, a.ok]),
    [
      ['tensorflow-gpu', false],
      ['webgpu', false],
      ['tensorflow', false],
      ['wasm', true],
    ],
  );
  // No GPU here: auto refuses lavapipe (a fallback adapter) or finds no adapter at all.
  tt.match(chosen.attempts[1]?.reason, /fallback \(software\) WebGPU adapter|no WebGPU adapter|could not be loaded/, 'webgpu: hardware adapters only');
  tt.match(chosen.attempts[0]?.reason, /tfjs-node-gpu/, 'the reason names the missing package');
  tt.match(lines.join('\n'), /backend: tensorflow-gpu unavailable/);
  tt.match(lines[lines.length - 1], /^backend: wasm \(skipped tensorflow-gpu: .*; webgpu: .*; tensorflow: .*\)$/);
});

t.test('an explicit backend is used or fails with a typed error', async (tt) => {
  const cpu = await selectBackend({ backend: 'cpu', log: () => {} });
  tt.equal(cpu.name, 'cpu');
  tt.equal(tf.getBackend(), 'cpu');
  await tt.rejects(selectBackend({ backend: 'tensorflow', log: () => {} }), BackendError);
  await tt.rejects(
    selectBackend({ backend: 'gpu' as 'cpu', log: () => {} }),
    new InvalidOptionError('backend', 'Expected one of auto, tensorflow-gpu, webgpu, tensorflow, wasm, cpu for backend but received "gpu" of type string'),
  );
  await tt.rejects(selectBackend({ threads: 0, log: () => {} }), InvalidOptionError);
});

t.test('the wasm binaries are found inside the installed package', async (tt) => {
  tt.ok(existsSync(join(wasmBinaryDir(), 'tfjs-backend-wasm-simd.wasm')));
});

t.test('gradients are registered once (idempotent)', async (tt) => {
  await ensureGradients();
  await ensureGradients();
  tt.ok(tf.getGradient('BatchMatMul'), 'BatchMatMul has a gradient');
  tt.ok(tf.getGradient('GatherV2'), 'GatherV2 has a gradient');
});

const microText = { vocabSize: 40, contextLength: 8, width: 32, layers: 1, heads: 2, activation: 'gelu', projectionBias: false } as const;
const micro = (vision: ModelConfig['vision']): ModelConfig => ({
  ...modelPresets.tiny,
  embedDim: 16,
  vision,
  text: microText,
  simsiam: { projector: [32, 32, 32], predictorHidden: 8 },
});
const microLoss: LossConfig = { ...lossPresets.declip, queueSize: 32 };

/** Losses of the first steps of DeCLIP training (all four terms, AdamW) on one backend. */
async function firstLosses(backend: 'wasm' | 'cpu', config: ModelConfig, steps: number, batch: number): Promise<number[]> {
  await selectBackend({ backend, log: () => {} });
  const model = createDeclipModel(config, { seed: 7 });
  const queue = new NearestNeighbourQueue({ size: microLoss.queueSize, dim: model.embedDim, seed: 8 });
  const optimizer = new AdamW(model.trainable());
  // Batches from seed 11: with seed 9 a pre-ReLU value of the 8-wide SimSiam predictor sits
  // 3e-6 from 0 at step 1 (view 1), so float rounding (LayerNorm fused on wasm, composed on
  // cpu) flips that ReLU, the head's gradients move by ~70% and the curves part at step 2.
  const rng = new Rng(11);
  const losses: number[] = [];
  const before = tf.memory().numTensors;
  let afterFirst = 0;
  for (let s = 0; s < steps; s++) {
    const inputs = batchToInputs(randomBatch(rng, batch, config.vision.imageSize, microText.contextLength, microText.vocabSize));
    const { grads, values } = await declipGradients(model, inputs, queue, microLoss);
    optimizer.step(Object.fromEntries(grads), 1e-3);
    for (const g of grads.values()) g.dispose();
    disposeInputs(inputs);
    losses.push(values.total);
    if (s === 0) afterFirst = tf.memory().numTensors;
  }
  const leaked = tf.memory().numTensors - afterFirst;
  optimizer.dispose();
  queue.dispose();
  model.dispose();
  if (leaked !== 0 || before < 0) throw new Error(`${backend}: ${leaked} tensors leaked per step`);
  return losses;
}

t.test('training on wasm gives the losses of cpu for the first steps (ViT and ResNet towers)', async (tt) => {
  const towers: [string, ModelConfig['vision'], number][] = [
    ['vit', { kind: 'vit', imageSize: 16, patchSize: 8, width: 32, layers: 1, heads: 2, activation: 'gelu' }, 8],
    ['resnet', { kind: 'resnet', imageSize: 32, layers: [1, 1, 1, 1], width: 4, heads: 2 }, 4],
  ];
  for (const [name, vision, batch] of towers) {
    const config = micro(vision);
    const wasm = await firstLosses('wasm', config, 3, batch);
    const cpu = await firstLosses('cpu', config, 3, batch);
    tt.equal(wasm.length, 3);
    for (let i = 0; i < cpu.length; i++) {
      const a = wasm[i] as number;
      const b = cpu[i] as number;
      tt.ok(Number.isFinite(a) && Math.abs(a - b) <= 1e-4 * Math.max(1, Math.abs(b)), `${name} step ${i + 1}: wasm ${a} vs cpu ${b}`);
    }
    tt.not(wasm[0], wasm[2], `${name}: the loss moves (the steps really train)`);
  }
});
