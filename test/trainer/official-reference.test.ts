/**
 * DeCLIP's loss against a reference computed outside this project: test/reference/
 * official_losses.py transcribes the official PyTorch code (ClipInfoCELoss, the NNS pairing,
 * SimSiam's D with stop-gradient, MLM cross-entropy, the official weights, the logit-scale
 * cap) and wrote official-losses.json (inputs, every term's value and its gradients with
 * respect to every input). Here the same inputs go through the toolkit's own loss code
 * (`combineLosses`, the function the training step calls, and the model's capped logit
 * scale), and every value and gradient element must agree: |a - b| <= 1e-5 * max(1, |b|).
 */
import { readFileSync } from 'node:fs';
import t from 'tap';
import * as tf from '@tensorflow/tfjs-core';
import { combineLosses } from '../../trainer/declip-step.js';
import { lossPresets } from '../../trainer/losses/config.js';
import { NearestNeighbourQueue } from '../../trainer/losses/nn-queue.js';
import { cappedExp } from '../../trainer/models/declip-model.js';
import { useCpu } from './models-fixtures.js';

await useCpu();

type Matrix = number[][];
interface Term {
  readonly value: number;
  readonly grads: Readonly<Record<string, Matrix | number[] | number>>;
}
interface Case {
  readonly seed: number;
  readonly inputs: Readonly<Record<string, Matrix | number>>;
  readonly queue: Matrix;
  readonly mlmTargets: number[];
  readonly terms: Readonly<Record<'clip' | 'nns' | 'simsiam' | 'mlm' | 'total', Term>>;
}

const fixture = JSON.parse(readFileSync(new URL('../reference/official-losses.json', import.meta.url), 'utf8')) as { cases: Case[] };
const LEAVES = ['f1', 'f2', 't', 'ta', 'p1', 'p2', 'z1', 'z2', 'mlmLogits', 'logitScale'] as const;

const flat = (x: Matrix | number[] | number): number[] => (typeof x === 'number' ? [x] : (x as (number | number[])[]).flat());

t.test('the fixture covers a scale below and above the cap of 100', async (t) => {
  const scales = fixture.cases.map((c) => Math.exp(c.inputs['logitScale'] as number));
  t.ok(scales.some((s) => s < 100) && scales.some((s) => s > 100), `exp(logit scale) = ${scales.map((s) => s.toFixed(1)).join(', ')}`);
});

for (const c of fixture.cases) {
  t.test(`case seed ${c.seed}: every term and gradient equals the official code's`, async (t) => {
    const queue = new NearestNeighbourQueue({ size: c.queue.length, dim: c.queue[0]?.length ?? 0, seed: 0 });
    queue.importState({ size: c.queue.length, dim: c.queue[0]?.length ?? 0, pointer: 0, data: Float32Array.from(c.queue.flat()) });
    const leaves = LEAVES.map((k) => {
      const v = c.inputs[k] as Matrix | number;
      return typeof v === 'number' ? tf.scalar(v) : tf.tensor2d(v);
    });
    const targets = tf.tensor1d(c.mlmTargets, 'int32');
    const termOf = (name: keyof Case['terms']) => (...xs: tf.Tensor[]): tf.Scalar => {
      const [f1, f2, tt, ta, p1, p2, z1, z2, logits, s] = xs as [tf.Tensor2D, tf.Tensor2D, tf.Tensor2D, tf.Tensor2D, tf.Tensor2D, tf.Tensor2D, tf.Tensor2D, tf.Tensor2D, tf.Tensor2D, tf.Scalar];
      const out = combineLosses(
        { images: [f1, f2], texts: [tt, ta], simsiam: { p1, p2, z1, z2 }, mlm: { logits, targets } },
        queue,
        lossPresets.declip,
        cappedExp(s, 100),
      );
      const x = name === 'total' ? out.total : out.terms[name];
      if (x === null) throw new Error(`term ${name} was not computed`);
      // Every leaf takes part in the graph, so tf.grads returns a (possibly zero) gradient for each.
      return tf.add(x, tf.mul(0, tf.addN(xs.map((y) => tf.sum(y))))) as tf.Scalar;
    };
    for (const name of ['clip', 'nns', 'simsiam', 'mlm', 'total'] as const) {
      const want = c.terms[name];
      const { value, grads } = tf.tidy(() => {
        const { value: v, grads: g } = tf.valueAndGrads(termOf(name))(leaves);
        return { value: v.dataSync()[0] ?? NaN, grads: g.map((x) => Array.from(x.dataSync())) };
      });
      t.ok(Math.abs(value - want.value) <= 1e-5 * Math.max(1, Math.abs(want.value)), `${name} = ${value} (official ${want.value})`);
      let worst = 0;
      let where = '';
      let count = 0;
      LEAVES.forEach((leaf, i) => {
        const expected = flat(want.grads[leaf] ?? 0);
        const got = grads[i] ?? [];
        t.equal(got.length, expected.length, `${name}: d/d${leaf} has ${expected.length} elements`);
        expected.forEach((b, j) => {
          const excess = Math.abs((got[j] ?? NaN) - b) / Math.max(1, Math.abs(b));
          if (!(excess <= worst)) [worst, where] = [excess, `d/d${leaf}[${j}]: ${got[j]} vs ${b}`];
          count++;
        });
      });
      t.ok(worst <= 1e-5, `${name}: all ${count} gradient elements within 1e-5 (worst ${worst.toExponential(2)}${where === '' ? '' : ` at ${where}`})`);
    }
    tf.dispose([...leaves, targets]);
    queue.dispose();
  });
}

t.test('the logit-scale parameter starts inside optimizer.logitScaleRange (official: clamped before every step)', async (t) => {
  const { microConfig } = await import('./loop-fixtures.js');
  const { Replica } = await import('../../trainer/replica.js');
  const read = (range: [number, number]): number => {
    const replica = new Replica(microConfig({ optimizer: { lr: 1e-3, logitScaleRange: range } }));
    const v = replica.model.logitScaleVariable.dataSync()[0] ?? NaN;
    replica.dispose();
    return v;
  };
  t.ok(Math.abs(read([3, 6]) - 3) < 1e-6, 'ln(1/0.07) = 2.66 starts at 3 under the paper range');
  t.ok(Math.abs(read([0, Math.log(100)]) - Math.log(1 / 0.07)) < 1e-6, 'the init is kept inside [0, ln 100]');
});
