/**
 * The toolkit's WebAssembly SIMD kernels that run directly on the tfjs wasm backend's
 * heap: the module (assembly/, AssemblyScript, built to kernels.wasm by
 * `npm run build:wasm`) imports the backend's own `WebAssembly.Memory`, so a kernel reads
 * its inputs and writes its outputs at the tensors' heap offsets - no copies, and one
 * call per kernel however many rows it covers. The module has no static data (it writes
 * nothing into the backend's memory when instantiated) and never allocates: outputs are
 * allocated by the backend (`makeOutput`) before the call.
 *
 * One instance per backend instance (per thread), made on first use.
 *
 * @example
 * ```ts
 * const k = heapKernels(backend); // backend: the wasm backend a kernel function receives
 * k.gelu(offsetOf(backend, x), offsetOf(backend, out), size);
 * ```
 */
import { readFileSync } from 'node:fs';
import { BackendError } from '../../../core/errors.js';
import { compileWasm, instantiateWasm, type WasmMemory, type WasmModule } from '../../../core/wasm.js';
import type { WasmBackendLike } from '../wasm-memory.js';

/** The module's exports; every pointer is a byte offset on the backend's heap. */
export interface HeapKernels {
  /** out[i] = gelu(x[i]) (exact GELU), n floats; out may be x. */
  gelu(x: number, out: number, n: number): void;
  /** dx[i] = dy[i] * gelu'(x[i]), n floats; dx may be dy. */
  geluGrad(x: number, dy: number, dx: number, n: number): void;
  /** out = x (s0, s1, s2, s3) transposed by (p0, p1, p2, p3); 4-byte elements. */
  transpose4(x: number, out: number, s0: number, s1: number, s2: number, s3: number, p0: number, p1: number, p2: number, p3: number): void;
  /** One AdamW update of n floats: moments in place, the parameter into `out` (see assembly/adamw.ts). */
  adamw(
    p: number, g: number, m: number, v: number, out: number, n: number,
    beta1: number, oneMinusBeta1: number, beta2: number, oneMinusBeta2: number,
    eps: number, bc2: number, stepSize: number, decay: number,
  ): void;
  /** out[j] = sum over r of x[r, j] for a rows x cols matrix. */
  sumColumns(x: number, out: number, rows: number, cols: number): void;
  /** y[r, :] = log softmax(x[r, :]) over `rows` rows of `cols` floats; y may be x. */
  logSoftmax(x: number, y: number, rows: number, cols: number): void;
  /** dx[r, :] = dy[r, :] - exp(y[r, :]) * sum(dy[r, :]); dx may be dy. */
  logSoftmaxGrad(y: number, dy: number, dx: number, rows: number, cols: number): void;
  /**
   * c[t] = op(a[t]) @ op(b[t]) for t < batch (op(A) m x k, op(B) k x n, c contiguous);
   * transA/transB 1 when the operand is stored transposed; strideA/strideB are the floats
   * between batch items (0 broadcasts).
   */
  batchMatMul(
    a: number, b: number, c: number,
    batch: number, m: number, k: number, n: number,
    transA: number, transB: number,
    strideA: number, strideB: number,
  ): void;
  /**
   * LayerNorm of `rows` rows of `width` floats: y = (x - mean) * rstd * gain + bias, with
   * mean and rstd = 1 / sqrt(var + eps) written per row (pointers may be 0 to skip); y may be x.
   */
  layerNorm(x: number, gain: number, bias: number, y: number, mean: number, rstd: number, rows: number, width: number, eps: number): void;
  /** Its gradients for dy from the forward's mean and rstd: dx (may be dy), and dgain, dbias summed over rows. */
  layerNormGrad(
    x: number, gain: number, dy: number, mean: number, rstd: number,
    dx: number, dgain: number, dbias: number, rows: number, width: number,
  ): void;
}

let compiled: WasmModule | undefined;
let compileError: BackendError | undefined;
const instances = new WeakMap<object, HeapKernels>();

/**
 * Whether a module binary has data segments (a data section, id 11, with any entries).
 * Instantiating such a module against the backend's memory would write them over
 * whatever the backend keeps at those addresses, so the loader refuses it.
 */
export function hasDataSegments(bytes: Uint8Array): boolean {
  let at = 8; // magic + version
  const leb = (): number => {
    let v = 0;
    let shift = 0;
    for (;;) {
      const b = bytes[at++];
      if (b === undefined) throw new RangeError('truncated wasm binary');
      v += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) return v;
      shift += 7;
    }
  };
  while (at < bytes.length) {
    const id = bytes[at++];
    const size = leb();
    const end = at + size;
    if (id === 11 && leb() > 0) return true;
    at = end;
  }
  return false;
}

function compileModule(): WasmModule {
  if (compiled !== undefined) return compiled;
  if (compileError !== undefined) throw compileError;
  try {
    const url = new URL('./kernels.wasm', import.meta.url);
    const bytes = readFileSync(url);
    if (hasDataSegments(bytes)) throw new Error('kernels.wasm has data segments: they would overwrite the tfjs heap (rebuild with `npm run build:wasm`; keep tables and Math.* out of assembly/)');
    compiled = compileWasm(bytes);
    return compiled;
  } catch (err) {
    compileError = new BackendError(
      'wasm',
      `The trainer's heap kernels (kernels.wasm next to ${import.meta.url}) cannot be loaded: run \`npm run build:wasm\` (WebAssembly SIMD is needed)`,
      { cause: err },
    );
    throw compileError;
  }
}

/** The backend's `WebAssembly.Memory` (emscripten keeps the module's exports on `asm`). */
function memoryOf(backend: WasmBackendLike): WasmMemory {
  const memory = (backend.wasm as { asm?: { memory?: WasmMemory } }).asm?.memory;
  if (memory === undefined || !(memory.buffer instanceof ArrayBuffer)) {
    throw new BackendError('wasm', 'the tfjs wasm backend does not expose its memory (Module.asm.memory); this tfjs version is not supported by the heap kernels');
  }
  return memory;
}

/** The heap kernels bound to `backend`'s memory (made once per backend). */
export function heapKernels(backend: WasmBackendLike): HeapKernels {
  let k = instances.get(backend.wasm);
  if (k === undefined) {
    k = instantiateWasm(compileModule(), { env: { memory: memoryOf(backend) } }) as HeapKernels;
    instances.set(backend.wasm, k);
  }
  return k;
}

/** Whether kernels.wasm loads in this thread (built, and WebAssembly SIMD supported). */
export function heapKernelsAvailable(): boolean {
  try {
    compileModule();
    return true;
  } catch {
    return false;
  }
}
