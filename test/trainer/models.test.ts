import t from 'tap';
import * as tf from '@tensorflow/tfjs-core';
import { InvalidOptionError } from '../../core/errors.js';
import {
  type ModelConfig,
  countModelParameters,
  createDeclipModel,
  modelPresets,
  modelSpecs,
  patchify,
  resolveModelConfig,
} from '../../trainer/models/index.js';
import { f64, microResNet, microVit, randomInputs, useCpu } from './models-fixtures.js';

await useCpu();

/**
 * Parameter count of ../shared/bench/ref_declip_torch.py's DeCLIP(cfg), written out module
 * by module from the PyTorch definitions (independent of trainer/models).
 */
function referenceCount(c: { size: number; vw: number; vd: number; vocab: number; ctx: number; td: number }): number {
  const linear = (i: number, o: number, bias = true): number => i * o + (bias ? o : 0);
  const ln = (w: number): number => 2 * w;
  const block = (w: number): number => ln(w) + linear(w, 3 * w) + linear(w, w) + ln(w) + linear(w, 4 * w) + linear(4 * w, w);
  const n = (c.size / 8) ** 2;
  const vit = 3 * c.vw * 64 + c.vw + (n + 1) * c.vw + ln(c.vw) + c.vd * block(c.vw) + ln(c.vw) + linear(c.vw, 128, false);
  const text = c.vocab * 128 + c.ctx * 128 + c.td * block(128) + ln(128) + linear(128, 128, false) + linear(128, c.vocab);
  const bn = (d: number): number => 2 * d;
  const projector = linear(128, 256) + bn(256) + linear(256, 256) + bn(256) + linear(256, 256) + bn(256);
  const predictor = linear(256, 64) + bn(64) + linear(64, 256);
  return vit + text + projector + predictor + 1;
}

t.test('parameter counts: tiny/small equal the PyTorch reference, rn50/vitb32 equal CLIP', async (t) => {
  t.equal(countModelParameters('tiny'), referenceCount({ size: 32, vw: 128, vd: 2, vocab: 4100, ctx: 24, td: 2 }));
  t.equal(countModelParameters('small'), referenceCount({ size: 64, vw: 192, vd: 4, vocab: 8196, ctx: 32, td: 4 }));
  // CLIP's published totals (openai/CLIP: RN50 102,007,137; ViT-B/32 151,277,313) use a
  // 49,408-token vocabulary, a bias-free text projection and no DeCLIP heads.
  const clipOnly = (c: ModelConfig): ModelConfig => ({ ...c, text: { ...c.text, vocabSize: 49408, projectionBias: false }, simsiam: null, mlmHead: false });
  t.equal(countModelParameters(clipOnly(modelPresets.rn50)), 102_007_137);
  t.equal(countModelParameters(clipOnly(modelPresets.vitb32)), 151_277_313);
  // The official DeCLIP text projection is an nn.Linear: one bias of embedDim more.
  const withBias = (c: ModelConfig): ModelConfig => ({ ...clipOnly(c), text: { ...clipOnly(c).text, projectionBias: true } });
  t.equal(countModelParameters(withBias(modelPresets.rn50)), 102_007_137 + 1024);
  t.equal(countModelParameters(withBias(modelPresets.vitb32)), 151_277_313 + 512);
  t.ok(modelPresets.rn50.text.projectionBias && modelPresets.vitb32.text.projectionBias, 'the paper presets use the official biased projection');
  t.equal(modelPresets.rn50.simsiam?.predictorHidden, 512, 'official prediction_MLP hidden width');
  // shapes of the big presets from their specs alone (nothing is allocated)
  const shape = (c: ModelConfig, name: string): readonly number[] | undefined => modelSpecs(c).find((s) => s.name === name)?.shape;
  t.same(shape(modelPresets.rn50, 'visual.attnpool.c_proj.weight'), [1024, 2048]);
  t.same(shape(modelPresets.rn50, 'visual.attnpool.positional_embedding'), [50, 2048]);
  t.same(shape(modelPresets.vitb32, 'visual.proj'), [768, 512]);
  t.same(shape(modelPresets.vitb32, 'visual.positional_embedding'), [50, 768]);
  t.same(shape(modelPresets.vitb32, 'text_projection'), [512, 512]);
});

