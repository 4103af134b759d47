/**
 * `Slice`, `SplitV` and `Unpack` for the wasm backend. The native ones (JavaScript in
 * tfjs-backend-wasm 4.22) first copy the WHOLE input out of the heap (`readSync`) for
 * every piece, then copy the piece row by row through `subarray` views: splitting the
 * `[1536, 384]` qkv projection into three took ~6 ms. These copy only the piece, straight
 * from heap to heap (`copyWithin`), in one run when it is contiguous (a slice along the
 * first non-trivial axis) and one run per innermost row otherwise. Strings go to the
 * original kernels.
 */
import type { KernelConfig, KernelFunc, SliceAttrs, SplitVAttrs, TensorInfo, UnpackAttrs } from '@tensorflow/tfjs-core';
import { backend_util, slice_util, util } from '@tensorflow/tfjs-core';
import { type WasmBackendLike, asWasm, elementBytes, odometerStep, offsetOf, sizeOf } from './wasm-memory.js';

/**
 * Copy `x[begin : begin + size]` into a new tensor (begin/size already parsed: full rank,
 * no -1). Drops leading size-1 axes and merges trailing axes taken whole, so most slices
 * are one or a few `copyWithin` runs.
 */
export function sliceHeap(backend: WasmBackendLike, x: TensorInfo, begin: readonly number[], size: readonly number[], bytes: number): TensorInfo {
  const out = backend.makeOutput([...size], x.dtype);
  const total = sizeOf(size);
  if (total === 0) return out;
  const heap = backend.wasm.HEAPU8; // after makeOutput: allocation may grow the heap
  const src0 = offsetOf(backend, x);
  const dst0 = offsetOf(backend, out);
  const rank = x.shape.length;
  // Innermost run: the trailing axes taken whole, times the last partial axis.
  let run = 1;
  let axis = rank - 1;
  while (axis >= 0 && size[axis] === x.shape[axis]) {
    run *= size[axis] as number;
    axis--;
  }
  if (axis < 0) {
    heap.copyWithin(dst0, src0, src0 + total * bytes);
    return out;
  }
  run *= size[axis] as number;
  const strides = util.computeStrides(x.shape);
  strides.push(1);
  let start = 0;
  for (let i = 0; i < rank; i++) start += (begin[i] as number) * (strides[i] as number);
  // Odometer over the axes before `axis`.
  const outer = axis;
  const idx = new Array<number>(outer).fill(0);
  const rows = total / run;
  const runBytes = run * bytes;
  let src = start;
  for (let r = 0, dst = dst0; r < rows; r++, dst += runBytes) {
    const s = src0 + src * bytes;
    heap.copyWithin(dst, s, s + runBytes);
    src = odometerStep(idx, src, strides, size, outer - 1);
  }
  return out;
}

export function makeSlice(original: KernelFunc): KernelFunc {
  return (args) => {
    const x = args.inputs['x'] as TensorInfo;
    const bytes = elementBytes(x.dtype);
    if (bytes === undefined) return original(args);
    const { begin, size } = args.attrs as unknown as SliceAttrs;
    const [b, s] = slice_util.parseSliceParams(x, begin, size) as [number[], number[]];
    slice_util.assertParamsValid(x, b, s);
    return sliceHeap(asWasm(args.backend), x, b, s, bytes);
  };
}

export function makeSplitV(original: KernelFunc): KernelFunc {
  return (args) => {
    const x = args.inputs['x'] as TensorInfo;
    const bytes = elementBytes(x.dtype);
    if (bytes === undefined) return original(args);
    const backend = asWasm(args.backend);
    const { numOrSizeSplits, axis } = args.attrs as unknown as SplitVAttrs;
    const ax = util.parseAxisParam(axis, x.shape)[0] as number;
    const sizes = backend_util.prepareSplitSize(x, numOrSizeSplits, ax);
    const begin = new Array<number>(x.shape.length).fill(0);
    return sizes.map((n) => {
      const size = [...x.shape];
      size[ax] = n;
      const piece = sliceHeap(backend, x, begin, size, bytes);
      begin[ax] = (begin[ax] as number) + n;
      return piece;
    });
  };
}

export function makeUnpack(original: KernelFunc): KernelFunc {
  return (args) => {
    const value = args.inputs['value'] as TensorInfo;
    const bytes = elementBytes(value.dtype);
    if (bytes === undefined) return original(args);
    const backend = asWasm(args.backend);
    let { axis } = args.attrs as unknown as UnpackAttrs;
    if (axis < 0) axis += value.shape.length;
    const outShape = value.shape.filter((_, i) => i !== axis);
    const size = [...value.shape];
    size[axis] = 1;
    const begin = new Array<number>(value.shape.length).fill(0);
    const outs: TensorInfo[] = [];
    for (let i = 0; i < (value.shape[axis] as number); i++) {
      begin[axis] = i;
      const piece = sliceHeap(backend, value, begin, size, bytes);
      outs.push({ dataId: piece.dataId, dtype: piece.dtype, shape: outShape });
    }
    return outs;
  };
}

function wrap(original: KernelConfig, make: (f: KernelFunc) => KernelFunc): KernelConfig {
  const config: KernelConfig = { kernelName: original.kernelName, backendName: 'wasm', kernelFunc: make(original.kernelFunc) };
  if (original.setupFunc !== undefined) config.setupFunc = original.setupFunc;
  return config;
}

export const sliceConfig = (original: KernelConfig): KernelConfig => wrap(original, makeSlice);
export const splitVConfig = (original: KernelConfig): KernelConfig => wrap(original, makeSplitV);
export const unpackConfig = (original: KernelConfig): KernelConfig => wrap(original, makeUnpack);
