/**
 * BERT-style masked-language-model corruption of token rows, deterministic from an
 * {@link Rng}.
 *
 * Each non-special token (id >= 4: never [PAD], [SOT], [EOT] or [MASK]) is chosen
 * independently with probability `maskProbability` (0.15). A chosen token becomes [MASK]
 * with probability 0.8, a uniformly random non-special id with 0.1 (it may draw the same
 * id), and stays with 0.1. `labels` holds the original id at chosen positions and -100
 * everywhere else. When a row has word tokens but none was chosen, one of them is chosen
 * uniformly (`ensureOne`, on by default), so every caption contributes to the MLM loss;
 * for a caption of n word tokens this raises the expected chosen fraction from 0.15 to
 * 0.15 + 0.85^n / n (0.166 at n = 10, +0.00001 at n = 50).
 *
 * Random draws per row, in order: one uniform per word token (chosen?), then, if none was
 * chosen, one integer (which); then for each chosen token in order one uniform (80/10/10)
 * and, for the random branch, one integer (which id).
 *
 * @example
 * ```ts
 * const mlm = resolveMlmOptions({}, tokenizer.vocabSize);
 * const { tokensMasked, labels } = maskTokens(row, rng, mlm);
 * ```
 */
import type { Rng } from '../../core/rng.js';
import { expectBoolean, expectInteger, expectProbability, invalidOption } from '../../core/validate.js';
import { MASK_ID, NUM_SPECIAL_TOKENS } from './tokenizer.js';

/** Label value of positions that are not predicted (PyTorch's ignore index). */
export const IGNORE_LABEL = -100;

/** MLM options as a caller writes them. */
export interface MlmOptions {
  /** Probability that a word token is chosen. Default 0.15. */
  readonly maskProbability?: number;
  /** Of the chosen, the fraction replaced by [MASK]. Default 0.8. */
  readonly maskTokenFraction?: number;
  /** Of the chosen, the fraction replaced by a random token. Default 0.1 (the rest are kept). */
  readonly randomTokenFraction?: number;
  /** Choose one word token when none was chosen. Default true. */
  readonly ensureOne?: boolean;
}

/** Resolved MLM options (validated; what {@link maskTokens} takes). */
export interface MlmConfig {
  readonly maskProbability: number;
  readonly maskTokenFraction: number;
  readonly randomTokenFraction: number;
  readonly ensureOne: boolean;
  /** Vocabulary size N + 4: random ids are drawn from [4, vocabSize). */
  readonly vocabSize: number;
}

/** BERT's defaults. */
export const DEFAULT_MLM_OPTIONS: Readonly<Required<MlmOptions>> = Object.freeze({
  maskProbability: 0.15,
  maskTokenFraction: 0.8,
  randomTokenFraction: 0.1,
  ensureOne: true,
});

/**
 * Validate MLM options once, at the boundary.
 *
 * @example
 * ```ts
 * const mlm = resolveMlmOptions({ maskProbability: 0.2 }, tok.vocabSize);
 * ```
 */
export function resolveMlmOptions(options: MlmOptions, vocabSize: number): MlmConfig {
  const o = { ...DEFAULT_MLM_OPTIONS, ...options };
  const maskTokenFraction = expectProbability('maskTokenFraction', o.maskTokenFraction);
  const randomTokenFraction = expectProbability('randomTokenFraction', o.randomTokenFraction);
  if (maskTokenFraction + randomTokenFraction > 1) {
    throw invalidOption('randomTokenFraction', `number of at most 1 - maskTokenFraction (${1 - maskTokenFraction})`, randomTokenFraction);
  }
  return Object.freeze({
    maskProbability: expectProbability('maskProbability', o.maskProbability),
    maskTokenFraction,
    randomTokenFraction,
    ensureOne: expectBoolean('ensureOne', o.ensureOne),
    vocabSize: expectInteger('vocabSize', vocabSize, NUM_SPECIAL_TOKENS + 1),
  });
}

/** Where {@link maskTokens} writes: `length` cells from `offset` of each array. */
export interface MlmOutput {
  readonly tokensMasked: Int32Array;
  readonly labels: Int32Array;
  /** First cell written (default 0). */
  readonly offset?: number;
}

/**
 * Mask one token row (e.g. `ids.subarray(r * L, (r + 1) * L)`). Writes into `out` at its
 * offset when given (no allocation), else into fresh arrays. Returns the number of
 * chosen positions and the output.
 *
 * @example
 * ```ts
 * maskTokens(ids.subarray(0, L), rng, mlm, { tokensMasked: batch.tokensMasked, labels: batch.mlmLabels, offset: 0 });
 * ```
 */
export function maskTokens(
  row: Int32Array,
  rng: Rng,
  config: MlmConfig,
  out?: MlmOutput,
): { readonly chosen: number; readonly tokensMasked: Int32Array; readonly labels: Int32Array } {
  const length = row.length;
  const tokensMasked = out?.tokensMasked ?? new Int32Array(length);
  const labels = out?.labels ?? new Int32Array(length);
  const base = out?.offset ?? 0;
  labels.fill(IGNORE_LABEL, base, base + length);
  let words = 0;
  let chosen = 0;
  for (let i = 0; i < length; i++) {
    const id = row[i] as number;
    tokensMasked[base + i] = id;
    if (id < NUM_SPECIAL_TOKENS) continue;
    words++;
    if (rng.next() < config.maskProbability) {
      labels[base + i] = id; // marks the position as chosen for the pass below
      chosen++;
    }
  }
  if (chosen === 0 && words > 0 && config.ensureOne) {
    let k = rng.int(words);
    for (let i = 0; i < length; i++) {
      if ((row[i] as number) < NUM_SPECIAL_TOKENS) continue;
      if (k-- === 0) {
        labels[base + i] = row[i] as number;
        chosen = 1;
        break;
      }
    }
  }
  if (chosen > 0) {
    const maskCut = config.maskTokenFraction;
    const randomCut = maskCut + config.randomTokenFraction;
    const randomSpan = config.vocabSize - NUM_SPECIAL_TOKENS;
    for (let i = 0; i < length; i++) {
      if (labels[base + i] === IGNORE_LABEL) continue;
      const u = rng.next();
      if (u < maskCut) tokensMasked[base + i] = MASK_ID;
      else if (u < randomCut) tokensMasked[base + i] = NUM_SPECIAL_TOKENS + rng.int(randomSpan);
    }
  }
  return { chosen, tokensMasked, labels };
}
