/**
 * `state.json` of a checkpoint, read through a schema: a checkpoint folder is a file a user
 * may have been handed, so its JSON is validated (types, ranges, no `__proto__` key) before
 * the trainer trusts any of it, and every error names the field.
 *
 * @example
 * ```ts
 * const state = parseCheckpointState(await readFile(join(dir, 'state.json'), 'utf8'), dir);
 * state.position.batchesConsumed;
 * ```
 */
import { z } from 'zod';
import { CheckpointError } from '../../core/errors.js';
import type { CheckpointState } from './checkpoint.js';

const count = z.number().int().nonnegative();

/** The schema of `state.json` (format `declip-ts-checkpoint/1`); unknown keys are kept. */
export const checkpointStateSchema = z.looseObject({
  format: z.literal('declip-ts-checkpoint/1'),
  step: count,
  position: z.looseObject({ epoch: count, samplesConsumed: count, batchesConsumed: count, skipSamples: count.optional() }),
  skippedBatches: z.array(count),
  rng: z.unknown().optional(),
  config: z.unknown(),
  tokenizer: z.string().optional(),
  createdAt: z.string(),
  extra: z.record(z.string(), z.unknown()).optional(),
});

/** JSON.parse that refuses `__proto__` keys (they would re-parent an object they are copied into). */
function parseJson(text: string, dir: string): unknown {
  return JSON.parse(text, function (key: string, value: unknown) {
    if (key === '__proto__') throw new CheckpointError(dir, 'state.json has a "__proto__" key');
    return value;
  });
}

/** Parse and validate the text of `state.json`; `dir` names the checkpoint in errors. */
export function parseCheckpointState(text: string, dir: string): CheckpointState {
  let raw: unknown;
  try {
    raw = parseJson(text, dir);
  } catch (err) {
    if (err instanceof CheckpointError) throw err;
    throw new CheckpointError(dir, 'state.json is not JSON', { cause: err });
  }
  const format = typeof raw === 'object' && raw !== null ? (raw as { format?: unknown }).format : undefined;
  if (format !== 'declip-ts-checkpoint/1') throw new CheckpointError(dir, `unknown checkpoint format ${String(format)}`);
  const parsed = checkpointStateSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const path = issue === undefined || issue.path.length === 0 ? '(root)' : issue.path.join('.');
    throw new CheckpointError(dir, `state.json is malformed at ${path}: ${issue?.message ?? 'invalid'}`, { cause: parsed.error });
  }
  return parsed.data as CheckpointState;
}
