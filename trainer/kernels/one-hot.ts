/**
 * `OneHot` for the wasm backend. tfjs-backend-wasm 4.22's native kernel writes int32
 * values whatever the requested dtype, so `tf.oneHot(i, n, 1, 0, 'float32')` returns
 * 1.4e-45 (the bits of int 1) instead of 1. This one writes the requested dtype.
 */
import type { KernelConfig, KernelFunc, OneHotAttrs, TensorInfo } from '@tensorflow/tfjs-core';
import { asWasm, f32, i32, sizeOf } from './wasm-memory.js';

export const oneHot: KernelFunc = (args) => {
  const backend = asWasm(args.backend);
  const indices = args.inputs['indices'] as TensorInfo;
  const { dtype, depth, onValue, offValue } = args.attrs as unknown as OneHotAttrs;
  if (dtype !== 'float32' && dtype !== 'int32') throw new TypeError(`OneHot on wasm supports float32 and int32, got ${dtype}`);
  const out = backend.makeOutput([...indices.shape, depth], dtype);
  const n = sizeOf(indices.shape);
  const idx = indices.dtype === 'int32' ? i32(backend, indices) : Int32Array.from(f32(backend, indices));
  const ov = dtype === 'float32' ? f32(backend, out) : i32(backend, out);
  ov.fill(offValue);
  for (let i = 0; i < n; i++) {
    const k = idx[i] as number;
    if (k >= 0 && k < depth) ov[i * depth + k] = onValue;
  }
  return out;
};

export const oneHotConfig: KernelConfig = { kernelName: 'OneHot', backendName: 'wasm', kernelFunc: oneHot };
