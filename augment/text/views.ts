/**
 * DeCLIP's text views of a caption in one call: the tokenized caption, an EDA-augmented
 * caption tokenized, and the MLM-masked caption with its labels, for one sample or a
 * batch. Synchronous and allocation-light, made to run inside worker threads.
 *
 * Seeds: the caller gives each sample its own {@link Rng}, derived as
 * `new Rng(deriveSeed(seed, epoch, sample.__key__, 'text'))`, so a sample's text views
 * depend only on (seed, epoch, key), never on the worker or the order. That one Rng is
 * consumed in a fixed order: first EDA (op choice, then the op's draws), then MLM.
 *
 * @example
 * ```ts
 * const text = new TextAugmenter(CaptionTokenizer.loadSync('model/tokenizer.json'), { contextLength: 77 });
 * const views = text.views(captions, keys.map((k) => new Rng(deriveSeed(seed, epoch, k, 'text'))));
 * views.tokens; views.tokensEda; views.tokensMasked; views.mlmLabels; views.eot; views.eotEda;
 * ```
 */
import type { Rng } from '../../core/rng.js';
import { expectInteger, invalidOption } from '../../core/validate.js';
import { applyEda, resolveEdaConfig, type EdaConfig, type EdaOpName, type EdaPresetName, type SynonymSource } from './eda.js';
import { maskTokens, resolveMlmOptions, type MlmConfig, type MlmOptions } from './mlm.js';
import type { CaptionTokenizer } from './tokenizer.js';
import { defaultWordNet } from './wordnet.js';

/** CLIP's context length. */
export const DEFAULT_CONTEXT_LENGTH = 77;

/** Options of {@link TextAugmenter}. */
export interface TextAugmenterOptions {
  /** Tokens per row L, [SOT] and [EOT] included. Default 77. */
  readonly contextLength?: number;
  /** EDA preset name or configuration. Default `'declip'`. */
  readonly eda?: EdaPresetName | EdaConfig;
  /** MLM options. Default BERT's (0.15; 80/10/10). */
  readonly mlm?: MlmOptions;
  /** Synonym source for EDA. Default: this thread's WordNet reader. */
  readonly synonyms?: SynonymSource;
}

/** The text views of B samples, [B, L] rows (the text fields of `DeclipBatch`). */
export interface TextViews {
  readonly size: number;
  readonly contextLength: number;
  /** The caption: [SOT] ... [EOT] [PAD]*. */
  readonly tokens: Int32Array;
  /** The EDA caption, tokenized. */
  readonly tokensEda: Int32Array;
  /** `tokens` after MLM masking (same [EOT] positions). */
  readonly tokensMasked: Int32Array;
  /** MLM targets: original id at chosen positions, -100 elsewhere. */
  readonly mlmLabels: Int32Array;
  /** [B] index of [EOT] in `tokens` / `tokensMasked`. */
  readonly eot: Int32Array;
  /** [B] index of [EOT] in `tokensEda`. */
  readonly eotEda: Int32Array;
}

/**
 * Fresh zeroed view buffers for B samples (each array has its own ArrayBuffer, so each
 * can be transferred to another thread).
 *
 * @example
 * ```ts
 * const out = allocateTextViews(64, 77);
 * ```
 */
export function allocateTextViews(size: number, contextLength: number): TextViews {
  const n = size * contextLength;
  return {
    size,
    contextLength,
    tokens: new Int32Array(n),
    tokensEda: new Int32Array(n),
    tokensMasked: new Int32Array(n),
    mlmLabels: new Int32Array(n),
    eot: new Int32Array(size),
    eotEda: new Int32Array(size),
  };
}

/**
 * Makes DeCLIP's text views. Options are validated once here; the per-caption path does
 * no validation and no asynchronous work.
 */
export class TextAugmenter {
  readonly tokenizer: CaptionTokenizer;
  readonly contextLength: number;
  readonly eda: EdaConfig;
  readonly mlm: MlmConfig;
  readonly #synonyms: SynonymSource;

  constructor(tokenizer: CaptionTokenizer, options: TextAugmenterOptions = {}) {
    this.tokenizer = tokenizer;
    this.contextLength = expectInteger('contextLength', options.contextLength ?? DEFAULT_CONTEXT_LENGTH, 2);
    this.eda = resolveEdaConfig(options.eda ?? 'declip');
    this.mlm = resolveMlmOptions(options.mlm ?? {}, tokenizer.vocabSize);
    this.#synonyms = options.synonyms ?? defaultWordNet();
  }

  /** One line for logs: `text(L=77, eda=synonym|swap|delete, mlm=0.15, vocab=8004)`. */
  describe(): string {
    return `text(L=${this.contextLength}, eda=${this.eda.ops.map((o) => o.op).join('|')}, mlm=${this.mlm.maskProbability}, vocab=${this.tokenizer.vocabSize})`;
  }

  /**
   * Write the views of one caption into row `row` of `out` (which must have room for it).
   * Returns the EDA op applied and the EDA caption text.
   */
  viewsInto(caption: string, rng: Rng, out: TextViews, row: number): { readonly op: EdaOpName; readonly text: string } {
    const L = this.contextLength;
    if (out.contextLength !== L) throw invalidOption('out.contextLength', `${L}`, out.contextLength);
    if (!(row >= 0 && row < out.size)) throw invalidOption('row', `integer between 0 and ${out.size - 1}`, row);
    const offset = row * L;
    const eda = applyEda(caption, rng, this.eda, this.#synonyms);
    this.tokenizer.encodeRow(caption, L, out.tokens, offset, out.eot, row);
    this.tokenizer.encodeRow(eda.text, L, out.tokensEda, offset, out.eotEda, row);
    maskTokens(out.tokens.subarray(offset, offset + L), rng, this.mlm, {
      tokensMasked: out.tokensMasked,
      labels: out.mlmLabels,
      offset,
    });
    return eda;
  }

  /**
   * Views of a batch: `captions[i]` with `rngs[i]` becomes row i.
   *
   * @example
   * ```ts
   * const v = text.views(['a dog', 'a cat'], [new Rng(1), new Rng(2)]); // v.tokens.length === 2 * 77
   * ```
   */
  views(captions: readonly string[], rngs: readonly Rng[]): TextViews {
    if (rngs.length !== captions.length) throw invalidOption('rngs', `array of ${captions.length} Rng`, rngs);
    const out = allocateTextViews(captions.length, this.contextLength);
    captions.forEach((caption, i) => this.viewsInto(caption, rngs[i] as Rng, out, i));
    return out;
  }
}

/**
 * Text views of one caption, or of a batch, with the default options (`declip` EDA,
 * BERT MLM). For many calls, build one {@link TextAugmenter} instead.
 *
 * @example
 * ```ts
 * const v = makeTextViews('a dog on a beach', new Rng(deriveSeed(0, 0, 'key', 'text')), tok, 77);
 * ```
 */
export function makeTextViews(
  caption: string | readonly string[],
  rng: Rng | readonly Rng[],
  tokenizer: CaptionTokenizer,
  contextLength = DEFAULT_CONTEXT_LENGTH,
): TextViews {
  const augmenter = new TextAugmenter(tokenizer, { contextLength });
  return typeof caption === 'string'
    ? augmenter.views([caption], [rng as Rng])
    : augmenter.views(caption, rng as readonly Rng[]);
}
