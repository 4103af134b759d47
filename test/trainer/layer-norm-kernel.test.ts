import t from 'tap';
import * as tf from '@tensorflow/tfjs-core';
import { Rng } from '../../core/rng.js';
import { selectBackend } from '../../trainer/backend/select.js';
import { heapKernelsAvailable, LAYER_NORM, LAYER_NORM_GRAD, layerNorm } from '../../trainer/kernels/index.js';

await selectBackend({ backend: 'cpu', log: () => {} });
await selectBackend({ backend: 'wasm', log: () => {} });

const rng = new Rng(20261130);
const EPS = 1e-5;

interface Case {
  readonly shape: number[];
  /** Per-row means are drawn around this offset, per-row spreads around `scale`. */
  readonly offset: number;
  readonly scale: number;
}

interface Inputs {
  x: Float32Array;
  gain: Float32Array;
  bias: Float32Array;
  /** The upstream gradient: the loss is sum(layerNorm(x) * w). */
  w: Float32Array;
}

function normals(n: number, mean: number, scale: number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = mean + rng.normal() * scale;
  return a;
}

function makeInputs(c: Case): Inputs {
  const width = c.shape[c.shape.length - 1] as number;
  const n = c.shape.reduce((a, b) => a * b, 1);
  const x = new Float32Array(n);
  for (let r = 0; r < n / width; r++) {
    // every row its own mean and spread, so a kernel mixing rows up shows
    const m = c.offset * (1 + 0.1 * rng.normal()) + rng.normal();
    const s = c.scale * Math.exp(0.5 * rng.normal());
    for (let i = 0; i < width; i++) x[r * width + i] = m + s * rng.normal();
  }
  return { x, gain: normals(width, 1, 0.5), bias: normals(width, 0, 0.5), w: normals(n, 0, 1) };
}

interface Result {
  y: Float64Array | Float32Array;
  dx: Float64Array | Float32Array;
  dgain: Float64Array | Float32Array;
  dbias: Float64Array | Float32Array;
}

/** The layer norm and its gradients in float64 from the float32 inputs: the reference; also per-row rstd and g scale. */
function exact(inp: Inputs, width: number): Result & { rstd: Float64Array; gmax: Float64Array; absGain: Float64Array; absBias: Float64Array } {
  const n = inp.x.length;
  const rows = n / width;
  const y = new Float64Array(n);
  const dx = new Float64Array(n);
  const dgain = new Float64Array(width);
  const dbias = new Float64Array(width);
  const absGain = new Float64Array(width);
  const absBias = new Float64Array(width);
  const rstdRows = new Float64Array(rows);
  const gmax = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    const o = r * width;
    let m = 0;
    for (let i = 0; i < width; i++) m += inp.x[o + i] as number;
    m /= width;
    let v = 0;
    for (let i = 0; i < width; i++) v += ((inp.x[o + i] as number) - m) ** 2;
    v /= width;
    const rstd = 1 / Math.sqrt(v + EPS);
    rstdRows[r] = rstd;
    let sg = 0;
    let sgx = 0;
    for (let i = 0; i < width; i++) {
      const xh = ((inp.x[o + i] as number) - m) * rstd;
      const wi = inp.w[o + i] as number;
      const g = wi * (inp.gain[i] as number);
      y[o + i] = xh * (inp.gain[i] as number) + (inp.bias[i] as number);
      sg += g;
      sgx += g * xh;
      gmax[r] = Math.max(gmax[r] as number, Math.abs(g));
      dgain[i] = (dgain[i] as number) + wi * xh;
      dbias[i] = (dbias[i] as number) + wi;
      absGain[i] = (absGain[i] as number) + Math.abs(wi * xh);
      absBias[i] = (absBias[i] as number) + Math.abs(wi);
    }
    for (let i = 0; i < width; i++) {
      const xh = ((inp.x[o + i] as number) - m) * rstd;
      const g = (inp.w[o + i] as number) * (inp.gain[i] as number);
      dx[o + i] = rstd * (g - sg / width - xh * (sgx / width));
    }
  }
  return { y, dx, dgain, dbias, rstd: rstdRows, gmax, absGain, absBias };
}

