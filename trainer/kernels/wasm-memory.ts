/**
 * A typed view of the parts of `@tensorflow/tfjs-backend-wasm`'s `BackendWasm` that our
 * kernels use: tensors live on the wasm heap (`dataIdMap` gives each tensor's id and byte
 * offset), outputs are allocated with `makeOutput`, and other registered wasm kernels are
 * called directly (synchronously, no engine bookkeeping) through {@link callKernel}.
 *
 * Heap views (`f32`, `i32`) must be taken after the last allocation of a kernel: growing
 * the wasm memory detaches earlier views.
 */
import type { DataType, KernelBackend, KernelFunc, NamedAttrMap, NamedTensorInfoMap, Tensor, TensorInfo } from '@tensorflow/tfjs-core';
import { engine, getKernel, tensor } from '@tensorflow/tfjs-core';

/** What the wasm backend stores for each tensor. */
export interface WasmTensorData {
  id: number;
  memoryOffset: number;
  shape: number[];
  dtype: DataType;
  refCount: number;
}

interface WasmModuleLike {
  HEAPU8: Uint8Array;
  HEAPF32: Float32Array;
  HEAP32: Int32Array;
  cwrap(name: string, returnType: null, argTypes: string[]): (...args: unknown[]) => void;
  tfjs: { disposeData(id: number): void };
}

/** The subset of `BackendWasm` our kernels rely on. */
export interface WasmBackendLike {
  readonly wasm: WasmModuleLike;
  readonly dataIdMap: { get(dataId: object): WasmTensorData | undefined; delete(dataId: object): boolean };
  makeOutput(shape: number[], dtype: DataType, memoryOffset?: number): TensorInfo;
  disposeData(dataId: object, force?: boolean): boolean;
  incRef(dataId: object): void;
}

/** Narrow a kernel's `backend` argument to the wasm backend's shape (checked). */
export function asWasm(backend: unknown): WasmBackendLike {
  const b = backend as Partial<WasmBackendLike> | null;
  if (b === null || typeof b !== 'object' || b.wasm === undefined || b.dataIdMap === undefined) {
    throw new TypeError('declip wasm kernel called with a backend that is not the wasm backend');
  }
  return b as WasmBackendLike;
}

function dataOf(backend: WasmBackendLike, t: TensorInfo): WasmTensorData {
  const d = backend.dataIdMap.get(t.dataId);
  if (d === undefined) throw new TypeError('tensor is not on the wasm backend');
  return d;
}

/** Bytes per element of the dtypes the heap stores as fixed-size numbers (undefined: strings, complex). */
export function elementBytes(dtype: string): number | undefined {
  if (dtype === 'float32' || dtype === 'int32') return 4;
  if (dtype === 'bool') return 1;
  return undefined;
}

/** A kernel's float32 input `name`, or a TypeError naming the kernel and the input. */
export function floatInput(kernel: string, name: string, t: TensorInfo | undefined): TensorInfo {
  if (t === undefined || t.dtype !== 'float32') throw new TypeError(`${kernel}: input ${name} must be a float32 tensor`);
  return t;
}

/** Float32 view of a tensor's data on the heap (no copy). */
export function f32(backend: WasmBackendLike, t: TensorInfo): Float32Array {
  const off = dataOf(backend, t).memoryOffset;
  const n = sizeOf(t.shape);
  return new Float32Array(backend.wasm.HEAPF32.buffer, off, n);
}

/** Int32 view of a tensor's data on the heap (no copy). */
export function i32(backend: WasmBackendLike, t: TensorInfo): Int32Array {
  const off = dataOf(backend, t).memoryOffset;
  return new Int32Array(backend.wasm.HEAP32.buffer, off, sizeOf(t.shape));
}

export function sizeOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Release a temporary tensor made inside a kernel. */
export function release(backend: WasmBackendLike, ...ts: TensorInfo[]): void {
  for (const t of ts) backend.disposeData(t.dataId);
}

/** Call a kernel function directly (inside another kernel: no engine, no tape). */
export function callKernel(
  kernelFunc: KernelFunc,
  backend: WasmBackendLike,
  inputs: NamedTensorInfoMap,
  attrs: NamedAttrMap = {},
): TensorInfo {
  const out = kernelFunc({ inputs, attrs, backend: backend as unknown as KernelBackend });
  if (Array.isArray(out)) {
    const first = out[0];
    if (first === undefined) throw new TypeError('kernel returned no output');
    return first;
  }
  return out as TensorInfo;
}

