export * from './metrics.js';
export * from './plot.js';
export * from './progress.js';
