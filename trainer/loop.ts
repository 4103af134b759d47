/**
 * The training loop: pipeline batches -> DeCLIP losses -> gradients -> clip -> AdamW,
 * with checkpoints, resume, a non-finite-loss guard and per-step metrics.
 *
 * Data: the loop pulls from an async iterable of {@link DeclipBatch}es and asks for the
 * next batch as soon as it has taken one, *before* the (synchronous, event-loop-blocking)
 * tfjs step runs: the pipeline's workers prepare it meanwhile and its prefetch ring fills
 * between steps; the time the loop then waits for it is `dataWaitMs`.
 *
 * Determinism and resume: the model, the NN queue and the pipeline are seeded from the
 * config's seed; a checkpoint stores weights (with BatchNorm buffers), AdamW moments, the
 * NN queue, the step and the stream position (`epoch`, `skipSamples` of the batch after
 * the last one consumed), so `resume: true` re-opens the stream there and continues the
 * same loss curve as an uninterrupted run.
 *
 * Non-finite guard: a batch whose loss is NaN/Inf, or a step whose gradient norm is
 * NaN/Inf (a non-finite gradient with a finite loss), is not applied (the engine skips or,
 * on webgpu, masks the update on the device); the last checkpoint is reloaded, the stream
 * re-opened from its position with that batch (the step's batches) skipped (the indices
 * are recorded in later checkpoints), and training goes on. More than `maxNonFinite` such
 * events stop the run with {@link NonFiniteLossError}. The count is stored in every
 * checkpoint and restored on resume. A checkpoint is only written after the engine's
 * step has resolved (its values read back and checked), so it never holds non-finite
 * weights.
 *
 * Tensor ownership: every tensor a step creates is disposed before the next one
 * (`tf.memory().numTensors` is flat from step 2 on; step 1 creates the AdamW moments).
 *
 * @example
 * ```ts
 * await selectBackend({ backend: 'cpu' });
 * const config = await loadTrainConfig('tiny', { data: { shards: ['train-{000000..000003}.tar'] } });
 * const result = await train({
 *   config, runDir: 'runs/tiny',
 *   openBatches: (from) => createPipeline({ shards: config.data.shards, tokenizerFile, batchSize: config.batch,
 *     imageSize: 32, contextLength: 24, seed: config.seed, epochs: Infinity, startEpoch: from.epoch, skipSamples: from.skipSamples }),
 * });
 * ```
 */
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { CheckpointError, InvalidOptionError, NonFiniteLossError } from '../core/errors.js';
import type { DeclipBatch } from '../pipeline/types.js';
import { CHECKPOINT_FORMAT, type CheckpointState, latestCheckpoint, loadCheckpoint, type LoadedCheckpoint, saveCheckpoint, type StreamPosition } from './checkpoint/checkpoint.js';
import { assertResumableConfig } from './checkpoint/resume.js';
import type { StoredTensor } from './checkpoint/safetensors.js';
import type { TrainConfig } from './config.js';
import { createEngine, resolveThreads } from './engine.js';
import type { MicroStepValues } from './replica.js';
import type { QueueState } from './losses/nn-queue.js';
import { MetricsLog, readMetrics, type StepMetrics } from './log/metrics.js';
import { writePlots } from './log/plot.js';
import { createProgress, type Progress } from './log/progress.js';
import { warmupCosine } from './optim/schedule.js';
import { runSeeds } from './replica.js';

export { batchGradients, type BatchGradients, createModelFor, loadModelWeights, modelWeights, runSeeds } from './replica.js';

/** Where a stream (re)starts: the pipeline's `startEpoch` and `skipSamples`. */
export interface StreamStart {
  readonly epoch: number;
  readonly skipSamples: number;
}

/** A stream of batches the loop can stop (`close` is called when it is done with it). */
export interface BatchSource extends AsyncIterable<DeclipBatch> {
  close?(): Promise<void> | void;
  describe?(): string;
}

/** Opens the deterministic batch stream at a position (called again on resume and recovery). */
export type OpenBatches = (start: StreamStart) => BatchSource;

/** Extended checkpoint position: the pipeline restart point plus counters. */
export interface LoopPosition extends StreamPosition {
  readonly skipSamples: number;
}

