/**
 * The identity of one experiment run: what decides the weights it ends with and how they
 * are scored. A run folder whose `scores.json` holds the same key is reused instead of
 * trained again, so the key holds the training-relevant fields only:
 *
 * - kept: the row, seed and size; the model, mode, loss, optimizer, batch, steps, seed,
 *   `maxNonFinite` and compute threads of the training config; the data's content (each
 *   training shard's sha256 from its index, not its path), shuffle buffer and augmentation;
 *   the evaluation's split sizes, caption seed, probe and retrieval sizes.
 * - left out: pipeline plumbing that does not change a batch - `data.workers` and
 *   `data.prefetch` (samples are re-ordered by sequence number and every augmentation draw
 *   is seeded from (seed, epoch, key, view): test/pipeline/real-shards.test.ts checks the
 *   batches byte for byte with 1 or 2 workers), the error policies `data.onError`,
 *   `data.onShardError` and `data.allowPipeFromFiles` (they only act on bad or unopenable
 *   input), `compute.timeoutMs`, and the checkpoint cadence (`checkpointEvery`,
 *   `keepCheckpoints`).
 *
 * Keys written before this module (`{row, seed, n, config, ...}` with the whole resolved
 * config, shards by path) still match when their training-relevant fields do.
 *
 * @example
 * ```ts
 * const key = runKey({ row: 'clip', seed: 0, trainPairs: 2000, config, shards: digests, evaluation });
 * if (savedKeyMatches(saved.key, key, legacy)) reuse();
 * ```
 */
import type { TrainConfig } from '../config.js';
import type { ExperimentRow } from './rows.js';

/** What the scores of a run also depend on (the evaluation's settings). */
export interface RunEvaluationKey {
  readonly test: number;
  readonly validation: number;
  readonly dataSeed: number;
  readonly probeTrain: number;
  readonly retrievalPairs: number;
}

/** The parts of a run's identity. */
export interface RunKeyParts {
  readonly row: ExperimentRow;
  readonly seed: number;
  readonly trainPairs: number;
  readonly config: TrainConfig;
  /** The training shards' identities, in order (sha256 of each shard; legacy keys: paths). */
  readonly shards: readonly string[];
  readonly evaluation: RunEvaluationKey;
}

/** The training-relevant fields of a resolved config (see the module comment for what is left out). */
export function trainingIdentity(config: TrainConfig, shards: readonly string[]): Record<string, unknown> {
  return {
    modelName: config.modelName,
    model: config.model,
    mode: config.mode,
    loss: config.loss,
    optimizer: config.optimizer,
    batch: config.batch,
    steps: config.steps,
    seed: config.seed,
    maxNonFinite: config.maxNonFinite,
    threads: config.compute.threads,
    data: { shards, shuffleBuffer: config.data.shuffleBuffer, augment: config.data.augment },
  };
}

/** JSON with object keys sorted at every level (field order does not make two keys differ). */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) =>
    v !== null && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) : v,
  );
}

/** The key of a run (version 2: training-relevant fields, shards by content). */
export function runKey(p: RunKeyParts): string {
  return canonicalJson({ version: 2, row: p.row, seed: p.seed, n: p.trainPairs, training: trainingIdentity(p.config, p.shards), evaluation: p.evaluation });
}

/**
 * Whether a saved key is this run's: equal to `key`, or a key of the first format (the
 * whole resolved config, shards by path) whose training-relevant fields equal this run's
 * with `legacyShards` (this run's shard paths).
 */
export function savedKeyMatches(saved: unknown, key: string, parts: RunKeyParts, legacyShards: readonly string[]): boolean {
  if (saved === key) return true;
  if (typeof saved !== 'string') return false;
  let old: unknown;
  try {
    old = JSON.parse(saved);
  } catch {
    return false;
  }
  if (old === null || typeof old !== 'object' || !('config' in old)) return false;
  const { row, seed, n, config, test, validation, dataSeed, probeTrain, retrievalPairs } = old as Record<string, unknown> & { config: TrainConfig };
  if (config === null || typeof config !== 'object' || typeof config.data !== 'object' || typeof config.compute !== 'object') return false;
  const legacy = runKey({
    row: row as ExperimentRow,
    seed: seed as number,
    trainPairs: n as number,
    config,
    shards: config.data.shards,
    evaluation: { test, validation, dataSeed, probeTrain, retrievalPairs } as RunEvaluationKey,
  });
  return legacy === runKey({ ...parts, shards: legacyShards });
}
