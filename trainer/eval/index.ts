export * from './embeddings.js';
export * from './zeroshot.js';
export * from './retrieval.js';
export * from './linear-probe.js';
export * from './embed.js';
