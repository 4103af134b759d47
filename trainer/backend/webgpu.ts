/**
 * The WebGPU backend on Dawn (npm `webgpu`, Dawn's Node.js binding) with
 * `@tensorflow/tfjs-backend-webgpu`: loading, adapter choice, device limits, and turning
 * WebGPU errors into typed errors.
 *
 * Both packages are optional dependencies, imported only when this backend is tried.
 * Node.js has no `navigator`: Dawn's globals (GPUBufferUsage, ...) are installed on the
 * global object and `navigator.gpu` is defined before tfjs-backend-webgpu is imported.
 *
 * Why the toolkit registers its own `webgpu` backend factory instead of the package's:
 * - tfjs-backend-webgpu 4.22 requests the device with the default
 *   `maxStorageBuffersPerShaderStage` (8) although adapters offer more (16 on lavapipe,
 *   more on GPUs). We request every limit the adapter offers that the kernels care about.
 * - Dawn reports a validation or out-of-memory error as an event and drops the batched
 *   command buffer: the results read back as zeros, a silent wrong number. The factory
 *   listens for `uncapturederror` and `device.lost`; {@link assertWebGpuHealthy} turns a
 *   recorded error into a {@link BackendError} (the training step calls it after every
 *   read-back).
 * - The adapter is chosen here, so that `auto` can refuse a fallback (CPU) adapter such as
 *   lavapipe or SwiftShader and take the next backend, while `--backend webgpu` uses one.
 *
 * Synchronous reads (`dataSync`, `arraySync`) do not work on this backend in Node.js (they
 * go through an OffscreenCanvas, which Node.js lacks): code that may run on it reads with
 * `await t.data()`.
 */
import * as tf from '@tensorflow/tfjs-core';
import { BackendError } from '../../core/errors.js';
import { registerWebGpuKernels } from '../kernels/webgpu/index.js';

/** What the adapter says about itself (logged, and in `bench train --json`). */
export interface AdapterSummary {
  readonly vendor: string;
  readonly architecture: string;
  readonly device: string;
  readonly description: string;
  /** A CPU implementation (lavapipe, SwiftShader), not a GPU. */
  readonly isFallbackAdapter: boolean;
}

export interface LoadWebGpuOptions {
  /** Accept a fallback (software) adapter; `auto` does not. */
  readonly allowFallback: boolean;
}

/** The subset of the WebGPU API used here (the DOM typings are not in this project's lib). */
interface GpuAdapterInfoLike {
  readonly vendor?: string;
  readonly architecture?: string;
  readonly device?: string;
  readonly description?: string;
  readonly isFallbackAdapter?: boolean;
}
interface GpuAdapterLike {
  readonly info?: GpuAdapterInfoLike;
  readonly isFallbackAdapter?: boolean;
  readonly features: { has(name: string): boolean };
  readonly limits: Record<string, number>;
  requestDevice(descriptor: object): Promise<GpuDeviceLike>;
}
interface GpuErrorEventLike {
  readonly error?: { readonly message?: string; readonly constructor?: { readonly name?: string } };
}
interface GpuDeviceLike {
  readonly limits: Record<string, number>;
  readonly lost: Promise<{ readonly reason?: string; readonly message?: string }>;
  addEventListener(type: 'uncapturederror', listener: (event: GpuErrorEventLike) => void): void;
}
interface GpuLike {
  requestAdapter(options?: object): Promise<GpuAdapterLike | null>;
}
interface WebGpuModule {
  create(flags: string[]): GpuLike;
  globals: Record<string, unknown>;
}
interface TfjsWebGpuModule {
  WebGPUBackend: new (device: GpuDeviceLike, adapterInfo: GpuAdapterInfoLike | undefined) => tf.KernelBackend;
}

// Optional dependencies: specifiers in variables, so that type-checking and bundling do not
// require them to be installed (an install without them still works, on the other backends).
const DAWN_PACKAGE: string = 'webgpu';
const TFJS_WEBGPU_PACKAGE: string = '@tensorflow/tfjs-backend-webgpu';

/** Limits the kernels benefit from, requested at the adapter's value. */
const LIMITS = [
  'maxComputeWorkgroupStorageSize',
  'maxComputeWorkgroupsPerDimension',
  'maxStorageBufferBindingSize',
  'maxBufferSize',
  'maxComputeWorkgroupSizeX',
  'maxComputeInvocationsPerWorkgroup',
  'maxStorageBuffersPerShaderStage',
] as const;

let providedDawn: WebGpuModule | undefined;
let providedTfjs: TfjsWebGpuModule | undefined;

/**
 * Supply the two packages already imported (a bundle's entry, see
 * scripts/pack-gpu-check.ts) instead of importing them by name at run time.
 */
export function provideWebGpuModules(dawn: unknown, tfjsWebGpu: unknown): void {
  providedDawn = dawn as WebGpuModule;
  providedTfjs = tfjsWebGpu as TfjsWebGpuModule;
}

let gpu: GpuLike | undefined;
let adapter: GpuAdapterLike | undefined;
let summary: AdapterSummary | undefined;
let device: GpuDeviceLike | undefined;
const errors: string[] = [];
let lost: string | undefined;

function summarise(a: GpuAdapterLike): AdapterSummary {
  const info = a.info ?? {};
  return {
    vendor: info.vendor ?? '',
    architecture: info.architecture ?? '',
    device: info.device ?? '',
    description: info.description ?? '',
    isFallbackAdapter: info.isFallbackAdapter ?? a.isFallbackAdapter ?? false,
  };
}

