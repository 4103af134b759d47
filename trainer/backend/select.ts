/**
 * Choosing the TensorFlow.js backend at run time (never at import time).
 *
 * Order for `'auto'`: `@tensorflow/tfjs-node-gpu` (CUDA), WebGPU (Dawn, a hardware adapter
 * only: a fallback/software adapter is used only when `webgpu` is asked for by name),
 * `@tensorflow/tfjs-node`, `@tensorflow/tfjs-backend-wasm`, the pure-JS `cpu` backend
 * (see trainer/backend/webgpu.ts for WebGPU). Each is tried by importing
 * it; a package that is missing, fails to load, or registers its backend into a different
 * copy of `@tensorflow/tfjs-core` than ours is skipped with the reason logged. The
 * tfjs-node packages are optional and not in package.json (their installer downloads
 * libtensorflow): `npm install @tensorflow/tfjs-node-gpu` (or `-node`) with the same
 * version as our `@tensorflow/tfjs-core` enables them. Model code is the same whatever
 * the backend: everything goes through the one tfjs-core instance.
 */
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { BackendError } from '../../core/errors.js';
import { invalidOption } from '../../core/validate.js';
import { registerWasmKernels } from '../kernels/index.js';
import { ensureGradients } from './gradients.js';
import { type AdapterSummary, describeAdapter, loadWebGpu } from './webgpu.js';

/** Backends the toolkit knows, best first. */
export const BACKEND_NAMES = ['tensorflow-gpu', 'webgpu', 'tensorflow', 'wasm', 'cpu'] as const;
export type BackendName = (typeof BACKEND_NAMES)[number];
export type BackendChoice = 'auto' | BackendName;

export interface SelectBackendOptions {
  /** `'auto'` (default) tries every backend best first; a name forces that backend. */
  readonly backend?: BackendChoice;
  /**
   * Threads for the wasm backend's XNNPACK pool. Only honoured where the threaded wasm
   * build can run (not in Node.js today, see docs/backends.md). Default 1.
   */
  readonly threads?: number;
  /** Where to write one line per attempt and the choice (default: stderr). */
  readonly log?: (line: string) => void;
}

/** One backend tried by {@link selectBackend}. */
export interface BackendAttempt {
  readonly name: BackendName;
  readonly ok: boolean;
  /** Why it was skipped (empty when chosen). */
  readonly reason: string;
}

export interface SelectedBackend {
  /** The toolkit's name for the backend. */
  readonly name: BackendName;
  /** The tfjs backend name now active (`tf.getBackend()`). */
  readonly tfjsName: string;
  /** Every backend tried, in order. */
  readonly attempts: readonly BackendAttempt[];
  /** The WebGPU adapter, for `webgpu`. */
  readonly adapter?: AdapterSummary;
}

const TFJS_NAME = {
  'tensorflow-gpu': 'tensorflow',
  webgpu: 'webgpu',
  tensorflow: 'tensorflow',
  wasm: 'wasm',
  cpu: 'cpu',
} as const satisfies Record<BackendName, string>;

/** Package each backend lives in. */
const PACKAGE = {
  'tensorflow-gpu': '@tensorflow/tfjs-node-gpu',
  webgpu: 'webgpu + @tensorflow/tfjs-backend-webgpu',
  tensorflow: '@tensorflow/tfjs-node',
  wasm: '@tensorflow/tfjs-backend-wasm',
  cpu: '@tensorflow/tfjs-backend-cpu',
} as const satisfies Record<BackendName, string>;

const require = createRequire(import.meta.url);

/**
 * Modules a bundle supplies instead of importing them by name (the self-contained GPU
 * check folder, scripts/pack-gpu-check.ts, has no node_modules). See {@link provideBackendModules}.
 */
const provided: { wasm?: unknown; cpu?: unknown } = {};

/**
 * Supply backend packages already imported (by a bundle's entry) so that loading them
 * does not resolve a package name at run time. The wasm binaries are then looked up in a
 * `tfjs-backend-wasm/` folder next to the bundle (see {@link wasmBinaryDir}).
 */
export function provideBackendModules(modules: { readonly wasm?: unknown; readonly cpu?: unknown }): void {
  Object.assign(provided, modules);
}

/** Folder holding the wasm backend's .wasm binaries (with a trailing separator). */
export function wasmBinaryDir(): string {
  try {
    const pkg = require.resolve('@tensorflow/tfjs-backend-wasm/package.json');
    return join(dirname(pkg), 'dist') + '/';
  } catch (err) {
    // A bundle: the binaries sit in tfjs-backend-wasm/ next to it.
    const bundled = fileURLToPath(new URL('./tfjs-backend-wasm/', import.meta.url));
    if (existsSync(bundled)) return bundled;
    throw err;
  }
}

function message(err: unknown): string {
  if (err instanceof Error) return err.message.split('\n')[0] ?? err.message;
  if (typeof err === 'object' && err !== null && 'message' in err) return String((err as { message: unknown }).message);
  return String(err);
}

