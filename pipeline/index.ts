export type { DeclipBatch, BatchPosition } from './types.js';
