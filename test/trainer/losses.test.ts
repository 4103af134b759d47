import t, { type Test } from 'tap';
import * as tf from '@tensorflow/tfjs-core';
import { Rng } from '../../core/rng.js';
import { CheckpointError, InvalidOptionError } from '../../core/errors.js';
import { infoNCE, multiViewInfoNCE } from '../../trainer/losses/infonce.js';
import { simsiamLoss } from '../../trainer/losses/simsiam.js';
import { maskedPositions, mlmLoss } from '../../trainer/losses/mlm.js';
import { nnsLoss } from '../../trainer/losses/nns.js';
import { NearestNeighbourQueue } from '../../trainer/losses/nn-queue.js';
import { lossPresets, resolveLossConfig } from '../../trainer/losses/config.js';
import { f64, normalizeRows, randomMatrix, refCosineMean, refImageToTextCE, refInfoNCE, useCpu } from './models-fixtures.js';


await useCpu();

/** A float32 matrix tensor from float64 values. */
const mat = (x: Float64Array, rows: number, cols: number): tf.Tensor2D => tf.tensor2d(Float32Array.from(x), [rows, cols]);
/** Run `fn` in a tidy scope and read its tensor result as float64. */
const run = (fn: () => tf.Tensor): Float64Array => {
  const out = tf.tidy(fn);
  const v = f64(out);
  out.dispose();
  return v;
};
const scalar = (fn: () => tf.Tensor): number => run(fn)[0] ?? NaN;

// ---- independent references: plain loops over Float64Arrays ----

const close = (t: Test, actual: number, expected: number, tol: number, msg: string): void => {
  t.ok(Math.abs(actual - expected) <= tol * (1 + Math.abs(expected)), `${msg}: ${actual} vs ${expected}`);
};

t.test('infoNCE matches a float64 loop implementation, both directions', async (t) => {
  const rng = new Rng(1);
  const b = 5;
  const d = 7;
  const img = normalizeRows(randomMatrix(rng, b, d), d);
  const txt = normalizeRows(randomMatrix(rng, b, d), d);
  for (const scale of [1, 14.285714, 100]) {
    const got = tf.tidy(() => infoNCE(mat(img, b, d), mat(txt, b, d), scale).dataSync()[0] ?? NaN);
    close(t, got, refInfoNCE(img, txt, b, d, scale), 1e-4, `scale ${scale}`);
  }
  // asymmetric: swapping image and text gives the same symmetric loss
  const swapped = tf.tidy(() => infoNCE(mat(txt, b, d), mat(img, b, d), 10).dataSync()[0] ?? NaN);
  close(t, swapped, refInfoNCE(img, txt, b, d, 10), 1e-4, 'symmetric');
  // perfectly aligned pairs with a large scale give a loss near 0
  const aligned = tf.tidy(() => infoNCE(tf.eye(4) as tf.Tensor2D, tf.eye(4) as tf.Tensor2D, 100).dataSync()[0] ?? NaN);
  t.ok(aligned < 1e-6, `aligned loss ${aligned}`);
});

t.test('MVS is the mean of InfoNCE over the 2x2 image/text view pairs', async (t) => {
  const rng = new Rng(2);
  const b = 4;
  const d = 6;
  const views = Array.from({ length: 4 }, () => normalizeRows(randomMatrix(rng, b, d), d));
  const [i1, i2, t1, t2] = views as [Float64Array, Float64Array, Float64Array, Float64Array];
  const s = 7.5;
  const expected = (refInfoNCE(i1, t1, b, d, s) + refInfoNCE(i2, t1, b, d, s) + refInfoNCE(i1, t2, b, d, s) + refInfoNCE(i2, t2, b, d, s)) / 4;
  const got = tf.tidy(() => {
    const [a, c, e, f] = views.map((v) => mat(v, b, d)) as [tf.Tensor2D, tf.Tensor2D, tf.Tensor2D, tf.Tensor2D];
    return multiViewInfoNCE([a, c], [e, f], tf.scalar(s)).dataSync()[0] ?? NaN;
  });
  close(t, got, expected, 1e-4, 'mvs');
  const single = tf.tidy(() => multiViewInfoNCE([mat(i1, b, d)], [mat(t1, b, d)], s).dataSync()[0] ?? NaN);
  close(t, single, refInfoNCE(i1, t1, b, d, s), 1e-4, 'one view each is plain CLIP');
});

