export * from './safetensors.js';
export * from './checkpoint.js';
export * from './resume.js';
export * from './state.js';
