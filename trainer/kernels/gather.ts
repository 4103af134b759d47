/**
 * `GatherV2` for the wasm backend: slices copied heap to heap. The native kernel took ~14 ms
 * to look up 1,536 token rows of a `[4100, 128]` embedding table (a copy of 0.8 MB); this
 * one copies each selected slice with one `copyWithin` (~0.15 ms). Any axis and
 * `batchDims` (the native kernel also gets `batchDims` 1 wrong: tfjs-backend-wasm 4.22
 * picks rows of the wrong batch item), float32, int32 and bool params; strings go to the
 * native kernel. Indices out of range throw the native kernel's error, before any
 * allocation.
 */
import type { GatherV2Attrs, KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import { backend_util, util } from '@tensorflow/tfjs-core';
import { asWasm, elementBytes, f32, i32, offsetOf, sizeOf } from './wasm-memory.js';

export function makeGatherV2(original: KernelFunc): KernelFunc {
  return (args) => {
    const x = args.inputs['x'] as TensorInfo;
    const indices = args.inputs['indices'] as TensorInfo;
    const { axis, batchDims } = args.attrs as unknown as GatherV2Attrs;
    const bytes = elementBytes(x.dtype);
    if (bytes === undefined || (indices.dtype !== 'int32' && indices.dtype !== 'float32')) return original(args);
    const backend = asWasm(args.backend);
    const ax = util.parseAxisParam(axis, x.shape)[0] as number;
    const dim = x.shape[ax] as number;
    const n = sizeOf(indices.shape);
    // Validate as the native kernel does (every index in [0, dim - 1]) before allocating.
    const view = indices.dtype === 'int32' ? i32(backend, indices) : f32(backend, indices);
    const idx = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      const index = view[i] as number;
      util.assert(index <= dim - 1 && index >= 0, () => `GatherV2: the index value ${index} is not in [0, ${dim - 1}]`);
      idx[i] = index;
    }
    const info = backend_util.segment_util.collectGatherOpShapeInfo(x, indices, ax, batchDims);
    const out = backend.makeOutput(info.outputShape, x.dtype);
    if (sizeOf(info.outputShape) === 0) return out;
    const perBatch = n / info.batchSize;
    const runBytes = info.sliceSize * bytes;
    const heap = backend.wasm.HEAPU8; // after makeOutput: allocation may grow the heap
    const src0 = offsetOf(backend, x);
    let dst = offsetOf(backend, out);
    for (let b = 0; b < info.batchSize; b++) {
      for (let o = 0; o < info.outerSize; o++) {
        const base = src0 + (b * info.outerSize + o) * info.dimSize * runBytes;
        for (let i = b * perBatch, end = i + perBatch; i < end; i++, dst += runBytes) {
          const s = base + (idx[i] as number) * runBytes;
          heap.copyWithin(dst, s, s + runBytes);
        }
      }
    }
    return out;
  };
}

export function gatherV2Config(original: KernelConfig): KernelConfig {
  const config: KernelConfig = { kernelName: 'GatherV2', backendName: 'wasm', kernelFunc: makeGatherV2(original.kernelFunc) };
  if (original.setupFunc !== undefined) config.setupFunc = original.setupFunc;
  return config;
}
