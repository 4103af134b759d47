/**
 * Kernel fixes for `@tensorflow/tfjs-backend-webgpu` 4.22, registered once the backend is
 * loaded (trainer/backend/webgpu.ts).
 *
 * AddN: the package's kernel binds every input as one storage buffer plus one for the
 * output. A sum of more inputs than the device's `maxStorageBuffersPerShaderStage - 1`
 * (the gradient norm over ~80 parameters) fails validation: Dawn drops the whole batched
 * command buffer and the results read back as zeros. This wrapper sums in chunks that fit
 * (then sums the partial sums the same way), so any number of inputs works.
 */
import * as tf from '@tensorflow/tfjs-core';

interface WebGpuBackendLike {
  readonly device: { readonly limits: { readonly maxStorageBuffersPerShaderStage: number } };
  disposeData(dataId: object): void;
}

let registered = false;

/** Install the webgpu kernel fixes (idempotent; the webgpu backend must be registered). */
export function registerWebGpuKernels(): void {
  if (registered) return;
  const original = tf.getKernel(tf.AddN, 'webgpu');
  if (original === undefined) return;
  registered = true;
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