/** One line for logs: "llvmpipe (LLVM 19.1.7, 256 bits), vendor mesa, architecture ..., fallback". */
export function describeAdapter(a: AdapterSummary): string {
  const parts = [a.description || a.device || 'unnamed adapter'];
  if (a.vendor !== '') parts.push(`vendor ${a.vendor}`);
  if (a.architecture !== '') parts.push(`architecture ${a.architecture}`);
  parts.push(a.isFallbackAdapter ? 'fallback (software) adapter' : 'hardware adapter');
  return parts.join(', ');
}

/** The adapter in use (after {@link loadWebGpu}), else undefined. */
export function webGpuAdapter(): AdapterSummary | undefined {
  return summary;
}

function defineNavigatorGpu(g: GpuLike): void {
  const global = globalThis as { navigator?: object };
  if (global.navigator === undefined) {
    Object.defineProperty(globalThis, 'navigator', { value: { gpu: g }, configurable: true, writable: true });
  } else if (!('gpu' in global.navigator) || (global.navigator as { gpu?: unknown }).gpu === undefined) {
    Object.defineProperty(global.navigator, 'gpu', { value: g, configurable: true });
  }
}

async function createBackend(): Promise<tf.KernelBackend> {
  const a = adapter;
  if (a === undefined) throw new BackendError('webgpu', 'No WebGPU adapter was chosen before initialising the backend');
  const { WebGPUBackend } = providedTfjs ?? ((await import(TFJS_WEBGPU_PACKAGE)) as TfjsWebGpuModule);
  const requiredLimits: Record<string, number> = {};
  for (const name of LIMITS) {
    const v = a.limits[name];
    if (typeof v === 'number') requiredLimits[name] = v;
  }
  const requiredFeatures = ['timestamp-query'].filter((f) => a.features.has(f));
  const d = await a.requestDevice({ requiredFeatures, requiredLimits });
  d.addEventListener('uncapturederror', (event) => {
    const e = event.error;
    const kind = e?.constructor?.name ?? 'GPUError';
    if (errors.length < 16) errors.push(`${kind}: ${(e?.message ?? 'unknown error').split('\n')[0] ?? ''}`);
  });
  void d.lost.then((info) => {
    if (info.reason !== 'destroyed') lost = `${info.reason ?? 'unknown'}: ${info.message ?? ''}`;
  });
  device = d;
  return new WebGPUBackend(d, a.info);
}

/**
 * Load Dawn and tfjs-backend-webgpu and choose an adapter; registers the `webgpu` tfjs
 * backend (not yet active: `tf.setBackend('webgpu')` initialises it). Throws with the
 * reason when a package is missing, no adapter exists, or only a fallback adapter exists
 * and `allowFallback` is false.
 */
export async function loadWebGpu(options: LoadWebGpuOptions): Promise<AdapterSummary> {
  if (gpu === undefined) {
    let mod: WebGpuModule;
    try {
      mod = providedDawn ?? ((await import(DAWN_PACKAGE)) as WebGpuModule);
    } catch (err) {
      throw new Error(`the optional package webgpu (Dawn) could not be loaded: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`, { cause: err });
    }
    Object.assign(globalThis, mod.globals);
    gpu = mod.create([]);
    defineNavigatorGpu(gpu);
  }
  if (adapter === undefined) {
    const a = await gpu.requestAdapter({ powerPreference: 'high-performance' });
    if (a === null) {
      throw new Error(
        'no WebGPU adapter: Dawn found no usable Vulkan/Metal/D3D12 device (Linux: install a Vulkan driver; see docs/backends.md)',
      );
    }
    adapter = a;
    summary = summarise(a);
  }
  const s = summary as AdapterSummary;
  if (s.isFallbackAdapter && !options.allowFallback) {
    throw new Error(`only a fallback (software) WebGPU adapter is available (${describeAdapter(s)}); ask for --backend webgpu to use it`);
  }
  if (tf.findBackend('webgpu') === null) {
    try {
      if (providedTfjs === undefined) await import(TFJS_WEBGPU_PACKAGE);
    } catch (err) {
      throw new Error(`the optional package @tensorflow/tfjs-backend-webgpu could not be loaded: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`, { cause: err });
    }
    // Its kernels register at import; its backend factory only where navigator.gpu existed then.
    if (tf.getKernel(tf.AddN, 'webgpu') === undefined) {
      throw new Error('@tensorflow/tfjs-backend-webgpu registered into another copy of @tensorflow/tfjs-core');
    }
    if (tf.findBackendFactory('webgpu') !== null) tf.removeBackend('webgpu');
    tf.registerBackend('webgpu', createBackend, 3);
  }
  registerWebGpuKernels();
  return s;
}

/**
 * Throw a {@link BackendError} when the WebGPU device reported a validation or
 * out-of-memory error, or was lost, since the last call (the results computed meanwhile
 * cannot be trusted). `where` names the work in the message. No-op on other backends.
 */
export function assertWebGpuHealthy(where: string): void {
  if (lost !== undefined) throw new BackendError('webgpu', `The WebGPU device was lost during ${where} (${lost})`);
  if (errors.length === 0) return;
  const all = errors.splice(0, errors.length);
  throw new BackendError('webgpu', `WebGPU reported ${all.length} error(s) during ${where}; its results are not valid: ${all.join('; ')}`);
}

/** The active device (tests use it to provoke an error). */
export function webGpuDevice(): unknown {
  return device;
}

/**
 * Start uploading `tensors` to the device now (webgpu: tfjs-backend-webgpu otherwise
 * uploads a tensor made from host values when a kernel first reads it). No-op on the other
 * backends.
 */
export function uploadToDevice(tensors: readonly tf.Tensor[]): void {
  if (tf.getBackend() !== 'webgpu') return;
  const backend = tf.backend() as unknown as { uploadToGPU(dataId: object): void };
  for (const t of tensors) backend.uploadToGPU(t.dataId);
}
