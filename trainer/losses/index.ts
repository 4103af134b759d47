export * from './config.js';
export * from './infonce.js';
export * from './nns.js';
export * from './nn-queue.js';
export * from './simsiam.js';
export * from './mlm.js';
