/** Shared fixtures of the loop/resume tests: a microscopic config and a deterministic in-memory batch stream. */
import type { Test } from 'tap';
import * as tf from '@tensorflow/tfjs-core';
import { deriveSeed, Rng } from '../../core/rng.js';
import type { DeclipBatch } from '../../pipeline/types.js';
import { resolveTrainConfig, type TrainConfig } from '../../trainer/config.js';
import type { BatchSource, StreamStart } from '../../trainer/loop.js';
import { Replica } from '../../trainer/replica.js';

export const MICRO_MODEL = {
  preset: 'tiny',
  embedDim: 16,
  vision: { kind: 'vit', imageSize: 8, patchSize: 4, width: 16, layers: 1, heads: 2 },
  text: { vocabSize: 40, contextLength: 8, width: 16, layers: 1, heads: 2 },
  simsiam: { projector: [16, 16, 16], predictorHidden: 8 },
};

export function microConfig(over: Record<string, unknown> = {}): TrainConfig {
  return resolveTrainConfig({
    model: MICRO_MODEL,
    loss: { queueSize: 32 },
    batch: 4,
    steps: 6,
    seed: 5,
    optimizer: { lr: 1e-3, warmupSteps: 2, clipGradNorm: 1 },
    compute: { threads: 1 }, // the one-thread path; test/trainer/parallel.test.ts covers more
    ...over,
  });
}

/** Batch `index` of a stream, a pure function of (seed, index). `nanAt` poisons some batches. */
export function makeBatch(seed: number, index: number, b = 4, s = 8, l = 8, nanAt: ReadonlySet<number> = new Set()): DeclipBatch {
  const rng = new Rng(deriveSeed(seed, 'batch', index));
  const images1 = Float32Array.from({ length: b * s * s * 3 }, () => rng.normal());
  const images2 = Float32Array.from({ length: b * s * s * 3 }, () => rng.normal());
  if (nanAt.has(index)) images1[0] = Number.NaN;
  const tokens = new Int32Array(b * l);
  const tokensEda = new Int32Array(b * l);
  const tokensMasked = new Int32Array(b * l);
  const mlmLabels = new Int32Array(b * l).fill(-100);
  const eot = new Int32Array(b);
  const eotEda = new Int32Array(b);
  for (let i = 0; i < b; i++) {
    const n = 3 + rng.int(3);
    const words = Array.from({ length: n }, () => 4 + rng.int(36));
    const eda = [...words];
    rng.shuffle(eda);
    tokens[i * l] = 1;
    tokensEda[i * l] = 1;
    words.forEach((w, k) => {
      tokens[i * l + 1 + k] = w;
      tokensEda[i * l + 1 + k] = eda[k] ?? 4;
    });
    tokens[i * l + 1 + n] = 2;
    tokensEda[i * l + 1 + n] = 2;
    eot[i] = 1 + n;
    eotEda[i] = 1 + n;
    tokensMasked.set(tokens.subarray(i * l, (i + 1) * l), i * l);
    const m = 1 + rng.int(n);
    mlmLabels[i * l + m] = tokens[i * l + m] ?? 0;
    tokensMasked[i * l + m] = 3;
  }
  return {
    size: b,
    imageSize: s,
    images1,
    images2,
    contextLength: l,
    tokens,
    tokensEda,
    tokensMasked,
    mlmLabels,
    eot,
    eotEda,
    labels: new Int32Array(b).fill(-1),
    keys: Array.from({ length: b }, (_, i) => `b${index}-${i}`),
    position: { epoch: 0, samplesBefore: index * b, batchIndex: index, resumeFrom: { epoch: 0, skipSamples: (index + 1) * b } },
  };
}

export interface StreamLog {
  opened: StreamStart[];
  closed: number;
  pulled: number;
}

/** An endless deterministic stream opened at a position (`skipSamples` / batch size). */
export function memoryStream(seed: number, log: StreamLog, options: { nanAt?: ReadonlySet<number>; limit?: number } = {}): (start: StreamStart) => BatchSource {
  return (start) => {
    log.opened.push(start);
    let index = start.skipSamples / 4;
    return {
      describe: () => 'memory',
      close: () => {
        log.closed++;
      },
      [Symbol.asyncIterator]() {
        return {
          next: async (): Promise<IteratorResult<DeclipBatch>> => {
            log.pulled++;
            if (options.limit !== undefined && index >= options.limit) return { done: true, value: undefined };
            return { done: false, value: makeBatch(seed, index++, 4, 8, 8, options.nanAt) };
          },
          return: async (): Promise<IteratorResult<DeclipBatch>> => ({ done: true, value: undefined }),
        };
      },
    };
  };
}

type ReplicaState = Awaited<ReturnType<Replica['exportState']>>;

/**
 * A replica takes one step, then a step whose gradient is non-finite while its loss is finite;
 * checks that no trainable weight moved and returns the states before and after that step
 * for the caller's backend-specific checks.
 */
export async function nonFiniteGradientStep(t: Test): Promise<{ before: ReplicaState; after: ReplicaState }> {
  const replica = new Replica(microConfig());
  t.teardown(() => replica.dispose());
  await replica.microStep(makeBatch(5, 0));
  await replica.update(1e-3); // creates the AdamW moments
  // An infinite logit scale: the forward caps exp at 100, so the loss stays finite, while the
  // parameter's gradient (dL/ds * exp(+Inf), as in the official code) is not.
  replica.model.logitScaleVariable.assign(tf.scalar(Infinity));
  const before = await replica.exportState();
  const values = await replica.microStep(makeBatch(5, 1));
  t.ok(Number.isFinite(values.total), `loss ${values.total} is finite`);
  const norm = await replica.update(1e-3);
  t.notOk(Number.isFinite(norm), `gradient norm ${norm}`);
  const after = await replica.exportState();
  for (const { name } of replica.model.trainable()) t.same(after.weights[name]?.data, before.weights[name]?.data, `${name} unchanged`);
  return { before, after };
}
