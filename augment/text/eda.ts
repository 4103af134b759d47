/**
 * EDA, Easy Data Augmentation (Wei & Zou 2019): synonym replacement, random insertion,
 * random swap and random deletion over a caption's words, every choice drawn from the
 * passed {@link Rng}. DeCLIP's text view uses the `declip` preset: per caption, one of
 * synonym replacement / random swap / random deletion chosen uniformly, n = 1 word, p = 0.1.
 *
 * Words are the caption's white-space separated tokens. Punctuation stays attached: a
 * word is a synonym candidate when its letters (after stripping leading and trailing
 * non-letters) are all a-z, it is not an EDA stop word, and WordNet knows synonyms for
 * it; the replacement keeps the surrounding punctuation.
 *
 * Edge cases: an empty caption comes back empty from every op; a one-word caption is
 * never swapped or deleted (EDA's rule) but may get a synonym; when no word has
 * synonyms, synonym replacement and insertion return the words unchanged. Random
 * deletion never returns an empty caption: if every word was deleted one random word is
 * kept (EDA's rule).
 *
 * @example
 * ```ts
 * const { text, op } = applyEda('a red car on the street', new Rng(7), EDA_PRESETS.declip);
 * ```
 */
import { invalidOption, expectInteger, expectProbability } from '../../core/validate.js';
import type { Rng } from '../../core/rng.js';
import { cleanCaption } from './bytelevel.js';
import { EDA_STOP_WORDS } from './stopwords.js';
import { defaultWordNet } from './wordnet.js';

/** Where synonyms come from (the WordNet reader, or a stub in tests). */
export interface SynonymSource {
  /** Synonyms of a lower-case word, `[]` when none. */
  synonyms(word: string): readonly string[];
}

/** One EDA operation with its strength. */
export type EdaOpSpec =
  | { readonly op: 'synonym'; readonly n: number }
  | { readonly op: 'insert'; readonly n: number }
  | { readonly op: 'swap'; readonly n: number }
  | { readonly op: 'delete'; readonly p: number };

/** Names of the EDA operations. */
export type EdaOpName = EdaOpSpec['op'];

/** An EDA configuration: per caption, one of `ops` is chosen uniformly and applied. */
export interface EdaConfig {
  readonly ops: readonly EdaOpSpec[];
}

/** Built-in configurations. */
export const EDA_PRESETS = Object.freeze({
  /** DeCLIP's official choice: one of synonym replacement / swap / deletion, n = 1, p = 0.1. */
  declip: Object.freeze({
    ops: Object.freeze([
      Object.freeze({ op: 'synonym', n: 1 }),
      Object.freeze({ op: 'swap', n: 1 }),
      Object.freeze({ op: 'delete', p: 0.1 }),
    ]),
  }),
  /** All four operations of the EDA paper, one per caption, n = 1, p = 0.1. */
  full: Object.freeze({
    ops: Object.freeze([
      Object.freeze({ op: 'synonym', n: 1 }),
      Object.freeze({ op: 'insert', n: 1 }),
      Object.freeze({ op: 'swap', n: 1 }),
      Object.freeze({ op: 'delete', p: 0.1 }),
    ]),
  }),
} satisfies Record<string, EdaConfig>);

/** Names of {@link EDA_PRESETS}. */
export type EdaPresetName = keyof typeof EDA_PRESETS;

/** The most words one op may touch (n). */
export const MAX_EDA_N = 64;

/**
 * Validate an EDA configuration (a preset name or an object) once, at the boundary.
 *
 * @example
 * ```ts
 * resolveEdaConfig({ ops: [{ op: 'delete', p: 0.2 }] })
 * ```
 */
export function resolveEdaConfig(input: EdaPresetName | EdaConfig): EdaConfig {
  if (typeof input === 'string') {
    if (!Object.hasOwn(EDA_PRESETS, input)) throw invalidOption('eda', `one of ${Object.keys(EDA_PRESETS).join(', ')}`, input);
    return EDA_PRESETS[input];
  }
  if (typeof input !== 'object' || input === null || !Array.isArray(input.ops) || input.ops.length === 0) {
    throw invalidOption('eda.ops', 'non-empty array of EDA operations', input);
  }
  const ops = input.ops.map((spec: EdaOpSpec, i): EdaOpSpec => {
    const where = `eda.ops[${i}]`;
    switch (spec.op) {
      case 'synonym':
      case 'insert':
      case 'swap':
        return Object.freeze({ op: spec.op, n: expectInteger(`${where}.n`, spec.n, 0, MAX_EDA_N) });
      case 'delete':
        return Object.freeze({ op: spec.op, p: expectProbability(`${where}.p`, spec.p) });
      default:
        throw invalidOption(`${where}.op`, `one of ${Object.keys(EDA_OPS).join(', ')}`, (spec as { op: unknown }).op);
    }
  });
  return Object.freeze({ ops: Object.freeze(ops) });
}

/**
 * A caption's words: cleaned (trimmed, white space collapsed) and split on spaces.
 *
 * @example
 * ```ts
 * splitWords('  a dog,  running ') // ['a', 'dog,', 'running']
 * ```
 */
export function splitWords(caption: string): string[] {
  const clean = cleanCaption(caption);
  return clean.length === 0 ? [] : clean.split(' ');
}

const CORE = /^([^a-zA-Z]*)([a-zA-Z]+)([^a-zA-Z]*)$/u;

