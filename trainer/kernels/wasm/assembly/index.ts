/**
 * WebAssembly SIMD kernels that work in place on the tfjs wasm backend's own heap
 * (AssemblyScript, compiled by `npm run build:wasm` to ../kernels.wasm and instantiated
 * with the backend's memory imported, see ../heap.ts). Every pointer is a byte offset of
 * a tensor on that heap; nothing here allocates or has static data (the module must not
 * write anything into the backend's memory when it is instantiated).
 */
export { gelu, geluGrad } from './gelu';
export { batchMatMul } from './matmul';
export { logSoftmax, logSoftmaxGrad } from './softmax';
export { sumColumns } from './reduce';
export { transpose4 } from './transpose';
export { adamw } from './adamw';
export { layerNorm, layerNormGrad } from './layernorm';
