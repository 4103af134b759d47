export * from './param.js';
export * from './adamw.js';
export * from './schedule.js';
export * from './clip.js';
export * from './accumulate.js';
