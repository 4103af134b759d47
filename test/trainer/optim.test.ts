import t from 'tap';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { AdamW, clampVariable } from '../../trainer/optim/adamw.js';
import { warmupCosine } from '../../trainer/optim/schedule.js';
import { clipByGlobalNorm, globalNorm } from '../../trainer/optim/clip.js';
import { GradientAccumulator } from '../../trainer/optim/accumulate.js';
import type { OptimParam } from '../../trainer/optim/param.js';
import { InvalidOptionError } from '../../core/errors.js';
import { Rng } from '../../core/rng.js';

await tf.setBackend('cpu');

function scalarParam(name: string, value: number, decay: boolean): OptimParam {
  return { name, variable: tf.tidy(() => tf.variable(tf.scalar(value), true, `${name}_${Math.trunc(value * 1e6)}_${decay}`)), decay };
}

t.test('AdamW matches hand-computed updates, decaying only params with decay: true', async (t) => {
  const start = tf.memory().numTensors;
  const w = scalarParam('w', 1, true);
  const b = scalarParam('b', 1, false);
  const opt = new AdamW([w, b], { weightDecay: 0.1 });
  const g1 = { w: tf.scalar(0.5), b: tf.scalar(0.5) };
  opt.step(g1, 0.1);
  // step 1: Adam moves by lr * g/|g|; decay multiplies w by 1 - 0.1*0.1 first.
  t.ok(Math.abs(w.variable.dataSync()[0]! - 0.89) < 1e-6, `w after step 1: ${w.variable.dataSync()[0]}`);
  t.ok(Math.abs(b.variable.dataSync()[0]! - 0.9) < 1e-6, `b after step 1: ${b.variable.dataSync()[0]}`);
  const g2 = { w: tf.scalar(-0.25), b: tf.scalar(-0.25) };
  opt.step(g2, 0.1);
  // m=0.02, v=0.00615, bc1=0.19, bc2=0.0396 -> update 0.1*0.105263/0.394085 = 0.026711
  t.ok(Math.abs(b.variable.dataSync()[0]! - 0.873289) < 1e-5, `b after step 2: ${b.variable.dataSync()[0]}`);
  t.ok(Math.abs(w.variable.dataSync()[0]! - 0.854389) < 1e-5, `w after step 2: ${w.variable.dataSync()[0]}`);
  t.equal(opt.stepCount, 2);
  tf.dispose([...Object.values(g1), ...Object.values(g2)]);
  opt.dispose();
  opt.dispose();
  w.variable.dispose();
  b.variable.dispose();
  t.equal(tf.memory().numTensors, start, 'no tensors left behind');
});

t.test('AdamW decays embeddings only with decayEmbeddings (official DeCLIP), never biases', async (t) => {
  const run = (decayEmbeddings: boolean): number[] => {
    const emb = { ...scalarParam('emb', 1, false), embedding: true };
    const bias = scalarParam('bias', 1, false);
    const opt = new AdamW([emb, bias], { weightDecay: 0.1, decayEmbeddings });
    const g = { emb: tf.scalar(0.5), bias: tf.scalar(0.5) };
    opt.step(g, 0.1);
    const out = [emb.variable.dataSync()[0] ?? NaN, bias.variable.dataSync()[0] ?? NaN];
    tf.dispose([...Object.values(g), emb.variable, bias.variable]);
    opt.dispose();
    return out;
  };
  const [embOff, biasOff] = run(false);
  const [embOn, biasOn] = run(true);
  t.ok(Math.abs((embOff ?? NaN) - 0.9) < 1e-6 && Math.abs((biasOff ?? NaN) - 0.9) < 1e-6, 'off: no decay on either');
  t.ok(Math.abs((embOn ?? NaN) - 0.89) < 1e-6, `on: the embedding decays (${embOn})`);
  t.ok(Math.abs((biasOn ?? NaN) - 0.9) < 1e-6, 'on: the bias still does not');
});

t.test('AdamW agrees with a float64 reference over 20 random steps on a matrix', async (t) => {
  const rng = new Rng(7);
  const init = Array.from({ length: 6 }, () => rng.normal());
  const p: OptimParam = { name: 'm', variable: tf.variable(tf.tensor(init, [2, 3]), true, 'ref_matrix'), decay: true };
  const opt = new AdamW([p], { weightDecay: 0.05, beta1: 0.8, beta2: 0.95, eps: 1e-6 });
  const ref = Float64Array.from(init);
  const m = new Float64Array(6);
  const v = new Float64Array(6);
  for (let step = 1; step <= 20; step++) {
    const g = Array.from({ length: 6 }, () => rng.normal());
    const lr = 0.01 * step;
    const gt = tf.tensor(g, [2, 3]);
    opt.step({ m: gt }, lr);
    gt.dispose();
    for (let i = 0; i < 6; i++) {
      ref[i] = ref[i]! * (1 - lr * 0.05);
      m[i] = 0.8 * m[i]! + 0.2 * g[i]!;
      v[i] = 0.95 * v[i]! + 0.05 * g[i]! * g[i]!;
      ref[i] = ref[i]! - (lr * (m[i]! / (1 - 0.8 ** step))) / (Math.sqrt(v[i]! / (1 - 0.95 ** step)) + 1e-6);
    }
  }
  const got = p.variable.dataSync();
  for (let i = 0; i < 6; i++) t.ok(Math.abs(got[i]! - ref[i]!) < 1e-4, `element ${i}: ${got[i]} vs ${ref[i]}`);
  opt.dispose();
  p.variable.dispose();
});