t.test('forward shapes of every tower and head (micro ViT, micro ResNet, tiny preset)', async (t) => {
  for (const [name, config, batch] of [
    ['micro vit', microVit, 3],
    ['micro resnet', microResNet, 3],
    ['tiny', modelPresets.tiny, 2],
  ] as const) {
    const model = createDeclipModel(config, { seed: 1 });
    const inputs = randomInputs(config, batch, 2);
    const m = inputs.mlmIndex.shape[0];
    const shapes = tf.tidy(() => {
      const f = model.encodeImage(inputs.images1, false);
      const text = model.encodeText(inputs.tokens, inputs.eot);
      const z = model.project(f, false);
      return {
        image: f.shape,
        text: text.embedding.shape,
        tokens: text.tokens.shape,
        mlm: model.mlmLogits(text.tokens, inputs.mlmIndex).shape,
        z: z.shape,
        p: model.predict(z, false).shape,
        finite: tf.all(tf.isFinite(f)).dataSync()[0] === 1,
      };
    });
    const c = config;
    t.same(shapes.image, [batch, c.embedDim], `${name} image`);
    t.same(shapes.text, [batch, c.embedDim], `${name} text`);
    t.same(shapes.tokens, [batch, c.text.contextLength, c.text.width], `${name} token features`);
    t.same(shapes.mlm, [m, c.text.vocabSize], `${name} MLM logits only at the ${m} masked positions`);
    t.same(shapes.z, [batch, c.simsiam?.projector[2]], `${name} projector`);
    t.same(shapes.p, [batch, c.simsiam?.projector[2]], `${name} predictor`);
    t.ok(shapes.finite, `${name} finite`);
    tf.dispose(Object.values(inputs) as tf.Tensor[]);
    model.dispose();
  }
});

t.test('the ViT patch embedding equals a stride-p convolution with the PyTorch kernel', async (t) => {
  const model = createDeclipModel(microVit, { seed: 3 });
  t.teardown(() => model.dispose());
  const inputs = randomInputs(microVit, 2, 4);
  const [mm, conv] = tf.tidy(() => {
    const w = model.params.get('visual.conv1.weight'); // [width, 3, p, p]
    const [width, , p] = w.shape as [number, number, number, number];
    const a = tf.matMul(patchify(inputs.images1, p), tf.reshape(w, [width, -1]), false, true);
    const c = tf.conv2d(inputs.images1, tf.transpose(w, [2, 3, 1, 0]) as tf.Tensor4D, p, 'valid');
    return [a, c];
  });
  const viaMatmul = f64(mm);
  const viaConv = f64(conv);
  tf.dispose([mm, conv]);
  t.equal(viaMatmul.length, viaConv.length);
  let maxDiff = 0;
  viaMatmul.forEach((v, i) => (maxDiff = Math.max(maxDiff, Math.abs(v - (viaConv[i] ?? NaN)))));
  t.ok(maxDiff < 1e-4, `max |diff| ${maxDiff}`);
  tf.dispose(Object.values(inputs) as tf.Tensor[]);
});

