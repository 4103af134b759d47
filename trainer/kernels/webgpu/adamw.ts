/**
 * The AdamW update of one parameter on the webgpu backend as three elementwise WGSL
 * dispatches (the new parameter, first and second moment; each recomputes the moments it
 * needs from the old values, with the same float32 operations in the same order as the
 * tfjs ops of trainer/optim/adamw.ts), instead of ~13 tfjs kernels per parameter (16 with
 * the non-finite mask). The mask `apply` (the finiteness of the gradient norm, a bool
 * scalar on the device) is read in the shader: where it is false every output is the old
 * value, as `where(apply, new, old)`. The gradient-clipping factor `scale` (a float32
 * scalar on the device), when given, multiplies the gradient first (`g * scale`, as
 * trainer/optim/clip.ts's scaleGrads would, one dispatch per parameter fewer).
 *
 * Three outputs, three dispatches: a tfjs-backend-webgpu program writes one output
 * buffer, and writing the moments in place would bind one buffer both read-only and
 * writable in a dispatch, which WebGPU forbids.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { KernelConfig, TensorInfo } from '@tensorflow/tfjs-core';
import type { AdamWScalars } from '../adamw.js';
import { floatInput } from '../wasm-memory.js';
import { runProgram } from './program.js';

export const ADAMW_WEBGPU = 'DeclipAdamW';

const OUTPUTS = {
  param: 'decayed - (mNew / (sqrt(vNew / uniforms.bc2) + uniforms.eps)) * uniforms.stepSize',
  m: 'mNew',
  v: 'vNew',
} as const;
const OLD = { param: 'P[index]', m: 'M[index]', v: 'V[index]' } as const;

const adamwConfig: KernelConfig = {
  kernelName: ADAMW_WEBGPU,
  backendName: 'webgpu',
  kernelFunc: ({ inputs, attrs, backend }) => {
    const [p, g, m, v] = (['param', 'grad', 'm', 'v'] as const).map((n) => floatInput(ADAMW_WEBGPU, n, inputs[n])) as [TensorInfo, TensorInfo, TensorInfo, TensorInfo];
    const size = tf.util.sizeFromShape([...p.shape]);
    for (const t of [g, m, v]) {
      if (tf.util.sizeFromShape([...t.shape]) !== size) throw new TypeError(`${ADAMW_WEBGPU}: grad, m and v must have the parameter's ${size} values`);
    }
    const apply = inputs['apply'];
    if (apply !== undefined && (apply.dtype !== 'bool' || apply.shape.length !== 0)) throw new TypeError(`${ADAMW_WEBGPU}: apply must be a bool scalar`);
    const scale = inputs['scale'];
    if (scale !== undefined && (scale.dtype !== 'float32' || scale.shape.length !== 0)) throw new TypeError(`${ADAMW_WEBGPU}: scale must be a float32 scalar`);
    const names = ['P', 'G', 'M', 'V', ...(apply === undefined ? [] : ['Apply']), ...(scale === undefined ? [] : ['Scale'])];
    const tensors = [p, g, m, v, ...(apply === undefined ? [] : [apply]), ...(scale === undefined ? [] : [scale])];
    const s = attrs as unknown as AdamWScalars;
    const uniforms = [s.beta1, 1 - s.beta1, s.beta2, 1 - s.beta2, s.eps, s.bc2, s.stepSize, s.decay];
    if (uniforms.some((u) => typeof u !== 'number' || !Number.isFinite(u))) throw new TypeError(`${ADAMW_WEBGPU}: attrs beta1, beta2, eps, bc2, stepSize and decay must be finite numbers`);
    const run = (which: keyof typeof OUTPUTS): TensorInfo =>
      runProgram(backend, {
        key: `adamw_${which}${apply === undefined ? '' : '_masked'}${scale === undefined ? '' : '_scaled'}`,
        inputs: names,
        outputShape: p.shape,
        layout: { kind: 'elementwise' },
        uniforms: 'beta1 : f32, oneMinusBeta1 : f32, beta2 : f32, oneMinusBeta2 : f32, eps : f32, bc2 : f32, stepSize : f32, decay : f32,',
        code: `
          fn main(index : i32) {
            if (index < uniforms.size) {
              let g = ${scale === undefined ? 'G[index]' : 'G[index] * Scale[0]'};
              let mNew = M[index] * uniforms.beta1 + g * uniforms.oneMinusBeta1;
              let vNew = V[index] * uniforms.beta2 + (g * g) * uniforms.oneMinusBeta2;
              let decayed = P[index] * uniforms.decay;
              let next = ${OUTPUTS[which]};
              ${apply === undefined ? 'result[index] = next;' : `result[index] = select(${OLD[which]}, next, Apply[0] != 0);`}
            }
          }`,
      }, tensors, uniforms.map((u) => ({ type: 'float32', data: [u] })));
    return [run('param'), run('m'), run('v')];
  },
};

export const adamwWebGpuConfigs: readonly KernelConfig[] = [adamwConfig];

/**
 * One AdamW update on the webgpu backend (see the module comment) from gradient
 * `grad * scale`: `param`, `m` and `v` are assigned their new values. Returns false, changing nothing, where the kernel does
 * not apply (another backend, the kernel not registered, a dtype other than float32).
 *
 * @example
 * ```ts
 * if (!adamwWebGpu(p.variable, g, m, v, scalars, apply)) { ...tfjs ops... }
 * ```
 */
export function adamwWebGpu(param: tf.Variable, grad: tf.Tensor, m: tf.Variable, v: tf.Variable, s: AdamWScalars, apply?: tf.Scalar, scale?: tf.Scalar): boolean {
  if (tf.getBackend() !== 'webgpu' || tf.getKernel(ADAMW_WEBGPU, 'webgpu') === undefined) return false;
  if ([param, grad, m, v].some((t) => t.dtype !== 'float32' || t.size !== param.size)) return false;
  if (scale !== undefined && scale.dtype !== 'float32') return false;
  const inputs: tf.NamedTensorMap = { param, grad, m, v, ...(apply === undefined ? {} : { apply }), ...(scale === undefined ? {} : { scale }) };
  const out = tf.engine().runKernel(ADAMW_WEBGPU, inputs, { ...s } as unknown as tf.NamedAttrMap) as tf.Tensor[];
  const [pNew, mNew, vNew] = out as [tf.Tensor, tf.Tensor, tf.Tensor];
  param.assign(pNew);
  m.assign(mNew);
  v.assign(vNew);
  tf.dispose(out);
  return true;
}
