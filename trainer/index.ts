export * from './params.js';
export * from './models/index.js';
export * from './losses/index.js';
export * from './declip-step.js';
export { BACKEND_NAMES, selectBackend, wasmBinaryDir } from './backend/select.js';
export type { BackendAttempt, BackendChoice, BackendName, SelectBackendOptions, SelectedBackend } from './backend/select.js';
export { ensureGradients } from './backend/gradients.js';
export { registerWasmKernels, WASM_KERNELS } from './kernels/index.js';