/** The wasm backend's own kernel function for `name` (throws if absent). */
export function wasmKernel(name: string): KernelFunc {
  const k = getKernel(name, 'wasm');
  if (k === undefined) throw new TypeError(`wasm kernel ${name} is not registered`);
  return k.kernelFunc;
}

/** Reshape without copying (the wasm Reshape kernel shares the data). */
export function reshapeInfo(backend: WasmBackendLike, x: TensorInfo, shape: number[]): TensorInfo {
  return callKernel(wasmKernel('Reshape'), backend, { x }, { shape });
}

/** Transpose through the wasm backend's native Transpose kernel (a new tensor). */
export function transposeInfo(backend: WasmBackendLike, x: TensorInfo, perm: number[]): TensorInfo {
  return callKernel(wasmKernel('Transpose'), backend, { x }, { perm });
}

/** Byte offset of a tensor's data on the heap. */
export function offsetOf(backend: WasmBackendLike, t: TensorInfo): number {
  return dataOf(backend, t).memoryOffset;
}

/**
 * A tensor aliasing `shape` floats at `byteOffset` of the heap (no allocation, no copy),
 * for handing slices of a tensor to native kernels. Free with {@link unalias}, never with
 * `disposeData` (which would free memory the alias does not own).
 */
export function alias(backend: WasmBackendLike, shape: number[], byteOffset: number): TensorInfo {
  return backend.makeOutput(shape, 'float32', byteOffset);
}

/** Forget aliases made by {@link alias} (runs the native disposal callbacks, frees nothing). */
export function unalias(backend: WasmBackendLike, ...ts: TensorInfo[]): void {
  for (const t of ts) {
    const d = backend.dataIdMap.get(t.dataId);
    if (d === undefined) continue;
    backend.wasm.tfjs.disposeData(d.id);
    backend.dataIdMap.delete(t.dataId);
  }
}

/**
 * One step of an odometer over `dims[0..last]` (axis `last` fastest): advances the
 * multi-index `idx` in place and returns the flat source offset `src` moved by the
 * matching `strides` (used to walk strided copies run by run).
 */
export function odometerStep(idx: number[], src: number, strides: readonly number[], dims: readonly number[], last: number): number {
  let at = src;
  for (let ax = last; ax >= 0; ax--) {
    idx[ax] = (idx[ax] as number) + 1;
    at += strides[ax] as number;
    if ((idx[ax] as number) < (dims[ax] as number)) return at;
    at -= (strides[ax] as number) * (dims[ax] as number);
    idx[ax] = 0;
  }
  return at;
}

/** The active tfjs backend when it is the wasm backend (by shape, as {@link asWasm} checks it). */
function activeWasm(): WasmBackendLike | undefined {
  const b = engine().backend as unknown as Partial<WasmBackendLike>;
  return b.wasm !== undefined && b.dataIdMap !== undefined ? (b as WasmBackendLike) : undefined;
}

/**
 * Copy a float32 tensor's values into `dest` from `offset`: straight from the wasm heap
 * when the active backend is wasm (one copy, no garbage), through `dataSync` elsewhere.
 * For moving gradients into the data-parallel exchange buffer.
 */
export function copyFloatsInto(t: Tensor, dest: Float32Array, offset: number): void {
  const backend = activeWasm();
  const data = t.dtype === 'float32' ? backend?.dataIdMap.get(t.dataId) : undefined;
  if (backend !== undefined && data !== undefined && typeof data.memoryOffset === 'number') dest.set(f32(backend, t), offset);
  else dest.set(t.dataSync() as Float32Array, offset);
}

/**
 * A float32 tensor holding a copy of `values` (which may be a view of shared memory that
 * is overwritten later): the wasm backend copies on write, so the view goes in as it is;
 * other backends may keep the array they are given, so they get a private copy.
 */
export function tensorFromView(values: Float32Array, shape: readonly number[]): Tensor {
  const own = activeWasm() !== undefined ? values : values.slice();
  return tensor(own, [...shape], 'float32');
}
