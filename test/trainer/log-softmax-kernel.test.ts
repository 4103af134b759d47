import t from 'tap';
import * as tf from '@tensorflow/tfjs-core';
import { Rng } from '../../core/rng.js';
import { selectBackend } from '../../trainer/backend/select.js';
import { LOG_SOFTMAX, logSoftmax } from '../../trainer/kernels/index.js';
import { valueAndGradient } from './fused-op-helpers.js';

await selectBackend({ backend: 'cpu', log: () => {} });
await selectBackend({ backend: 'wasm', log: () => {} });

const rng = new Rng(20261130);

function randn(n: number, scale: number, offset: number): Float32Array {
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) x[i] = offset + rng.normal() * scale;
  return x;
}

/** log softmax over the last axis and the gradient of sum(logsoftmax(x) * w), in float64. */
function reference(x: Float32Array, w: Float32Array, cols: number): { y: Float64Array; g: Float64Array } {
  const y = new Float64Array(x.length);
  const g = new Float64Array(x.length);
  for (let r = 0; r < x.length / cols; r++) {
    let mx = -Infinity;
    for (let j = 0; j < cols; j++) mx = Math.max(mx, x[r * cols + j] as number);
    let s = 0;
    for (let j = 0; j < cols; j++) s += Math.exp((x[r * cols + j] as number) - mx);
    const lse = mx + Math.log(s);
    let sw = 0;
    for (let j = 0; j < cols; j++) sw += w[r * cols + j] as number;
    for (let j = 0; j < cols; j++) {
      const i = r * cols + j;
      y[i] = (x[i] as number) - lse;
      g[i] = (w[i] as number) - Math.exp(y[i] as number) * sw;
    }
  }
  return { y, g };
}

t.test('the fused log-softmax is a wasm kernel; cpu keeps tf.logSoftmax', async (tt) => {
  tt.ok(tf.getKernel(LOG_SOFTMAX, 'wasm'));
  tt.notOk(tf.getKernel(LOG_SOFTMAX, 'cpu'));
});

t.test('log-softmax and its gradient match float64 and the cpu backend', async (tt) => {
  const cases: Array<[number[], number, number]> = [
    [[1, 1], 1, 0],
    [[3, 5], 1, 0],
    [[4, 8], 3, 0],
    [[2, 3, 7], 2, 0],
    [[5, 4100], 4, 0],
    [[6, 64], 1, 1e4], // large offsets: the maximum must be subtracted first
    [[9, 13], 30, -50], // wide spread: most probabilities underflow
  ];
  for (const [shape, scale, offset] of cases) {
    const n = shape.reduce((a, b) => a * b, 1);
    const cols = shape[shape.length - 1] as number;
    const x = randn(n, scale, offset);
    const w = randn(n, 1, 0);
    await tf.setBackend('wasm');
    const wasm = valueAndGradient(logSoftmax, x, w, shape);
    await tf.setBackend('cpu');
    const cpu = valueAndGradient(logSoftmax, x, w, shape);
    const ref = reference(x, w, cols);
    const err = (got: Float32Array, want: Float64Array): number => {
      let e = 0;
      for (let i = 0; i < n; i++) e = Math.max(e, Math.abs((got[i] as number) - (want[i] as number)) / Math.max(1, Math.abs(want[i] as number)));
      return e;
    };
    // float32 inputs and sums bound what any implementation reaches (offset 1e4: ulp 1e-3; 4100 terms summed):
    // the fused kernel must be within 2e-6 of float64, or no worse than twice tfjs's own composition on cpu
    for (const [what, wasmErr, cpuErr] of [['values', err(wasm.y, ref.y), err(cpu.y, ref.y)], ['gradient', err(wasm.g, ref.g), err(cpu.g, ref.g)]] as const) {
      tt.ok(wasmErr <= Math.max(2e-6, 2 * cpuErr), `[${shape}] ${what}: ${wasmErr.toExponential(2)} from float64 (tf.logSoftmax on cpu: ${cpuErr.toExponential(2)})`);
    }
  }
});

t.test('masked logits (-1e30) give finite values elsewhere and no NaN', async (tt) => {
  await tf.setBackend('wasm');
  const x = tf.tensor2d([[0, -1e30, 1, 2, -1e30], [-1e30, -1e30, -1e30, -1e30, 3]]);
  const y = logSoftmax(x).dataSync();
  const g = tf.grad((v: tf.Tensor) => tf.sum(logSoftmax(v)))(x).dataSync();
  tt.ok([...y].every((v) => !Number.isNaN(v)), 'no NaN in values');
  tt.ok([...g].every((v) => Number.isFinite(v)), 'finite gradient');
  tt.ok(Math.abs((y[9] as number) - 0) < 1e-6, 'a row with one live logit: log p = 0');
  tt.ok(Math.abs(Math.exp(y[0] as number) + Math.exp(y[2] as number) + Math.exp(y[3] as number) - 1) < 1e-6, 'probabilities sum to 1');
  x.dispose();
});
