export { readSamples, ShardReader, MAX_EMPTY_SHARDS_IN_A_ROW, type ShardReaderEvents } from './reader.js';
export {
  resolveReadOptions,
  DEFAULT_READ_OPTIONS,
  ERROR_POLICIES,
  type ReadOptions,
  type ResolvedReadOptions,
  type ErrorPolicy,
} from './options.js';
export type { ReaderStats, SkipEvent, ErrorCount } from './stats.js';
export { splitMemberName, type MemberKey, type IgnoreReason } from './keys.js';
export { expandShardUrls, shardUrlKind, assertNoPipeFromFile, MAX_EXPANDED_URLS, type ShardUrlKind } from './urls.js';
export { shardsForPass, resampledShards, sampleShuffleSeed, type PlanOptions } from './plan.js';
export { shuffleBuffer } from './shuffle.js';