t.test('AdamW state round-trips: a restored optimizer continues exactly like the original', async (t) => {
  const mk = (tag: string): OptimParam => ({ name: 'x', variable: tf.variable(tf.tensor([1, 2, 3]), true, `x_${tag}`), decay: true });
  const a = mk('a');
  const optA = new AdamW([a]);
  const grads = [tf.tensor([0.1, -0.2, 0.3]), tf.tensor([0.5, 0.1, -0.4]), tf.tensor([-0.3, 0.2, 0.2])];
  optA.step({ x: grads[0]! }, 0.01);
  optA.step({ x: grads[1]! }, 0.01);
  const state = await optA.exportState();
  t.equal(state.step, 2);
  const b = mk('b');
  b.variable.assign(a.variable);
  const optB = new AdamW([b]);
  optB.importState(state);
  optA.step({ x: grads[2]! }, 0.01);
  optB.step({ x: grads[2]! }, 0.01);
  t.same(Array.from(b.variable.dataSync()), Array.from(a.variable.dataSync()));
  t.throws(() => optB.importState({ step: 1, moments: { y: { shape: [3], m: new Float32Array(3), v: new Float32Array(3) } } }), /unknown parameter y/);
  t.throws(() => optB.importState({ step: 1, moments: { x: { shape: [2], m: new Float32Array(2), v: new Float32Array(2) } } }), /has 2 values/);
  tf.dispose(grads);
  optA.dispose();
  optB.dispose();
  a.variable.dispose();
  b.variable.dispose();
});

t.test('AdamW validates its options with the house message', async (t) => {
  t.throws(() => new AdamW([], { beta1: 1.5 }), InvalidOptionError);
  t.throws(() => new AdamW([], { eps: -1 }), /Expected number of at least 0 for eps but received -1 of type number/);
});

t.test('clampVariable keeps the logit scale in range', async (t) => {
  const v = tf.variable(tf.scalar(7), true, 'logit_scale_clamp_test');
  clampVariable(v, 0, Math.log(100));
  t.ok(Math.abs(v.dataSync()[0]! - Math.log(100)) < 1e-6);
  v.assign(tf.scalar(-1));
  clampVariable(v, 0, Math.log(100));
  t.equal(v.dataSync()[0], 0);
  v.dispose();
});

t.test('warm-up + cosine schedule hits its anchor points', async (t) => {
  const lr = warmupCosine({ peakLr: 1e-3, warmupStartLr: 1e-4, warmupSteps: 10, totalSteps: 110, minLr: 1e-5 });
  t.ok(Math.abs(lr(0) - 1e-4) < 1e-12);
  t.ok(Math.abs(lr(5) - 5.5e-4) < 1e-12, 'half-way through warm-up');
  t.ok(Math.abs(lr(10) - 1e-3) < 1e-12, 'peak at the end of warm-up');
  t.ok(Math.abs(lr(60) - (1e-5 + (1e-3 - 1e-5) * 0.5)) < 1e-12, 'half-way through the cosine');
  t.ok(Math.abs(lr(110) - 1e-5) < 1e-12, 'min at the last step');
  t.ok(Math.abs(lr(500) - 1e-5) < 1e-12, 'stays at min after the end');
  for (let s = 11; s < 110; s++) t.ok(lr(s + 1) <= lr(s), `monotone after warm-up at ${s}`);
  const noWarm = warmupCosine({ peakLr: 2, warmupSteps: 0, totalSteps: 4 });
  t.equal(noWarm(0), 2);
  t.ok(Math.abs(noWarm(2) - 1) < 1e-12);
  t.throws(() => warmupCosine({ peakLr: 1, warmupSteps: -1, totalSteps: 4 }), /warmupSteps/);
  t.throws(() => warmupCosine({ peakLr: 1, warmupSteps: 1, totalSteps: 4, minLr: 2 }), /minLr/);
});

t.test('clipByGlobalNorm scales to the max norm and measures the norm', async (t) => {
  const start = tf.memory().numTensors;
  const grads = { a: tf.tensor([3, 0]), b: tf.tensor([[0, 4]]) };
  t.ok(Math.abs((await globalNorm(grads)) - 5) < 1e-6);
  const clipped = await clipByGlobalNorm(grads, 1);
  t.ok(Math.abs(clipped.norm - 5) < 1e-6);
  t.ok(Math.abs(clipped.scale - 0.2) < 1e-6);
  t.ok(Math.abs((await globalNorm(clipped.grads)) - 1) < 1e-5);
  t.same(clipped.grads.b?.shape, [1, 2]);
  const loose = await clipByGlobalNorm(grads, 10);
  t.equal(loose.scale, 1);
  t.same(Array.from(loose.grads.a?.dataSync() ?? []), [3, 0]);
  t.equal(await globalNorm({}), 0);
  tf.dispose([...Object.values(grads), ...Object.values(clipped.grads), ...Object.values(loose.grads)]);
  t.equal(tf.memory().numTensors, start);
});

t.test('GradientAccumulator averages K micro-batches and frees its sums', async (t) => {
  const start = tf.memory().numTensors;
  const acc = new GradientAccumulator(3);
  for (const k of [1, 2, 6]) {
    const g = { w: tf.tensor([k, -k]) };
    acc.add(g);
    tf.dispose(Object.values(g));
  }
  t.ok(acc.ready);
  t.equal(acc.count, 3);
  const mean = acc.mean();
  t.same(Array.from(mean.w?.dataSync() ?? []), [3, -3]);
  tf.dispose(Object.values(mean));
  acc.reset();
  t.notOk(acc.ready);
  acc.dispose();
  t.equal(tf.memory().numTensors, start);
  t.throws(() => new GradientAccumulator(0), /accumulate/);
});