/** The tfjs-core version a package resolves, to detect a second tfjs-core copy. */
function coreVersionSeenBy(pkgName: string): string | undefined {
  try {
    const pkgRequire = createRequire(require.resolve(`${pkgName}/package.json`));
    const corePkg = pkgRequire('@tensorflow/tfjs-core/package.json') as { version?: string };
    return corePkg.version;
  } catch {
    return undefined;
  }
}

interface WasmModule {
  setWasmPaths(prefix: string): void;
  setThreadsCount(n: number): void;
}

const loaders: Record<BackendName, (threads: number, auto: boolean) => Promise<AdapterSummary | void>> = {
  'tensorflow-gpu': () => loadNode('tensorflow-gpu'),
  webgpu: (_threads, auto) => loadWebGpu({ allowFallback: !auto }),
  tensorflow: () => loadNode('tensorflow'),
  wasm: async (threads) => {
    const wasm = (provided.wasm ?? (await import(PACKAGE.wasm))) as WasmModule;
    if (tf.findBackendFactory('wasm') === null) {
      throw new Error('@tensorflow/tfjs-backend-wasm registered into another copy of @tensorflow/tfjs-core');
    }
    // setWasmPaths and setThreadsCount only take effect before the backend is first initialised.
    if (tf.findBackend('wasm') === null) {
      wasm.setWasmPaths(wasmBinaryDir());
      wasm.setThreadsCount(threads);
    }
    registerWasmKernels();
  },
  cpu: async () => {
    if (provided.cpu === undefined) await import(PACKAGE.cpu);
    if (tf.findBackendFactory('cpu') === null) {
      throw new Error('@tensorflow/tfjs-backend-cpu registered into another copy of @tensorflow/tfjs-core');
    }
  },
};

async function loadNode(name: 'tensorflow-gpu' | 'tensorflow'): Promise<void> {
  const pkg: string = PACKAGE[name];
  // Check before importing: a tfjs-node built against another tfjs-core would register
  // kernels for that version's ops into the registry our tfjs-core shares.
  let theirs: string | undefined;
  try {
    require.resolve(`${pkg}/package.json`);
    theirs = coreVersionSeenBy(pkg);
  } catch (err) {
    throw new Error(`${pkg} is not installed (npm install ${pkg}@${tf.version_core})`, { cause: err });
  }
  if (theirs !== undefined && theirs !== tf.version_core) {
    throw new Error(`${pkg} uses @tensorflow/tfjs-core ${theirs}, we use ${tf.version_core}; install ${pkg}@${tf.version_core}`);
  }
  await import(pkg);
  if (tf.findBackendFactory('tensorflow') === null) {
    throw new Error(
      `${pkg} registered its backend into another copy of @tensorflow/tfjs-core ` +
        `(it uses ${theirs ?? 'an unknown version'}, we use ${tf.version_core}); install the same version`,
    );
  }
}

/**
 * Load, initialise and activate a backend; the wasm backend also gets the toolkit's
 * training kernels ({@link registerWasmKernels}). Idempotent: calling it again with the
 * same choice is cheap.
 *
 * @example
 * ```ts
 * const { name } = await selectBackend({ backend: 'auto' }); // logs "backend: wasm (...)"
 * ```
 */
export async function selectBackend(options: SelectBackendOptions = {}): Promise<SelectedBackend> {
  const choice = options.backend ?? 'auto';
  if (choice !== 'auto' && !(BACKEND_NAMES as readonly string[]).includes(choice)) {
    throw invalidOption('backend', `one of auto, ${BACKEND_NAMES.join(', ')}`, choice);
  }
  const threads = options.threads ?? 1;
  if (!Number.isInteger(threads) || threads < 1 || threads > 64) {
    throw invalidOption('threads', 'integer between 1 and 64', threads);
  }
  const log = options.log ?? ((line: string) => process.stderr.write(line + '\n'));
  await ensureGradients();
  const candidates: readonly BackendName[] = choice === 'auto' ? BACKEND_NAMES : [choice];
  const attempts: BackendAttempt[] = [];
  for (const name of candidates) {
    try {
      const adapter = (await loaders[name](threads, choice === 'auto')) ?? undefined;
      const tfjsName = TFJS_NAME[name];
      const ok = await tf.setBackend(tfjsName);
      if (!ok) throw new Error(`tf.setBackend('${tfjsName}') failed to initialise`);
      await tf.ready();
      attempts.push({ name, ok: true, reason: '' });
      const skipped = attempts.filter((a) => !a.ok).map((a) => `${a.name}: ${a.reason}`);
      log(`backend: ${name}${adapter === undefined ? '' : ` on ${describeAdapter(adapter)}`}${skipped.length > 0 ? ` (skipped ${skipped.join('; ')})` : ''}`);
      return { name, tfjsName, attempts, ...(adapter === undefined ? {} : { adapter }) };
    } catch (err) {
      const reason = message(err);
      attempts.push({ name, ok: false, reason });
      if (choice !== 'auto') {
        throw new BackendError(name, `Backend ${name} (${PACKAGE[name]}) could not be loaded: ${reason}`, {
          cause: err,
        });
      }
      log(`backend: ${name} unavailable (${reason}), trying the next one`);
    }
  }
  throw new BackendError('auto', `No TensorFlow.js backend could be loaded: ${attempts.map((a) => `${a.name}: ${a.reason}`).join('; ')}`);
}
