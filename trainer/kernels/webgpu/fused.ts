/**
 * Fused kernels for the webgpu backend: the same kernel names (and so the same ops and
 * gradients) as the wasm backend's (trainer/kernels/gelu.ts, log-softmax.ts,
 * layer-norm.ts), each a few WGSL dispatches instead of the dozen elementwise and
 * reduction kernels of the composed tfjs formula. On a GPU every dispatch costs a fixed
 * overhead (and on lavapipe far more), so the count of dispatches per step is what these
 * cut; docs/backends.md has the measured counts.
 *
 * - GELU: 1 dispatch forward, 1 backward.
 * - Log-softmax over the last axis: 1 forward (a workgroup per row: max, sum of exp,
 *   write), 1 backward `dy - exp(y) * sum(dy)`.
 * - LayerNorm over the last axis: 3 forward (row mean, row rstd, the normalised output),
 *   3 backward (dx a workgroup per row; dgain, dbias a column sum each), 5 where there are
 *   more than 64 rows (the column sums in chunks of 64 rows, then the chunks summed).
 * - The squared global gradient norm: one dispatch per 7 gradients (a Square and a Sum per
 *   gradient before).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { KernelConfig, NamedTensorInfoMap, TensorInfo } from '@tensorflow/tfjs-core';
import { GELU, GELU_GRAD, fusedGelu } from '../gelu.js';
import { LAYER_NORM, LAYER_NORM_GRAD, registerLayerNormGradient } from '../layer-norm.js';
import { LOG_SOFTMAX, LOG_SOFTMAX_GRAD, fusedLogSoftmax } from '../log-softmax.js';
import { floatInput } from '../wasm-memory.js';
import { ERF_HELPER, ROW_HELPERS, ROW_THREADS, type WebGpuBackendLike, rowsOf, runProgram } from './program.js';

/** A gradient kernel's value input and its `dy`, both float32 and of the same size. */
function withGradient(kernel: string, inputs: NamedTensorInfoMap, name: string): [TensorInfo, TensorInfo] {
  const a = floatInput(kernel, name, inputs[name]);
  const dy = floatInput(kernel, 'dy', inputs['dy']);
  const n = (t: TensorInfo): number => t.shape.reduce((x, y) => x * y, 1);
  if (n(a) !== n(dy)) throw new TypeError(`${kernel}: dy has shape [${dy.shape}], expected the shape [${a.shape}]`);
  return [a, dy];
}

const geluConfig: KernelConfig = {
  kernelName: GELU,
  backendName: 'webgpu',
  kernelFunc: ({ inputs, backend }) => {
    const x = floatInput(GELU, 'x', inputs['x']);
    return runProgram(backend, {
      key: 'gelu',
      inputs: ['X'],
      outputShape: x.shape,
      layout: { kind: 'elementwise' },
      code: `${ERF_HELPER}
        fn main(index : i32) {
          if (index < uniforms.size) {
            let x = X[index];
            result[index] = x * 0.5 * (erfApprox(x * 0.70710678118654752) + 1.0);
          }
        }`,
    }, [x]);
  },
};

const geluGradConfig: KernelConfig = {
  kernelName: GELU_GRAD,
  backendName: 'webgpu',
  kernelFunc: ({ inputs, backend }) => {
    const [x, dy] = withGradient(GELU_GRAD, inputs, 'x');
    return runProgram(backend, {
      key: 'gelu_grad',
      inputs: ['X', 'Dy'],
      outputShape: x.shape,
      layout: { kind: 'elementwise' },
      // d/dx x Phi(x) = Phi(x) + x phi(x)
      code: `${ERF_HELPER}
        fn main(index : i32) {
          if (index < uniforms.size) {
            let x = X[index];
            let cdf = 0.5 * (erfApprox(x * 0.70710678118654752) + 1.0);
            let pdf = 0.39894228040143268 * exp(-0.5 * x * x);
            result[index] = Dy[index] * (cdf + x * pdf);
          }
        }`,
    }, [x, dy]);
  },
};

/** The loop over one row's columns that each invocation of a row program runs. */
const eachColumn = (body: string): string => `for (var c = i32(localId.x); c < w; c = c + ${ROW_THREADS}) { if (valid) { ${body} } }`;

const ROW_PRELUDE = `
  let row = rowIndex();
  let valid = row < uniforms.rows;
  let w = uniforms.width;
  let base = min(row, uniforms.rows - 1) * w;`;

