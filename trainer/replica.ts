/**
 * One model replica with its optimizer, NN queue and gradient sums: the unit that the
 * training loop drives, either in this thread or (data-parallel) one per compute worker.
 *
 * A step is `microStep` once per micro-batch (forward + backward; finite losses add their
 * gradients to the step's sums and push the batch's rows into the NN queue) then
 * `update(lr)` (mean over micro-batches -> clip by global norm -> AdamW -> logit-scale
 * clamp). With a {@link Collective} the replica is one of `world` data-parallel workers:
 * its micro-batch is a slice of the batch, the loss terms see the whole batch through the
 * embedding exchange (see {@link LossExchange}), the loss values are combined across the
 * workers, and `update` sums the gradients of all workers (all-reduce) before the same
 * clip + AdamW on every worker, so the replicas stay identical. Parameters used only on the
 * whole batch (the logit scale, the SimSiam heads) get their gradient on worker 0 only;
 * the others leave them out of their tape, so the sum counts them once.
 *
 * Ownership: the replica owns every tensor it creates; `dispose()` frees them (idempotent).
 *
 * @example
 * ```ts
 * const replica = new Replica(config);
 * const values = await replica.microStep(batch);
 * if (Number.isFinite(values.total)) await replica.update(schedule(1)); else replica.discard();
 * replica.dispose();
 * ```
 */
import * as tf from '@tensorflow/tfjs-core';
import { CheckpointError, InvalidOptionError } from '../core/errors.js';
import { assertWebGpuHealthy, uploadToDevice } from './backend/webgpu.js';
import { deriveSeed } from '../core/rng.js';
import type { DeclipBatch } from '../pipeline/types.js';
import type { StoredTensor } from './checkpoint/safetensors.js';
import type { TrainConfig } from './config.js';
import { batchToInputs, type DeclipInputs, declipLosses, disposeInputs, disposeLossOutput, type DeclipLossOutput, type LossExchange } from './declip-step.js';
import { type LossTerm, lossTerms } from './losses/config.js';
import { NearestNeighbourQueue, type QueueState } from './losses/nn-queue.js';
import { createDeclipModel, type DeclipModel } from './models/declip-model.js';
import { simsiamSpecs } from './models/heads.js';
import { AdamW, type AdamWState, clampVariable } from './optim/adamw.js';
import { clipScale, globalNormSquared, scaleGrads } from './optim/clip.js';
import type { Collective } from './parallel/collective.js';
import { copyFloatsInto, tensorFromView } from './kernels/wasm-memory.js';

/**
 * Sum one tensor per entry (the size of its variable) over the data-parallel workers:
 * heap -> shared slot -> heap, one copy each way (see copyFloatsInto, tensorFromView). An
 * entry with no local tensor adds zeros. `consume` gets each entry's sum as a view of the
 * shared buffer, valid only during the call.
 */
function allReduceEntries<E extends { readonly variable: tf.Variable }>(
  c: Collective,
  entries: readonly E[],
  local: (entry: E) => tf.Tensor | undefined,
  consume: (entry: E, sum: Float32Array) => void,
): void {
  const flat = c.reduceInput(entries.reduce((s, e) => s + e.variable.size, 0));
  let offset = 0;
  for (const e of entries) {
    const t = local(e);
    if (t === undefined) flat.fill(0, offset, offset + e.variable.size);
    else copyFloatsInto(t, flat, offset);
    offset += e.variable.size;
  }
  c.allReduceSumInto(flat, (summed) => {
    let at = 0;
    for (const e of entries) {
      consume(e, summed.subarray(at, at + e.variable.size));
      at += e.variable.size;
    }
  });
}

/**
 * The model's variables (parameters and buffers) as plain arrays, by name. Reads
 * asynchronously (all downloads in flight together), so it works on every backend.
 */
export async function modelWeights(model: DeclipModel): Promise<Record<string, StoredTensor>> {
  const entries = model.params.entries();
  const values = await Promise.all(entries.map((e) => e.variable.data()));
  const out: Record<string, StoredTensor> = {};
  entries.forEach((e, i) => {
    out[e.name] = { dtype: 'F32', shape: [...e.variable.shape], data: Float32Array.from(values[i] as Float32Array) };
  });
  return out;
}