export interface TrainOptions {
  readonly config: TrainConfig;
  /** Output folder: metrics.jsonl, checkpoints/, plots. */
  readonly runDir: string;
  readonly openBatches: OpenBatches;
  /** Continue from the newest checkpoint in `runDir` (a fresh start when there is none). */
  readonly resume?: boolean;
  /** Stop after the current step, write a checkpoint and return (SIGINT/SIGTERM). */
  readonly signal?: AbortSignal;
  /** Path of the run's tokenizer, relative to `runDir`, recorded in checkpoints. */
  readonly tokenizer?: string;
  /** Human-readable progress lines (default: none). */
  readonly log?: (line: string) => void;
  /** Draw a progress bar on this stream when it is a TTY (default: none). */
  readonly progressStream?: NodeJS.WriteStream;
  /** Write SVG plots next to metrics.jsonl at the end (default true). */
  readonly plots?: boolean;
  /** Called after every optimizer step with its metrics line. */
  readonly onStep?: (metrics: StepMetrics) => void;
  /**
   * Compute threads (default: the config's `compute.threads`). N > 1 trains data-parallel
   * in N worker threads with one model replica each (see trainer/parallel/engine.ts): the
   * same updates as one thread, the data pipeline, checkpoints and logging stay here.
   */
  readonly threads?: number;
}

export interface TrainResult {
  /** Optimizer steps completed (including those of earlier, resumed runs). */
  readonly step: number;
  readonly stopped: 'completed' | 'aborted' | 'end-of-data';
  /** The last checkpoint written. */
  readonly checkpoint: string;
  readonly metricsPath: string;
  /** Batch indices skipped for non-finite losses. */
  readonly skippedBatches: readonly number[];
  readonly plots: readonly string[];
  /** Metrics of the last step, if one ran in this call. */
  readonly last: StepMetrics | undefined;
}

const ABORTED = Symbol('aborted');

function mean(values: readonly number[]): number {
  return values.length === 0 ? 0 : values.reduce((a, b) => a + b, 0) / values.length;
}

