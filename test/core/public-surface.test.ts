/**
 * The public entry points (package.json `exports`: core, datasets, augment, pipeline,
 * trainer) load and expose what the docs use, so a broken re-export fails here rather
 * than in a user's import.
 */
import t from 'tap';

t.test('each exported area loads and has its main functions and classes', async (t) => {
  const core = await import('../../core/index.js');
  t.type(core.DeclipError, 'function');
  t.type(core.Rng, 'function');
  const datasets = await import('../../datasets/index.js');
  for (const name of ['readSamples', 'ShardReader', 'readShardIndex', 'expandShardUrls', 'assertNoPipeFromFile'] as const) t.type(datasets[name], 'function', name);
  const augment = await import('../../augment/index.js');
  t.ok(Object.keys(augment).length > 20, 'augment exports its image and text operators');
  const pipeline = await import('../../pipeline/index.js');
  for (const name of ['createPipeline', 'AugmentPool', 'WorkerCrashError', 'epochStream', 'packTask'] as const) t.type(pipeline[name], 'function', name);
  const trainer = await import('../../trainer/index.js');
  for (const name of ['train', 'loadCheckpoint', 'saveCheckpoint', 'assertResumableConfig', 'parseCheckpointState', 'decodeSafetensors'] as const) {
    t.type((trainer as Record<string, unknown>)[name], 'function', name);
  }
});
