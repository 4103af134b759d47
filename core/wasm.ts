/**
 * The few members of the WebAssembly JavaScript API the toolkit uses (the project's
 * `lib` has no WebAssembly types), and a synchronous compile of a `.wasm` file shipped
 * next to a module. Both WebAssembly kernel sets use it: the image kernels
 * (augment/image/wasm/) and the trainer's kernels on the tfjs wasm heap (trainer/kernels/wasm/).
 *
 * @example
 * ```ts
 * const module = compileWasmFile(new URL('./kernels.wasm', import.meta.url));
 * const { exports } = instantiateWasm(module, {});
 * ```
 */
import { readFileSync } from 'node:fs';

export interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}

/** A compiled module (opaque). */
export interface WasmModule {
  readonly __wasmModule?: never;
}

interface WasmApi {
  readonly Module: new (bytes: Uint8Array) => WasmModule;
  readonly Instance: new (module: WasmModule, imports: object) => { readonly exports: object };
}

const wasmApi = (globalThis as { WebAssembly?: WasmApi }).WebAssembly;

/** Compile a module from its bytes (synchronously; throws what compiling threw). */
export function compileWasm(bytes: Uint8Array): WasmModule {
  if (wasmApi === undefined) throw new Error('no WebAssembly in this runtime');
  return new wasmApi.Module(bytes);
}

/** Compile the module in the file at `url` (synchronously; throws what reading or compiling threw). */
export function compileWasmFile(url: URL): WasmModule {
  return compileWasm(readFileSync(url));
}

/** Instantiate a compiled module with `imports`; returns its exports. */
export function instantiateWasm(module: WasmModule, imports: object): object {
  if (wasmApi === undefined) throw new Error('no WebAssembly in this runtime');
  return new wasmApi.Instance(module, imports).exports;
}