function run(inp: Inputs, shape: number[]): Result {
  const width = shape[shape.length - 1] as number;
  return tf.tidy(() => {
    const x = tf.tensor(inp.x, shape);
    const gain = tf.tensor1d(inp.gain);
    const bias = tf.tensor1d(inp.bias);
    const w = tf.tensor(inp.w, shape);
    const y = layerNorm(x, gain, bias, EPS);
    const [dx, dgain, dbias] = tf.grads((a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(layerNorm(a, g, b, EPS), w)))([x, gain, bias]);
    if (dx === undefined || dgain === undefined || dbias === undefined) throw new Error('missing gradient');
    if (dgain.shape[0] !== width) throw new Error('dgain shape');
    return {
      y: y.dataSync() as Float32Array,
      dx: dx.dataSync() as Float32Array,
      dgain: dgain.dataSync() as Float32Array,
      dbias: dbias.dataSync() as Float32Array,
    };
  });
}

/** max |a - b| / scale(i). */
function maxErr(a: ArrayLike<number>, b: ArrayLike<number>, scale: (i: number) => number): number {
  let e = 0;
  for (let i = 0; i < a.length; i++) e = Math.max(e, Math.abs((a[i] as number) - (b[i] as number)) / scale(i));
  return e;
}

t.test('the fused kernels are registered on wasm and the module loads', async (tt) => {
  tt.ok(heapKernelsAvailable(), 'kernels.wasm loads');
  tt.ok(tf.getKernel(LAYER_NORM, 'wasm'), 'DeclipLayerNorm is a wasm kernel');
  tt.ok(tf.getKernel(LAYER_NORM_GRAD, 'wasm'), 'DeclipLayerNormGrad is a wasm kernel');
  tt.notOk(tf.getKernel(LAYER_NORM, 'cpu'), 'cpu keeps the composed formula');
});

t.test('layer norm and its gradients (x, gain, bias) match float64 and the cpu backend', async (tt) => {
  // widths that fill SIMD lanes and that leave tails; rank 2 and 3; 1 to 300 rows
  const cases: Array<Case & { tol: number }> = [
    { shape: [1, 1], offset: 0, scale: 1, tol: 1e-5 },
    { shape: [7, 3], offset: 0, scale: 1, tol: 1e-5 },
    { shape: [2, 5, 4], offset: 0, scale: 2, tol: 1e-5 },
    { shape: [300, 5], offset: 1, scale: 0.5, tol: 1e-5 },
    { shape: [3, 17, 1], offset: 0, scale: 1, tol: 1e-5 },
    { shape: [64, 128], offset: 0, scale: 1, tol: 1e-5 },
    { shape: [4, 25, 128], offset: 0.5, scale: 3, tol: 1e-5 },
    { shape: [2, 33, 129], offset: 0, scale: 1, tol: 1e-5 },
    // large common offset, small spread: one-pass variance (E[x^2] - E[x]^2) would be off by O(1) here;
    // float32 itself rounds x and the mean to ~6e-5 at 1e3, i.e. ~1e-3 of a 0.05 spread
    { shape: [50, 128], offset: 1e3, scale: 0.05, tol: 5e-3 },
    { shape: [3, 10, 5], offset: 1e3, scale: 0.05, tol: 5e-3 },
    { shape: [40, 129], offset: -1e3, scale: 0.05, tol: 5e-3 },
  ];
  for (const c of cases) {
    const width = c.shape[c.shape.length - 1] as number;
    const inp = makeInputs(c);
    await tf.setBackend('wasm');
    const wasm = run(inp, c.shape);
    await tf.setBackend('cpu');
    const cpu = run(inp, c.shape);
    const ref = exact(inp, width);
    const row = (i: number): number => Math.floor(i / width);
    const yScale = (i: number): number => 1 + Math.abs(inp.gain[i % width] as number) + Math.abs(inp.bias[i % width] as number);
    const dxScale = (i: number): number => (ref.rstd[row(i)] as number) * (ref.gmax[row(i)] as number) + 1e-30;
    const dgScale = (i: number): number => (ref.absGain[i] as number) + 1e-30;
    const dbScale = (i: number): number => (ref.absBias[i] as number) + 1e-30;
    const label = `[${c.shape}] offset ${c.offset}`;
    const errs = {
      y: maxErr(wasm.y, ref.y, yScale),
      dx: maxErr(wasm.dx, ref.dx, dxScale),
      dgain: maxErr(wasm.dgain, ref.dgain, dgScale),
      dbias: maxErr(wasm.dbias, ref.dbias, dbScale),
    };
    const cpuErrs = {
      y: maxErr(wasm.y, cpu.y, yScale),
      dx: maxErr(wasm.dx, cpu.dx, dxScale),
      dgain: maxErr(wasm.dgain, cpu.dgain, dgScale),
      dbias: maxErr(wasm.dbias, cpu.dbias, dbScale),
    };
    for (const k of ['y', 'dx', 'dgain', 'dbias'] as const) {
      tt.ok(errs[k] < c.tol, `${label}: ${k} within ${errs[k].toExponential(2)} of float64`);
      tt.ok(cpuErrs[k] < c.tol, `${label}: ${k} within ${cpuErrs[k].toExponential(2)} of the cpu backend's composed formula`);
    }
  }
});

