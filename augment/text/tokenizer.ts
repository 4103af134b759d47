/**
 * The caption tokenizer: byte-level BPE with lower-casing (CLIP-like), trained with the
 * Hugging Face `tokenizers` native binding and stored as one standard `tokenizer.json`.
 *
 * Ids: [PAD]=0, [SOT]=1, [EOT]=2, [MASK]=3, then the 256 byte-level characters (ids
 * 4..259), then the learned merges: the vocabulary size is N + 4 where N counts the 256
 * byte characters plus the learned tokens. Encoding runs through a synchronous
 * TypeScript implementation of the same model (the native `encode` is asynchronous and
 * costs a thread-pool hop per call); `encodeNative` keeps the binding as the reference.
 *
 * @example
 * ```ts
 * const tok = await CaptionTokenizer.train(captions, { vocabSize: 8000 });
 * await tok.save('model/tokenizer.json');
 * const { ids, eot } = (await CaptionTokenizer.load('model/tokenizer.json')).encode(['a dog'], 77);
 * ```
 */
import { once } from 'node:events';
import { createReadStream, createWriteStream, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type * as HF from 'tokenizers';
import { TextError } from '../../core/errors.js';
import { expectInteger } from '../../core/validate.js';
import { BpeEncoder, DEFAULT_BPE_CACHE_WORDS, type BpeModel } from './bpe.js';
import { BYTE_TO_CHAR, CHAR_TO_BYTE, cleanCaption, lowercaseLikeRust, splitPieces } from './bytelevel.js';

/** [PAD] id: fills a row after [EOT]. */
export const PAD_ID = 0;
/** [SOT] id: first token of every row. */
export const SOT_ID = 1;
/** [EOT] id: ends every caption (kept on truncation). */
export const EOT_ID = 2;
/** [MASK] id: the MLM mask token. */
export const MASK_ID = 3;
/** Number of special tokens; ids below this are special. */
export const NUM_SPECIAL_TOKENS = 4;
/** The special tokens in id order. */
export const SPECIAL_TOKENS = ['[PAD]', '[SOT]', '[EOT]', '[MASK]'] as const;
/** Number of byte-level base characters, the smallest valid N. */
export const BYTE_ALPHABET_SIZE = 256;
/** Largest N accepted. */
export const MAX_VOCAB_SIZE = 1 << 20;
/**
 * Learned tokens the binding can produce: it exposes only the default BPE trainer, which
 * stops at 30,000 tokens (its own alphabet included). Ids above are never-produced
 * placeholders, so the vocabulary is still exactly N + 4.
 */
export const NATIVE_TRAINER_LIMIT = 30_000;

/** Token ids of a batch of captions, row-major. */
export interface EncodedCaptions {
  /** [B * L] ids: [SOT] tokens... [EOT] [PAD]*. */
  readonly ids: Int32Array;
  /** [B] index of [EOT] in each row. */
  readonly eot: Int32Array;
}

/** Options of {@link CaptionTokenizer.train}. */
export interface TokenizerTrainOptions {
  /** N: byte characters (256) plus learned tokens; the vocabulary is N + 4. */
  readonly vocabSize: number;
  /** Cancels writing the training corpus. */
  readonly signal?: AbortSignal | undefined;
}

/** Options of a loaded tokenizer. */
export interface TokenizerOptions {
  /** Bound of the per-instance word cache, in words. Default 50,000. */
  readonly cacheWords?: number;
}

interface TokenizerJson {
  readonly model?: {
    readonly type?: string;
    readonly vocab?: Record<string, number>;
    readonly merges?: readonly (readonly [string, string] | string)[];
    readonly end_of_word_suffix?: string | null;
    readonly continuing_subword_prefix?: string | null;
  };
  readonly normalizer?: { readonly type?: string } | null;
  readonly pre_tokenizer?: { readonly type?: string; readonly add_prefix_space?: boolean; readonly use_regex?: boolean } | null;
}

type HFModule = typeof HF;
let hfModule: Promise<HFModule> | undefined;
/** The native binding, loaded on first use (training, `encodeNative`). */
function loadHF(): Promise<HFModule> {
  hfModule ??= import('tokenizers') as Promise<HFModule>;
  return hfModule;
}

function placeholder(k: number): string {
  return `<|unused:${k}|>`;
}

/** Build the tokenizer.json text for a vocabulary and merges (specials and byte alphabet included). */
function buildJson(vocab: ReadonlyMap<string, number>, merges: readonly (readonly [string, string])[]): string {
  const tokenRef = (name: string, typeId: number): object => ({ SpecialToken: { id: name, type_id: typeId } });
  const json = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [],
    normalizer: { type: 'Lowercase' },
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    post_processor: {
      type: 'TemplateProcessing',
      single: [tokenRef('[SOT]', 0), { Sequence: { id: 'A', type_id: 0 } }, tokenRef('[EOT]', 0)],
      pair: [
        tokenRef('[SOT]', 0),
        { Sequence: { id: 'A', type_id: 0 } },
        tokenRef('[EOT]', 0),
        { Sequence: { id: 'B', type_id: 1 } },
        tokenRef('[EOT]', 1),
      ],
      special_tokens: {
        '[SOT]': { id: '[SOT]', ids: [SOT_ID], tokens: ['[SOT]'] },
        '[EOT]': { id: '[EOT]', ids: [EOT_ID], tokens: ['[EOT]'] },
      },
    },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab: Object.fromEntries(vocab),
      merges,
    },
  };
  return JSON.stringify(json);
}

