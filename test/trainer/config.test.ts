import t from 'tap';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { LN_100, TRAIN_PRESETS, loadTrainConfig, resolveTrainConfig } from '../../trainer/config.js';
import { ConfigError } from '../../core/errors.js';
import { modelPresets } from '../../trainer/models/config.js';
import { lossPresets } from '../../trainer/losses/config.js';

t.test('defaults: tiny model, declip losses, AdamW with DeCLIP betas, logit scale in [0, ln 100]', async (t) => {
  const c = resolveTrainConfig({});
  t.equal(c.modelName, 'tiny');
  t.same(c.model, modelPresets.tiny);
  t.same(c.loss, lossPresets.declip);
  t.equal(c.optimizer.beta1, 0.9);
  t.equal(c.optimizer.beta2, 0.98);
  t.equal(c.optimizer.eps, 1e-8);
  t.same(c.optimizer.logitScaleRange, [0, LN_100]);
  t.equal(c.batch, 32);
  t.equal(c.data.workers, 2);
  t.equal(c.data.augment, 'mocov2', 'the DeCLIP augmentation unless a config asks for another');
  t.equal(resolveTrainConfig({ data: { augment: 'light' } }).data.augment, 'light');
});

t.test('paper presets follow the official code: logit scale in [3, 6], embeddings decay, no clipping', async (t) => {
  for (const name of ['rn50', 'vitb32'] as const) {
    const c = resolveTrainConfig(TRAIN_PRESETS[name]);
    t.same(c.optimizer.logitScaleRange, [3, 6], `${name}: grad_clip logit_scale_param_value [3, 6]`);
    t.equal(c.optimizer.decayEmbeddings, true, `${name}: token/positional/class embeddings decay`);
    t.equal(c.optimizer.clipGradNorm, null, `${name}: no gradient-norm clipping`);
    t.equal(c.model.simsiam?.predictorHidden, 512, `${name}: prediction_MLP hidden 512`);
    t.equal(c.model.text.projectionBias, true, `${name}: nn.Linear text projection`);
  }
  const tiny = resolveTrainConfig(TRAIN_PRESETS.tiny);
  t.equal(tiny.optimizer.decayEmbeddings, false, 'small presets keep the CLIP convention (docs/model-and-losses.md)');
  t.equal(tiny.optimizer.clipGradNorm, 1);
});

t.test('clip mode is the baseline loss; weights and sizes can be overridden', async (t) => {
  const c = resolveTrainConfig({ mode: 'clip', imageSize: 64, contextLength: 16, vocabSize: 500 });
  t.same(c.loss.weights, { clip: 1, nns: 0, simsiam: 0, mlm: 0 });
  t.equal(c.model.vision.imageSize, 64);
  t.equal(c.model.text.contextLength, 16);
  t.equal(c.model.text.vocabSize, 500);
  const ablation = resolveTrainConfig({ loss: { weights: { mlm: 0 } } });
  t.same(ablation.loss.weights, { clip: 0.4, nns: 0.2, simsiam: 0.2, mlm: 0 });
  const custom = resolveTrainConfig({ model: { preset: 'tiny', embedDim: 64, text: { layers: 1 } } });
  t.equal(custom.model.embedDim, 64);
  t.equal(custom.model.text.layers, 1);
  t.equal(custom.model.text.width, modelPresets.tiny.text.width, 'unspecified fields come from the preset');
});

t.test('errors are ConfigErrors that name the field', async (t) => {
  const cases: [unknown, string, RegExp][] = [
    [{ optimizer: { lr: -1 } }, 'optimizer.lr', /optimizer\.lr: Too small/],
    [{ optimizer: { lrr: 1 } }, 'optimizer', /Unrecognized key: "lrr"/],
    [{ mode: 'simclr' }, 'mode', /mode: Invalid option/],
    [{ batch: 1.5 }, 'batch', /batch: /],
    [{ data: { shards: [''] } }, 'data.shards[0]', /data\.shards\[0\]/],
    [{ data: { augment: 'strong' } }, 'data.augment', /data\.augment: Invalid option/],
    [{ optimizer: { logitScaleRange: [5, 1] } }, 'optimizer.logitScaleRange', /lo <= hi/],
    [{ model: { preset: 'tiny', vision: { width: 0 } } }, 'model.vision.width', /vision\.width/],
    [{ model: 'huge' }, 'model', /model/],
    [{ loss: { weights: { clip: 0, nns: 0, simsiam: 0, mlm: 0 } } }, 'loss.weights', /at least one loss weight/],
    [{ optimizer: { lr: 1e-4, minLr: 1e-3 } }, 'optimizer.minLr', /at most optimizer\.lr/],
    [{ model: { preset: 'tiny', simsiam: null } }, 'loss.weights.simsiam', /no SimSiam heads/],
  ];
  for (const [input, path, message] of cases) {
    const err = t.throws(() => resolveTrainConfig(input, 'my.json')) as unknown;
    t.ok(err instanceof ConfigError, `${path}: ConfigError`);
    if (err instanceof ConfigError) {
      t.equal(err.path, path, `path of ${JSON.stringify(input)}`);
      t.equal(err.file, 'my.json');
      t.match(err.message, message);
      t.match(err.message, /^Invalid config my\.json: /);
      t.equal(err.code, 'ERR_DECLIP_CONFIG');
    }
  }
});

t.test('presets and files load, with overrides on top', async (t) => {
  const tiny = await loadTrainConfig('tiny', { steps: 7, data: { shards: ['x.tar'] } });
  t.equal(tiny.steps, 7);
  t.same(tiny.data.shards, ['x.tar']);
  t.equal(tiny.optimizer.warmupSteps, TRAIN_PRESETS.tiny.optimizer?.warmupSteps);
  for (const name of ['small', 'rn50', 'vitb32']) t.equal((await loadTrainConfig(name)).modelName, name);
  const dir = t.testdir({ 'good.json': JSON.stringify({ model: 'tiny', mode: 'clip', batch: 8 }), 'bad.json': '{"batch": ', 'typo.json': '{"stepz": 3}' });
  const good = await loadTrainConfig(join(dir, 'good.json'), { batch: 4 });
  t.equal(good.mode, 'clip');
  t.equal(good.batch, 4);
  await t.rejects(loadTrainConfig(join(dir, 'bad.json')), /not JSON/);
  await t.rejects(loadTrainConfig(join(dir, 'typo.json')), /Unrecognized key: "stepz"/);
  await t.rejects(loadTrainConfig(join(dir, 'missing.json')), /expected a preset \(tiny, small, rn50, vitb32\) or a JSON file/);
  await writeFile(join(dir, 'null.json'), 'null');
  t.equal((await loadTrainConfig(join(dir, 'null.json'))).modelName, 'tiny');
});