t.test('the cpu reference itself is as close to float64 (the comparison is not vacuous)', async (tt) => {
  await tf.setBackend('cpu');
  const c: Case = { shape: [20, 129], offset: 0, scale: 1 };
  const inp = makeInputs(c);
  const cpu = run(inp, c.shape);
  const ref = exact(inp, 129);
  tt.ok(maxErr(cpu.y, ref.y, () => 1) < 1e-5, 'cpu y');
  // and a wrong answer is caught: the float64 reference with bias dropped is far off
  tt.ok(maxErr(cpu.y, ref.y.map((v, i) => v - (inp.bias[i % 129] as number)), () => 1) > 1e-2, 'dropping the bias shows');
});

t.test('the kernels write only their outputs: other tensors on the heap keep their values, nothing leaks', async (tt) => {
  await tf.setBackend('wasm');
  const before = tf.tensor1d([1, 2, 3, 4, 5]);
  const inp = makeInputs({ shape: [37, 129], offset: 0, scale: 1 });
  const x = tf.tensor2d(inp.x, [37, 129]);
  const gain = tf.tensor1d(inp.gain);
  const bias = tf.tensor1d(inp.bias);
  const w = tf.tensor2d(inp.w, [37, 129]);
  const n0 = tf.memory().numTensors;
  const y = tf.tidy(() => layerNorm(x, gain, bias));
  tt.equal(tf.memory().numTensors, n0 + 1, 'forward: only y is left (the statistics are freed)');
  const grads = tf.tidy(() => tf.grads((a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(layerNorm(a, g, b), w)))([x, gain, bias]));
  tt.equal(tf.memory().numTensors, n0 + 4, 'backward: only the three gradients are left');
  const onlyX = tf.tidy(() => tf.grad((a: tf.Tensor) => tf.sum(tf.mul(layerNorm(a, gain, bias), w)))(x));
  tt.equal(tf.memory().numTensors, n0 + 5, 'gradient of x alone: the unused gain and bias gradients are freed');
  tt.same([...onlyX.dataSync()], [...(grads[0] as tf.Tensor).dataSync()], 'same dx either way');
  const after = tf.tensor1d([6, 7]);
  tt.same([...before.dataSync()], [1, 2, 3, 4, 5], 'tensor allocated before');
  tt.same([...after.dataSync()], [6, 7], 'tensor allocated after');
  tt.same([...x.dataSync()], [...inp.x], 'the input is unchanged');
  tt.same([...gain.dataSync()], [...inp.gain], 'the gain is unchanged');
  tt.same([...w.dataSync()], [...inp.w], 'the upstream gradient is unchanged');
  tf.dispose([before, x, gain, bias, w, y, ...grads, onlyX, after]);
});

t.test('inputs the kernel does not take use the composed formula; a bad direct call is a clear error', async (tt) => {
  await tf.setBackend('wasm');
  const x = tf.tensor2d([[1, 2, 3], [4, 6, 11]]);
  const gain = tf.tensor1d([1, 2, 3]);
  const bias = tf.tensor1d([0, 1, 0]);
  const fused = layerNorm(x, gain, bias);
  // gain [1, 3] broadcasts in the formula: same values
  const gain2 = tf.reshape(gain, [1, 3]);
  const composed = layerNorm(x, gain2, bias);
  tt.ok(maxErr(fused.dataSync(), composed.dataSync(), () => 1) < 1e-6, 'broadcast gain: composed formula, same values');
  const xi = tf.tensor2d([[1, 2, 3]], [1, 3], 'int32');
  tt.throws(() => tf.engine().runKernel(LAYER_NORM, { x: xi, gain, bias }, { eps: EPS }), /DeclipLayerNorm: input x must be a float32 tensor/);
  tt.throws(() => tf.engine().runKernel(LAYER_NORM, { x, gain: gain2, bias }, { eps: EPS }), /gain must have shape \[3\]/);
  tt.throws(() => tf.engine().runKernel(LAYER_NORM, { x, gain, bias }, {}), /attr eps/);
  tf.dispose([x, gain, bias, fused, gain2, composed, xi]);
});
