/**
 * Where the training steps run: {@link LocalEngine} drives one {@link Replica} in this
 * thread; {@link ParallelEngine} (trainer/parallel/engine.ts) drives one replica per compute
 * worker thread, data-parallel and exact. The loop (trainer/loop.ts) only sees this
 * interface: data pipeline, checkpoints, logging and the non-finite policy stay on the
 * main thread.
 *
 * @example
 * ```ts
 * const engine = await createEngine(config, { threads: 2 });
 * const values = await engine.microStep(batch);
 * const gradNorm = await engine.update(1e-3);
 * await engine.close();
 * ```
 */
import { availableParallelism } from 'node:os';
import * as tf from '@tensorflow/tfjs-core';
import { InvalidOptionError } from '../core/errors.js';
import type { DeclipBatch } from '../pipeline/types.js';
import type { BackendName } from './backend/select.js';
import type { TrainConfig } from './config.js';
import { ParallelEngine } from './parallel/engine.js';
import { type MicroStepValues, Replica, type ReplicaState } from './replica.js';

/** Runs the steps of a training run (see the module comment). */
export interface TrainEngine {
  /** Compute threads (1: this thread). */
  readonly threads: number;
  /** Trainable parameters of the model. */
  readonly numParameters: number;
  /**
   * Steps the loop may keep issued but unread (default 1). More than 1 only where
   * `microStep` and `update` change all state before their promises settle (webgpu).
   */
  readonly stepsInFlight?: number;
  /** Forward + backward of one micro-batch; see {@link Replica.microStep}. */
  microStep(batch: DeclipBatch): Promise<MicroStepValues>;
  /** Prepare the next micro-batch's inputs ahead (engines with steps in flight); see {@link Replica.stage}. */
  stage?(batch: DeclipBatch): void;
  /** Drop the gradients summed since the last update. */
  discard(): Promise<void>;
  /** Apply the step at learning rate `lr`; resolves to the gradient norm before clipping. */
  update(lr: number): Promise<number>;
  /** Weights, optimizer state and NN queue (copies). */
  exportState(): Promise<ReplicaState>;
  /** Replace the state everywhere (`source` names it in errors). */
  importState(state: ReplicaState, source: string): Promise<void>;
  /** Free everything (stop the workers). Idempotent. */
  close(): Promise<void>;
}

/** One replica in this thread (the single-thread path). */
export class LocalEngine implements TrainEngine {
  readonly threads = 1;
  readonly replica: Replica;

  constructor(config: TrainConfig) {
    this.replica = new Replica(config);
  }

  get numParameters(): number {
    return this.replica.model.params.numParameters();
  }

  /** Two on webgpu (one step read back while the next is issued), else one. */
  get stepsInFlight(): number {
    return this.replica.deferred ? 2 : 1;
  }

  async microStep(batch: DeclipBatch): Promise<MicroStepValues> {
    return this.replica.microStep(batch);
  }

  stage(batch: DeclipBatch): void {
    this.replica.stage(batch);
  }

  async discard(): Promise<void> {
    this.replica.discard();
  }

  async update(lr: number): Promise<number> {
    return this.replica.update(lr);
  }

  async exportState(): Promise<ReplicaState> {
    return this.replica.exportState();
  }

  async importState(state: ReplicaState, source: string): Promise<void> {
    this.replica.importState(state, source);
  }

  async close(): Promise<void> {
    this.replica.dispose();
  }
}

/** The toolkit's backend name of the active tfjs backend (what compute workers load). */
export function activeBackendName(): BackendName {
  const name = tf.getBackend();
  if (name === 'wasm' || name === 'cpu') return name;
  if (name === 'tensorflow') return 'tensorflow';
  if (name === 'webgpu') {
    throw new InvalidOptionError('compute.threads', 'More than one compute thread (--threads N) means data-parallel CPU workers; the webgpu backend trains one replica on the GPU: use --threads 1');
  }
  throw new InvalidOptionError('backend', `Data-parallel workers cannot load the active tfjs backend "${name}"`);
}

/**
 * Compute threads for `compute.threads`: a number is used as it is; `'auto'` is the core
 * count (at most the batch size) on the wasm and cpu backends, whose kernels use one core
 * each, and 1 on the others (libtensorflow is multi-threaded itself).
 */
export function resolveThreads(threads: number | 'auto', batch: number, backend: string = tf.getBackend()): number {
  if (threads !== 'auto') return threads;
  return backend === 'wasm' || backend === 'cpu' ? Math.max(1, Math.min(availableParallelism(), batch)) : 1;
}

export interface CreateEngineOptions {
  /** Compute threads (default: the config's `compute.threads`, resolved by {@link resolveThreads}). */
  readonly threads?: number;
  readonly log?: (line: string) => void;
}

/** The engine a config asks for: {@link LocalEngine} for 1 thread, else {@link ParallelEngine}. */
export async function createEngine(config: TrainConfig, options: CreateEngineOptions = {}): Promise<TrainEngine> {
  const threads = options.threads ?? resolveThreads(config.compute.threads, config.batch);
  if (threads > config.batch) {
    throw new InvalidOptionError('compute.threads', `Expected at most batch (${config.batch}) compute threads for compute.threads but received ${threads}`);
  }
  if (threads <= 1) return new LocalEngine(config);
  return ParallelEngine.start({ config, threads, backend: activeBackendName(), timeoutMs: config.compute.timeoutMs, ...(options.log === undefined ? {} : { log: options.log }) });
}