/** Load weights (by name, shapes checked) into a model's variables. Extra names are errors. */
export function loadModelWeights(model: DeclipModel, weights: Readonly<Record<string, StoredTensor>>, source = 'weights'): void {
  const entries = model.params.entries();
  for (const e of entries) {
    const w = weights[e.name];
    if (w === undefined) throw new CheckpointError(source, `no tensor for parameter ${e.name}`);
    if (w.shape.length !== e.variable.shape.length || w.shape.some((d, i) => d !== e.variable.shape[i])) {
      throw new CheckpointError(source, `${e.name} has shape [${w.shape.join(', ')}], the model expects [${e.variable.shape.join(', ')}]`);
    }
  }
  const known = new Set(entries.map((e) => e.name));
  const unknown = Object.keys(weights).filter((n) => !known.has(n));
  if (unknown.length > 0) throw new CheckpointError(source, `tensors the model does not have: ${unknown.slice(0, 5).join(', ')}`);
  for (const e of entries) {
    const w = weights[e.name] as StoredTensor;
    tf.tidy(() => e.variable.assign(tf.tensor(w.data, [...w.shape], 'float32')));
  }
}

/** Seeds of the run's random parts, all derived from the config's seed. */
export function runSeeds(seed: number): { model: number; queue: number; pipeline: number } {
  return { model: seed, queue: deriveSeed(seed, 'nn-queue'), pipeline: seed };
}

/** Build the model a config describes (seeded), e.g. to load a checkpoint into. */
export function createModelFor(config: TrainConfig): DeclipModel {
  return createDeclipModel(config.model, { seed: runSeeds(config.seed).model });
}

/** Loss values and gradients of one batch (see {@link batchGradients}). */
export interface BatchGradients {
  /** By parameter name; the caller disposes them. */
  readonly grads: Map<string, tf.Tensor>;
  readonly total: number;
  readonly terms: Readonly<Record<LossTerm, number | null>>;
  readonly logitScale: number;
  /** Rows for the NN queue (official order), null when NNS is off. */
  readonly enqueueRows: Float32Array | null;
}

/** The issued, not yet read, part of {@link batchGradients} (see {@link issueGradients}). */
interface IssuedGradients {
  /** By parameter name; the caller disposes them. */
  readonly grads: Map<string, tf.Tensor>;
  /** `[total, logitScale, ...terms]` on the device (a term that is off repeats the total). */
  readonly values: tf.Tensor1D;
  /** Which terms are on. */
  readonly terms: Readonly<Record<LossTerm, boolean>>;
  /** Rows for the NN queue (official order), null when NNS is off; the caller disposes it. */
  readonly enqueue: tf.Tensor2D | null;
}

/**
 * Forward + backward of one batch in training mode (BatchNorm statistics update), issued
 * without reading anything back. The loss scalars are copied inside the gradient function:
 * tfjs frees the tensors its tape saved for the backward pass (the terms are inputs of the
 * weighting) once the gradients are computed, kept or not.
 */
function issueGradients(
  model: DeclipModel,
  inputs: DeclipInputs,
  queue: NearestNeighbourQueue | null,
  loss: TrainConfig['loss'],
  parallel?: { readonly exchange: LossExchange; readonly variables: tf.Variable[] },
): IssuedGradients {
  let out: DeclipLossOutput | undefined;
  let values: tf.Tensor1D | undefined;
  const { value, grads } = tf.variableGrads(() => {
    const o = declipLosses(model, inputs, queue, loss, true, parallel?.exchange);
    out = o;
    values = tf.keep(tf.stack([o.total, o.logitScale, ...lossTerms.map((k) => o.terms[k] ?? o.total)]) as tf.Tensor1D);
    return o.total;
  }, parallel?.variables ?? model.trainableVariables());
  value.dispose();
  const named = new Map<string, tf.Tensor>();
  for (const [variableName, g] of Object.entries(grads)) named.set(model.params.nameOf(variableName) ?? variableName, g);
  const o = out as DeclipLossOutput;
  const terms = Object.fromEntries(lossTerms.map((k) => [k, o.terms[k] !== null])) as Record<LossTerm, boolean>;
  const enqueue = o.enqueue === null ? null : tf.keep(tf.clone(o.enqueue));
  disposeLossOutput(o);
  return { grads: named, values: values as tf.Tensor1D, terms, enqueue };
}

