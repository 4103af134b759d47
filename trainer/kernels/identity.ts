/**
 * `Identity` for the wasm backend without a copy. The native one copies the whole tensor;
 * tfjs calls it for every `tf.clone`, same-dtype `tf.cast` and inside gradients (about
 * 1,400 calls in one `tiny` DeCLIP step). Tensor data is immutable on the wasm backend
 * (no kernel writes into its inputs), so sharing the data with a reference count is safe,
 * exactly as the backend's own Reshape does.
 */
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import { asWasm } from './wasm-memory.js';

export function makeIdentity(original: KernelFunc): KernelFunc {
  return (args) => {
    const x = args.inputs['x'] as TensorInfo;
    if (x.dtype === 'string') return original(args);
    asWasm(args.backend).incRef(x.dataId);
    return { dataId: x.dataId, shape: [...x.shape], dtype: x.dtype };
  };
}

export function identityConfig(original: KernelConfig): KernelConfig {
  return { kernelName: 'Identity', backendName: 'wasm', kernelFunc: makeIdentity(original.kernelFunc) };
}