t.test('the text tower is causal and pools at the EOT index', async (t) => {
  const model = createDeclipModel(microVit, { seed: 5 });
  t.teardown(() => model.dispose());
  const l = microVit.text.contextLength;
  const ids = [1, 7, 9, 11, 2, 0, 0, 0];
  const later = [1, 7, 9, 11, 2, 13, 15, 4]; // differs only after the EOT at 4
  const earlier = [1, 8, 9, 11, 2, 0, 0, 0]; // differs before it
  const run = (row: number[], eot: number): { emb: Float64Array; tok: Float64Array } => {
    const out = tf.tidy(() => {
      const r = model.encodeText(tf.tensor2d([row], [1, l], 'int32'), tf.tensor1d([eot], 'int32'));
      return [r.embedding, r.tokens] as const;
    });
    const res = { emb: f64(out[0]), tok: f64(out[1]) };
    tf.dispose([...out]);
    return res;
  };
  const base = run(ids, 4);
  const same = run(later, 4);
  const diff = run(earlier, 4);
  const maxAbs = (a: Float64Array, b: Float64Array, from = 0, to = a.length): number => {
    let m = 0;
    for (let i = from; i < to; i++) m = Math.max(m, Math.abs((a[i] ?? 0) - (b[i] ?? 0)));
    return m;
  };
  t.ok(maxAbs(base.emb, same.emb) < 1e-5, 'tokens after EOT do not change the caption embedding');
  const w = microVit.text.width;
  t.ok(maxAbs(base.tok, same.tok, 0, 5 * w) < 1e-5, 'features up to EOT ignore later tokens (causal)');
  t.ok(maxAbs(base.tok, same.tok, 5 * w) > 1e-3, 'features after EOT see their own tokens');
  t.ok(maxAbs(base.emb, diff.emb) > 1e-4, 'a token before EOT changes the embedding');
  t.ok(maxAbs(base.tok, diff.tok, 0, w) < 1e-5, 'position 0 ignores the change at position 1');
  const moved = run(ids, 3);
  t.ok(maxAbs(base.emb, moved.emb) > 1e-4, 'the pooled position follows eot');
});

t.test('BatchNorm updates running statistics in training mode only', async (t) => {
  for (const config of [microVit, microResNet]) {
    const model = createDeclipModel(config, { seed: 6 });
    const inputs = randomInputs(config, 4, 7);
    const rm = model.params.get('projector.1.running_mean');
    const rv = model.params.get('projector.1.running_var');
    t.same(Array.from(rm.dataSync()), new Array(rm.size).fill(0));
    // the batch statistics of projector.0's output, computed in float64
    const hT = tf.tidy(() =>
      tf.add(tf.matMul(model.encodeImage(inputs.images1, false), model.params.get('projector.0.weight'), false, true), model.params.get('projector.0.bias')),
    );
    const h = f64(hT);
    hT.dispose();
    const bufferSnapshot = (): number[][] => model.params.buffers().map((e) => Array.from(e.variable.dataSync()));
    const before = bufferSnapshot();
    tf.tidy(() => model.project(model.encodeImage(inputs.images1, false), false));
    t.same(bufferSnapshot(), before, 'eval mode leaves every buffer unchanged');
    tf.tidy(() => model.project(model.encodeImage(inputs.images1, false), true));
    const d = rm.size;
    const n = h.length / d;
    const mean = new Float64Array(d);
    const varU = new Float64Array(d);
    for (let j = 0; j < d; j++) {
      let s = 0;
      for (let i = 0; i < n; i++) s += h[i * d + j] ?? 0;
      mean[j] = s / n;
      let v = 0;
      for (let i = 0; i < n; i++) v += ((h[i * d + j] ?? 0) - s / n) ** 2;
      varU[j] = v / (n - 1);
    }
    const gotMean = rm.dataSync();
    const gotVar = rv.dataSync();
    let err = 0;
    for (let j = 0; j < d; j++) {
      err = Math.max(err, Math.abs((gotMean[j] ?? NaN) - 0.1 * (mean[j] ?? 0)));
      err = Math.max(err, Math.abs((gotVar[j] ?? NaN) - (0.9 + 0.1 * (varU[j] ?? 0))));
    }
    t.ok(err < 1e-4, `${config.vision.kind}: running = 0.9 running + 0.1 batch (unbiased var), max err ${err}`);
    if (config.vision.kind === 'resnet') {
      const stem = model.params.get('visual.bn1.running_mean');
      const b0 = Array.from(stem.dataSync());
      tf.tidy(() => model.encodeImage(inputs.images1, true));
      t.notSame(Array.from(stem.dataSync()), b0, 'image-tower BatchNorm updates in training mode');
    }
    tf.dispose(Object.values(inputs) as tf.Tensor[]);
    model.dispose();
  }
});

