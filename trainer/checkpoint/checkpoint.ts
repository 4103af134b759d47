/**
 * Training checkpoints: one folder per saved step, written atomically.
 *
 * ```
 * RUN/checkpoints/step-000120/model.safetensors      model variables (F32), by parameter name
 * RUN/checkpoints/step-000120/optimizer.safetensors  AdamW moments "m/<name>", "v/<name>"; metadata.step
 * RUN/checkpoints/step-000120/extra.safetensors      other arrays (the NN queue ...)
 * RUN/checkpoints/step-000120/state.json             step, RNG, pipeline position, config, tokenizer ...
 * RUN/checkpoints/latest                             "step-000120" - written last
 * ```
 *
 * A save writes everything into a hidden temporary folder, fsyncs it, renames it to its
 * final name and only then replaces `latest` (temp file + rename). A crash at any point
 * leaves either the previous checkpoint or the new one, never half of one. Loading
 * follows `latest` and falls back to the highest complete `step-*` folder.
 *
 * @example
 * ```ts
 * await saveCheckpoint(runDir, { state, weights, optimizer });
 * const ckpt = await loadCheckpoint(runDir); // newest
 * ```
 */
import { mkdir, open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { CheckpointError } from '../../core/errors.js';
import type { RngState } from '../../core/rng.js';
import type { AdamWState } from '../optim/adamw.js';
import { decodeSafetensors, encodeSafetensors, type StoredTensor, type StoredTensors } from './safetensors.js';
import { parseCheckpointState } from './state.js';

export const CHECKPOINT_FORMAT = 'declip-ts-checkpoint/1';

/** Where the training stream stands: what the pipeline needs to replay to the same place. */
export interface StreamPosition {
  readonly epoch: number;
  /** Samples consumed by the optimizer so far (in whole batches). */
  readonly samplesConsumed: number;
  /** Batches consumed so far (the index of the next batch). */
  readonly batchesConsumed: number;
}

/** The JSON part of a checkpoint. */
export interface CheckpointState {
  readonly format: typeof CHECKPOINT_FORMAT;
  /** Optimizer steps completed. */
  readonly step: number;
  readonly position: StreamPosition;
  /** Batch indices skipped because their loss was not finite. */
  readonly skippedBatches: readonly number[];
  /** State of the trainer's own RNG, if it has one. */
  readonly rng?: RngState | undefined;
  /** The resolved training config. */
  readonly config: unknown;
  /** Path of the tokenizer the run trains with, relative to the run folder. */
  readonly tokenizer?: string | undefined;
  readonly createdAt: string;
  /** Anything else worth keeping (free-form JSON). */
  readonly extra?: Readonly<Record<string, unknown>> | undefined;
}

export interface CheckpointData {
  readonly state: CheckpointState;
  readonly weights: StoredTensors;
  readonly optimizer?: AdamWState | undefined;
  /** Other arrays: the NN queue, ... */
  readonly extra?: StoredTensors | undefined;
}

/** A checkpoint as loaded, with the folder it came from. */
export interface LoadedCheckpoint extends CheckpointData {
  readonly dir: string;
  readonly weights: Record<string, StoredTensor>;
  readonly extra: Record<string, StoredTensor>;
}

export interface SaveCheckpointOptions {
  /** Keep this many newest checkpoints; older ones are deleted after a save. Default 3 (0 = keep all). */
  readonly keep?: number;
}

const STEP_DIR = /^step-(\d+)$/;

/** `step-000123`. */
export function checkpointName(step: number): string {
  return `step-${String(step).padStart(6, '0')}`;
}

async function writeFileSynced(path: string, data: Uint8Array | string): Promise<void> {
  const fh = await open(path, 'w');
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

async function syncDir(path: string): Promise<void> {
  try {
    const fh = await open(path, 'r');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  } catch {
    // fsync of a directory is not supported everywhere (e.g. Windows); the rename is still atomic.
  }
}

function optimizerTensors(state: AdamWState): StoredTensors {
  const out: Record<string, StoredTensor> = {};
  for (const [name, mom] of Object.entries(state.moments)) {
    out[`m/${name}`] = { dtype: 'F32', shape: mom.shape, data: mom.m };
    out[`v/${name}`] = { dtype: 'F32', shape: mom.shape, data: mom.v };
  }
  return out;
}

function optimizerState(tensors: Record<string, StoredTensor>, metadata: Record<string, string>, source: string): AdamWState {
  const step = Number(metadata.step);
  if (!Number.isInteger(step) || step < 0) throw new CheckpointError(source, 'optimizer metadata has no valid "step"');
  const moments: Record<string, { shape: readonly number[]; m: Float32Array; v: Float32Array }> = Object.create(null);
  for (const [key, t] of Object.entries(tensors)) {
    if (!key.startsWith('m/')) continue;
    const name = key.slice(2);
    const v = tensors[`v/${name}`];
    if (v === undefined || !(t.data instanceof Float32Array) || !(v.data instanceof Float32Array)) {
      throw new CheckpointError(source, `optimizer moments for ${name} are incomplete`);
    }
    moments[name] = { shape: t.shape, m: t.data, v: v.data };
  }
  return { step, moments };
}

/** The folder names of complete checkpoints under `runDir/checkpoints`, oldest first. */
export async function listCheckpoints(runDir: string): Promise<string[]> {
  const root = join(runDir, 'checkpoints');
  let names: string[];
  try {
    names = await readdir(root);
  } catch {
    return [];
  }
  const steps: [number, string][] = [];
  for (const name of names) {
    const m = STEP_DIR.exec(name);
    if (m === null) continue;
    try {
      await stat(join(root, name, 'state.json'));
      steps.push([Number(m[1]), name]);
    } catch {
      // incomplete (should not happen: folders appear by rename) - ignore
    }
  }
  return steps.sort((a, b) => a[0] - b[0]).map(([, name]) => name);
}

/** The newest complete checkpoint folder of a run (via `latest`, else by scanning), or undefined. */
export async function latestCheckpoint(runDir: string): Promise<string | undefined> {
  const root = join(runDir, 'checkpoints');
  try {
    const name = (await readFile(join(root, 'latest'), 'utf8')).trim();
    if (STEP_DIR.test(name)) {
      await stat(join(root, name, 'state.json'));
      return join(root, name);
    }
  } catch {
    // no pointer, or it points to a folder that is gone: fall back to scanning
  }
  const all = await listCheckpoints(runDir);
  const last = all.at(-1);
  return last === undefined ? undefined : join(root, last);
}

/**
 * Write a checkpoint for `data.state.step` under `runDir/checkpoints/` atomically, then
 * point `latest` at it and prune old ones. Returns the checkpoint folder.
 */
export async function saveCheckpoint(runDir: string, data: CheckpointData, options: SaveCheckpointOptions = {}): Promise<string> {
  const keep = options.keep ?? 3;
  const root = join(runDir, 'checkpoints');
  const name = checkpointName(data.state.step);
  const final = join(root, name);
  const tmp = join(root, `.tmp-${name}-${process.pid}`);
  try {
    await mkdir(root, { recursive: true });
    await rm(tmp, { recursive: true, force: true });
    await mkdir(tmp);
    await writeFileSynced(join(tmp, 'model.safetensors'), encodeSafetensors(data.weights, { format: CHECKPOINT_FORMAT, step: String(data.state.step) }));
    if (data.optimizer !== undefined) {
      await writeFileSynced(join(tmp, 'optimizer.safetensors'), encodeSafetensors(optimizerTensors(data.optimizer), { step: String(data.optimizer.step) }));
    }
    if (data.extra !== undefined && Object.keys(data.extra).length > 0) {
      await writeFileSynced(join(tmp, 'extra.safetensors'), encodeSafetensors(data.extra));
    }
    await writeFileSynced(join(tmp, 'state.json'), JSON.stringify(data.state, null, 2) + '\n');
    await syncDir(tmp);
    // Re-saving a step (after a resume) replaces the old folder: move it aside first.
    const old = join(root, `.old-${name}-${process.pid}`);
    let moved = false;
    try {
      await rename(final, old);
      moved = true;
    } catch {
      // nothing to replace
    }
    await rename(tmp, final);
    if (moved) await rm(old, { recursive: true, force: true });
    const pointerTmp = join(root, `.latest-${process.pid}`);
    await writeFileSynced(pointerTmp, name + '\n');
    await rename(pointerTmp, join(root, 'latest'));
    await syncDir(root);
  } catch (err) {
    await rm(tmp, { recursive: true, force: true }).catch(() => undefined);
    throw new CheckpointError(final, 'could not write checkpoint', { cause: err });
  }
  if (keep > 0) {
    const all = await listCheckpoints(runDir);
    for (const stale of all.slice(0, Math.max(0, all.length - keep))) {
      if (stale !== name) await rm(join(root, stale), { recursive: true, force: true });
    }
  }
  return final;
}

/**
 * Resolve a path given by a user to a checkpoint folder: a `step-*` folder (has
 * `state.json`) is taken as is; a run folder resolves to its newest checkpoint.
 */
export async function resolveCheckpointDir(path: string): Promise<string> {
  const abs = resolve(path);
  try {
    await stat(join(abs, 'state.json'));
    return abs;
  } catch {
    const latest = await latestCheckpoint(abs);
    if (latest === undefined) throw new CheckpointError(abs, 'no checkpoint found (expected state.json or checkpoints/latest)');
    return latest;
  }
}

async function readSafetensors(path: string): Promise<ReturnType<typeof decodeSafetensors> | undefined> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new CheckpointError(path, 'cannot read', { cause: err });
  }
  return decodeSafetensors(bytes, path);
}

/** Load a checkpoint from a `step-*` folder or the newest one of a run folder. */
export async function loadCheckpoint(path: string): Promise<LoadedCheckpoint> {
  const dir = await resolveCheckpointDir(path);
  let text: string;
  try {
    text = await readFile(join(dir, 'state.json'), 'utf8');
  } catch (err) {
    throw new CheckpointError(dir, 'state.json is missing', { cause: err });
  }
  const state = parseCheckpointState(text, dir);
  const model = await readSafetensors(join(dir, 'model.safetensors'));
  if (model === undefined) throw new CheckpointError(dir, 'model.safetensors is missing');
  const opt = await readSafetensors(join(dir, 'optimizer.safetensors'));
  const extra = await readSafetensors(join(dir, 'extra.safetensors'));
  return {
    dir,
    state,
    weights: model.tensors,
    optimizer: opt === undefined ? undefined : optimizerState(opt.tensors, opt.metadata, join(dir, 'optimizer.safetensors')),
    extra: extra?.tensors ?? {},
  };
}
