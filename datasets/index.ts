export type { Sample, SampleInput } from './sample.js';
export * from './writer/index.js';
export * from './shard-index.js';
export * from './reader/index.js';
export * from './convert/index.js';
