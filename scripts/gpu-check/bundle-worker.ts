/** Entry of the bundled compute worker (data-parallel wasm runs of the GPU check, pack.ts). */
import './provide.js';

await import('../../trainer/parallel/worker.js');
