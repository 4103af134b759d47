export * from './params.js';
export * from './models/index.js';
export * from './losses/index.js';
export * from './declip-step.js';
