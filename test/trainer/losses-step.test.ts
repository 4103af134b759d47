import t from 'tap';
import * as tf from '@tensorflow/tfjs-core';
import { InvalidOptionError } from '../../core/errors.js';
import {
  type DeclipInputs,
  declipGradients,
  declipLosses,
  disposeInputs,
  disposeLossOutput,
  readLossValues,
} from '../../trainer/declip-step.js';
import { type LossConfig, lossPresets, resolveLossConfig } from '../../trainer/losses/config.js';
import { NearestNeighbourQueue } from '../../trainer/losses/nn-queue.js';
import { type DeclipModel, createDeclipModel } from '../../trainer/models/index.js';
import { f64, microResNet, microVit, normalizeRows, randomInputs, refCosineMean, refImageToTextCE, refInfoNCE, useCpu } from './models-fixtures.js';

await useCpu();

const B = 4;

/** Float64 copy of a tensor computed in a tidy scope. */
function read(fn: () => tf.Tensor): Float64Array {
  const x = tf.tidy(fn);
  const v = f64(x);
  x.dispose();
  return v;
}

/** Brute-force top-1 cosine neighbours of normalised rows in a queue snapshot. */
function refNeighbours(rows: Float64Array, d: number, queue: Float32Array): Float64Array {
  const n = rows.length / d;
  const size = queue.length / d;
  const out = new Float64Array(rows.length);
  for (let i = 0; i < n; i++) {
    let best = 0;
    let bestSim = -Infinity;
    for (let r = 0; r < size; r++) {
      let s = 0;
      for (let j = 0; j < d; j++) s += (rows[i * d + j] ?? 0) * (queue[r * d + j] ?? 0);
      if (s > bestSim) [best, bestSim] = [r, s];
    }
    for (let j = 0; j < d; j++) out[i * d + j] = queue[best * d + j] ?? 0;
  }
  return out;
}

/** The expected terms, recomputed from the model's embeddings with float64 loops. */
function expectedTerms(model: DeclipModel, inputs: DeclipInputs, queue: NearestNeighbourQueue, config: LossConfig) {
  const d = model.embedDim;
  const scale = Math.min(Math.exp(model.params.get('logit_scale').dataSync()[0] ?? NaN), 100);
  const captionIds = config.weights.mlm > 0 && config.maskedCaptionAsView ? inputs.tokensMasked : inputs.tokens;
  const i1 = normalizeRows(read(() => model.encodeImage(inputs.images1, false)), d);
  const i2 = normalizeRows(read(() => model.encodeImage(inputs.images2, false)), d);
  const t1 = normalizeRows(read(() => model.encodeText(captionIds, inputs.eot).embedding), d);
  const t2 = normalizeRows(read(() => model.encodeText(inputs.tokensEda, inputs.eotEda).embedding), d);
  const clip = (refInfoNCE(i1, t1, B, d, scale) + refInfoNCE(i2, t1, B, d, scale) + refInfoNCE(i1, t2, B, d, scale) + refInfoNCE(i2, t2, B, d, scale)) / 4;
  const q = queue.exportState().data;
  const [n1, n2] = [refNeighbours(t1, d, q), refNeighbours(t2, d, q)];
  const ce = (i: Float64Array, n: Float64Array): number => refImageToTextCE(i, n, B, d, scale);
  const nns = (ce(i1, n1) + ce(i1, n2) + ce(i2, n1) + ce(i2, n2)) / 4;
  const f1 = read(() => model.encodeImage(inputs.images1, false));
  const f2 = read(() => model.encodeImage(inputs.images2, false));
  const z = (f: Float64Array): Float64Array => read(() => model.project(tf.tensor2d(Float32Array.from(f), [B, d]), false));
  const p = (zz: Float64Array): Float64Array => read(() => model.predict(tf.tensor2d(Float32Array.from(zz), [B, zz.length / B]), false));
  const z1 = z(f1);
  const z2 = z(f2);
  const pd = z1.length / B;
  const simsiam = -0.5 * (refCosineMean(p(z1), z2, B, pd) + refCosineMean(p(z2), z1, B, pd));
  const logits = read(() => model.mlmLogits(model.encodeText(inputs.tokensMasked, inputs.eot).tokens, inputs.mlmIndex));
  const targets = inputs.mlmTargets.dataSync();
  const v = model.config.text.vocabSize;
  let mlm = 0;
  targets.forEach((target, m) => {
    let max = -Infinity;
    for (let j = 0; j < v; j++) max = Math.max(max, logits[m * v + j] ?? 0);
    let zs = 0;
    for (let j = 0; j < v; j++) zs += Math.exp((logits[m * v + j] ?? 0) - max);
    mlm += -((logits[m * v + target] ?? 0) - max - Math.log(zs));
  });
  mlm /= targets.length;
  return { clip, nns, simsiam, mlm, t1, t2 };
}

