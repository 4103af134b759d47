/**
 * `Sum` for the wasm backend over leading axes (a bias's gradient sums `[rows, width]`
 * over rows; batch-norm statistics sum over the batch). The native kernel moves the
 * reduced axes last with a transpose and then reduces: ~15 ms on `[1536, 512]`, 1 ms on
 * a `[64, 256]` batch. Here the input is read once in order, rows added into the output
 * (kernels.wasm `sumColumns`). Other reductions (trailing axes, mixed axes, int32) go to
 * the native kernel.
 */
import type { KernelConfig, KernelFunc, SumAttrs, TensorInfo } from '@tensorflow/tfjs-core';
import { util } from '@tensorflow/tfjs-core';
import { heapKernels } from './wasm/heap.js';
import { asWasm, offsetOf, sizeOf } from './wasm-memory.js';

/** How many leading axes `axes` covers, when it is exactly 0..k-1 (k < rank); else 0. */
export function leadingAxes(axes: readonly number[], rank: number): number {
  const sorted = [...new Set(axes.map((a) => (a < 0 ? a + rank : a)))].sort((a, b) => a - b);
  if (sorted.length === 0 || sorted.length >= rank) return 0;
  return sorted.every((a, i) => a === i) ? sorted.length : 0;
}

export function makeSum(original: KernelFunc): KernelFunc {
  return (args) => {
    const x = args.inputs['x'] as TensorInfo;
    const { axis, keepDims } = args.attrs as unknown as SumAttrs;
    const axes = util.parseAxisParam(axis, x.shape);
    const k = leadingAxes(axes, x.shape.length);
    if (x.dtype !== 'float32' || k === 0) return original(args);
    const backend = asWasm(args.backend);
    const rows = sizeOf(x.shape.slice(0, k));
    const rest = x.shape.slice(k);
    const out = backend.makeOutput(keepDims ? [...x.shape.slice(0, k).map(() => 1), ...rest] : rest, 'float32');
    heapKernels(backend).sumColumns(offsetOf(backend, x), offsetOf(backend, out), rows, sizeOf(rest));
    return out;
  };
}

export function sumConfig(original: KernelConfig): KernelConfig {
  const config: KernelConfig = { kernelName: 'Sum', backendName: 'wasm', kernelFunc: makeSum(original.kernelFunc) };
  if (original.setupFunc !== undefined) config.setupFunc = original.setupFunc;
  return config;
}
