/**
 * Numerical gradient checking helpers shared by the gradcheck tests.
 */
import type { Test } from 'tap';
import * as tf from '@tensorflow/tfjs-core';
import { Rng } from '../../core/rng.js';
import { declipGradients, declipLosses, disposeInputs, disposeLossOutput } from '../../trainer/declip-step.js';
import { lossPresets, resolveLossConfig } from '../../trainer/losses/config.js';
import { NearestNeighbourQueue } from '../../trainer/losses/nn-queue.js';
import { type DeclipModel, type ModelConfig, createDeclipModel } from '../../trainer/models/index.js';
import { randomInputs } from './models-fixtures.js';

/**
 * Central differences against the analytic gradient for elements of each named parameter:
 * the element with the largest analytic gradient plus `extra` seeded random ones. float32
 * arithmetic: h = 4e-3, tolerance 3e-3 + 3% of the gradient. ReLU kinks (BatchNorm on a
 * batch of 4 makes them likely) break central differences: when an element disagrees, it
 * is re-measured with h/4; if the two central estimates disagree with each other, or the
 * forward and backward one-sided differences at h do (the loss bends within h of the point:
 * two central estimates can still agree by chance across a kink), the element sits on a kink
 * and another random element is drawn instead (at most 4 times per parameter); otherwise
 * the mismatch is real and the check fails.
 */
export function compare(
  t: Test,
  model: DeclipModel,
  loss: () => number,
  grads: Map<string, tf.Tensor>,
  names: readonly string[],
  extra: number,
): void {
  const rng = new Rng(74);
  const h = 4e-3;
  const agree = (x: number, y: number): boolean => Math.abs(x - y) <= 3e-3 + 0.03 * Math.max(Math.abs(x), Math.abs(y));
  for (const name of names) {
    const variable = model.params.get(name);
    const g = grads.get(name);
    if (g === undefined) {
      t.fail(`no gradient for ${name}`);
      continue;
    }
    const analytic = g.dataSync();
    let argmax = 0;
    analytic.forEach((v, i) => {
      if (Math.abs(v) > Math.abs(analytic[argmax] ?? 0)) argmax = i;
    });
    t.ok(Math.abs(analytic[argmax] ?? 0) > 1e-3, `${name} has a non-trivial gradient (${(analytic[argmax] ?? 0).toExponential(3)})`);
    const original = variable.dataSync().slice() as Float32Array;
    const at = (i: number, delta: number): number => {
      const values = original.slice();
      values[i] = (values[i] ?? 0) + delta;
      const v = tf.tensor(values, variable.shape);
      variable.assign(v);
      v.dispose();
      return loss();
    };
    const numeric = (i: number, step: number): number => (at(i, step) - at(i, -step)) / (2 * step);
    /** Forward and backward one-sided differences at h agree (no kink within h). */
    const smooth = (i: number): boolean => {
      const [plus, zero, minus] = [at(i, h), at(i, 0), at(i, -h)];
      return agree((plus - zero) / h, (zero - minus) / h);
    };
    let checked = 0;
    let retries = 0;
    let next = argmax;
    while (checked < 1 + extra) {
      const i = next;
      next = rng.int(analytic.length);
      const a = analytic[i] ?? NaN;
      const n1 = numeric(i, h);
      if (agree(a, n1)) {
        t.pass(`${name}[${i}]: analytic ${a.toExponential(4)} numeric ${n1.toExponential(4)}`);
        checked++;
        continue;
      }
      const n2 = numeric(i, h / 4);
      if ((!agree(n1, n2) || !smooth(i)) && retries < 4) {
        t.comment(`${name}[${i}]: on a kink (numeric ${n1.toExponential(3)} at h, ${n2.toExponential(3)} at h/4, one-sided differences apart): redrawn`);
        retries++;
        continue;
      }
      t.ok(agree(a, n2), `${name}[${i}]: analytic ${a.toExponential(4)} numeric ${n1.toExponential(4)} (h) ${n2.toExponential(4)} (h/4)`);
      checked++;
    }
    const v = tf.tensor(original, variable.shape);
    variable.assign(v);
    v.dispose();
  }
}

/** CLIP + NNS + MLM (training mode): SimSiam is checked separately, see below. */
const noSimSiam = resolveLossConfig({ ...lossPresets.declip, weights: { ...lossPresets.declip.weights, simsiam: 0 } });

export async function towerCheck(t: Test, config: ModelConfig, names: readonly string[], extra: number): Promise<void> {
  const model = createDeclipModel(config, { seed: 71 });
  const queue = new NearestNeighbourQueue({ size: 16, dim: config.embedDim, seed: 72 });
  const inputs = randomInputs(config, 4, 73);
  const loss = (): number => {
    const out = declipLosses(model, inputs, queue, noSimSiam, true);
    const v = out.total.dataSync()[0] ?? Number.NaN; // finite differences on the cpu backend: a sync read
    disposeLossOutput(out);
    return v;
  };
  const { grads } = await declipGradients(model, inputs, queue, noSimSiam, { enqueue: false });
  compare(t, model, loss, grads, names, extra);
  tf.dispose([...grads.values()]);
  disposeInputs(inputs);
  queue.dispose();
  model.dispose();
}