/** Read (and free) the values of {@link issueGradients}. */
async function readIssuedValues(values: tf.Tensor1D, on: Readonly<Record<LossTerm, boolean>>): Promise<MicroStepValues> {
  let host: tf.backend_util.TypedArray;
  try {
    host = await values.data();
  } finally {
    values.dispose();
  }
  assertWebGpuHealthy('a training step');
  const read = (i: number): number => host[i] ?? Number.NaN;
  const terms = Object.fromEntries(lossTerms.map((k, i) => [k, on[k] ? read(2 + i) : null])) as Record<LossTerm, number | null>;
  return { total: read(0), terms, logitScale: read(1) };
}

/**
 * Forward + backward of one batch in training mode (BatchNorm statistics update); the
 * values and the rows to enqueue are read back asynchronously after the backward pass has
 * been issued (no synchronous read: the webgpu backend has none). The queue is only read
 * here; enqueue `enqueueRows` after checking the loss.
 */
export async function batchGradients(
  model: DeclipModel,
  inputs: DeclipInputs,
  queue: NearestNeighbourQueue | null,
  loss: TrainConfig['loss'],
  parallel?: { readonly exchange: LossExchange; readonly variables: tf.Variable[] },
): Promise<BatchGradients> {
  const issued = issueGradients(model, inputs, queue, loss, parallel);
  try {
    const [values, rows] = await Promise.all([readIssuedValues(issued.values, issued.terms), issued.enqueue?.data()]);
    return { grads: issued.grads, ...values, enqueueRows: rows === undefined ? null : Float32Array.from(rows as Float32Array) };
  } catch (err) {
    tf.dispose([...issued.grads.values()]);
    throw err;
  } finally {
    issued.enqueue?.dispose();
  }
}

/** A replica's state as plain data (checkpoints, moving it between threads). */
export interface ReplicaState {
  /** Every model variable (parameters and buffers), by name. */
  readonly weights: Readonly<Record<string, StoredTensor>>;
  /** AdamW's step and moments; undefined leaves the optimizer as it is. */
  readonly optimizer: AdamWState | undefined;
  /** The NN queue, null when NNS is off. */
  readonly queue: QueueState | null;
}

/** Loss values of one micro-batch (of the whole batch, for data-parallel workers). */
export interface MicroStepValues {
  readonly total: number;
  readonly terms: Readonly<Record<LossTerm, number | null>>;
  readonly logitScale: number;
}

/** Where a data-parallel worker's slice sits in the whole batch. */
export interface BatchSlice {
  /** First row of the slice in the batch. */
  readonly offset: number;
  /** Rows of the whole batch. */
  readonly total: number;
  /** Masked (MLM) positions in the whole batch. */
  readonly mlmCount: number;
}

/** Names of the parameters used only on the whole batch (gradient from worker 0 only). */
function wholeBatchParameters(model: DeclipModel): Set<string> {
  const names = new Set(['logit_scale']);
  const s = model.config.simsiam;
  if (s !== null) for (const spec of simsiamSpecs(s, model.embedDim)) names.add(spec.name);
  return names;
}

export class Replica {
  readonly config: TrainConfig;
  readonly model: DeclipModel;
  readonly queue: NearestNeighbourQueue | null;
  readonly optimizer: AdamW;
  readonly #collective: Collective | undefined;
  /** Variables differentiated on this replica. */
  readonly #variables: tf.Variable[];
  /** Buffers averaged across workers after each update (BatchNorm of the image tower). */
  readonly #sliceBuffers: readonly { readonly name: string; readonly variable: tf.Variable }[];
  #sums = new Map<string, tf.Tensor>();
  #present = new Set<string>();
  #count = 0;
  #disposed = false;
  /**
   * Steps are issued without reading back (webgpu, one replica): {@link microStep} and
   * {@link update} change every state before they return their promise, so a caller may
   * keep several steps in flight.
   */
  readonly deferred: boolean;

