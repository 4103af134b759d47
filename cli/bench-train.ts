/**
 * `declip bench train`: time real DeCLIP training steps on random data, like
 * ../shared/bench/ref_declip_torch.py (forward with two image views, the MLM-masked caption
 * and the EDA caption, all four loss terms with the NN queue, backward, AdamW). Making the
 * batch is not timed; the result is the median step time over steps 2..N. Every thread count
 * runs the same training setup (`resolveTrainConfig` + `createEngine`: the same seeds, model
 * init, loss settings and AdamW), so `--threads 1` and `--threads N` give the same losses.
 *
 * @example
 * ```sh
 * declip bench train --config tiny --batch 64 --steps 6 --json
 * # ... {"msPerStep":812.4,"backend":"wasm",...}
 * ```
 */
import type { Command } from 'commander';
import { BackendError } from '../core/errors.js';
import { Rng } from '../core/rng.js';
import { expectInteger, expectOneOf } from '../core/validate.js';
import type { DeclipBatch } from '../pipeline/types.js';
import { BACKEND_NAMES, type BackendChoice, selectBackend } from '../trainer/backend/select.js';
import type { AdapterSummary } from '../trainer/backend/webgpu.js';
import { resolveTrainConfig } from '../trainer/config.js';
import { createEngine, resolveThreads } from '../trainer/engine.js';
import { modelPresets } from '../trainer/models/config.js';

/** `--threads`: `auto` or a whole number >= 1. */
export function parseThreads(value: string | number | undefined): number | 'auto' | undefined {
  if (value === undefined) return undefined;
  if (value === 'auto') return 'auto';
  const n = typeof value === 'number' ? value : /^\d+$/.test(value.trim()) ? Number(value) : Number.NaN;
  return expectInteger('--threads', n, 1, 256);
}

export const BENCH_CONFIGS = ['tiny', 'small'] as const;
export type BenchConfig = (typeof BENCH_CONFIGS)[number];

export interface TrainBenchOptions {
  readonly config?: BenchConfig;
  readonly batch?: number;
  readonly steps?: number;
  readonly backend?: BackendChoice;
  readonly seed?: number;
  /**
   * Compute threads: 1 runs the step in this thread; N > 1 runs it data-parallel in N worker
   * threads (one model replica and 1/N of the batch each, exactly the one-thread update);
   * `'auto'` (default) is the core count on the wasm and cpu backends, 1 on the others.
   */
  readonly threads?: number | 'auto';
  /** One line per step (default: none). */
  readonly log?: (line: string) => void;
}

export interface TrainBenchResult {
  /** Median wall time of steps 2..N, milliseconds. */
  readonly msPerStep: number;
  readonly backend: string;
  /** Compute threads used. */
  readonly threads: number;
  readonly config: BenchConfig;
  readonly batch: number;
  readonly steps: number;
  /** Every step's wall time (ms), step 1 first. */
  readonly stepMs: readonly number[];
  /** Total loss of each step. */
  readonly losses: readonly number[];
  /** Median CPU time (user+system, all threads of the process) of steps 2..N, ms. */
  readonly cpuMsPerStep: number;
  /** The WebGPU adapter (vendor, architecture, description, fallback or not); null on other backends. */
  readonly adapter: AdapterSummary | null;
  /** Wall time to start the engine (compute workers loaded, replicas built), ms. */
  readonly startupMs: number;
}

/** A DeclipBatch of random data shaped like the reference's (ids in [4, vocab), 15% MLM). */
export function randomBatch(rng: Rng, size: number, imageSize: number, contextLength: number, vocabSize: number): DeclipBatch {
  const pixels = size * imageSize * imageSize * 3;
  const images1 = new Float32Array(pixels);
  const images2 = new Float32Array(pixels);
  for (let i = 0; i < pixels; i++) {
    images1[i] = rng.normal();
    images2[i] = rng.normal();
  }
  const n = size * contextLength;
  const tokens = new Int32Array(n);
  const tokensEda = new Int32Array(n);
  const tokensMasked = new Int32Array(n);
  const mlmLabels = new Int32Array(n).fill(-100);
  for (let i = 0; i < n; i++) {
    tokens[i] = 4 + rng.int(vocabSize - 4);
    tokensEda[i] = 4 + rng.int(vocabSize - 4);
    tokensMasked[i] = tokens[i] as number;
    if (rng.next() < 0.15) {
      mlmLabels[i] = tokens[i] as number;
      tokensMasked[i] = 3; // [MASK]
    }
  }
  const eot = new Int32Array(size);
  for (let b = 0; b < size; b++) eot[b] = 4 + rng.int(contextLength - 4);
  return {
    size,
    imageSize,
    images1,
    images2,
    contextLength,
    tokens,
    tokensEda,
    tokensMasked,
    mlmLabels,
    eot,
    eotEda: eot.slice(),
    labels: new Int32Array(size).fill(-1),
    keys: Array.from({ length: size }, (_, i) => `bench-${i}`),
    position: { epoch: 0, samplesBefore: 0, batchIndex: 0, resumeFrom: { epoch: 0, skipSamples: 0 } },
  };
}

/** Learning rate of every benchmark step. */
const LR = 1e-3;

function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? Number.NaN;
}

function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

/**
 * Run the benchmark in this process (selects the backend first).
 *
 * @example
 * ```ts
 * const r = await runTrainBench({ config: 'tiny', batch: 64, steps: 6 });
 * console.log(r.msPerStep, r.backend);
 * ```
 */
