export * from './errors.js';
export * from './validate.js';
export * from './rng.js';
export * from './package-info.js';