const logSoftmaxConfig: KernelConfig = {
  kernelName: LOG_SOFTMAX,
  backendName: 'webgpu',
  kernelFunc: ({ inputs, backend }) => {
    const x = floatInput(LOG_SOFTMAX, 'x', inputs['x']);
    const { rows, width } = rowsOf(LOG_SOFTMAX, x.shape);
    return runProgram(backend, {
      key: 'log_softmax',
      inputs: ['X'],
      outputShape: x.shape,
      layout: { kind: 'rows', rows },
      uniforms: 'rows : i32, width : i32,',
      code: `${ROW_HELPERS}
        fn main(index : i32) {
          ${ROW_PRELUDE}
          var m = -3.402823e+38;
          ${eachColumn('m = max(m, X[base + c]);')}
          let rowMaximum = rowMax(m);
          var s = 0.0;
          ${eachColumn('s = s + exp(X[base + c] - rowMaximum);')}
          let logSum = log(rowSum(s));
          ${eachColumn('result[base + c] = (X[base + c] - rowMaximum) - logSum;')}
        }`,
    }, [x], [{ type: 'int32', data: [rows] }, { type: 'int32', data: [width] }]);
  },
};

const logSoftmaxGradConfig: KernelConfig = {
  kernelName: LOG_SOFTMAX_GRAD,
  backendName: 'webgpu',
  kernelFunc: ({ inputs, backend }) => {
    const [y, dy] = withGradient(LOG_SOFTMAX_GRAD, inputs, 'y');
    const { rows, width } = rowsOf(LOG_SOFTMAX_GRAD, y.shape);
    return runProgram(backend, {
      key: 'log_softmax_grad',
      inputs: ['Y', 'Dy'],
      outputShape: y.shape,
      layout: { kind: 'rows', rows },
      uniforms: 'rows : i32, width : i32,',
      code: `${ROW_HELPERS}
        fn main(index : i32) {
          ${ROW_PRELUDE}
          var s = 0.0;
          ${eachColumn('s = s + Dy[base + c];')}
          let total = rowSum(s);
          ${eachColumn('result[base + c] = Dy[base + c] - exp(Y[base + c]) * total;')}
        }`,
    }, [y, dy], [{ type: 'int32', data: [rows] }, { type: 'int32', data: [width] }]);
  },
};

/** Rows per invocation of LayerNorm's dgain and dbias column sums. */
const COLUMN_CHUNK = 64;

/** WGSL of a row's mean and variance (population), then `out` written by invocation 0. */
const statsCode = (out: string): string => `${ROW_HELPERS}
  fn main(index : i32) {
    ${ROW_PRELUDE}
    var s = 0.0;
    ${eachColumn('s = s + X[base + c];')}
    let mean = rowSum(s) / f32(w);
    var q = 0.0;
    ${eachColumn('let d = X[base + c] - mean; q = q + d * d;')}
    let variance = rowSum(q) / f32(w);
    if (valid && localId.x == 0u) { result[row] = ${out}; }
  }`;

const layerNormConfig: KernelConfig = {
  kernelName: LAYER_NORM,
  backendName: 'webgpu',
  kernelFunc: ({ inputs, attrs, backend }) => {
    const x = floatInput(LAYER_NORM, 'x', inputs['x']);
    const gain = floatInput(LAYER_NORM, 'gain', inputs['gain']);
    const bias = floatInput(LAYER_NORM, 'bias', inputs['bias']);
    const eps = attrs?.['eps'];
    if (typeof eps !== 'number' || !(eps >= 0)) throw new TypeError(`${LAYER_NORM}: attr eps must be a number >= 0`);
    const { rows, width } = rowsOf(LAYER_NORM, x.shape);
    for (const [name, p] of [['gain', gain], ['bias', bias]] as const) {
      if (p.shape.length !== 1 || p.shape[0] !== width) throw new TypeError(`${LAYER_NORM}: ${name} must have shape [${width}], got [${p.shape}]`);
    }
    const shape = { rows: { type: 'int32', data: [rows] }, width: { type: 'int32', data: [width] } } as const;
    const stats = (key: string, out: string): TensorInfo =>
      runProgram(backend, { key, inputs: ['X'], outputShape: [rows], layout: { kind: 'rows', rows }, uniforms: 'rows : i32, width : i32, eps : f32,', code: statsCode(out) }, [x], [
        shape.rows, shape.width, { type: 'float32', data: [eps] },
      ]);
    const mean = stats('layer_norm_mean', 'mean');
    const rstd = stats('layer_norm_rstd', 'inverseSqrt(variance + uniforms.eps)');
    const y = runProgram(backend, {
      key: 'layer_norm',
      inputs: ['X', 'Mean', 'Rstd', 'Gain', 'Bias'],
      outputShape: x.shape,
      layout: { kind: 'elementwise' },
      uniforms: 'width : i32,',
      code: `
        fn main(index : i32) {
          if (index < uniforms.size) {
            let row = index / uniforms.width;
            let c = index % uniforms.width;
            result[index] = (X[index] - Mean[row]) * Rstd[row] * Gain[c] + Bias[c];
          }
        }`,
    }, [x, mean, rstd, gain, bias], [shape.width]);
    return [y, mean, rstd];
  },
};

