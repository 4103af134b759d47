export {
  ShardWriter,
  shardWriterDefaults,
  type ShardWriterOptions,
  type ResolvedShardWriterOptions,
  type WrittenShard,
} from './shard-writer.js';
export { parseShardPattern, type ShardPattern } from './pattern.js';
export { keyProblem, extensionProblem, tarMemberBytes, TAR_END_BYTES, type MemberNameProblem } from './members.js';
export {
  nodeFileSystem,
  statsPathFor,
  existingOutputs,
  refuseExisting,
  removeStaleShards,
  writeFileDurably,
  type WriterFileSystem,
  type WriterFileHandle,
  type PatternFile,
} from './files.js';