t.test('weight decay flags follow the CLIP rule; buffers are separate and not trainable', async (t) => {
  for (const config of [microVit, microResNet]) {
    const specs = modelSpecs(config);
    for (const s of specs) {
      const noDecayName = /(\.bias|_bias|ln_\w+\.weight|bn\d\.weight|downsample\.1\.weight|projector\.[147]\.weight|predictor\.1\.weight|embedding(\.weight)?|logit_scale)$/.test(s.name);
      if (!s.trainable) {
        t.ok(/running_(mean|var)$/.test(s.name) && !s.decay, `${s.name} is a buffer`);
      } else if (noDecayName) {
        t.notOk(s.decay, `${s.name} has no weight decay`);
      } else {
        t.ok(s.decay && s.shape.length >= 2, `${s.name} decays (a matrix/kernel)`);
      }
    }
  }
  const model = createDeclipModel(microVit, { seed: 1 });
  t.teardown(() => model.dispose());
  t.ok(model.params.buffers().length > 0);
  t.ok(model.params.buffers().every((e) => !e.variable.trainable));
  t.ok(model.trainable().every((e) => e.variable.trainable));
  t.equal(model.params.get('logit_scale').dataSync()[0]?.toFixed(5), Math.log(1 / 0.07).toFixed(5));
});

t.test('seeded init is reproducible; two models coexist; dispose frees every tensor', async (t) => {
  const start = tf.memory().numTensors;
  const a = createDeclipModel(microVit, { seed: 11 });
  const b = createDeclipModel(microVit, { seed: 11 });
  const c = createDeclipModel(microVit, { seed: 12 });
  const name = 'transformer.resblocks.0.attn.in_proj_weight';
  t.same(a.params.get(name).dataSync(), b.params.get(name).dataSync());
  t.notSame(a.params.get(name).dataSync(), c.params.get(name).dataSync());
  t.not(a.params.get(name).name, b.params.get(name).name, 'tfjs variable names are unique per model');
  t.equal(a.params.nameOf(a.params.get(name).name), name);
  for (const m of [a, b, c]) {
    m.dispose();
    m.dispose();
  }
  t.equal(tf.memory().numTensors, start);
  t.throws(() => a.params.get('nope'), InvalidOptionError);
});

t.test('logit scale: exp(logit_scale) clamped to 100', async (t) => {
  const model = createDeclipModel(microVit, { seed: 1 });
  t.teardown(() => model.dispose());
  const read = (): number => tf.tidy(() => model.logitScale().dataSync()[0] ?? NaN);
  t.ok(Math.abs(read() - 1 / 0.07) < 1e-3);
  model.logitScaleVariable.assign(tf.scalar(6));
  t.equal(read(), 100);
});

t.test('config validation: presets, house-format messages', async (t) => {
  t.equal(resolveModelConfig('small').vision.kind, 'vit');
  t.throws(() => resolveModelConfig('huge' as 'tiny'), { message: 'Expected one of tiny, small, rn50, vitb32 for model but received "huge" of type string' });
  t.throws(() => resolveModelConfig({ ...microVit, embedDim: 0 }), { message: 'Expected integer of at least 1 for embedDim but received 0 of type number' });
  t.throws(() => resolveModelConfig({ ...microVit, vision: { ...microVit.vision, patchSize: 5 } }), /divisible/);
  t.throws(() => resolveModelConfig({ ...microVit, vision: { ...microResNet.vision, imageSize: 48 } }), /divisible/);
  t.throws(() => resolveModelConfig({ ...microVit, text: { ...microVit.text, heads: 3 } }), InvalidOptionError);
  t.throws(() => createDeclipModel(microVit, { seed: -1 }), { message: 'Expected integer between 0 and 4294967295 for seed but received -1 of type number' });
  const noHeads = createDeclipModel({ ...microVit, simsiam: null, mlmHead: false }, { seed: 1 });
  t.teardown(() => noHeads.dispose());
  t.throws(() => tf.tidy(() => noHeads.project(tf.zeros([2, 8]) as tf.Tensor2D, false)), InvalidOptionError);
  t.notOk(noHeads.params.has('mlm_head.weight'));
});