const layerNormGradConfig: KernelConfig = {
  kernelName: LAYER_NORM_GRAD,
  backendName: 'webgpu',
  kernelFunc: ({ inputs, backend }) => {
    const kernel = LAYER_NORM_GRAD;
    const [x, dy] = withGradient(kernel, inputs, 'x');
    const gain = floatInput(kernel, 'gain', inputs['gain']);
    const mean = floatInput(kernel, 'mean', inputs['mean']);
    const rstd = floatInput(kernel, 'rstd', inputs['rstd']);
    const { rows, width } = rowsOf(kernel, x.shape);
    if (gain.shape.length !== 1 || gain.shape[0] !== width) throw new TypeError(`${kernel}: gain must have shape [${width}], got [${gain.shape}]`);
    if (mean.shape.reduce((a, b) => a * b, 1) !== rows || rstd.shape.reduce((a, b) => a * b, 1) !== rows) throw new TypeError(`${kernel}: mean and rstd must have ${rows} values`);
    const uniforms = [{ type: 'int32', data: [rows] }, { type: 'int32', data: [width] }] as const;
    const dx = runProgram(backend, {
      key: 'layer_norm_dx',
      inputs: ['X', 'Gain', 'Dy', 'Mean', 'Rstd'],
      outputShape: x.shape,
      layout: { kind: 'rows', rows },
      uniforms: 'rows : i32, width : i32,',
      // dx = rstd * (g - mean(g) - xhat * mean(g * xhat)), g = dy * gain
      code: `${ROW_HELPERS}
        fn main(index : i32) {
          ${ROW_PRELUDE}
          let r = min(row, uniforms.rows - 1);
          let m = Mean[r];
          let rs = Rstd[r];
          var s1 = 0.0;
          var s2 = 0.0;
          ${eachColumn('let g = Dy[base + c] * Gain[c]; s1 = s1 + g; s2 = s2 + g * (X[base + c] - m) * rs;')}
          let meanG = rowSum(s1) / f32(w);
          let meanGX = rowSum(s2) / f32(w);
          ${eachColumn('let g = Dy[base + c] * Gain[c]; result[base + c] = rs * (g - meanG - (X[base + c] - m) * rs * meanGX);')}
        }`,
    }, [x, gain, dy, mean, rstd], [...uniforms]);
    // dgain and dbias are sums over the rows: each invocation sums one column over a chunk
    // of COLUMN_CHUNK rows (so a large batch keeps the GPU busy), then, where there is more
    // than one chunk, one more dispatch sums the chunks' partial sums.
    const chunks = Math.ceil(rows / COLUMN_CHUNK);
    const column = (key: string, names: string[], tensors: TensorInfo[], term: string): TensorInfo => {
      const partial = runProgram(backend, {
        key,
        inputs: names,
        outputShape: chunks === 1 ? [width] : [chunks, width],
        layout: { kind: 'elementwise' },
        uniforms: 'rows : i32, width : i32,',
        code: `
          fn main(index : i32) {
            if (index < uniforms.size) {
              let chunk = index / uniforms.width;
              let c = index % uniforms.width;
              var s = 0.0;
              for (var r = chunk * ${COLUMN_CHUNK}; r < min(uniforms.rows, (chunk + 1) * ${COLUMN_CHUNK}); r = r + 1) {
                let i = r * uniforms.width + c;
                s = s + ${term};
              }
              result[index] = s;
            }
          }`,
      }, tensors, [...uniforms]);
      if (chunks === 1) return partial;
      const total = runProgram(backend, {
        key: 'column_sum',
        inputs: ['Partial'],
        outputShape: [width],
        layout: { kind: 'elementwise' },
        uniforms: 'chunks : i32,',
        code: `
          fn main(index : i32) {
            if (index < uniforms.size) {
              var s = 0.0;
              for (var k = 0; k < uniforms.chunks; k = k + 1) { s = s + Partial[k * uniforms.size + index]; }
              result[index] = s;
            }
          }`,
      }, [partial], [{ type: 'int32', data: [chunks] }]);
      (backend as WebGpuBackendLike).disposeData(partial.dataId);
      return total;
    };
    const dgain = column('layer_norm_dgain', ['X', 'Dy', 'Mean', 'Rstd'], [x, dy, mean, rstd], 'Dy[i] * ((X[i] - Mean[r]) * Rstd[r])');
    const dbias = column('layer_norm_dbias', ['Dy'], [dy], 'Dy[i]');
    return [dx, dgain, dbias];
  },
};