/** Train as the config says. Rejects with typed errors (CheckpointError, NonFiniteLossError, ...). */
export async function train(options: TrainOptions): Promise<TrainResult> {
  const { config, runDir } = options;
  const log = options.log ?? (() => undefined);
  await mkdir(runDir, { recursive: true });
  const metricsPath = join(runDir, 'metrics.jsonl');
  const seeds = runSeeds(config.seed);
  const schedule = warmupCosine({
    peakLr: config.optimizer.lr,
    warmupStartLr: config.optimizer.warmupStartLr,
    warmupSteps: config.optimizer.warmupSteps,
    totalSteps: config.steps,
    minLr: config.optimizer.minLr,
  });
  const threads = options.threads ?? resolveThreads(config.compute.threads, config.batch);
  const engine = await createEngine(config, { threads, log });
  let metrics: MetricsLog | undefined;
  let progress: Progress | undefined;
  let source: BatchSource | undefined;
  let iterator: AsyncIterator<DeclipBatch> | undefined;

  let step = 0;
  let position: LoopPosition = { epoch: 0, skipSamples: 0, samplesConsumed: 0, batchesConsumed: 0 };
  const skipped = new Set<number>();
  let nonFinite = 0;
  let lastCheckpoint = '';
  let lastSavedStep = -1;

  const restore = async (ck: LoadedCheckpoint): Promise<void> => {
    let queue: QueueState | null = null;
    if (config.loss.weights.nns > 0) {
      const q = ck.extra['nns.queue'];
      const p = ck.extra['nns.pointer'];
      if (q === undefined || p === undefined || !(q.data instanceof Float32Array)) throw new CheckpointError(ck.dir, 'the NN queue is missing (extra.safetensors)');
      queue = { size: q.shape[0] ?? 0, dim: q.shape[1] ?? 0, pointer: p.data[0] ?? 0, data: q.data };
    }
    await engine.importState({ weights: ck.weights, optimizer: ck.optimizer, queue }, ck.dir);
    step = ck.state.step;
    const pos = ck.state.position as Partial<LoopPosition>;
    position = { epoch: pos.epoch ?? 0, skipSamples: pos.skipSamples ?? 0, samplesConsumed: pos.samplesConsumed ?? 0, batchesConsumed: pos.batchesConsumed ?? 0 };
    for (const b of ck.state.skippedBatches) skipped.add(b);
    // The count only grows: a recovery reloads an older checkpoint and keeps the events since.
    const stored = ck.state.extra?.['nonFinite'];
    if (typeof stored === 'number' && Number.isInteger(stored) && stored > nonFinite) nonFinite = stored;
    lastCheckpoint = ck.dir;
    lastSavedStep = step;
  };

  const checkpoint = async (): Promise<void> => {
    const state: CheckpointState = {
      format: CHECKPOINT_FORMAT,
      step,
      position,
      skippedBatches: [...skipped].sort((a, b) => a - b),
      config,
      tokenizer: options.tokenizer,
      createdAt: new Date().toISOString(),
      extra: { seeds, nonFinite },
    };
    const replica = await engine.exportState();
    const extra: Record<string, StoredTensor> = {};
    const q = replica.queue;
    if (q !== null) {
      extra['nns.queue'] = { dtype: 'F32', shape: [q.size, q.dim], data: q.data };
      extra['nns.pointer'] = { dtype: 'I32', shape: [], data: new Int32Array([q.pointer]) };
    }
    const weights = replica.weights as Record<string, StoredTensor>;
    lastCheckpoint = await saveCheckpoint(runDir, { state, weights, ...(replica.optimizer === undefined ? {} : { optimizer: replica.optimizer }), extra }, { keep: config.keepCheckpoints });
    lastSavedStep = step;
    log(`checkpoint: ${lastCheckpoint}`);
  };

  const openStream = (): void => {
    source = options.openBatches({ epoch: position.epoch, skipSamples: position.skipSamples });
    iterator = source[Symbol.asyncIterator]();
  };
  const closeStream = async (): Promise<void> => {
    const it = iterator;
    const src = source;
    iterator = undefined;
    source = undefined;
    try {
      await it?.return?.();
    } catch {
      // a stream that fails while closing has nothing more to give
    }
    await src?.close?.();
  };

  const signal = options.signal;
  const aborted = new Promise<typeof ABORTED>((resolve) => {
    if (signal?.aborted === true) resolve(ABORTED);
    else signal?.addEventListener('abort', () => resolve(ABORTED), { once: true });
  });

  let stopped: TrainResult['stopped'] = 'completed';
  let last: StepMetrics | undefined;
  try {
    const existing = await latestCheckpoint(runDir);
    if (options.resume === true && existing !== undefined) {
      const ck = await loadCheckpoint(existing);
      assertResumableConfig(ck.state.config, config, ck.dir);
      await restore(ck);
      log(`resume: step ${step} from ${ck.dir} (epoch ${position.epoch}, ${position.samplesConsumed} samples consumed)`);
      metrics = MetricsLog.open(metricsPath);
      metrics.write({ event: 'resume', fromStep: step, checkpoint: ck.dir, time: new Date().toISOString() });
    } else {
      if (existing !== undefined) {
        throw new InvalidOptionError('resume', `${runDir} already holds checkpoints (${existing}): pass --resume to continue that run, or choose another --out`);
      }
      if (options.resume === true) log(`resume: no checkpoint in ${runDir}, starting from step 0`);
      await rm(metricsPath, { force: true });
      metrics = MetricsLog.open(metricsPath);
      metrics.write({ event: 'start', steps: config.steps, batch: config.batch, mode: config.mode, model: config.modelName, parameters: engine.numParameters, threads: engine.threads, time: new Date().toISOString() });
      await checkpoint(); // step 0: the restore point of the non-finite guard
    }
    progress = options.progressStream === undefined ? undefined : createProgress(config.steps, options.progressStream, step);
    openStream();
    log(`train: ${config.modelName} (${engine.numParameters} parameters${engine.threads > 1 ? `, ${engine.threads} compute threads` : ''}), mode ${config.mode}, ${config.steps} steps of ${config.batch}${config.optimizer.accumulate > 1 ? ` x ${config.optimizer.accumulate}` : ''}${source?.describe === undefined ? '' : `; data: ${source.describe()}`}`);

    let pending: Promise<IteratorResult<DeclipBatch>> | undefined;
    const pull = (): void => {
      pending = (iterator as AsyncIterator<DeclipBatch>).next();
      pending.catch(() => undefined); // observed when awaited; never an unhandled rejection meanwhile
    };
    pull();
    /** Count a non-finite event, then reload the last checkpoint and re-open the stream. */
    const recover = async (what: string, atStep: number): Promise<void> => {
      nonFinite++;
      if (nonFinite > config.maxNonFinite) {
        throw new NonFiniteLossError(atStep, `${nonFinite} non-finite losses or gradients (limit maxNonFinite=${config.maxNonFinite}); the last was ${what}`);
      }
      log(`train: ${what}: reloading ${lastCheckpoint} and skipping the batch`);
      const keep = new Set(skipped);
      await restore(await loadCheckpoint(lastCheckpoint));
      for (const b of keep) skipped.add(b);
      await closeStream();
      openStream();
      pull();
    };

    /** A step issued to the engine whose values have not been read yet. */
    interface IssuedStep {
      readonly step: number;
      readonly micro: readonly { readonly index: number; readonly keys: readonly string[]; readonly values: Promise<MicroStepValues> }[];
      readonly norm: Promise<number>;
      readonly lr: number;
      readonly started: number;
      readonly dataWaitMs: number;
      readonly computeMs: number;
      readonly samples: number;
      readonly position: LoopPosition;
    }
    // Engines that issue a step without reading it back (webgpu) keep one step in flight
    // while the next is issued; the others read each step before the next.
    const inFlightLimit = engine.stepsInFlight ?? 1;
    /** Time spent waiting for the batch staged ahead, counted in the next step's data wait. */
    let stagingWaitMs = 0;
    const inFlight: IssuedStep[] = [];
    const observed = <T>(p: Promise<T>): Promise<T> => {
      p.catch(() => undefined); // read (and rethrown) by settle; never an unhandled rejection meanwhile
      return p;
    };
    /** Read the oldest step in flight: metrics, or the non-finite policy (false: rolled back). */
    const settle = async (): Promise<boolean> => {
      const s = inFlight.shift() as IssuedStep;
      const readStart = performance.now();
      const got = await Promise.all(s.micro.map((m) => m.values));
      const gradNorm = await s.norm;
      const computeMs = s.computeMs + performance.now() - readStart;
      const bad = got.findIndex((v) => !Number.isFinite(v.total));
      if (bad >= 0 || !Number.isFinite(gradNorm)) {
        // Later steps started from this one: drop them (the checkpoint reload rewinds them).
        for (const later of inFlight.splice(0)) await Promise.allSettled([...later.micro.map((m) => m.values), later.norm]);
        await engine.discard();
        const m = s.micro[bad];
        if (m !== undefined) {
          const loss = got[bad]?.total;
          skipped.add(m.index);
          metrics?.write({ event: 'non-finite', atStep: s.step, batch: m.index, loss: String(loss), keys: m.keys.slice(0, 8) });
          await recover(`non-finite loss (${loss}) at step ${s.step}, batch ${m.index}`, s.step);
        } else {
          const batches = s.micro.map((x) => x.index);
          for (const b of batches) skipped.add(b);
          metrics?.write({ event: 'non-finite', atStep: s.step, batches, gradNorm: String(gradNorm) });
          await recover(`non-finite gradient norm (${gradNorm}) at step ${s.step}, batches ${batches.join(', ')}`, s.step);
        }
        return false;
      }
      const elapsed = performance.now() - s.started;
      const pick = (f: (v: MicroStepValues) => number): number => mean(got.map(f));
      const row: StepMetrics = {
        step: s.step,
        loss: pick((v) => v.total),
        clip: pick((v) => v.terms.clip ?? 0),
        nns: pick((v) => v.terms.nns ?? 0),
        simsiam: pick((v) => v.terms.simsiam ?? 0),
        mlm: pick((v) => v.terms.mlm ?? 0),
        lr: s.lr,
        logitScale: pick((v) => v.logitScale),
        samplesPerSecond: s.samples / (elapsed / 1000),
        dataWaitMs: s.dataWaitMs,
        computeMs,
        gradNorm,
        epoch: s.position.epoch,
        samples: s.position.samplesConsumed,
      };
      metrics?.write(row);
      last = row;
      progress?.update(s.step, { loss: row.loss, samplesPerSecond: row.samplesPerSecond });
      options.onStep?.(row);
      return true;
    };

    outer: while (step < config.steps || inFlight.length > 0) {
      if (step >= config.steps || signal?.aborted === true) {
        // The last steps, or a stop signal: read what is in flight first.
        while (inFlight.length > 0) if (!(await settle())) continue outer;
        if (signal?.aborted === true) {
          stopped = 'aborted';
          break;
        }
        continue;
      }
      const started = performance.now();
      let dataWaitMs = stagingWaitMs;
      stagingWaitMs = 0;
      let computeMs = 0;
      let samples = 0;
      await engine.discard();
      const micro: { index: number; keys: readonly string[]; values: Promise<MicroStepValues> }[] = [];
      while (micro.length < config.optimizer.accumulate) {
        const waitStart = performance.now();
        const next = await Promise.race([pending as Promise<IteratorResult<DeclipBatch>>, aborted]);
        dataWaitMs += performance.now() - waitStart;
        if (next === ABORTED) {
          stopped = 'aborted';
          break outer;
        }
        if (next.done === true) {
          stopped = 'end-of-data';
          log(`train: the data ended after ${position.batchesConsumed} batches`);
          break outer;
        }
        const batch = next.value;
        const index = position.batchesConsumed;
        pull(); // ask for the next batch now: the pipeline prepares it while this step runs
        position = {
          epoch: batch.position.resumeFrom.epoch,
          skipSamples: batch.position.resumeFrom.skipSamples,
          samplesConsumed: position.samplesConsumed + batch.size,
          batchesConsumed: index + 1,
        };
        if (skipped.has(index)) continue;
        const computeStart = performance.now();
        const values = observed(engine.microStep(batch));
        void values.finally(() => batch.release?.()).catch(() => undefined); // the step has its tensors: the batch's buffer goes back to the pipeline
        if (inFlightLimit === 1) await values; // this engine's state changes end when its promise does
        computeMs += performance.now() - computeStart;
        micro.push({ index, keys: batch.keys, values });
        samples += batch.size;
      }
      const updateStart = performance.now();
      const lr = schedule(step + 1);
      const norm = observed(engine.update(lr));
      if (inFlightLimit === 1) await norm;
      computeMs += performance.now() - updateStart;
      step++;
      inFlight.push({ step, micro, norm, lr, started, dataWaitMs, computeMs, samples, position });
      // A checkpoint holds exactly the steps read and checked: nothing may be in flight.
      const due = config.checkpointEvery > 0 && step % config.checkpointEvery === 0 && step < config.steps;
      // Engines with steps in flight (webgpu): upload the next batch now, while this step and
      // the one before run, not after the older one's values are read (one batch ahead).
      if (inFlightLimit > 1 && engine.stage !== undefined && step < config.steps) {
        const waitStart = performance.now();
        // A failed pull is thrown where the next step awaits it, as without staging.
        const next = await Promise.race([(pending as Promise<IteratorResult<DeclipBatch>>).catch(() => undefined), aborted]);
        stagingWaitMs = performance.now() - waitStart;
        if (next !== ABORTED && next !== undefined && next.done !== true && !skipped.has(position.batchesConsumed)) engine.stage(next.value);
      }
      while (inFlight.length >= inFlightLimit || (due && inFlight.length > 0)) if (!(await settle())) continue outer;
      if (due) await checkpoint();
    }
    // Stopped early (signal, end of data): read the steps still in flight.
    while (inFlight.length > 0) if (!(await settle())) break;
    if (stopped === 'aborted') log(`train: stopping at step ${step} (signal)`);
    if (step !== lastSavedStep) await checkpoint();
  } finally {
    progress?.stop();
    await closeStream();
    await engine.close();
    metrics?.close();
  }
  let plots: string[] = [];
  if (options.plots ?? true) plots = await writePlots(runDir, await readMetrics(metricsPath), `${config.modelName} ${config.mode}`);
  return { step, stopped, checkpoint: lastCheckpoint, metricsPath, skippedBatches: [...skipped].sort((a, b) => a - b), plots, last };
}

/** Whether `runDir` has a checkpoint to resume from. */
export async function hasCheckpoint(runDir: string): Promise<boolean> {
  return (await latestCheckpoint(runDir)) !== undefined;
}