t.test('declipLosses: every term and the weighted total match a float64 recomputation', async (t) => {
  for (const config of [microVit, microResNet]) {
    const model = createDeclipModel(config, { seed: 21 });
    const queue = new NearestNeighbourQueue({ size: 16, dim: config.embedDim, seed: 22 });
    const inputs = randomInputs(config, B, 23);
    const loss = lossPresets.declip;
    const out = declipLosses(model, inputs, queue, loss, false);
    const enqueue = f64(out.enqueue ?? tf.zeros([0]));
    const got = await readLossValues(out);
    disposeLossOutput(out);
    const want = expectedTerms(model, inputs, queue, loss);
    const kind = config.vision.kind;
    for (const k of ['clip', 'nns', 'simsiam', 'mlm'] as const) {
      const g = got.terms[k] ?? NaN;
      t.ok(Math.abs(g - want[k]) < 2e-4 * (1 + Math.abs(want[k])), `${kind} ${k}: ${g} vs ${want[k]}`);
    }
    const total = 0.4 * want.clip + 0.2 * want.nns + 0.2 * want.simsiam + 0.2 * want.mlm;
    t.ok(Math.abs(got.total - total) < 2e-4 * (1 + Math.abs(total)), `${kind} total ${got.total} vs ${total}`);
    t.ok(Math.abs(got.logitScale - 1 / 0.07) < 1e-3);
    // rows to enqueue: EDA caption embeddings first, then the caption embeddings (official order)
    const expectedRows = [...want.t2, ...want.t1];
    t.equal(enqueue.length, expectedRows.length);
    t.ok(expectedRows.every((x, i) => Math.abs(x - (enqueue[i] ?? NaN)) < 1e-5), `${kind} enqueue = [normalize(eda); normalize(caption)]`);
    t.equal(queue.pointer, 0, 'declipLosses itself never enqueues');
    disposeInputs(inputs);
    queue.dispose();
    model.dispose();
  }
});

t.test('clip mode: one view each, the plain caption, no extra terms', async (t) => {
  const model = createDeclipModel(microVit, { seed: 31 });
  const inputs = randomInputs(microVit, B, 32);
  t.teardown(() => {
    disposeInputs(inputs);
    model.dispose();
  });
  const out = declipLosses(model, inputs, null, lossPresets.clip, false);
  const got = await readLossValues(out);
  disposeLossOutput(out);
  t.same([got.terms.nns, got.terms.simsiam, got.terms.mlm], [null, null, null]);
  t.equal(got.total, got.terms.clip);
  const d = model.embedDim;
  const i1 = normalizeRows(read(() => model.encodeImage(inputs.images1, false)), d);
  const t1 = normalizeRows(read(() => model.encodeText(inputs.tokens, inputs.eot).embedding), d);
  const want = refInfoNCE(i1, t1, B, d, 1 / 0.07);
  t.ok(Math.abs(got.total - want) < 2e-4 * (1 + want), `clip ${got.total} vs ${want}`);
  const { grads } = await declipGradients(model, inputs, null, lossPresets.clip);
  t.notOk(grads.has('mlm_head.weight'), 'no gradient for the unused MLM head');
  t.notOk(grads.has('projector.0.weight'), 'no gradient for the unused projector');
  t.ok(grads.has('visual.proj') && grads.has('text_projection') && grads.has('logit_scale'));
  tf.dispose([...grads.values()]);
});

