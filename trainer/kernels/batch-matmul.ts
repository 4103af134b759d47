/**
 * `BatchMatMul` for the wasm backend, routed to the fast path.
 *
 * The wasm backend only uses XNNPACK (about 16 GFLOP/s on one core) for a plain 2-D
 * product (batch 1, no transposes); anything else - `transposeA` or `transposeB`, which
 * every backward pass uses, or a batch - falls to a naive loop at 0.4-1.2 GFLOP/s. Here:
 * - batch 1 on the right (dense layers, their gradients): transpose explicitly with the
 *   native Transpose kernel (memory bound, cheap), fold the left batch into rows, then
 *   call the XNNPACK path;
 * - both batched (attention's per-head products), or one matrix broadcast over the other's
 *   batch: one call of the SIMD kernel in kernels.wasm (wasm/assembly/matmul.ts) for the
 *   whole batch, in place on the heap, transposed operands read as they are stored
 *   (~7x faster than one XNNPACK call per matrix, where setup costs ~20 us each);
 * - without kernels.wasm: one XNNPACK call per batch item on heap aliases (equal batches)
 *   or a JavaScript kernel on the heap (broadcast batches).
 */
import type { BatchMatMulAttrs, KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import { broadcast_util } from '@tensorflow/tfjs-core';
import {
  alias,
  asWasm,
  callKernel,
  f32,
  offsetOf,
  release,
  reshapeInfo,
  sizeOf,
  transposeInfo,
  unalias,
  type WasmBackendLike,
} from './wasm-memory.js';
import { heapKernels, heapKernelsAvailable } from './wasm/heap.js';

/** Output at least this many times wider than tall: compute its transpose (see below). */
const WIDE = 4;

/** Swap the last two axes. */
function swapLast(rank: number): number[] {
  const perm = Array.from({ length: rank }, (_, i) => i);
  perm[rank - 1] = rank - 2;
  perm[rank - 2] = rank - 1;
  return perm;
}

/** Dims of a (possibly transposed) operand: [batch, rows, cols] as seen by the product. */
function dims(t: TensorInfo, transposed: boolean): { batch: number; rows: number; cols: number } {
  const r = t.shape.length;
  const s0 = t.shape[r - 2] ?? 1;
  const s1 = t.shape[r - 1] ?? 1;
  return { batch: sizeOf(t.shape.slice(0, -2)), rows: transposed ? s1 : s0, cols: transposed ? s0 : s1 };
}

/**
 * C[b] = op(A[b]) @ op(B[b]) in JavaScript on the heap; operands broadcast over the batch
 * when one batch is 1. `out` must hold batch*M*N floats.
 */
export function batchedProduct(
  a: Float32Array,
  b: Float32Array,
  out: Float32Array,
  shape: { batch: number; batchA: number; batchB: number; m: number; k: number; n: number },
  transposeA: boolean,
  transposeB: boolean,
): void {
  const { batch, batchA, batchB, m, k, n } = shape;
  out.fill(0);
  for (let bi = 0; bi < batch; bi++) {
    const ao = (bi % batchA) * m * k;
    const bo = (bi % batchB) * k * n;
    const oo = bi * m * n;
    if (!transposeA && !transposeB) {
      // A [m,k], B [k,n]: row i of C accumulates A[i,p] * row p of B.
      for (let i = 0; i < m; i++) {
        const orow = oo + i * n;
        for (let p = 0; p < k; p++) {
          const av = a[ao + i * k + p] as number;
          const brow = bo + p * n;
          for (let j = 0; j < n; j++) out[orow + j] = (out[orow + j] as number) + av * (b[brow + j] as number);
        }
      }
    } else if (!transposeA && transposeB) {
      // A [m,k], B [n,k]: dot products of contiguous rows.
      for (let i = 0; i < m; i++) {
        const arow = ao + i * k;
        for (let j = 0; j < n; j++) {
          const brow = bo + j * k;
          let s0 = 0;
          let s1 = 0;
          let p = 0;
          for (; p + 1 < k; p += 2) {
            s0 += (a[arow + p] as number) * (b[brow + p] as number);
            s1 += (a[arow + p + 1] as number) * (b[brow + p + 1] as number);
          }
          if (p < k) s0 += (a[arow + p] as number) * (b[brow + p] as number);
          out[oo + i * n + j] = s0 + s1;
        }
      }
    } else if (transposeA && !transposeB) {
      // A [k,m], B [k,n]: rank-1 updates, contiguous in j.
      for (let p = 0; p < k; p++) {
        const arow = ao + p * m;
        const brow = bo + p * n;
        for (let i = 0; i < m; i++) {
          const av = a[arow + i] as number;
          const orow = oo + i * n;
          for (let j = 0; j < n; j++) out[orow + j] = (out[orow + j] as number) + av * (b[brow + j] as number);
        }
      }
    } else {
      // A [k,m], B [n,k]
      for (let i = 0; i < m; i++) {
        for (let j = 0; j < n; j++) {
          let s = 0;
          for (let p = 0; p < k; p++) s += (a[ao + p * m + i] as number) * (b[bo + j * k + p] as number);
          out[oo + i * n + j] = s;
        }
      }
    }
  }
}

type NativeMatMul = (...args: unknown[]) => void;
const natives = new WeakMap<object, NativeMatMul>();

function nativeMatMul(backend: WasmBackendLike): NativeMatMul {
  let f = natives.get(backend.wasm);
  if (f === undefined) {
    f = backend.wasm.cwrap('BatchMatMul', null, [
      'number', 'array', 'number', 'number', 'array', 'number', 'number', 'number', 'number',
    ]);
    natives.set(backend.wasm, f);
  }
  return f;
}

function shapeBytes(shape: number[]): Uint8Array {
  return new Uint8Array(new Int32Array(shape).buffer);
}

/**
 * Batched product as one XNNPACK call per batch item on heap aliases of the operands
 * (transposed operands are first made contiguous by the native Transpose kernel).
 */
function perItemXnn(
  backend: WasmBackendLike,
  a: TensorInfo,
  b: TensorInfo,
  transposeA: boolean,
  transposeB: boolean,
  outShape: number[],
  d: { batch: number; m: number; k: number; n: number },
): TensorInfo {
  const { batch, m, k, n } = d;
  const temps: TensorInfo[] = [];
  let a3 = reshapeInfo(backend, a, transposeA ? [batch, k, m] : [batch, m, k]);
  temps.push(a3);
  if (transposeA) {
    a3 = transposeInfo(backend, a3, [0, 2, 1]);
    temps.push(a3);
  }
  let b3 = reshapeInfo(backend, b, transposeB ? [batch, n, k] : [batch, k, n]);
  temps.push(b3);
  if (transposeB) {
    b3 = transposeInfo(backend, b3, [0, 2, 1]);
    temps.push(b3);
  }
  const out = backend.makeOutput(outShape, 'float32');
  const call = nativeMatMul(backend);
  const aShape = shapeBytes([1, m, k]);
  const bShape = shapeBytes([1, k, n]);
  const aOff = offsetOf(backend, a3);
  const bOff = offsetOf(backend, b3);
  const oOff = offsetOf(backend, out);
  for (let i = 0; i < batch; i++) {
    const ai = alias(backend, [1, m, k], aOff + i * m * k * 4);
    const bi = alias(backend, [1, k, n], bOff + i * k * n * 4);
    const oi = alias(backend, [1, m, n], oOff + i * m * n * 4);
    const id = (t: TensorInfo): number => backend.dataIdMap.get(t.dataId)?.id ?? 0;
    call(id(ai), aShape, 3, id(bi), bShape, 3, false, false, id(oi));
    unalias(backend, ai, bi, oi);
  }
  release(backend, ...temps);
  return out;
}

/**
 * Build the replacement `BatchMatMul` kernel around the wasm backend's own (whose plain
 * 2-D XNNPACK path it calls).
 */
export function makeBatchMatMul(original: KernelFunc): KernelFunc {
  const plain = (backend: WasmBackendLike, a: TensorInfo, b: TensorInfo): TensorInfo =>
    callKernel(original, backend, { a, b }, { transposeA: false, transposeB: false });

  return (args) => {
    const backend = asWasm(args.backend);
    const a = args.inputs['a'] as TensorInfo;
    const b = args.inputs['b'] as TensorInfo;
    const { transposeA, transposeB } = args.attrs as unknown as BatchMatMulAttrs;
    if (a.dtype !== 'float32' || b.dtype !== 'float32') return original(args);
    const da = dims(a, transposeA);
    const db = dims(b, transposeB);
    if (da.cols !== db.rows) return original(args); // let the original report the shape error
    const outShape = broadcast_util
      .assertAndGetBroadcastShape(a.shape.slice(0, -2), b.shape.slice(0, -2))
      .concat([da.rows, db.cols]);
    if (da.batch === 1 && db.batch === 1 && !transposeA && !transposeB) return original(args);

    if (db.batch === 1 && da.batch === 1 && transposeB && !transposeA && db.cols >= WIDE * da.rows) {
      // A few rows against a wide B (the MLM head's [masked, w] x [vocab, w]^T, the NN
      // queue's similarities): XNNPACK is faster on C^T = B A^T, where B is the left
      // operand as stored and only the small A^T is packed (~1.3-1.7x here).
      const a2 = reshapeInfo(backend, a, [da.rows, da.cols]);
      const b2 = reshapeInfo(backend, b, [db.cols, db.rows]);
      const at = transposeInfo(backend, a2, [1, 0]);
      const ct = plain(backend, b2, at);
      const c = transposeInfo(backend, ct, [1, 0]);
      const out = reshapeInfo(backend, c, outShape);
      release(backend, a2, b2, at, ct, c);
      return out;
    }
    if (db.batch === 1) {
      const temps: TensorInfo[] = [];
      let a2 = a;
      if (transposeA) {
        a2 = transposeInfo(backend, a, swapLast(a.shape.length));
        temps.push(a2);
      }
      const aFlat = reshapeInfo(backend, a2, [1, da.batch * da.rows, da.cols]);
      temps.push(aFlat);
      let b2 = reshapeInfo(backend, b, [1, b.shape[b.shape.length - 2] ?? 1, b.shape[b.shape.length - 1] ?? 1]);
      temps.push(b2);
      if (transposeB) {
        b2 = transposeInfo(backend, b2, [0, 2, 1]);
        temps.push(b2);
      }
      const prod = plain(backend, aFlat, b2);
      const out = reshapeInfo(backend, prod, outShape);
      release(backend, prod, ...temps);
      return out;
    }

    const batch = sizeOf(outShape.slice(0, -2));
    const m = da.rows;
    const k = da.cols;
    const n = db.cols;
    if (heapKernelsAvailable() && (da.batch === batch || da.batch === 1) && (db.batch === batch || db.batch === 1)) {
      const out = backend.makeOutput(outShape, 'float32');
      heapKernels(backend).batchMatMul(
        offsetOf(backend, a), offsetOf(backend, b), offsetOf(backend, out),
        batch, m, k, n,
        transposeA ? 1 : 0, transposeB ? 1 : 0,
        da.batch === 1 ? 0 : m * k, db.batch === 1 ? 0 : k * n,
      );
      return out;
    }
    if (da.batch === batch && db.batch === batch) {
      return perItemXnn(backend, a, b, transposeA, transposeB, outShape, { batch, m, k, n });
    }
    const out = backend.makeOutput(outShape, 'float32');
    batchedProduct(
      f32(backend, a),
      f32(backend, b),
      f32(backend, out),
      { batch, batchA: da.batch, batchB: db.batch, m, k, n },
      transposeA,
      transposeB,
    );
    return out;
  };
}

/** Kernel config for {@link makeBatchMatMul}; `setupFunc` forwards to the original's. */
export function batchMatMulConfig(original: KernelConfig): KernelConfig {
  const config: KernelConfig = {
    kernelName: original.kernelName,
    backendName: 'wasm',
    kernelFunc: makeBatchMatMul(original.kernelFunc),
  };
  if (original.setupFunc !== undefined) config.setupFunc = original.setupFunc;
  return config;
}
