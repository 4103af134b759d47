/**
 * The toolkit's WGSL programs for `@tensorflow/tfjs-backend-webgpu`, in the shape that
 * package's `WebGPUProgram` classes have (`variableNames`, `outputShape`, `dispatch`,
 * `getUserCode()`...), run by the backend's own `runWebGPUProgram` (so they share its
 * command batching, buffer pool and pipeline cache). Written here rather than imported
 * because the package's program classes are internal (not exported).
 *
 * Two layouts:
 * - elementwise: one invocation per output element, `index` in `main`;
 * - rows: one workgroup of {@link ROW_THREADS} invocations per row of the last axis, with
 *   the workgroup reductions {@link ROW_HELPERS} (`rowSum`, `rowMax`).
 *
 * Inputs are read as flat arrays by name (`X[i]`); the output is `result[i]`.
 */
import * as tf from '@tensorflow/tfjs-core';

/** The part of tfjs-backend-webgpu's `WebGPUBackend` the kernels use. */
export interface WebGpuBackendLike {
  runWebGPUProgram(program: DeclipProgram, inputs: tf.TensorInfo[], dtype: tf.DataType, uniforms?: Array<{ type: string; data: number[] }>, output?: tf.TensorInfo): tf.TensorInfo;
  disposeData(dataId: object): void;
  readonly device: { readonly limits: { readonly maxStorageBuffersPerShaderStage: number } };
}

export interface ProgramUniform {
  readonly type: 'int32' | 'float32';
  readonly data: readonly number[];
}

/** Invocations per workgroup of a row program (a power of two: the reductions halve it). */
export const ROW_THREADS = 64;
const ELEMENT_THREADS = 128;

/** Workgroup reductions over one row (every invocation of the workgroup must call them). */
export const ROW_HELPERS = `
  var<workgroup> rowBuf : array<f32, ${ROW_THREADS}>;
  fn rowIndex() -> i32 {
    return i32(workgroupId.z * numWorkgroups.x * numWorkgroups.y + workgroupId.y * numWorkgroups.x + workgroupId.x);
  }
  fn rowSum(v : f32) -> f32 {
    let tid = localId.x;
    rowBuf[tid] = v;
    workgroupBarrier();
    for (var s = ${ROW_THREADS / 2}u; s > 0u; s = s >> 1u) {
      if (tid < s) { rowBuf[tid] = rowBuf[tid] + rowBuf[tid + s]; }
      workgroupBarrier();
    }
    let r = rowBuf[0];
    workgroupBarrier();
    return r;
  }
  fn rowMax(v : f32) -> f32 {
    let tid = localId.x;
    rowBuf[tid] = v;
    workgroupBarrier();
    for (var s = ${ROW_THREADS / 2}u; s > 0u; s = s >> 1u) {
      if (tid < s) { rowBuf[tid] = max(rowBuf[tid], rowBuf[tid + s]); }
      workgroupBarrier();
    }
    let r = rowBuf[0];
    workgroupBarrier();
    return r;
  }
`;

/** Abramowitz-Stegun 7.1.26 (|error| < 1.5e-7), as tfjs-backend-webgpu's Erf. */
export const ERF_HELPER = `
  fn erfApprox(v : f32) -> f32 {
    let a = abs(v);
    let t = 1.0 / (1.0 + 0.3275911 * a);
    let y = 1.0 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * exp(-a * a);
    return select(-y, y, v >= 0.0);
  }
`;

export interface ProgramSpec {
  /** Unique per shader source (the backend caches compiled pipelines by it and the shapes' ranks). */
  readonly key: string;
  readonly inputs: readonly string[];
  readonly outputShape: readonly number[];
  /** `elementwise`: one invocation per output element; `rows`: one workgroup per row (`rows` of them). */
  readonly layout: { readonly kind: 'elementwise' } | { readonly kind: 'rows'; readonly rows: number };
  /** Declarations of the program's own uniforms, e.g. `width : i32, eps : f32,`. */
  readonly uniforms?: string;
  /** WGSL: helper functions and `fn main(index : i32) { ... }` (in a row program, `index` is not the row: use `rowIndex()`). */
  readonly code: string;
}

