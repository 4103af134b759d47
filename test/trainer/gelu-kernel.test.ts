import { readFileSync } from 'node:fs';
import t from 'tap';
import * as tf from '@tensorflow/tfjs-core';
import { Rng } from '../../core/rng.js';
import { selectBackend } from '../../trainer/backend/select.js';
import { gelu, GELU, heapKernelsAvailable } from '../../trainer/kernels/index.js';
import { hasDataSegments } from '../../trainer/kernels/wasm/heap.js';
import { valueAndGradient } from './fused-op-helpers.js';

await selectBackend({ backend: 'cpu', log: () => {} });
await selectBackend({ backend: 'wasm', log: () => {} });

const rng = new Rng(20261130);

/** Values that cover the formula's regions: near 0, the body, both tails past the clamps, and exact edges. */
function inputs(n: number, scale: number): Float32Array {
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) x[i] = rng.normal() * scale;
  const edges = [0, -0, 4 * Math.SQRT2, -4 * Math.SQRT2, 13.3, -13.3, 40, -40, 1e-8, -1e-8];
  for (let i = 0; i < edges.length && i < n; i++) x[i] = edges[i] as number;
  return x;
}

/** The composed formula in float64: the reference. */
function exact(x: number): { y: number; dy: number } {
  // erf by its Taylor/continued-fraction-free route: Math has no erf, so integrate the series to float64 accuracy.
  const z = x / Math.SQRT2;
  let erf: number;
  if (Math.abs(z) < 3) {
    let term = z;
    let sum = z;
    for (let k = 1; k < 200; k++) {
      term *= (-z * z) / k;
      sum += term / (2 * k + 1);
      if (Math.abs(term) < 1e-18) break;
    }
    erf = (2 / Math.sqrt(Math.PI)) * sum;
  } else {
    // Asymptotic continued fraction for erfc, accurate to float64 for |z| >= 3.
    const a = Math.abs(z);
    let f = 0;
    for (let k = 60; k >= 1; k--) f = (k / 2) / (a + f);
    const erfc = Math.exp(-a * a) / Math.sqrt(Math.PI) / (a + f);
    erf = Math.sign(z) * (1 - erfc);
  }
  const pdf = Math.exp(-x * x / 2) / Math.sqrt(2 * Math.PI);
  return { y: 0.5 * x * (1 + erf), dy: 0.5 * (1 + erf) + x * pdf };
}

t.test('the fused GELU kernel is registered on wasm and the module loads', async (tt) => {
  tt.ok(heapKernelsAvailable(), 'kernels.wasm loads');
  tt.ok(tf.getKernel(GELU, 'wasm'), 'DeclipGelu is a wasm kernel');
  tt.notOk(tf.getKernel(GELU, 'cpu'), 'cpu keeps the composed formula');
});

t.test('GELU and its gradient match float64 and the cpu backend, for sizes that do and do not fill SIMD lanes', async (tt) => {
  const cases: Array<[number[], number]> = [[[1], 1], [[3], 2], [[4, 5], 1], [[7, 13], 3], [[64, 129], 6]];
  for (const [shape, scale] of cases) {
    const n = shape.reduce((a, b) => a * b, 1);
    const x = inputs(n, scale);
    const w = inputs(n, 1);
    await tf.setBackend('wasm');
    const wasm = valueAndGradient(gelu, x, w, [...shape]);
    await tf.setBackend('cpu');
    const cpu = valueAndGradient(gelu, x, w, [...shape]);
    let errY = 0;
    let errG = 0;
    let errCpu = 0;
    for (let i = 0; i < n; i++) {
      const xi = x[i] as number;
      const ref = exact(Math.fround(xi));
      // absolute error scaled by the value's size (float32 ulp grows with |y|)
      errY = Math.max(errY, Math.abs((wasm.y[i] as number) - ref.y) / Math.max(1, Math.abs(ref.y)));
      errG = Math.max(errG, Math.abs((wasm.g[i] as number) - ref.dy * (w[i] as number)) / Math.max(1, Math.abs(w[i] as number)));
      errCpu = Math.max(errCpu, Math.abs((wasm.y[i] as number) - (cpu.y[i] as number)) / Math.max(1, Math.abs(ref.y)));
    }
    tt.ok(errY < 2e-6, `[${shape}] gelu within ${errY.toExponential(2)} of float64`);
    tt.ok(errG < 1e-6, `[${shape}] gradient within ${errG.toExponential(2)} of float64`);
    tt.ok(errCpu < 2e-6, `[${shape}] gelu within ${errCpu.toExponential(2)} of the cpu backend's composed formula`);
  }
});

t.test('the kernel writes only its output: other tensors on the heap keep their values', async (tt) => {
  await tf.setBackend('wasm');
  const before = tf.tensor1d([1, 2, 3, 4, 5]);
  const x = tf.tensor1d(inputs(1001, 2));
  const y = gelu(x);
  const after = tf.tensor1d([6, 7]);
  tt.same([...before.dataSync()], [1, 2, 3, 4, 5], 'tensor allocated before');
  tt.same([...after.dataSync()], [6, 7], 'tensor allocated after');
  tt.equal(y.size, 1001, 'output size');
  tf.dispose([before, x, y, after]);
});

t.test('non-float inputs take the composed formula; a bad direct call is a clear error', async (tt) => {
  await tf.setBackend('wasm');
  const xi = tf.tensor1d([1, -1], 'int32');
  const y = gelu(xi);
  tt.equal(y.dtype, 'float32', 'int32 input: composed formula, float output');
  tt.throws(() => tf.engine().runKernel(GELU, { x: xi }), /DeclipGelu: input x must be a float32 tensor/);
  tf.dispose([xi, y]);
});

t.test('kernels.wasm has no data segments (they would land on the backend heap); the check sees them', async (tt) => {
  const built = readFileSync(new URL('../../trainer/kernels/wasm/kernels.wasm', import.meta.url));
  tt.equal(hasDataSegments(built), false, 'the built module writes nothing on instantiation');
  // a minimal module with one active data segment: (memory 1) (data (i32.const 8) "a")
  const withData = Uint8Array.from([0, 97, 115, 109, 1, 0, 0, 0, 5, 3, 1, 0, 1, 11, 7, 1, 0, 65, 8, 11, 1, 97]);
  tt.equal(hasDataSegments(withData), true, 'a module with a data segment is recognised');
  const emptyData = Uint8Array.from([0, 97, 115, 109, 1, 0, 0, 0, 11, 1, 0]);
  tt.equal(hasDataSegments(emptyData), false, 'an empty data section is fine');
});