/** The letters of a synonym candidate (lower-cased) with its surrounding punctuation, or undefined. */
function candidate(word: string): { pre: string; core: string; post: string } | undefined {
  const m = CORE.exec(word);
  if (m === null) return undefined;
  const core = (m[2] as string).toLowerCase();
  if (EDA_STOP_WORDS.has(core)) return undefined;
  return { pre: m[1] as string, core, post: m[3] as string };
}

/**
 * Synonym replacement: the distinct candidate words in random order; the first `n` that
 * have synonyms are replaced (every occurrence) by a random synonym.
 *
 * @example
 * ```ts
 * synonymReplacement(['a', 'car'], 1, rng) // ['a', 'automobile'] (or another synonym)
 * ```
 */
export function synonymReplacement(
  words: readonly string[],
  n: number,
  rng: Rng,
  synonyms: SynonymSource = defaultWordNet(),
): string[] {
  const out = words.slice();
  const cores: string[] = [];
  for (const w of words) {
    const c = candidate(w)?.core;
    if (c !== undefined && !cores.includes(c)) cores.push(c);
  }
  rng.shuffle(cores);
  let replaced = 0;
  for (const core of cores) {
    if (replaced >= n) break;
    const syns = synonyms.synonyms(core);
    if (syns.length === 0) continue;
    const syn = syns[rng.int(syns.length)] as string;
    for (let i = 0; i < out.length; i++) {
      const c = candidate(out[i] as string);
      if (c !== undefined && c.core === core) out[i] = c.pre + syn + c.post;
    }
    replaced++;
  }
  return out;
}

/**
 * Random insertion, `n` times: a synonym of a random candidate word (up to 10 tries to
 * find one with synonyms, as EDA) inserted at a random position (0..length).
 *
 * @example
 * ```ts
 * randomInsertion(['a', 'car'], 1, rng) // e.g. ['a', 'auto', 'car']
 * ```
 */
export function randomInsertion(
  words: readonly string[],
  n: number,
  rng: Rng,
  synonyms: SynonymSource = defaultWordNet(),
): string[] {
  const out = words.slice();
  for (let k = 0; k < n; k++) {
    if (out.length === 0) break;
    let syn: string | undefined;
    for (let tries = 0; tries < 10 && syn === undefined; tries++) {
      const c = candidate(out[rng.int(out.length)] as string);
      if (c === undefined) continue;
      const syns = synonyms.synonyms(c.core);
      if (syns.length > 0) syn = syns[rng.int(syns.length)];
    }
    if (syn === undefined) break;
    out.splice(rng.int(out.length + 1), 0, syn);
  }
  return out;
}

/**
 * Random swap, `n` times: two distinct random positions exchange their words
 * (a caption of fewer than two words is unchanged).
 *
 * @example
 * ```ts
 * randomSwap(['a', 'red', 'car'], 1, rng) // e.g. ['car', 'red', 'a']
 * ```
 */
export function randomSwap(words: readonly string[], n: number, rng: Rng): string[] {
  const out = words.slice();
  if (out.length < 2) return out;
  for (let k = 0; k < n; k++) {
    const i = rng.int(out.length);
    let j = rng.int(out.length - 1);
    if (j >= i) j++;
    const t = out[i] as string;
    out[i] = out[j] as string;
    out[j] = t;
  }
  return out;
}

/**
 * Random deletion: each word is deleted with probability `p`; a one-word caption is kept
 * whole, and if every word was deleted one random word remains.
 *
 * @example
 * ```ts
 * randomDeletion(['a', 'red', 'car'], 0.1, rng) // usually all three, sometimes two
 * ```
 */
export function randomDeletion(words: readonly string[], p: number, rng: Rng): string[] {
  if (words.length <= 1) return words.slice();
  const out = words.filter(() => rng.next() >= p);
  return out.length > 0 ? out : [words[rng.int(words.length)] as string];
}

type EdaOpFn = (words: readonly string[], spec: EdaOpSpec, rng: Rng, synonyms: SynonymSource) => string[];

const strength = (spec: EdaOpSpec): number => ('n' in spec ? spec.n : spec.p);

/** The operations by name. */
export const EDA_OPS = {
  synonym: (words, spec, rng, syn) => synonymReplacement(words, strength(spec), rng, syn),
  insert: (words, spec, rng, syn) => randomInsertion(words, strength(spec), rng, syn),
  swap: (words, spec, rng) => randomSwap(words, strength(spec), rng),
  delete: (words, spec, rng) => randomDeletion(words, strength(spec), rng),
} as const satisfies Record<EdaOpName, EdaOpFn>;

/** Result of {@link applyEda}: the augmented caption and the operation applied. */
export interface EdaResult {
  readonly text: string;
  readonly op: EdaOpName;
}

/**
 * Apply one EDA operation, chosen uniformly from `config.ops`, to a caption. The config
 * must come from {@link EDA_PRESETS} or {@link resolveEdaConfig} (not re-validated here).
 * Synchronous: synonyms come from the thread's WordNet reader unless `synonyms` is given.
 *
 * @example
 * ```ts
 * const rng = new Rng(deriveSeed(seed, epoch, sample.__key__, 'text'));
 * applyEda('two dogs play in the snow', rng).text // e.g. 'two dogs play in the snowfall'
 * ```
 */
export function applyEda(
  caption: string,
  rng: Rng,
  config: EdaConfig = EDA_PRESETS.declip,
  synonyms: SynonymSource = defaultWordNet(),
): EdaResult {
  const spec = config.ops[rng.int(config.ops.length)] as EdaOpSpec;
  const words = splitWords(caption);
  return { text: EDA_OPS[spec.op](words, spec, rng, synonyms).join(' '), op: spec.op };
}