/** A WebGPUProgram (see the module comment). */
export class DeclipProgram {
  readonly variableNames: string[];
  readonly outputShape: number[];
  shaderKey: string;
  readonly dispatchLayout: { x: number[] };
  dispatch: [number, number, number];
  readonly workgroupSize: [number, number, number];
  readonly size: boolean;
  readonly uniforms?: string;
  readonly #code: string;

  constructor(spec: ProgramSpec) {
    this.variableNames = [...spec.inputs];
    this.outputShape = [...spec.outputShape];
    this.shaderKey = `declip_${spec.key}`;
    this.dispatchLayout = { x: this.outputShape.map((_, i) => i) };
    if (spec.layout.kind === 'elementwise') {
      this.workgroupSize = [ELEMENT_THREADS, 1, 1];
      this.dispatch = [Math.ceil(tf.util.sizeFromShape(this.outputShape) / ELEMENT_THREADS), 1, 1];
      this.size = true;
    } else {
      this.workgroupSize = [ROW_THREADS, 1, 1];
      this.dispatch = [spec.layout.rows, 1, 1];
      this.size = false;
    }
    if (spec.uniforms !== undefined) this.uniforms = spec.uniforms;
    this.#code = spec.code;
  }

  getUserCode(): string {
    return this.#code;
  }
}

/** Run `spec` on the webgpu backend `backend` (float32 output). */
export function runProgram(backend: unknown, spec: ProgramSpec, inputs: readonly tf.TensorInfo[], uniforms: readonly ProgramUniform[] = []): tf.TensorInfo {
  const values = uniforms.map((u) => ({ type: u.type, data: [...u.data] }));
  return (backend as WebGpuBackendLike).runWebGPUProgram(new DeclipProgram(spec), [...inputs], 'float32', values.length === 0 ? undefined : values);
}

/** [rows, width] of a tensor seen as rows of its last axis. */
export function rowsOf(kernel: string, shape: readonly number[]): { rows: number; width: number } {
  const width = shape[shape.length - 1];
  if (width === undefined || width === 0) throw new TypeError(`${kernel}: expected a non-empty last axis, got shape [${shape}]`);
  return { rows: tf.util.sizeFromShape([...shape]) / width, width };
}

/** Dispatches counted by {@link countWebGpuDispatches}, by program class. */
export interface DispatchCounter {
  readonly byProgram: Map<string, number>;
  total(): number;
  reset(): void;
  /** Stop counting (restores the backend's method). */
  stop(): void;
}

/**
 * Count the compute dispatches of the active webgpu backend from now on, by program class
 * (`BinaryOpProgram`, `DeclipProgram`, ...): every kernel of tfjs-backend-webgpu runs
 * through `runWebGPUProgram`, one dispatch per call. For measurements and tests.
 */
export function countWebGpuDispatches(): DispatchCounter {
  const proto = Object.getPrototypeOf(tf.backend()) as WebGpuBackendLike;
  if (tf.getBackend() !== 'webgpu' || typeof proto.runWebGPUProgram !== 'function') throw new TypeError('countWebGpuDispatches: the webgpu backend is not active');
  const original = proto.runWebGPUProgram;
  const byProgram = new Map<string, number>();
  proto.runWebGPUProgram = function (this: WebGpuBackendLike, program, ...rest) {
    const name = (program as { constructor: { name: string } }).constructor.name;
    byProgram.set(name, (byProgram.get(name) ?? 0) + 1);
    return original.call(this, program, ...rest);
  };
  return {
    byProgram,
    total: () => [...byProgram.values()].reduce((a, b) => a + b, 0),
    reset: () => byProgram.clear(),
    stop: () => {
      proto.runWebGPUProgram = original;
    },
  };
}
