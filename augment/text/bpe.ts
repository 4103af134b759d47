/**
 * A synchronous byte-level BPE encoder over a trained vocabulary and merge list, with a
 * bounded per-instance word cache. It implements the same algorithm as the Rust `BPE`
 * model of Hugging Face `tokenizers` (merges applied by rank, leftmost first), without
 * the per-call cost of the native binding's asynchronous `encode`.
 */
import { TextError } from '../../core/errors.js';
import { toByteLevel } from './bytelevel.js';

/** Default bound of the word -> ids cache of one encoder (words, not bytes). */
export const DEFAULT_BPE_CACHE_WORDS = 50_000;

/** The BPE model of a tokenizer: vocabulary and merges in rank order. */
export interface BpeModel {
  readonly vocab: ReadonlyMap<string, number>;
  readonly merges: readonly (readonly [string, string])[];
}

const SEP = ' '; // never a byte-level character, so a safe pair separator

/**
 * Encodes pre-tokenized pieces into token ids.
 *
 * @example
 * ```ts
 * const bpe = new BpeEncoder(model);
 * bpe.encodePiece(' dog') // [412]
 * ```
 */
export class BpeEncoder {
  readonly #vocab: ReadonlyMap<string, number>;
  readonly #ranks = new Map<string, number>();
  readonly #cache = new Map<string, readonly number[]>();
  readonly #cacheWords: number;

  constructor(model: BpeModel, cacheWords = DEFAULT_BPE_CACHE_WORDS) {
    this.#vocab = model.vocab;
    this.#cacheWords = cacheWords;
    model.merges.forEach(([a, b], rank) => {
      const key = a + SEP + b;
      if (!this.#ranks.has(key)) this.#ranks.set(key, rank);
    });
  }

  /**
   * Token ids of one pre-tokenized piece (raw text such as `' dog'`). Cached by piece;
   * the cache is cleared when it reaches its bound.
   */
  encodePiece(piece: string): readonly number[] {
    const hit = this.#cache.get(piece);
    if (hit !== undefined) return hit;
    const ids = this.#merge(toByteLevel(piece));
    if (this.#cache.size >= this.#cacheWords) this.#cache.clear();
    this.#cache.set(piece, ids);
    return ids;
  }

  #merge(word: string): number[] {
    let symbols = Array.from(word);
    while (symbols.length > 1) {
      let bestRank = Infinity;
      let bestA = '';
      let bestB = '';
      for (let i = 0; i + 1 < symbols.length; i++) {
        const a = symbols[i] as string;
        const b = symbols[i + 1] as string;
        const rank = this.#ranks.get(a + SEP + b);
        if (rank !== undefined && rank < bestRank) {
          bestRank = rank;
          bestA = a;
          bestB = b;
        }
      }
      if (bestRank === Infinity) break;
      const merged: string[] = [];
      for (let i = 0; i < symbols.length; i++) {
        if (i + 1 < symbols.length && symbols[i] === bestA && symbols[i + 1] === bestB) {
          merged.push(bestA + bestB);
          i++;
        } else {
          merged.push(symbols[i] as string);
        }
      }
      symbols = merged;
    }
    return symbols.map((s) => {
      const id = this.#vocab.get(s);
      if (id === undefined) throw new TextError('tokenizer-vocab', `Token ${JSON.stringify(s)} is not in the vocabulary`);
      return id;
    });
  }
}
