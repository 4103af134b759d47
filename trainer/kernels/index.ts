/**
 * The toolkit's kernels for `@tensorflow/tfjs-backend-wasm`: the ones training needs
 * that the backend lacks, and faster replacements for slow ones on the training path.
 * See docs/backends.md for what each does and the measured effect.
 */
import type { KernelConfig } from '@tensorflow/tfjs-core';
import { getKernel, registerKernel, unregisterKernel } from '@tensorflow/tfjs-core';
import { batchMatMulConfig } from './batch-matmul.js';
import { conv2DBackpropFilterConfig, conv2DBackpropInputConfig } from './conv2d-grad.js';
import { gatherV2Config } from './gather.js';
import { fusedGelu } from './gelu.js';
import { identityConfig } from './identity.js';
import { layerNormConfig, layerNormGradConfig, registerLayerNormGradient } from './layer-norm.js';
import { fusedLogSoftmax } from './log-softmax.js';
import { heapKernelsAvailable } from './wasm/heap.js';
import { oneHotConfig } from './one-hot.js';
import { sliceConfig, splitVConfig, unpackConfig } from './slice.js';
import { sumConfig } from './sum.js';
import { transposeConfig } from './transpose.js';
import { unsortedSegmentSumConfig } from './unsorted-segment-sum.js';

export { batchedProduct } from './batch-matmul.js';
export { gelu, GELU, GELU_GRAD } from './gelu.js';
export { logSoftmax, LOG_SOFTMAX, LOG_SOFTMAX_GRAD } from './log-softmax.js';
export { layerNorm, LAYER_NORM, LAYER_NORM_GRAD } from './layer-norm.js';
export { heapKernelsAvailable } from './wasm/heap.js';
export { simplifyTranspose, transposeInto } from './transpose.js';

/** Kernel names {@link registerWasmKernels} adds or replaces. */
export const WASM_KERNELS = [
  'BatchMatMul',
  'Conv2DBackpropFilter',
  'Conv2DBackpropInput',
  'DeclipGelu',
  'DeclipGeluGrad',
  'DeclipLayerNorm',
  'DeclipLayerNormGrad',
  'DeclipLogSoftmax',
  'DeclipLogSoftmaxGrad',
  'GatherV2',
  'Identity',
  'OneHot',
  'Slice',
  'SplitV',
  'Sum',
  'Transpose',
  'UnsortedSegmentSum',
  'Unpack',
] as const;

/** Configs we registered, to recognise our own on a second call. */
const ours = new WeakSet<KernelConfig>();

function install(config: KernelConfig): void {
  if (getKernel(config.kernelName, 'wasm') !== undefined) unregisterKernel(config.kernelName, 'wasm');
  registerKernel(config);
  ours.add(config);
}

function isOurs(name: string): boolean {
  const k = getKernel(name, 'wasm');
  return k !== undefined && ours.has(k);
}

/**
 * Register the toolkit's wasm kernels (idempotent). Needs `@tensorflow/tfjs-backend-wasm`
 * to have been imported (it registers the kernels we build on); `selectBackend` calls it.
 *
 * @example
 * ```ts
 * await import('@tensorflow/tfjs-backend-wasm');
 * registerWasmKernels();
 * await tf.setBackend('wasm');
 * ```
 */
export function registerWasmKernels(): void {
  const identity = getKernel('Identity', 'wasm');
  if (identity !== undefined && !isOurs('Identity')) install(identityConfig(identity));
  const transpose = getKernel('Transpose', 'wasm');
  if (transpose !== undefined && !isOurs('Transpose')) install(transposeConfig(transpose));
  let matMul = getKernel('BatchMatMul', 'wasm');
  if (matMul === undefined) throw new TypeError('registerWasmKernels: import @tensorflow/tfjs-backend-wasm first');
  if (!isOurs('BatchMatMul')) {
    const fast = batchMatMulConfig(matMul);
    install(fast);
    matMul = fast;
  }
  if (!isOurs('Conv2DBackpropFilter')) install(conv2DBackpropFilterConfig(matMul.kernelFunc));
  if (!isOurs('Conv2DBackpropInput')) install(conv2DBackpropInputConfig(matMul.kernelFunc));
  if (!isOurs('UnsortedSegmentSum')) install(unsortedSegmentSumConfig);
  if (!isOurs('OneHot')) install(oneHotConfig);
  if (heapKernelsAvailable()) {
    for (const op of [fusedGelu, fusedLogSoftmax]) {
      for (const config of op.configs) if (!isOurs(config.kernelName)) install(config);
      op.registerGradient();
    }
    const sum = getKernel('Sum', 'wasm');
    if (sum !== undefined && !isOurs('Sum')) install(sumConfig(sum));
    if (!isOurs('DeclipLayerNorm')) install(layerNormConfig);
    if (!isOurs('DeclipLayerNormGrad')) install(layerNormGradConfig);
    registerLayerNormGradient();
  }
  for (const [name, make] of [
    ['GatherV2', gatherV2Config],
    ['Slice', sliceConfig],
    ['SplitV', splitVConfig],
    ['Unpack', unpackConfig],
  ] as const) {
    const original = getKernel(name, 'wasm');
    if (original !== undefined && !isOurs(name)) install(make(original));
  }
}