t.test('NNS (official) is the mean image->text CE of every image view against every neighbour set', async (t) => {
  const rng = new Rng(3);
  const b = 4;
  const d = 5;
  const [i1, i2, n1, n2] = Array.from({ length: 4 }, () => normalizeRows(randomMatrix(rng, b, d), d)) as [
    Float64Array,
    Float64Array,
    Float64Array,
    Float64Array,
  ];
  const got = tf.tidy(() =>
    nnsLoss([mat(i1, b, d), mat(i2, b, d)], [mat(n1, b, d), mat(n2, b, d)], 3).dataSync()[0] ?? NaN,
  );
  const ce = (i: Float64Array, n: Float64Array): number => refImageToTextCE(i, n, b, d, 3);
  close(t, got, (ce(i1, n1) + ce(i1, n2) + ce(i2, n1) + ce(i2, n2)) / 4, 1e-4, 'nns: four image->text terms');
  t.not(got, (refInfoNCE(i1, n1, b, d, 3) + refInfoNCE(i2, n2, b, d, 3)) / 2, 'not the symmetric two-pair form');
  const one = tf.tidy(() => nnsLoss([mat(i1, b, d)], [mat(n1, b, d), mat(n2, b, d)], 3).dataSync()[0] ?? NaN);
  close(t, one, (ce(i1, n1) + ce(i1, n2)) / 2, 1e-4, 'one image view: two terms');
  t.throws(() => tf.tidy(() => nnsLoss([mat(i1, b, d)], [], 1)), InvalidOptionError);
  t.throws(() => tf.tidy(() => nnsLoss([], [mat(n1, b, d)], 1)), InvalidOptionError);
});

t.test('SimSiam is -1/2 [cos(p1, z2) + cos(p2, z1)] and stops the gradient through z', async (t) => {
  const rng = new Rng(4);
  const b = 3;
  const d = 6;
  const [p1, p2, z1, z2] = Array.from({ length: 4 }, () => randomMatrix(rng, b, d)) as [Float64Array, Float64Array, Float64Array, Float64Array];
  const expected = -0.5 * (refCosineMean(p1, z2, b, d) + refCosineMean(p2, z1, b, d));
  const tens = (x: Float64Array): tf.Tensor2D => mat(x, b, d);
  const got = tf.tidy(() => simsiamLoss(tens(p1), tens(p2), tens(z1), tens(z2)).dataSync()[0] ?? NaN);
  close(t, got, expected, 1e-5, 'value');
  // identical p and z rows give the minimum -1
  const min = tf.tidy(() => simsiamLoss(tens(p1), tens(p1), tens(p1), tens(p1)).dataSync()[0] ?? NaN);
  close(t, min, -1, 1e-5, 'minimum');
  // gradient: zero w.r.t. z, non-zero w.r.t. p
  const zGrads = tf.tidy(() => {
    const g = tf.grads((a: tf.Tensor, c: tf.Tensor) => simsiamLoss(tens(p1), tens(p2), a as tf.Tensor2D, c as tf.Tensor2D));
    return g([tens(z1), tens(z2)]).map((x) => tf.max(tf.abs(x)).dataSync()[0] ?? NaN);
  });
  t.same(zGrads, [0, 0], 'no gradient reaches z1, z2');
  const pGrad = tf.tidy(() => {
    const g = tf.grad((a: tf.Tensor) => simsiamLoss(a as tf.Tensor2D, tens(p2), tens(z1), tens(z2)));
    return tf.max(tf.abs(g(tens(p1)))).dataSync()[0] ?? 0;
  });
  t.ok(pGrad > 1e-4, 'gradient reaches p1');
});

t.test('MLM cross-entropy on the chosen positions matches a loop; no positions gives 0', async (t) => {
  const labels = Int32Array.from([-100, 5, -100, -100, 2, 7, -100, -100]);
  const { index, targets } = maskedPositions(labels);
  t.same(Array.from(index), [1, 4, 5]);
  t.same(Array.from(targets), [5, 2, 7]);
  const rng = new Rng(5);
  const v = 9;
  const logits = randomMatrix(rng, index.length, v);
  let expected = 0;
  targets.forEach((target, m) => {
    let z = 0;
    for (let j = 0; j < v; j++) z += Math.exp(logits[m * v + j] ?? 0);
    expected += -((logits[m * v + target] ?? 0) - Math.log(z));
  });
  expected /= index.length;
  const got = tf.tidy(() => mlmLoss(mat(logits, index.length, v), tf.tensor1d(targets, 'int32')).dataSync()[0] ?? NaN);
  close(t, got, expected, 1e-5, 'mlm');
  const empty = scalar(() => mlmLoss(tf.zeros([0, v]) as tf.Tensor2D, tf.zeros([0], 'int32') as tf.Tensor1D));
  t.equal(empty, 0);
});