/** The fused kernels' configs for the webgpu backend (registered by registerWebGpuKernels). */
export const fusedWebGpuKernels: readonly KernelConfig[] = [geluConfig, geluGradConfig, logSoftmaxConfig, logSoftmaxGradConfig, layerNormConfig, layerNormGradConfig];

/** Register the fused ops' gradients (backend-independent; idempotent). */
export function registerFusedGradients(): void {
  fusedGelu.registerGradient();
  fusedLogSoftmax.registerGradient();
  registerLayerNormGradient();
}

let sumOfSquaresOn = true;
/** Workgroups of the squared-norm program (each strides over the gradients and writes one partial sum). */
const SQUARES_WORKGROUPS = 64;

/** Use (the default) or not {@link sumOfSquaresWebGpu} (registerFusedWebGpuKernels / unregisterFusedWebGpuKernels). */
export function enableSumOfSquares(on: boolean): void {
  sumOfSquaresOn = on;
}

/**
 * `sum(g^2)` over every tensor of `tensors` on the webgpu backend (the squared global
 * gradient norm): one dispatch per group of tensors that fits the device's storage-buffer
 * limit (64 workgroups, each a strided partial sum over the whole group), then the sum of
 * the partial sums, instead of a Square and a Sum per tensor. Undefined where it does not apply (another backend, a dtype other
 * than float32): use the tfjs ops.
 */
export function sumOfSquaresWebGpu(tensors: readonly tf.Tensor[]): tf.Scalar | undefined {
  if (!sumOfSquaresOn || tf.getBackend() !== 'webgpu' || tensors.length === 0 || tensors.some((t) => t.dtype !== 'float32')) return undefined;
  const backend = tf.backend() as unknown as WebGpuBackendLike;
  const group = Math.max(1, Math.min(7, backend.device.limits.maxStorageBuffersPerShaderStage - 1));
  // Each group's program: SQUARES_WORKGROUPS workgroups stride over every tensor of the
  // group and write one partial sum each; then the partials of all groups are summed.
  const parts: tf.Tensor[] = [];
  for (let i = 0; i < tensors.length; i += group) {
    const chunk = tensors.slice(i, i + group);
    const names = chunk.map((_, k) => `G${k}`);
    const stride = SQUARES_WORKGROUPS * ROW_THREADS;
    const loops = names.map((n, k) => `for (var i = first; i < uniforms.n${k}; i = i + ${stride}) { let v = ${n}[i]; s = s + v * v; }`).join('\n');
    const info = runProgram(backend, {
      key: `sum_of_squares_${chunk.length}`,
      inputs: names,
      outputShape: [SQUARES_WORKGROUPS],
      layout: { kind: 'rows', rows: SQUARES_WORKGROUPS },
      uniforms: names.map((_, k) => `n${k} : i32,`).join(' '),
      code: `${ROW_HELPERS}
        fn main(index : i32) {
          let row = rowIndex();
          let first = row * ${ROW_THREADS} + i32(localId.x);
          var s = 0.0;
          ${loops}
          let total = rowSum(s);
          if (localId.x == 0u && row < ${SQUARES_WORKGROUPS}) { result[row] = total; }
        }`,
    }, chunk, chunk.map((t) => ({ type: 'int32', data: [t.size] })));
    parts.push(tf.engine().makeTensorFromTensorInfo(info));
  }
  const total = tf.tidy(() => tf.sum(parts.length === 1 ? (parts[0] as tf.Tensor) : tf.addN(parts)) as tf.Scalar);
  tf.dispose(parts);
  return total;
}
