import t from 'tap';
import * as tf from '@tensorflow/tfjs-core';
import { declipGradients, disposeInputs } from '../../trainer/declip-step.js';
import { lossPresets, resolveLossConfig } from '../../trainer/losses/config.js';
import { simsiamLoss } from '../../trainer/losses/simsiam.js';
import { createDeclipModel } from '../../trainer/models/index.js';
import { compare, towerCheck } from './gradcheck-helpers.js';
import { microVit, randomInputs, useCpu } from './models-fixtures.js';

await useCpu();

t.test('numerical gradient check: ViT image tower, text tower, MLM head, logit scale', async (t) => {
  await towerCheck(
    t,
    microVit,
    [
      'visual.conv1.weight',
      'visual.class_embedding',
      'visual.transformer.resblocks.0.attn.in_proj_weight',
      'visual.transformer.resblocks.0.mlp.c_fc.weight',
      'visual.ln_post.weight',
      'visual.proj',
      'token_embedding.weight',
      'transformer.resblocks.0.attn.in_proj_weight',
      'ln_final.bias',
      'text_projection',
      'mlm_head.weight',
      'logit_scale',
    ],
    2,
  );
});

t.test('SimSiam gradient = gradient of the loss with the stopped targets held constant', async (t) => {
  // Finite differences of the SimSiam loss itself would include the path through sg(z);
  // the stop-gradient semantics say the gradient is that of -1/2 [cos(p1, z2*) + cos(p2, z1*)]
  // with z* frozen at the current parameters. Check exactly that.
  const model = createDeclipModel(microVit, { seed: 81 });
  const inputs = randomInputs(microVit, 4, 82);
  const simsiamOnly = resolveLossConfig({ ...lossPresets.declip, weights: { clip: 0, nns: 0, simsiam: 1, mlm: 0 } });
  const [z1s, z2s] = tf.tidy(() => [
    model.project(model.encodeImage(inputs.images1, true), true),
    model.project(model.encodeImage(inputs.images2, true), true),
  ]) as [tf.Tensor2D, tf.Tensor2D];
  const surrogate = (): number =>
    tf.tidy(() => {
      const z1 = model.project(model.encodeImage(inputs.images1, true), true);
      const z2 = model.project(model.encodeImage(inputs.images2, true), true);
      return simsiamLoss(model.predict(z1, true), model.predict(z2, true), z1s, z2s).dataSync()[0] ?? NaN;
    });
  const { grads, values } = await declipGradients(model, inputs, null, simsiamOnly);
  t.ok(Math.abs((values.terms.simsiam ?? NaN) - surrogate()) < 1e-5, 'same value');
  compare(t, model, surrogate, grads, ['visual.proj', 'projector.0.weight', 'projector.4.weight', 'projector.7.weight', 'predictor.0.weight', 'predictor.3.bias'], 2);
  tf.dispose([...grads.values(), z1s, z2s]);
  disposeInputs(inputs);
  model.dispose();
});
