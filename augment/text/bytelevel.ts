/**
 * Byte-level BPE plumbing shared by the TypeScript encoder and the trainer: GPT-2's
 * byte-to-character table, the caption clean-up, the lower-casing and the
 * pre-tokenization regex, written to behave exactly like the Hugging Face `tokenizers`
 * components named in the saved `tokenizer.json` (`Lowercase`, `ByteLevel` with
 * `add_prefix_space: true, use_regex: true`). The tokenizer tests check the two agree.
 */

/**
 * GPT-2's reversible map from the 256 byte values to printable characters: printable
 * Latin-1 bytes map to themselves, the others to U+0100 onwards (space becomes `Ġ`).
 *
 * @example
 * ```ts
 * BYTE_TO_CHAR[32] // 'Ġ'
 * ```
 */
export const BYTE_TO_CHAR: readonly string[] = (() => {
  const chars: string[] = new Array<string>(256);
  let extra = 0;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
    chars[b] = String.fromCharCode(printable ? b : 256 + extra++);
  }
  return chars;
})();

/** Inverse of {@link BYTE_TO_CHAR}: byte-level character code -> byte value (-1 if none). */
export const CHAR_TO_BYTE: Int16Array = (() => {
  const table = new Int16Array(512).fill(-1);
  BYTE_TO_CHAR.forEach((ch, b) => {
    table[ch.charCodeAt(0)] = b;
  });
  return table;
})();

// Everything either JavaScript's `\s` or Oniguruma's Unicode `\s` counts as white space.
const WHITESPACE_RUN = /[\s\u0085]+/gu;
// True when cleaning would change the text (a cheap test; most captions are already clean).
const NEEDS_CLEANING = /[^\S ]|\u0085| {2}|^ | $/u;

/**
 * Trim a caption and collapse every run of white space (any Unicode white space, new
 * lines included) into one ASCII space. Every encoder path applies this first.
 *
 * @example
 * ```ts
 * cleanCaption('  a\tdog\n\non grass ') // 'a dog on grass'
 * ```
 */
export function cleanCaption(text: string): string {
  return NEEDS_CLEANING.test(text) ? text.replace(WHITESPACE_RUN, ' ').trim() : text;
}

/**
 * Lower-case like the Rust `Lowercase` normalizer: character by character, so without
 * JavaScript's context rule for a word-final capital sigma (Rust maps it to `σ`).
 */
export function lowercaseLikeRust(text: string): string {
  if (!text.includes('\u03a3')) return text.toLowerCase();
  let out = '';
  for (const ch of text) out += ch === '\u03a3' ? '\u03c3' : ch.toLowerCase();
  return out;
}

/** GPT-2's pre-tokenization pattern, as the `ByteLevel` pre-tokenizer uses it. */
const GPT2_SPLIT = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;

const encoder = new TextEncoder();

/**
 * The raw pieces (before byte mapping) of a cleaned, lower-cased caption, with the
 * prefix space the saved tokenizer adds.
 *
 * @example
 * ```ts
 * splitPieces('a dog.') // [' a', ' dog', '.']
 * ```
 */
export function splitPieces(normalized: string): string[] {
  if (normalized.length === 0) return [];
  const text = /^\s/u.test(normalized) ? normalized : ' ' + normalized;
  const pieces: string[] = [];
  GPT2_SPLIT.lastIndex = 0;
  for (let m = GPT2_SPLIT.exec(text); m !== null; m = GPT2_SPLIT.exec(text)) pieces.push(m[0]);
  return pieces;
}

/**
 * A piece as a byte-level word: its UTF-8 bytes mapped through {@link BYTE_TO_CHAR}.
 *
 * @example
 * ```ts
 * toByteLevel(' dog') // 'Ġdog'
 * ```
 */
export function toByteLevel(piece: string): string {
  let word = '';
  for (let i = 0; i < piece.length; i++) {
    if (piece.charCodeAt(i) > 0x7f) {
      word = '';
      for (const b of encoder.encode(piece)) word += BYTE_TO_CHAR[b];
      return word;
    }
    word += BYTE_TO_CHAR[piece.charCodeAt(i)];
  }
  return word;
}

/**
 * Split a cleaned, lower-cased caption into byte-level "words" (each a string of
 * {@link BYTE_TO_CHAR} characters), adding the prefix space the saved tokenizer uses.
 *
 * @example
 * ```ts
 * preTokenize('a dog.') // ['Ġa', 'Ġdog', '.']
 * ```
 */
export function preTokenize(normalized: string): string[] {
  return splitPieces(normalized).map(toByteLevel);
}
