/**
 * Kernel fixes for `@tensorflow/tfjs-backend-webgpu` 4.22, registered once the backend is
 * loaded (trainer/backend/webgpu.ts).
 *
 * AddN: the package's kernel binds every input as one storage buffer plus one for the
 * output. A sum of more inputs than the device's `maxStorageBuffersPerShaderStage - 1`
 * (the gradient norm over ~80 parameters) fails validation: Dawn drops the whole batched
 * command buffer and the results read back as zeros. This wrapper sums in chunks that fit
 * (then sums the partial sums the same way), so any number of inputs works.
 *
 * And the toolkit's fused kernels (fused.ts: GELU, log-softmax, LayerNorm; adamw.ts: the
 * AdamW update), which cut the dispatches of a training step.
 */
import * as tf from '@tensorflow/tfjs-core';
import { adamwWebGpuConfigs } from './adamw.js';
import { enableSumOfSquares, fusedWebGpuKernels, registerFusedGradients } from './fused.js';
import type { WebGpuBackendLike } from './program.js';

export { adamwWebGpu, ADAMW_WEBGPU } from './adamw.js';

let registered = false;

/** The fused kernels' names (what {@link unregisterFusedWebGpuKernels} removes). */
export const FUSED_WEBGPU_KERNELS: readonly string[] = [...fusedWebGpuKernels, ...adamwWebGpuConfigs].map((k) => k.kernelName);

/** Register the fused kernels (idempotent), and use the fused squared gradient norm. */
export function registerFusedWebGpuKernels(): void {
  registerFusedGradients();
  enableSumOfSquares(true);
  for (const config of [...fusedWebGpuKernels, ...adamwWebGpuConfigs]) {
    if (tf.getKernel(config.kernelName, 'webgpu') === undefined) tf.registerKernel(config);
  }
}

/**
 * Remove the fused kernels, so that the ops fall back to the composed tfjs formulas (the
 * "before" of scripts/webgpu-dispatches.ts, and the reference of the kernel tests).
 */
export function unregisterFusedWebGpuKernels(): void {
  enableSumOfSquares(false);
  for (const name of FUSED_WEBGPU_KERNELS) if (tf.getKernel(name, 'webgpu') !== undefined) tf.unregisterKernel(name, 'webgpu');
}

/** Install the webgpu kernel fixes and the fused kernels (idempotent; the webgpu backend must be registered). */
export function registerWebGpuKernels(): void {
  if (registered) return;
  const original = tf.getKernel(tf.AddN, 'webgpu');
  if (original === undefined) return;
  registered = true;
  registerFusedWebGpuKernels();
  const inner = original.kernelFunc;
  tf.unregisterKernel(tf.AddN, 'webgpu');
  tf.registerKernel({
    kernelName: tf.AddN,
    backendName: 'webgpu',
    kernelFunc: (args) => {
      const backend = args.backend as unknown as WebGpuBackendLike;
      const max = Math.max(2, backend.device.limits.maxStorageBuffersPerShaderStage - 1);
      let inputs = args.inputs as unknown as tf.TensorInfo[];
      const made: tf.TensorInfo[] = [];
      while (inputs.length > max) {
        const next: tf.TensorInfo[] = [];
        for (let i = 0; i < inputs.length; i += max) {
          const chunk = inputs.slice(i, i + max);
          if (chunk.length === 1) next.push(chunk[0] as tf.TensorInfo);
          else {
            const part = inner({ ...args, inputs: chunk as unknown as tf.NamedTensorInfoMap }) as tf.TensorInfo;
            made.push(part);
            next.push(part);
          }
        }
        inputs = next;
      }
      const out = inner({ ...args, inputs: inputs as unknown as tf.NamedTensorInfoMap }) as tf.TensorInfo;
      for (const t of made) backend.disposeData(t.dataId);
      return out;
    },
  });
}