  constructor(config: TrainConfig, collective?: Collective) {
    this.config = config;
    const seeds = runSeeds(config.seed);
    this.model = createModelFor(config);
    this.queue = config.loss.weights.nns > 0 ? new NearestNeighbourQueue({ size: config.loss.queueSize, dim: this.model.embedDim, seed: seeds.queue }) : null;
    this.optimizer = new AdamW(this.model.trainable(), {
      beta1: config.optimizer.beta1,
      beta2: config.optimizer.beta2,
      eps: config.optimizer.eps,
      weightDecay: config.optimizer.weightDecay,
      decayEmbeddings: config.optimizer.decayEmbeddings,
    });
    // The official code clamps the logit scale before every step too; after the first step
    // the clamp after each update covers that, so one clamp here makes the two the same.
    clampVariable(this.model.logitScaleVariable, ...config.optimizer.logitScaleRange);
    this.#collective = collective;
    const whole = wholeBatchParameters(this.model);
    this.#variables = this.model
      .trainable()
      .filter((e) => collective === undefined || collective.rank === 0 || !whole.has(e.name))
      .map((e) => e.variable);
    this.#sliceBuffers = collective === undefined || collective.world === 1 ? [] : this.model.params.buffers().filter((e) => !whole.has(e.name));
    this.deferred = collective === undefined && tf.getBackend() === 'webgpu';
  }

  /** The next micro-batch's inputs, built and uploaded ahead by {@link stage} (deferred replicas). */
  #staged: { readonly batch: DeclipBatch; readonly inputs: DeclipInputs } | undefined;

  /**
   * Deferred replicas (webgpu): build `batch`'s input tensors and start their upload to the
   * device now, while the steps in flight run; {@link microStep} of the same batch then
   * uses them. At most one batch is staged (staging another frees the first). No-op on the
   * other backends, whose steps run on the calling thread.
   */
  stage(batch: DeclipBatch): void {
    if (!this.deferred || this.#staged?.batch === batch) return;
    this.#dropStaged();
    const inputs = batchToInputs(batch);
    uploadToDevice(Object.values(inputs) as tf.Tensor[]);
    this.#staged = { batch, inputs };
  }

  #dropStaged(): void {
    if (this.#staged !== undefined) disposeInputs(this.#staged.inputs);
    this.#staged = undefined;
  }

  /** Micro-batches summed since the last update or discard. */
  get pending(): number {
    return this.#count;
  }

  /**
   * Forward + backward of one micro-batch (this worker's slice when data-parallel). When the
   * total loss is finite the gradients join the step's sums and the NN queue takes the
   * batch's rows; otherwise nothing changes. Every worker takes the same decision.
   */
  async microStep(batch: DeclipBatch, slice?: BatchSlice): Promise<MicroStepValues> {
    const c = this.#collective;
    if (c !== undefined && slice === undefined) throw new InvalidOptionError('slice', 'A data-parallel replica needs the slice of the batch it computes');
    if (this.deferred) return this.#microStepDeferred(batch);
    const inputs = batchToInputs(batch);
    let result: BatchGradients;
    try {
      result =
        c === undefined || slice === undefined
          ? await batchGradients(this.model, inputs, this.queue, this.config.loss)
          : await batchGradients(this.model, inputs, this.queue, this.config.loss, {
              exchange: { mlmCount: slice.mlmCount, gather: (local) => this.#gather(c, local, slice) },
              variables: this.#variables,
            });
    } finally {
      disposeInputs(inputs);
    }
    let values: MicroStepValues = { total: result.total, terms: result.terms, logitScale: result.logitScale };
    let present = [...result.grads.keys()];
    if (c !== undefined) {
      // Combine: the whole-batch terms are the same on every worker; MLM parts add up.
      const names = this.model.trainable().map((e) => e.name);
      const t = result.terms;
      const all = c.allGatherScalars([t.clip ?? 0, t.nns ?? 0, t.simsiam ?? 0, t.mlm ?? 0, result.logitScale, ...names.map((n) => (result.grads.has(n) ? 1 : 0))]);
      const first = all[0] as number[];
      const mlm = all.reduce((s, row) => s + (row[3] as number), 0);
      const combined = [first[0], first[1], first[2], mlm] as number[];
      const w = this.config.loss.weights;
      const terms = Object.fromEntries(lossTerms.map((k, i) => [k, t[k] === null ? null : combined[i]])) as Record<LossTerm, number | null>;
      const total = lossTerms.reduce((s, k) => s + (terms[k] === null ? 0 : w[k] * (terms[k] as number)), 0);
      values = { total, terms, logitScale: first[4] as number };
      present = names.filter((_, i) => all.some((row) => row[5 + i] === 1));
    }
    if (!Number.isFinite(values.total)) {
      for (const g of result.grads.values()) g.dispose();
      return values;
    }
    if (this.queue !== null && result.enqueueRows !== null) this.queue.enqueue(result.enqueueRows);
    this.#accumulate(result.grads, present);
    return values;
  }

  /** Add one micro-batch's gradients (owned from now on) to the step's sums. */
  #accumulate(grads: Map<string, tf.Tensor>, present: readonly string[]): void {
    for (const [name, g] of grads) {
      const old = this.#sums.get(name);
      if (old === undefined) this.#sums.set(name, g);
      else {
        this.#sums.set(name, tf.add(old, g));
        old.dispose();
        g.dispose();
      }
    }
    for (const name of present) this.#present.add(name);
    this.#count++;
  }

  /**
   * The deferred micro-step (webgpu, one replica): everything that changes state (the
   * gradient sums, the NN queue on the device) is issued before this returns, with no
   * read-back; the promise only reads the loss values. So the caller may issue the next
   * step before this one's values arrive. A non-finite loss is not decided here: its NaN
   * gradients make the step's norm non-finite, the update is masked (see {@link update})
   * and the training loop reloads its checkpoint, which also restores the queue.
   */
  #microStepDeferred(batch: DeclipBatch): Promise<MicroStepValues> {
    let inputs: DeclipInputs;
    if (this.#staged?.batch === batch) {
      inputs = this.#staged.inputs; // staged ahead: already uploaded, and now this step's to dispose
      this.#staged = undefined;
    } else inputs = batchToInputs(batch);
    let issued: IssuedGradients;
    try {
      issued = issueGradients(this.model, inputs, this.queue, this.config.loss);
    } finally {
      disposeInputs(inputs);
    }
    if (this.queue !== null && issued.enqueue !== null) this.queue.enqueueOnDevice(issued.enqueue);
    issued.enqueue?.dispose();
    this.#accumulate(issued.grads, [...issued.grads.keys()]);
    return readIssuedValues(issued.values, issued.terms);
  }