t.test('switching terms off: weight 0 removes a term; without MLM the caption view is the plain caption', async (t) => {
  const model = createDeclipModel(microVit, { seed: 41 });
  const queue = new NearestNeighbourQueue({ size: 16, dim: microVit.embedDim, seed: 42 });
  const inputs = randomInputs(microVit, B, 43);
  t.teardown(() => {
    disposeInputs(inputs);
    queue.dispose();
    model.dispose();
  });
  const config = resolveLossConfig({ ...lossPresets.declip, weights: { clip: 0.5, nns: 0, simsiam: 0.5, mlm: 0 } });
  const out = declipLosses(model, inputs, null, config, false);
  const got = await readLossValues(out);
  disposeLossOutput(out);
  t.equal(out.enqueue, null, 'nothing to enqueue without NNS');
  t.same([got.terms.nns, got.terms.mlm], [null, null]);
  const want = expectedTerms(model, inputs, queue, config);
  t.ok(Math.abs((got.terms.clip ?? NaN) - want.clip) < 2e-4 * (1 + want.clip), 'clip uses the unmasked caption');
  t.ok(Math.abs(got.total - 0.5 * want.clip - 0.5 * want.simsiam) < 2e-4 * (1 + Math.abs(got.total)));
  t.throws(() => declipLosses(model, inputs, null, lossPresets.declip, false), InvalidOptionError, 'NNS needs a queue');
  const plain = createDeclipModel({ ...microVit, simsiam: null, mlmHead: false }, { seed: 1 });
  t.throws(() => declipLosses(plain, inputs, queue, lossPresets.declip, false), InvalidOptionError, 'SimSiam needs heads');
  plain.dispose();
});

t.test('declipGradients: gradients for every trainable parameter, then the queue update', async (t) => {
  const model = createDeclipModel(microVit, { seed: 51 });
  const queue = new NearestNeighbourQueue({ size: 16, dim: microVit.embedDim, seed: 52 });
  const inputs = randomInputs(microVit, B, 53);
  t.teardown(() => {
    disposeInputs(inputs);
    queue.dispose();
    model.dispose();
  });
  const { grads, values, enqueueRows } = await declipGradients(model, inputs, queue, lossPresets.declip);
  const names = model.trainable().map((e) => e.name);
  t.same([...grads.keys()].sort(), [...names].sort(), 'one gradient per trainable parameter, keyed by model name');
  for (const [name, g] of grads) t.same(g.shape, model.params.get(name).shape, `${name} gradient shape`);
  t.ok(Number.isFinite(values.total));
  t.equal(queue.pointer, 2 * B, 'enqueued 2B rows after the step');
  const state = queue.exportState();
  t.same(Array.from(state.data.subarray(0, 2 * B * microVit.embedDim)), Array.from(enqueueRows ?? []));
  tf.dispose([...grads.values()]);
  const r2 = await declipGradients(model, inputs, queue, lossPresets.declip, { enqueue: false });
  t.equal(queue.pointer, 2 * B, 'enqueue: false leaves the queue alone');
  tf.dispose([...r2.grads.values()]);
});

t.test('no tensor leaks: numTensors is flat across repeated loss and gradient computations', async (t) => {
  for (const config of [microVit, microResNet]) {
    const model = createDeclipModel(config, { seed: 61 });
    const queue = new NearestNeighbourQueue({ size: 16, dim: config.embedDim, seed: 62 });
    const inputs = randomInputs(config, B, 63);
    const counts: number[] = [];
    // the cpu backend's Conv2DBackpropFilter is slow: two rounds suffice for the ResNet
    const rounds = config.vision.kind === 'resnet' ? 2 : 3;
    for (let i = 0; i < rounds; i++) {
      const out = declipLosses(model, inputs, queue, lossPresets.declip, i % 2 === 0);
      await readLossValues(out);
      disposeLossOutput(out);
      const { grads } = await declipGradients(model, inputs, queue, lossPresets.declip);
      tf.dispose([...grads.values()]);
      counts.push(tf.memory().numTensors);
    }
    t.same(counts, counts.map(() => counts[0]), `${config.vision.kind}: ${counts.join(', ')}`);
    disposeInputs(inputs);
    queue.dispose();
    model.dispose();
  }
});
