/**
 * `UnsortedSegmentSum` for the wasm backend (missing there; it is the gradient of
 * `tf.gather`, so of every embedding lookup): a scatter-add in JavaScript on the heap.
 * Rows whose segment id is outside [0, numSegments) are dropped, as in TensorFlow.
 */
import type { KernelConfig, KernelFunc, TensorInfo, UnsortedSegmentSumAttrs } from '@tensorflow/tfjs-core';
import { asWasm, f32, i32, sizeOf } from './wasm-memory.js';

export const unsortedSegmentSum: KernelFunc = (args) => {
  const backend = asWasm(args.backend);
  const x = args.inputs['x'] as TensorInfo;
  const ids = args.inputs['segmentIds'] as TensorInfo;
  const { numSegments } = args.attrs as unknown as UnsortedSegmentSumAttrs;
  if (x.dtype !== 'float32' && x.dtype !== 'int32') {
    throw new TypeError(`UnsortedSegmentSum on wasm supports float32 and int32, got ${x.dtype}`);
  }
  const rows = sizeOf(ids.shape);
  const inner = rows === 0 ? 0 : sizeOf(x.shape) / rows;
  const outShape = [numSegments, ...x.shape.slice(ids.shape.length)];
  const out = backend.makeOutput(outShape, x.dtype);
  const idv = ids.dtype === 'int32' ? i32(backend, ids) : Int32Array.from(f32(backend, ids));
  const xv = x.dtype === 'float32' ? f32(backend, x) : i32(backend, x);
  const ov = x.dtype === 'float32' ? f32(backend, out) : i32(backend, out);
  ov.fill(0);
  for (let r = 0; r < rows; r++) {
    const s = idv[r] as number;
    if (s < 0 || s >= numSegments) continue;
    const src = r * inner;
    const dst = s * inner;
    for (let j = 0; j < inner; j++) ov[dst + j] = (ov[dst + j] as number) + (xv[src + j] as number);
  }
  return out;
};

export const unsortedSegmentSumConfig: KernelConfig = {
  kernelName: 'UnsortedSegmentSum',
  backendName: 'wasm',
  kernelFunc: unsortedSegmentSum,
};
