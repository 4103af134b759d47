import t from 'tap';
import { resolveTrainConfig, type TrainConfigInput } from '../../../trainer/config.js';
import { EXPERIMENT_TRAIN_CONFIG } from '../../../trainer/experiment/index.js';
import { rowConfig } from '../../../trainer/experiment/rows.js';
import { canonicalJson, type RunKeyParts, runKey, savedKeyMatches } from '../../../trainer/experiment/run-key.js';

const PATHS = ['out/fm/data/train-2000-000000.tar', 'out/fm/data/train-2000-000001.tar'];
const DIGESTS = ['ae'.repeat(32), '0d'.repeat(32)];
const EVALUATION = { test: 10_000, validation: 2000, dataSeed: 0, probeTrain: 5000, retrievalPairs: 1000 };

/** The experiment's config for a row and seed, as runExperiment resolves it, with `over` merged into its data/compute/top level. */
function parts(over: { data?: TrainConfigInput['data']; compute?: TrainConfigInput['compute']; top?: Partial<TrainConfigInput>; row?: 'clip' | 'declip'; seed?: number } = {}): RunKeyParts {
  const input = rowConfig(over.row ?? 'declip', EXPERIMENT_TRAIN_CONFIG, 200);
  const seed = over.seed ?? 0;
  const config = resolveTrainConfig({
    ...input,
    ...(over.top ?? {}),
    batch: 32,
    seed,
    checkpointEvery: 0,
    data: { ...(input.data ?? {}), shards: PATHS, ...(over.data ?? {}) },
    ...(over.compute === undefined ? {} : { compute: over.compute }),
  });
  return { row: over.row ?? 'declip', seed, trainPairs: 2000, config, shards: DIGESTS, evaluation: EVALUATION };
}

t.test('runKey: pipeline plumbing that does not change a batch leaves the key alone', async (t) => {
  const base = runKey(parts());
  const same: [string, RunKeyParts][] = [
    ['data.workers 1', parts({ data: { workers: 1 } })],
    ['data.prefetch 8', parts({ data: { prefetch: 8 } })],
    ['data.onError skip', parts({ data: { onError: 'skip' } })],
    ['data.onShardError warn', parts({ data: { onShardError: 'warn' } })],
    ['data.allowPipeFromFiles', parts({ data: { allowPipeFromFiles: true } })],
    ['compute.timeoutMs', parts({ compute: { timeoutMs: 1000 } })],
    ['checkpoint cadence', parts({ top: { checkpointEvery: 50, keepCheckpoints: 1 } })],
    ['shards at another path, same content', { ...parts({ data: { shards: ['elsewhere/a.tar', 'elsewhere/b.tar'] } }), shards: DIGESTS }],
  ];
  for (const [what, p] of same) t.equal(runKey(p), base, what);
});

t.test('runKey: every training-relevant field changes the key', async (t) => {
  const base = runKey(parts());
  const differs: [string, RunKeyParts][] = [
    ['row', parts({ row: 'clip' })],
    ['seed', parts({ seed: 1 })],
    ['steps', parts({ top: { steps: 400 } })],
    ['batch', { ...parts(), config: { ...parts().config, batch: 64 } }],
    ['lr', parts({ top: { optimizer: { ...EXPERIMENT_TRAIN_CONFIG.optimizer, lr: 1e-3 } } })],
    ['loss weights', parts({ top: { loss: { queueSize: 256, weights: { clip: 1 } } } })],
    ['queue size', parts({ top: { loss: { queueSize: 512 } } })],
    ['augmentation', parts({ data: { augment: 'mocov2' } })],
    ['shuffle buffer', parts({ data: { shuffleBuffer: 10 } })],
    ['compute threads', parts({ compute: { threads: 1 } })],
    ['model', parts({ top: { model: 'small' } })],
    ['shard content', { ...parts(), shards: [DIGESTS[0] ?? '', 'ff'.repeat(32)] }],
    ['training-set size', { ...parts(), trainPairs: 1000 }],
    ['evaluation: probe pairs', { ...parts(), evaluation: { ...EVALUATION, probeTrain: 2000 } }],
    ['evaluation: caption seed', { ...parts(), evaluation: { ...EVALUATION, dataSeed: 1 } }],
  ];
  for (const [what, p] of differs) t.not(runKey(p), base, what);
});

t.test('canonicalJson: object field order does not matter, array order does', async (t) => {
  t.equal(canonicalJson({ b: 1, a: { d: [2, 1], c: null } }), canonicalJson({ a: { c: null, d: [2, 1] }, b: 1 }));
  t.not(canonicalJson({ a: [1, 2] }), canonicalJson({ a: [2, 1] }));
});

/** A key of the first format: the whole resolved config, shards by path (as `scores.json` files written before run-key.ts hold). */
function legacyKey(p: RunKeyParts, dropNewFields = true): string {
  const { onShardError: _a, allowPipeFromFiles: _b, ...oldData } = p.config.data;
  const config = { ...p.config, data: dropNewFields ? oldData : p.config.data };
  return JSON.stringify({ row: p.row, seed: p.seed, n: p.trainPairs, config, ...p.evaluation });
}

t.test('savedKeyMatches: current keys, and keys of the first format whose training fields match', async (t) => {
  const p = parts();
  const key = runKey(p);
  t.ok(savedKeyMatches(key, key, p, PATHS), 'the same key');
  t.ok(savedKeyMatches(legacyKey(p), key, p, PATHS), 'a first-format key from before data.onShardError/allowPipeFromFiles existed');
  t.ok(savedKeyMatches(legacyKey(p, false), key, p, PATHS), 'a first-format key with them');
  t.ok(savedKeyMatches(legacyKey(parts({ data: { workers: 4, onShardError: 'skip' } })), key, p, PATHS), 'a first-format key with other workers and error policies');
  t.notOk(savedKeyMatches(legacyKey(parts({ seed: 3 })), key, p, PATHS), 'another seed');
  t.notOk(savedKeyMatches(legacyKey(parts({ top: { steps: 400 } })), key, p, PATHS), 'other steps');
  t.notOk(savedKeyMatches(legacyKey(p), key, p, ['other/a.tar', 'other/b.tar']), 'first-format keys compare shards by path');
  t.notOk(savedKeyMatches(JSON.stringify({ row: 'declip', seed: 0, n: 2000, config: p.config }), key, p, PATHS), 'a first-format key without the evaluation settings');
  t.notOk(savedKeyMatches(runKey({ ...p, seed: 1 }), key, p, PATHS), 'another current key');
  for (const bad of [undefined, 3, 'not json', '{"config": null}', '{"config": {"data": 1}}', '[]']) t.notOk(savedKeyMatches(bad, key, p, PATHS), `malformed: ${String(bad)}`);
});
