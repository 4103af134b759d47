/**
 * Whether a run may be resumed with a given config: the one place that decides which
 * settings a resumed run must share with the run that wrote the checkpoint.
 *
 * A resume replays the data stream from the checkpoint's position and continues the
 * optimizer from its state, so everything that changes the stream or the model must be
 * the run's: the batch size and gradient accumulation, the seed, the shards and the
 * shuffle buffer, the image augmentation, the model, the mode and the loss. Everything
 * else may change: the number of steps (to extend a run), checkpointing, workers,
 * prefetch, compute threads, the error policies, `maxNonFinite`. Optimizer settings other
 * than `accumulate` may change too (a lower learning rate for the rest of a run is a
 * deliberate choice, and the schedule already follows `steps`).
 *
 * @example
 * ```ts
 * const ck = await loadCheckpoint(runDir);
 * assertResumableConfig(ck.state.config, config, ck.dir); // ResumeConfigError listing e.g. "batch (8 -> 16)"
 * ```
 */
import { ConfigError } from '../../core/errors.js';
import type { TrainConfig } from '../config.js';

/** The config fields (dotted paths; objects are compared leaf by leaf) a resume must keep. */
export const RESUME_FIXED_FIELDS = Object.freeze([
  'batch',
  'optimizer.accumulate',
  'seed',
  'data.shards',
  'data.shuffleBuffer',
  'data.augment',
  'modelName',
  'model',
  'mode',
  'loss',
] as const);

/** One field that differs: its dotted path and both values. */
export interface ConfigDifference {
  readonly field: string;
  readonly run: unknown;
  readonly now: unknown;
}

/** `--resume` with a config that changes the stream or the model. */
export class ResumeConfigError extends ConfigError {
  constructor(
    readonly differences: readonly ConfigDifference[],
    checkpoint: string,
  ) {
    const list = differences.map((d) => `${d.field} (${show(d.run)} -> ${show(d.now)})`).join(', ');
    super(
      `Cannot resume the run of checkpoint ${checkpoint}: the config differs in ${list}. These change the data stream or the model, so the resumed run would not continue the same run: resume with the run's settings, or start a new run in another folder`,
      { path: differences[0]?.field ?? '' },
    );
  }

  /** The differing fields, by dotted path. */
  get fields(): string[] {
    return this.differences.map((d) => d.field);
  }
}

function show(value: unknown): string {
  const text = value === undefined ? 'unset' : JSON.stringify(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

function at(value: unknown, path: string): unknown {
  let v = value;
  for (const key of path.split('.')) v = isRecord(v) && Object.hasOwn(v, key) ? v[key] : undefined;
  return v;
}

/** Leaf-by-leaf differences of two JSON values; a leaf the run's config lacks (an older checkpoint) is not compared. */
function diff(run: unknown, now: unknown, path: string, out: ConfigDifference[]): void {
  if (run === undefined) return;
  if (isRecord(run) && isRecord(now)) {
    for (const key of new Set([...Object.keys(run), ...Object.keys(now)])) {
      diff(Object.hasOwn(run, key) ? run[key] : undefined, Object.hasOwn(now, key) ? now[key] : undefined, `${path}.${key}`, out);
    }
    return;
  }
  if (JSON.stringify(run) !== JSON.stringify(now)) out.push({ field: path, run, now });
}

/**
 * The fields of {@link RESUME_FIXED_FIELDS} in which `current` differs from the config a
 * checkpoint stored (`state.config`), each with both values; empty when the run may resume.
 */
export function resumeConfigDifferences(stored: unknown, current: TrainConfig): ConfigDifference[] {
  // The same JSON round trip as the stored copy (undefined fields dropped, numbers as written).
  const now: unknown = JSON.parse(JSON.stringify(current));
  const out: ConfigDifference[] = [];
  for (const field of RESUME_FIXED_FIELDS) diff(at(stored, field), at(now, field), field, out);
  return out;
}

/** Throw a {@link ResumeConfigError} listing every field that may not change on resume. */
export function assertResumableConfig(stored: unknown, current: TrainConfig, checkpoint: string): void {
  const differences = resumeConfigDifferences(stored, current);
  if (differences.length > 0) throw new ResumeConfigError(differences, checkpoint);
}