  /** The whole batch's rows of each local tensor: local rows on the tape, the peers' constant. */
  #gather(c: Collective, local: readonly tf.Tensor2D[], slice: BatchSlice): tf.Tensor2D[] {
    const first = local[0];
    if (first === undefined) return [];
    const [rows, width] = first.shape;
    const whole = c.gatherRows(
      local.map((x) => x.dataSync() as Float32Array),
      slice.offset,
      slice.total,
      width,
    );
    const after = slice.total - slice.offset - rows;
    return local.map((x, k) => {
      const w = whole[k] as Float32Array;
      const parts: tf.Tensor2D[] = [];
      if (slice.offset > 0) parts.push(tf.tensor2d(w.subarray(0, slice.offset * width), [slice.offset, width]));
      parts.push(x);
      if (after > 0) parts.push(tf.tensor2d(w.subarray((slice.offset + rows) * width), [after, width]));
      return parts.length === 1 ? x : tf.concat(parts, 0);
    });
  }

  /** Drop the gradients summed since the last update. */
  discard(): void {
    for (const t of this.#sums.values()) t.dispose();
    this.#sums.clear();
    this.#present.clear();
    this.#count = 0;
  }

  /**
   * Apply the step: mean of the summed gradients over the micro-batches (summed over the
   * workers first), clip by global norm, AdamW at `lr`, clamp the logit scale. Resolves to
   * the global gradient norm before clipping.
   *
   * Non-finite guard: when that norm is NaN or infinite (a non-finite gradient, even with
   * a finite loss) no parameter, moment or buffer changes, and the NaN/Inf norm is
   * returned for the caller to count. On webgpu the decision stays on the device: the
   * AdamW update is masked with `isFinite(norm)` and the norm is read back after the
   * update has been issued (nothing waits for the GPU before it); AdamW's update count
   * still advances there, and the training loop reloads its last checkpoint after such a
   * step. On the other backends the norm is read first and the update skipped.
   */
  async update(lr: number): Promise<number> {
    const count = this.#count;
    const raw: Record<string, tf.Tensor> = {};
    const c = this.#collective;
    if (c === undefined) {
      for (const [name, sum] of this.#sums) raw[name] = count > 1 ? tf.tidy(() => tf.div(sum, count)) : sum;
      if (count <= 1) this.#sums = new Map(); // raw owns them now
    } else {
      allReduceEntries(c, this.model.trainable(), (e) => this.#sums.get(e.name), (e, part) => {
        if (!this.#present.has(e.name)) return;
        raw[e.name] = tf.tidy(() => {
          const t = tensorFromView(part, e.variable.shape);
          return count > 1 ? tf.div(t, count) : t;
        });
      });
    }
    this.discard();
    const maxNorm = this.config.optimizer.clipGradNorm ?? Infinity;
    const [lo, hi] = this.config.optimizer.logitScaleRange;
    const sq = globalNormSquared(raw);
    try {
      if (this.deferred) {
        const { apply, scale } = tf.tidy(() => {
          const norm = tf.sqrt(sq);
          return {
            apply: tf.isFinite(norm) as tf.Scalar,
            scale: Number.isFinite(maxNorm) ? (tf.minimum(1, tf.div(maxNorm, tf.add(norm, 1e-6))) as tf.Scalar) : tf.scalar(1),
          };
        });
        this.optimizer.step(raw, lr, apply, scale); // the clipping factor is applied in the update
        clampVariable(this.model.logitScaleVariable, lo, hi, apply);
        tf.dispose([apply, scale, ...Object.values(raw)]);
        const norm = Math.sqrt((await sq.data())[0] ?? Number.NaN);
        assertWebGpuHealthy('an optimizer step');
        return norm;
      }
      const norm = Math.sqrt((await sq.data())[0] ?? Number.NaN);
      if (!Number.isFinite(norm)) return norm;
      const clipped = scaleGrads(raw, clipScale(norm, maxNorm));
      this.optimizer.step(clipped, lr);
      tf.dispose(Object.values(clipped));
      clampVariable(this.model.logitScaleVariable, lo, hi);
      if (c !== undefined && this.#sliceBuffers.length > 0) this.#averageBuffers(c);
      return norm;
    } finally {
      sq.dispose();
      tf.dispose(Object.values(raw));
    }
  }

  /**
   * BatchNorm in the image tower sees only this worker's slice (as PyTorch DDP without
   * SyncBatchNorm); its running statistics are averaged over the workers after each update
   * so that the replicas stay identical.
   */
  #averageBuffers(c: Collective): void {
    allReduceEntries(c, this.#sliceBuffers, (e) => e.variable, (e, part) => {
      tf.tidy(() => e.variable.assign(tf.div(tensorFromView(part, e.variable.shape), c.world)));
    });
  }

  /** Weights, optimizer moments and NN queue as plain data (copies, read asynchronously). */
  async exportState(): Promise<ReplicaState> {
    const [weights, optimizer] = await Promise.all([modelWeights(this.model), this.optimizer.exportState(), this.queue?.flush()]);
    assertWebGpuHealthy('reading the training state');
    return { weights, optimizer, queue: this.queue?.exportState() ?? null };
  }

  /** Replace the state (and drop pending gradients). `source` names it in errors. */
  importState(state: ReplicaState, source = 'state'): void {
    loadModelWeights(this.model, state.weights, source);
    if (state.optimizer !== undefined) this.optimizer.importState(state.optimizer, source);
    if (this.queue !== null) {
      if (state.queue === null) throw new CheckpointError(source, 'the NN queue is missing');
      this.queue.importState(state.queue);
    }
    this.discard();
  }

  /** Free every tensor. Idempotent. */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    this.discard();
    this.#dropStaged();
    this.optimizer.dispose();
    this.queue?.dispose();
    this.model.dispose();
  }
}