/**
 * Rebuild a trained model with fixed ids: specials 0..3, the 256 byte characters, then
 * learned merges in rank order until N tokens (the prefix of the merge list is exactly the
 * model a trainer stopping at N would learn), then placeholders up to N.
 */
function rebuild(trainedMerges: readonly (readonly [string, string])[], n: number): BpeModel {
  const vocab = new Map<string, number>();
  SPECIAL_TOKENS.forEach((s, i) => vocab.set(s, i));
  for (const ch of BYTE_TO_CHAR) vocab.set(ch, vocab.size);
  const merges: (readonly [string, string])[] = [];
  const limit = n + NUM_SPECIAL_TOKENS;
  for (const [a, b] of trainedMerges) {
    if (vocab.size >= limit) break;
    if (!vocab.has(a) || !vocab.has(b)) continue; // cannot happen for a trained list; be safe
    merges.push([a, b]);
    if (!vocab.has(a + b)) vocab.set(a + b, vocab.size);
  }
  for (let k = 0; vocab.size < limit; k++) if (!vocab.has(placeholder(k))) vocab.set(placeholder(k), vocab.size);
  return { vocab, merges };
}

function parseMerge(m: readonly [string, string] | string): readonly [string, string] {
  if (typeof m !== 'string') return m;
  const i = m.indexOf(' ');
  return [m.slice(0, i), m.slice(i + 1)];
}

async function* linesOf(files: readonly string[]): AsyncGenerator<string> {
  for (const file of files) {
    const rl = createInterface({ input: createReadStream(file, { encoding: 'utf8' }), crlfDelay: Infinity });
    try {
      for await (const line of rl) yield line;
    } finally {
      rl.close();
    }
  }
}

/**
 * Byte-level BPE caption tokenizer with fixed special ids. Synchronous `encode`; safe to
 * create one per worker thread (loading parses one JSON file; the native binding is only
 * loaded for training and {@link CaptionTokenizer.encodeNative}).
 *
 * @example
 * ```ts
 * const tok = CaptionTokenizer.loadSync('model/tokenizer.json');
 * const { ids, eot } = tok.encode(['a photo of a dog'], 77); // ids[0] === SOT_ID
 * ```
 */
export class CaptionTokenizer {
  readonly #json: string;
  readonly #encoder: BpeEncoder;
  readonly #idToToken: readonly string[];
  #native: HF.Tokenizer | undefined;
  /** Vocabulary size, N + 4 (the size of the model's embedding table). */
  readonly vocabSize: number;

  private constructor(json: string, model: BpeModel, options: TokenizerOptions) {
    this.#json = json;
    const cacheWords = expectInteger('cacheWords', options.cacheWords ?? DEFAULT_BPE_CACHE_WORDS, 1);
    this.#encoder = new BpeEncoder(model, cacheWords);
    const idToToken: string[] = new Array<string>(model.vocab.size);
    for (const [token, id] of model.vocab) idToToken[id] = token;
    this.#idToToken = idToToken;
    this.vocabSize = model.vocab.size;
  }

  /** N: the vocabulary size without the 4 special tokens. */
  get learnedSize(): number {
    return this.vocabSize - NUM_SPECIAL_TOKENS;
  }

