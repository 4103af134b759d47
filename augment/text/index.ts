/**
 * Text operators: the byte-level BPE caption tokenizer, EDA and MLM masking, and the
 * {@link TextAugmenter} that makes DeCLIP's text views of a sample.
 */
export { decodeCaption } from './caption.js';
export { cleanCaption } from './bytelevel.js';
export {
  CaptionTokenizer,
  PAD_ID,
  SOT_ID,
  EOT_ID,
  MASK_ID,
  NUM_SPECIAL_TOKENS,
  SPECIAL_TOKENS,
  BYTE_ALPHABET_SIZE,
  MAX_VOCAB_SIZE,
  NATIVE_TRAINER_LIMIT,
  type EncodedCaptions,
  type TokenizerOptions,
  type TokenizerTrainOptions,
} from './tokenizer.js';
export { WordNetSynonyms, defaultWordNet, wordnetDictDir, DEFAULT_SYNONYM_CACHE_WORDS, type WordNetOptions } from './wordnet.js';
export { EDA_STOP_WORDS } from './stopwords.js';
export {
  applyEda,
  resolveEdaConfig,
  splitWords,
  synonymReplacement,
  randomInsertion,
  randomSwap,
  randomDeletion,
  EDA_OPS,
  EDA_PRESETS,
  MAX_EDA_N,
  type EdaConfig,
  type EdaOpName,
  type EdaOpSpec,
  type EdaPresetName,
  type EdaResult,
  type SynonymSource,
} from './eda.js';
export {
  maskTokens,
  resolveMlmOptions,
  IGNORE_LABEL,
  DEFAULT_MLM_OPTIONS,
  type MlmConfig,
  type MlmOptions,
  type MlmOutput,
} from './mlm.js';
export {
  TextAugmenter,
  makeTextViews,
  allocateTextViews,
  DEFAULT_CONTEXT_LENGTH,
  type TextAugmenterOptions,
  type TextViews,
} from './views.js';
