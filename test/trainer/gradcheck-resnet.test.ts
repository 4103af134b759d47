import t from 'tap';
import { towerCheck } from './gradcheck-helpers.js';
import { microResNet, useCpu } from './models-fixtures.js';

await useCpu();

t.test('numerical gradient check: ModifiedResNet image tower (BatchNorm in training mode)', async (t) => {
  await towerCheck(
    t,
    microResNet,
    [
      'visual.conv1.weight',
      'visual.bn2.bias',
      'visual.layer4.0.downsample.0.weight',
      'visual.attnpool.v_proj.weight',
      'visual.attnpool.c_proj.weight',
    ],
    1,
  );
});