t.test('NearestNeighbourQueue: seeded unit vectors, top-1 cosine lookup, FIFO ring, state round trip', async (t) => {
  const size = 6;
  const dim = 4;
  const q = new NearestNeighbourQueue({ size, dim, seed: 9 });
  t.teardown(() => q.dispose());
  const s0 = q.exportState();
  t.equal(s0.pointer, 0);
  for (let r = 0; r < size; r++) {
    let n = 0;
    for (let j = 0; j < dim; j++) n += (s0.data[r * dim + j] ?? 0) ** 2;
    close(t, n, 1, 1e-5, `row ${r} has unit norm`);
  }
  t.same(new NearestNeighbourQueue({ size, dim, seed: 9 }).exportState().data, s0.data, 'same seed, same queue');
  t.not(new NearestNeighbourQueue({ size, dim, seed: 10 }).exportState().data[0], s0.data[0], 'other seed differs');

  // lookup == brute-force argmax of cosine (queries not normalised: the ranking is the same)
  const rng = new Rng(11);
  const queries = randomMatrix(rng, 5, dim);
  const got = run(() => q.lookup(mat(queries, 5, dim)));
  for (let i = 0; i < 5; i++) {
    let best = -1;
    let bestSim = -Infinity;
    for (let r = 0; r < size; r++) {
      let s = 0;
      for (let j = 0; j < dim; j++) s += (queries[i * dim + j] ?? 0) * (s0.data[r * dim + j] ?? 0);
      if (s > bestSim) [best, bestSim] = [r, s];
    }
    for (let j = 0; j < dim; j++) close(t, got[i * dim + j] ?? NaN, s0.data[best * dim + j] ?? NaN, 1e-6, `query ${i} -> row ${best}`);
  }

  // FIFO: 4 rows then 4 rows wrap around a ring of 6
  const rows = (start: number, n: number): Float32Array => Float32Array.from({ length: n * dim }, (_, k) => start + Math.floor(k / dim));
  q.enqueue(rows(100, 4));
  t.equal(q.pointer, 4);
  const pushed = tf.tensor2d(rows(200, 4), [4, dim]);
  q.enqueue((await pushed.data()) as Float32Array);
  pushed.dispose();
  t.equal(q.pointer, 2);
  const after = q.exportState();
  const firsts = Array.from({ length: size }, (_, r) => after.data[r * dim]);
  t.same(firsts, [202, 203, 102, 103, 200, 201], 'oldest rows overwritten first');
  // the lookup sees the new contents
  const hit = run(() => q.lookup(tf.tensor2d(rows(1, 1), [1, dim])));
  t.equal(hit[0], 203, 'cached tensor invalidated by enqueue');

  const fresh = new NearestNeighbourQueue({ size, dim, seed: 1 });
  fresh.importState(after);
  t.same(fresh.exportState(), after, 'import restores data and pointer');
  t.throws(() => fresh.importState({ ...after, dim: 3 }), CheckpointError);
  t.throws(() => fresh.importState({ ...after, pointer: size }), CheckpointError);
  t.throws(() => fresh.enqueue(new Float32Array(3)), InvalidOptionError);
  fresh.dispose();
  fresh.dispose();
  t.throws(() => fresh.enqueue(rows(1, 1)), /disposed/);
});

t.test('loss configs: presets, validation messages, switching terms off', async (t) => {
  t.same(lossPresets.declip.weights, { clip: 0.4, nns: 0.2, simsiam: 0.2, mlm: 0.2 });
  t.equal(resolveLossConfig('clip').imageViews, 1);
  const noMlm = resolveLossConfig({ ...lossPresets.declip, weights: { ...lossPresets.declip.weights, mlm: 0 } });
  t.equal(noMlm.weights.mlm, 0);
  t.throws(() => resolveLossConfig({ weights: { clip: -1 } }), {
    message: 'Expected number of at least 0 for loss.weights.clip but received -1 of type number',
  });
  t.throws(() => resolveLossConfig({ weights: { simsiam: 1 }, imageViews: 1 }), InvalidOptionError);
  t.throws(() => resolveLossConfig({ weights: { clip: 0 } }), /at least one loss weight/);
  t.throws(() => resolveLossConfig('simclr' as 'clip'), { message: 'Expected one of declip, clip for loss but received "simclr" of type string' });
});
