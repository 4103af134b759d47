export function registerWasmKernels(): void {}
