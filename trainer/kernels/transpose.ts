/**
 * `Transpose` for the wasm backend. Its native kernel is slow on the shapes training
 * uses (a 2-D `[1536, 512]` takes ~12 ms, a rank-5 one allocates index vectors per
 * element). We first drop size-1 axes and merge axes that stay adjacent; up to four axes
 * remain for every transpose the models make, and those run in kernels.wasm
 * (`transpose4`: runs copied whole, 4 x 4 register blocks when the last two axes swap).
 * More axes, or no kernels.wasm: a JavaScript loop over contiguous inner runs (or the
 * native kernel up to rank 4).
 */
import type { KernelConfig, KernelFunc, TensorInfo, TransposeAttrs } from '@tensorflow/tfjs-core';
import { heapKernels, heapKernelsAvailable } from './wasm/heap.js';
import { asWasm, callKernel, f32, i32, odometerStep, offsetOf, reshapeInfo, release } from './wasm-memory.js';

/** Drop size-1 axes and merge input axes that stay adjacent in `perm`. */
export function simplifyTranspose(shape: readonly number[], perm: readonly number[]): { shape: number[]; perm: number[] } {
  const keep = shape.map((d) => d !== 1);
  // Renumber kept axes.
  const index: number[] = [];
  let next = 0;
  for (let i = 0; i < shape.length; i++) index.push(keep[i] === true ? next++ : -1);
  const s1 = shape.filter((_, i) => keep[i] === true);
  const p1 = perm.filter((p) => keep[p] === true).map((p) => index[p] as number);
  // Merge runs p[j+1] === p[j] + 1 (adjacent in input and in output).
  const groups: number[][] = [];
  for (const p of p1) {
    const last = groups[groups.length - 1];
    if (last !== undefined && last[last.length - 1] === p - 1) last.push(p);
    else groups.push([p]);
  }
  const order = [...groups].sort((a, b) => (a[0] as number) - (b[0] as number));
  const newShape = order.map((g) => g.reduce((acc, ax) => acc * (s1[ax] as number), 1));
  const newPerm = groups.map((g) => order.indexOf(g));
  if (newShape.length === 0) return { shape: [1], perm: [0] };
  return { shape: newShape, perm: newPerm };
}

/** out = transpose(x, perm) for any rank; long contiguous inner runs are copied in one go. */
export function transposeInto(
  x: Float32Array | Int32Array,
  shape: readonly number[],
  perm: readonly number[],
  out: Float32Array | Int32Array,
): void {
  const r = shape.length;
  const inStrides = new Array<number>(r);
  let s = 1;
  for (let i = r - 1; i >= 0; i--) {
    inStrides[i] = s;
    s *= shape[i] as number;
  }
  const outShape = perm.map((p) => shape[p] as number);
  const srcStride = perm.map((p) => inStrides[p] as number);
  const inner = outShape[r - 1] as number;
  const innerStride = srcStride[r - 1] as number;
  const total = s;
  const idx = new Array<number>(r).fill(0);
  let src = 0;
  for (let o = 0; o < total; o += inner) {
    if (innerStride === 1 && inner >= 64) out.set(x.subarray(src, src + inner), o);
    else if (innerStride === 1) for (let j = 0; j < inner; j++) out[o + j] = x[src + j] as number; // short runs: no subarray per run
    else for (let j = 0, q = src; j < inner; j++, q += innerStride) out[o + j] = x[q] as number;
    src = odometerStep(idx, src, srcStride, outShape, r - 2); // over the outer output axes
  }
}

export function makeTranspose(original: KernelFunc): KernelFunc {
  return (args) => {
    const backend = asWasm(args.backend);
    const x = args.inputs['x'] as TensorInfo;
    const { perm } = args.attrs as unknown as TransposeAttrs;
    if (x.dtype !== 'float32' && x.dtype !== 'int32') return original(args);
    const simple = simplifyTranspose(x.shape, perm);
    const outShape = perm.map((p) => x.shape[p] as number);
    if (simple.shape.length <= 4 && heapKernelsAvailable()) {
      const pad = 4 - simple.shape.length;
      const s = [...Array<number>(pad).fill(1), ...simple.shape];
      const p = [...Array.from({ length: pad }, (_, i) => i), ...simple.perm.map((q) => q + pad)];
      const out = backend.makeOutput(outShape, x.dtype);
      heapKernels(backend).transpose4(
        offsetOf(backend, x), offsetOf(backend, out),
        s[0] as number, s[1] as number, s[2] as number, s[3] as number,
        p[0] as number, p[1] as number, p[2] as number, p[3] as number,
      );
      return out;
    }
    if (simple.shape.length <= 4) {
      const xs = reshapeInfo(backend, x, simple.shape);
      const t = callKernel(original, backend, { x: xs }, { perm: simple.perm });
      const out = reshapeInfo(backend, t, outShape);
      release(backend, xs, t);
      return out;
    }
    const out = backend.makeOutput(outShape, x.dtype);
    if (x.dtype === 'float32') transposeInto(f32(backend, x), simple.shape, simple.perm, f32(backend, out));
    else transposeInto(i32(backend, x), simple.shape, simple.perm, i32(backend, out));
    return out;
  };
}

export function transposeConfig(original: KernelConfig): KernelConfig {
  const config: KernelConfig = { kernelName: 'Transpose', backendName: 'wasm', kernelFunc: makeTranspose(original.kernelFunc) };
  if (original.setupFunc !== undefined) config.setupFunc = original.setupFunc;
  return config;
}