  /**
   * Parse a `tokenizer.json` written by {@link CaptionTokenizer.save}.
   *
   * @throws {TextError} `reason: 'tokenizer-file'` when it is not such a file.
   */
  static fromJSON(json: string, options: TokenizerOptions = {}, source = 'tokenizer JSON'): CaptionTokenizer {
    const bad = (why: string, cause?: unknown): TextError =>
      new TextError('tokenizer-file', `Unsupported tokenizer (${source}): ${why}`, { cause });
    let parsed: TokenizerJson;
    try {
      parsed = JSON.parse(json) as TokenizerJson;
    } catch (err) {
      throw bad('not JSON', err);
    }
    const model = parsed.model;
    if (model?.type !== 'BPE' || model.vocab === undefined || model.merges === undefined) throw bad('expected a BPE model');
    if (model.end_of_word_suffix || model.continuing_subword_prefix) throw bad('subword affixes are not supported');
    if (parsed.normalizer?.type !== 'Lowercase') throw bad('expected the Lowercase normalizer');
    const pre = parsed.pre_tokenizer;
    if (pre?.type !== 'ByteLevel' || pre.add_prefix_space !== true || pre.use_regex !== true) {
      throw bad('expected the ByteLevel pre-tokenizer with add_prefix_space and use_regex');
    }
    const vocab = new Map(Object.entries(model.vocab));
    SPECIAL_TOKENS.forEach((s, i) => {
      if (vocab.get(s) !== i) throw bad(`${s} must have id ${i}`);
    });
    for (const ch of BYTE_TO_CHAR) if (!vocab.has(ch)) throw bad('the byte alphabet is incomplete');
    const seen = new Uint8Array(vocab.size);
    for (const id of vocab.values()) {
      if (!Number.isInteger(id) || id < 0 || id >= vocab.size || seen[id] === 1) throw bad('ids must be 0..size-1 without gaps');
      seen[id] = 1;
    }
    return new CaptionTokenizer(json, { vocab, merges: model.merges.map(parseMerge) }, options);
  }