export async function runTrainBench(options: TrainBenchOptions = {}): Promise<TrainBenchResult> {
  const configName = expectOneOf('config', options.config ?? 'tiny', BENCH_CONFIGS);
  const batch = expectInteger('batch', options.batch ?? 64, 2, 4096);
  const steps = expectInteger('steps', options.steps ?? 6, 2, 100000);
  const seed = expectInteger('seed', options.seed ?? 0, 0, 4294967295);
  const log = options.log ?? (() => undefined);
  const threadsOption = options.threads ?? 'auto';
  if (threadsOption !== 'auto') expectInteger('threads', threadsOption, 1, batch);
  const selected = await selectBackend({ backend: options.backend ?? 'auto', log });
  const threads = resolveThreads(threadsOption, batch);
  const preset = modelPresets[configName];
  // One setup for every thread count: the training config's seeds, clipping and AdamW.
  const config = resolveTrainConfig({
    model: configName,
    mode: 'declip',
    batch,
    steps,
    seed,
    // AdamW as the PyTorch reference: betas (0.9, 0.98), weight decay 0.1, no clipping.
    optimizer: { lr: LR, weightDecay: 0.1, beta1: 0.9, beta2: 0.98, clipGradNorm: null },
    compute: { threads },
  });
  const started = performance.now();
  const engine = await createEngine(config, { threads, log });
  const startupMs = performance.now() - started;
  const rng = new Rng(seed + 2);
  const stepMs: number[] = [];
  const cpu: number[] = [];
  const losses: number[] = [];
  try {
    for (let s = 0; s < steps; s++) {
      const data = randomBatch(rng, batch, preset.vision.imageSize, preset.text.contextLength, preset.text.vocabSize);
      const t0 = performance.now();
      const c0 = cpuMs();
      const values = await engine.microStep(data);
      await engine.update(LR);
      const ms = performance.now() - t0;
      cpu.push(cpuMs() - c0);
      stepMs.push(ms);
      losses.push(values.total);
      log(`step ${s + 1} loss ${values.total.toFixed(4)} ms ${ms.toFixed(0)}`);
    }
  } catch (err) {
    if (err instanceof Error && err.name === 'RuntimeError') {
      throw new BackendError(
        selected.name,
        `The ${selected.name} backend failed during a ${configName} step at batch ${batch} (${err.message}); ` +
          'the usual cause is the 4 GiB limit of the wasm heap: try a smaller --batch',
        { cause: err },
      );
    }
    throw err;
  } finally {
    await engine.close();
  }
  return {
    msPerStep: median(stepMs.slice(1)),
    cpuMsPerStep: median(cpu.slice(1)),
    backend: selected.name,
    threads: engine.threads,
    config: configName,
    batch,
    steps,
    stepMs,
    losses,
    adapter: selected.adapter ?? null,
    startupMs,
  };
}

interface BenchTrainFlags {
  config: string;
  batch: string;
  steps: string;
  backend: string;
  seed: string;
  threads: string;
  json?: boolean;
}

/** `declip bench train` on the `bench` command. */
export function registerBenchTrain(parent: Command): void {
  parent
    .command('train')
    .description('time DeCLIP training steps (forward, backward, AdamW) on random data; median ms/step over steps 2..N')
    .option('--config <name>', `model size: ${BENCH_CONFIGS.join(' | ')}`, 'tiny')
    .option('--batch <n>', 'batch size', '64')
    .option('--steps <n>', 'steps to run (the first is left out of the median)', '6')
    .option('--backend <name>', `auto | ${BACKEND_NAMES.join(' | ')}`, 'auto')
    .option('--seed <n>', 'seed for the model and the random data', '0')
    .option('--threads <n|auto>', 'compute threads: data-parallel model replicas in worker threads (auto: the core count on wasm/cpu)', 'auto')
    .option('--json', 'print a JSON summary as the last line')
    .action(async (flags: BenchTrainFlags) => {
      const backend = expectOneOf('backend', flags.backend, ['auto', ...BACKEND_NAMES] as const);
      const result = await runTrainBench({
        config: expectOneOf('config', flags.config, BENCH_CONFIGS),
        batch: Number(flags.batch),
        steps: Number(flags.steps),
        seed: Number(flags.seed),
        backend,
        threads: parseThreads(flags.threads) ?? 'auto',
        log: (line) => process.stderr.write(line + '\n'),
      });
      process.stdout.write(
        `declip-ts ${result.config} batch ${result.batch} on ${result.backend} x ${result.threads} thread${result.threads === 1 ? '' : 's'}: median step ms ${result.msPerStep.toFixed(1)} ` +
          `(cpu ${result.cpuMsPerStep.toFixed(1)} ms) over steps 2..${result.steps}\n`,
      );
      if (flags.json === true) {
        const { msPerStep, backend: name, threads, config, batch, steps, cpuMsPerStep, stepMs, losses, adapter, startupMs } = result;
        const round = (x: number): number => Math.round(x * 10) / 10;
        process.stdout.write(
          JSON.stringify({ msPerStep: round(msPerStep), backend: name, threads, config, batch, steps, cpuMsPerStep: round(cpuMsPerStep), stepMs: stepMs.map(round), losses, adapter, startupMs: round(startupMs) }) + '\n',
        );
      }
    });
}
