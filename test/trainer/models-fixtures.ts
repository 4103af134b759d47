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

// ---- independent loss references: plain loops over Float64Arrays ----

export function randomMatrix(rng: Rng, rows: number, cols: number): Float64Array {
  return Float64Array.from({ length: rows * cols }, () => rng.normal());
}

export function normalizeRows(x: Float64Array, cols: number): Float64Array {
  const out = new Float64Array(x.length);
  for (let r = 0; r < x.length / cols; r++) {
    let n = 0;
    for (let j = 0; j < cols; j++) n += (x[r * cols + j] ?? 0) ** 2;
    const inv = 1 / Math.max(Math.sqrt(n), 1e-12);
    for (let j = 0; j < cols; j++) out[r * cols + j] = (x[r * cols + j] ?? 0) * inv;
  }
  return out;
}

/** Symmetric InfoNCE with float64 loops: (CE over rows + CE over columns) / 2. */
export function refInfoNCE(img: Float64Array, txt: Float64Array, b: number, d: number, scale: number): number {
  const [rows, cols] = refDirectionalCE(img, txt, b, d, scale);
  return (rows + cols) / 2;
}

/** Image->text only: CE over the rows of `scale * img txt^T` (one NNS term). */
export function refImageToTextCE(img: Float64Array, txt: Float64Array, b: number, d: number, scale: number): number {
  return refDirectionalCE(img, txt, b, d, scale)[0];
}

/** [CE over rows, CE over columns] of `scale * img txt^T` with diagonal targets, float64. */
function refDirectionalCE(img: Float64Array, txt: Float64Array, b: number, d: number, scale: number): [number, number] {
  const logits: number[][] = [];
  for (let i = 0; i < b; i++) {
    const row: number[] = [];
    for (let j = 0; j < b; j++) {
      let s = 0;
      for (let k = 0; k < d; k++) s += (img[i * d + k] ?? 0) * (txt[j * d + k] ?? 0);
      row.push(scale * s);
    }
    logits.push(row);
  }
  const ce = (get: (i: number, j: number) => number): number => {
    let total = 0;
    for (let i = 0; i < b; i++) {
      let max = -Infinity;
      for (let j = 0; j < b; j++) max = Math.max(max, get(i, j));
      let z = 0;
      for (let j = 0; j < b; j++) z += Math.exp(get(i, j) - max);
      total += -(get(i, i) - max - Math.log(z));
    }
    return total / b;
  };
  const at = (i: number, j: number): number => logits[i]?.[j] ?? NaN;
  return [ce(at), ce((i, j) => at(j, i))];
}

export function refCosineMean(a: Float64Array, c: Float64Array, b: number, d: number): number {
  let total = 0;
  for (let i = 0; i < b; i++) {
    let dot = 0;
    let na = 0;
    let nc = 0;
    for (let k = 0; k < d; k++) {
      const x = a[i * d + k] ?? 0;
      const y = c[i * d + k] ?? 0;
      dot += x * y;
      na += x * x;
      nc += y * y;
    }
    total += dot / (Math.max(Math.sqrt(na), 1e-8) * Math.max(Math.sqrt(nc), 1e-8));
  }
  return total / b;
}

