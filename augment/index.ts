export * from './image/index.js';
export * from './text/index.js';