  /** Load a saved tokenizer (asynchronous read). */
  static async load(path: string, options: TokenizerOptions = {}): Promise<CaptionTokenizer> {
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      throw new TextError('tokenizer-file', `Cannot read tokenizer ${path}`, { cause: err });
    }
    return CaptionTokenizer.fromJSON(text, options, path);
  }

  /** Load a saved tokenizer synchronously (worker start-up). */
  static loadSync(path: string, options: TokenizerOptions = {}): CaptionTokenizer {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      throw new TextError('tokenizer-file', `Cannot read tokenizer ${path}`, { cause: err });
    }
    return CaptionTokenizer.fromJSON(text, options, path);
  }

  /**
   * Train on captions (strings, sync or async iterable). They are cleaned and written to
   * a temporary file, which the native trainer reads; the file is removed afterwards.
   * Training itself is synchronous native code and blocks this thread while it runs.
   *
   * @example
   * ```ts
   * const tok = await CaptionTokenizer.train(['a dog', 'a cat on a mat'], { vocabSize: 300 });
   * tok.vocabSize // 304
   * ```
   */
  static async train(
    captions: Iterable<string> | AsyncIterable<string>,
    options: TokenizerTrainOptions,
  ): Promise<CaptionTokenizer> {
    const n = expectInteger('vocabSize', options.vocabSize, BYTE_ALPHABET_SIZE, MAX_VOCAB_SIZE);
    const signal = options.signal;
    signal?.throwIfAborted();
    const hf = await loadHF();
    const dir = await mkdtemp(join(tmpdir(), 'declip-tokenizer-'));
    try {
      const corpus = join(dir, 'captions.txt');
      const out = createWriteStream(corpus, { encoding: 'utf8' });
      try {
        for await (const caption of captions) {
          signal?.throwIfAborted();
          const line = cleanCaption(caption);
          if (line.length === 0) continue;
          if (!out.write(line + '\n')) await once(out, 'drain', signal === undefined ? {} : { signal });
        }
      } finally {
        out.end();
        await once(out, 'close');
      }
      const trainer = new hf.Tokenizer(hf.BPE.empty());
      trainer.setNormalizer(hf.lowercase());
      trainer.setPreTokenizer(hf.byteLevelPreTokenizer(true, true));
      try {
        trainer.train([corpus]);
      } catch (err) {
        throw new TextError('tokenizer-train', 'Tokenizer training failed', { cause: err });
      }
      const trainedPath = join(dir, 'trained.json');
      trainer.save(trainedPath);
      const trained = JSON.parse(await readFile(trainedPath, 'utf8')) as TokenizerJson;
      const model = rebuild((trained.model?.merges ?? []).map(parseMerge), n);
      const json = buildJson(model.vocab, model.merges);
      hf.Tokenizer.fromString(json); // the native library must accept what we save
      return new CaptionTokenizer(json, model, {});
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  /** Train on caption files, one caption per line (see {@link CaptionTokenizer.train}). */
  static trainFromFiles(files: readonly string[], options: TokenizerTrainOptions): Promise<CaptionTokenizer> {
    return CaptionTokenizer.train(linesOf(files), options);
  }

  /** The standard `tokenizer.json` text (loadable by any Hugging Face `tokenizers` binding). */
  toJSON(): string {
    return this.#json;
  }

  /** Write `tokenizer.json` (e.g. into a model folder). */
  async save(path: string): Promise<void> {
    try {
      await writeFile(path, this.#json, 'utf8');
    } catch (err) {
      throw new TextError('tokenizer-file', `Cannot write tokenizer ${path}`, { cause: err });
    }
  }

  /**
   * Token ids of one caption, without special tokens (cleaned and lower-cased first).
   *
   * @example
   * ```ts
   * tok.tokenIds('A dog') // e.g. [290, 1204]
   * ```
   */
  tokenIds(caption: string): number[] {
    const out: number[] = [];
    for (const piece of splitPieces(lowercaseLikeRust(cleanCaption(caption)))) {
      for (const id of this.#encoder.encodePiece(piece)) out.push(id);
    }
    return out;
  }

  /**
   * Encode captions into fresh arrays: each row is [SOT] tokens [EOT] [PAD]...; a
   * caption longer than L - 2 tokens is cut so [EOT] is the last token of the row.
   *
   * @example
   * ```ts
   * const { ids, eot } = tok.encode(['a dog', 'a cat'], 77); // ids.length === 154
   * ```
   */
  encode(captions: readonly string[], contextLength: number): EncodedCaptions {
    const L = expectInteger('contextLength', contextLength, 2);
    const ids = new Int32Array(captions.length * L);
    const eot = new Int32Array(captions.length);
    captions.forEach((c, row) => this.encodeRow(c, L, ids, row * L, eot, row));
    return { ids, eot };
  }

  /**
   * Encode one caption into `ids[offset .. offset + L)` (overwriting all L cells) and
   * store its [EOT] index in `eot[eotIndex]`. No validation: the hot path of batch builders.
   * Returns the [EOT] index.
   */
  encodeRow(caption: string, contextLength: number, ids: Int32Array, offset: number, eot?: Int32Array, eotIndex = 0): number {
    const maxTokens = contextLength - 2;
    let n = 0;
    ids[offset] = SOT_ID;
    outer: for (const piece of splitPieces(lowercaseLikeRust(cleanCaption(caption)))) {
      for (const id of this.#encoder.encodePiece(piece)) {
        if (n >= maxTokens) break outer;
        ids[offset + 1 + n++] = id;
      }
    }
    const end = n + 1;
    ids[offset + end] = EOT_ID;
    ids.fill(PAD_ID, offset + end + 1, offset + contextLength);
    if (eot !== undefined) eot[eotIndex] = end;
    return end;
  }

  /**
   * The same encoding through the native binding (asynchronous `encodeBatch`): the
   * reference the TypeScript path is tested against, and a fallback.
   */
  async encodeNative(captions: readonly string[], contextLength: number): Promise<EncodedCaptions> {
    const L = expectInteger('contextLength', contextLength, 2);
    if (this.#native === undefined) {
      const hf = await loadHF();
      this.#native ??= hf.Tokenizer.fromString(this.#json);
    }
    // The saved post-processor adds [SOT] ... [EOT]; cut the middle so [EOT] stays last.
    const encodings = await this.#native.encodeBatch(captions.map(cleanCaption), { addSpecialTokens: true });
    const ids = new Int32Array(captions.length * L);
    const eot = new Int32Array(captions.length);
    encodings.forEach((enc, row) => {
      const all = enc.getIds();
      const row_ = all.length <= L ? all : [...all.slice(0, L - 1), EOT_ID];
      ids.set(row_, row * L);
      eot[row] = row_.length - 1;
    });
    return { ids, eot };
  }

  /**
   * Text of token ids, skipping special tokens and placeholders and stopping at [EOT].
   *
   * @example
   * ```ts
   * tok.decode(tok.encode(['A  Dog'], 8).ids) // 'a dog'
   * ```
   */
  decode(ids: ArrayLike<number>): string {
    const bytes: number[] = [];
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i] as number;
      if (id === EOT_ID) break;
      if (id < NUM_SPECIAL_TOKENS) continue;
      const token = this.#idToToken[id];
      if (token === undefined || token.startsWith('<|unused:')) continue;
      for (let k = 0; k < token.length; k++) {
        const b = CHAR_TO_BYTE[token.charCodeAt(k)];
        if (b !== undefined && b >= 0) bytes.push(b);
      }
    }
    return new TextDecoder('utf-8').decode(new Uint8Array(bytes)).replace(/^ /u, '');
  }

  /** The token string of an id (byte-level characters), or undefined. */
  idToToken(id: number): string | undefined {
    return this.#idToToken[id];
  }
}
