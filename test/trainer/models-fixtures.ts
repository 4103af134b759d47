/**
 * Microscopic model configs and random batches for fast trainer tests on the cpu backend.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { Rng } from '../../core/rng.js';
import { ensureGradients } from '../../trainer/backend/gradients.js';
import type { DeclipInputs } from '../../trainer/declip-step.js';
import { maskedPositions } from '../../trainer/losses/mlm.js';
import { type ModelConfig, resolveModelConfig } from '../../trainer/models/config.js';

/** Select the cpu backend and register gradients (once per test file). */
export async function useCpu(): Promise<void> {
  await tf.setBackend('cpu');
  await ensureGradients();
}

/** A ViT model small enough for gradient checks: image 16, width 16, 1 layer. */
export const microVit: ModelConfig = resolveModelConfig({
  embedDim: 8,
  vision: { kind: 'vit', imageSize: 16, patchSize: 8, width: 16, layers: 1, heads: 2, activation: 'gelu' },
  text: { vocabSize: 24, contextLength: 8, width: 16, layers: 1, heads: 2, activation: 'gelu' },
  simsiam: { projector: [12, 12, 12], predictorHidden: 6 },
  mlmHead: true,
});

/** The same with a ModifiedResNet image tower (image 32, stem width 8, one block per stage). */
export const microResNet: ModelConfig = resolveModelConfig({
  ...microVit,
  vision: { kind: 'resnet', imageSize: 32, layers: [1, 1, 1, 1], width: 8, heads: 2 },
});

/** Random inputs shaped like a pipeline batch: specials [PAD]=0 [SOT]=1 [EOT]=2 [MASK]=3. */
export function randomInputs(config: ModelConfig, batch: number, seed: number): DeclipInputs {
  const rng = new Rng(seed);
  const s = config.vision.imageSize;
  const l = config.text.contextLength;
  const v = config.text.vocabSize;
  const image = (): tf.Tensor4D =>
    tf.tensor4d(Float32Array.from({ length: batch * s * s * 3 }, () => rng.normal()), [batch, s, s, 3]);
  const caption = (): { ids: Int32Array; eot: Int32Array } => {
    const ids = new Int32Array(batch * l);
    const eot = new Int32Array(batch);
    for (let b = 0; b < batch; b++) {
      const e = 2 + rng.int(l - 2);
      eot[b] = e;
      ids[b * l] = 1;
      for (let i = 1; i < e; i++) ids[b * l + i] = 4 + rng.int(v - 4);
      ids[b * l + e] = 2;
    }
    return { ids, eot };
  };
  const cap = caption();
  const eda = caption();
  const masked = cap.ids.slice();
  const labels = new Int32Array(batch * l).fill(-100);
  for (let b = 0; b < batch; b++) {
    const e = cap.eot[b] ?? 1;
    // at least one masked position per caption, so M > 0
    const forced = 1 + rng.int(Math.max(e - 1, 1));
    for (let i = 1; i < e; i++) {
      if (i === forced || rng.next() < 0.15) {
        labels[b * l + i] = cap.ids[b * l + i] ?? 0;
        masked[b * l + i] = 3;
      }
    }
  }
  const { index, targets } = maskedPositions(labels);
  return {
    images1: image(),
    images2: image(),
    tokens: tf.tensor2d(cap.ids, [batch, l], 'int32'),
    tokensEda: tf.tensor2d(eda.ids, [batch, l], 'int32'),
    tokensMasked: tf.tensor2d(masked, [batch, l], 'int32'),
    eot: tf.tensor1d(cap.eot, 'int32'),
    eotEda: tf.tensor1d(eda.eot, 'int32'),
    mlmIndex: tf.tensor1d(index, 'int32'),
    mlmTargets: tf.tensor1d(targets, 'int32'),
  };
}

/** Row-major Float64 copy of a tensor's values. */
export function f64(t: tf.Tensor): Float64Array {
  return Float64Array.from(t.dataSync());
}
