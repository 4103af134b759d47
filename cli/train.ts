/**
 * `declip train --config FILE|PRESET --shards URL [--steps N] [--batch B] [--seed S]
 * [--checkpoint-every K] [--out DIR] [--resume] [--backend NAME] [--workers W] [--threads N|auto]
 * [--on-shard-error throw|warn|skip] [--allow-pipe-from-files]`
 *
 * Contract:
 * - metrics as JSON lines in `DIR/metrics.jsonl`, one per optimizer step with at least
 *   `step` (1-based), `loss` (total) and each term (`clip`, `nns`, `simsiam`, `mlm`), plus
 *   `lr`, `logitScale`, `samplesPerSecond`, `dataWaitMs`; lines without `step` are events;
 *   a later line for a step supersedes an earlier one (after a resume);
 * - checkpoints in `DIR/checkpoints/step-NNNNNN/` (+ `latest`), every K steps, at the end,
 *   and on SIGINT/SIGTERM (the current step finishes, a checkpoint is written, exit 130/143);
 * - `--resume` continues from the newest checkpoint in DIR, with the tokenizer the run
 *   trained (`DIR/tokenizer.json`, trained on the shards' captions on a fresh start); it
 *   refuses a config that changes the stream or the model (trainer/checkpoint/resume.ts);
 * - a shard that cannot be opened ends the run non-zero naming its URL unless
 *   `--on-shard-error warn|skip`; `pipe:` shards of a config file need `--allow-pipe-from-files`;
 * - plots (`loss.svg`, `lr.svg`, `logit-scale.svg`, `throughput.svg`) next to the metrics.
 */
import { access, mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { type Command, Option } from 'commander';
import { ConfigError, InvalidOptionError } from '../core/errors.js';
import { expectInteger } from '../core/validate.js';
import { assertNoPipeFromFile, type ErrorPolicy, readSamples } from '../datasets/reader/index.js';
import { decodeCaption } from '../augment/text/caption.js';
import { CaptionTokenizer, NUM_SPECIAL_TOKENS, BYTE_ALPHABET_SIZE } from '../augment/text/tokenizer.js';
import { createPipeline } from '../pipeline/pipeline.js';
import { IMAGE_PRESETS } from '../augment/image/presets.js';
import { BACKEND_NAMES, type BackendChoice, selectBackend } from '../trainer/backend/select.js';
import { loadTrainConfig, type TrainConfig } from '../trainer/config.js';
import { type OpenBatches, runSeeds, train, type TrainResult } from '../trainer/loop.js';
import { presetNames } from '../trainer/models/config.js';
import { parseThreads } from './bench-train.js';
import { allowPipeFromFilesOption, onShardErrorOption } from './reliability-options.js';

/** Captions read to train a run's tokenizer (a bound: the rest of the data is not read). */
export const TOKENIZER_MAX_CAPTIONS = 200_000;
/** The tokenizer file of a run, relative to its folder. */
export const RUN_TOKENIZER = 'tokenizer.json';

export interface TrainCommandOptions {
  readonly config?: string;
  readonly shards?: string;
  readonly steps?: string | number;
  readonly batch?: string | number;
  readonly seed?: string | number;
  readonly checkpointEvery?: string | number;
  readonly out?: string;
  readonly resume?: boolean;
  readonly backend?: BackendChoice;
  readonly workers?: string | number;
  /** Compute threads (`auto` or N): data-parallel model replicas in worker threads. */
  readonly threads?: string | number;
  /** Shards that cannot be opened: throw (default), warn, skip. */
  readonly onShardError?: ErrorPolicy;
  /** Let a config file's shards be pipe: commands. */
  readonly allowPipeFromFiles?: boolean;
}

function int(name: string, value: string | number | undefined, min: number): number | undefined {
  if (value === undefined) return undefined;
  const n = typeof value === 'number' ? value : /^-?\d+$/.test(value.trim()) ? Number(value) : Number.NaN;
  return expectInteger(name, n, min);
}

/**
 * The run's tokenizer: `runDir/tokenizer.json` when it exists (a resumed run reuses it),
 * else one trained on the captions of `shards` (at most {@link TOKENIZER_MAX_CAPTIONS})
 * with the model's vocabulary size, saved there.
 */
export async function prepareRunTokenizer(
  runDir: string,
  shards: readonly string[],
  vocabSize: number,
  log: (line: string) => void,
  signal?: AbortSignal,
  onShardError: ErrorPolicy = 'throw',
): Promise<string> {
  const file = join(runDir, RUN_TOKENIZER);
  try {
    await access(file);
    const tok = await CaptionTokenizer.load(file);
    if (tok.vocabSize > vocabSize) throw new ConfigError(`The run's tokenizer ${file} has ${tok.vocabSize} tokens, more than the model's vocabulary (${vocabSize})`, { path: 'vocabSize', file });
    log(`tokenizer: ${file} (${tok.vocabSize} tokens, reused)`);
    return file;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const learned = vocabSize - NUM_SPECIAL_TOKENS;
  if (learned < BYTE_ALPHABET_SIZE) {
    throw new ConfigError(`Invalid config: vocabSize: Expected at least ${BYTE_ALPHABET_SIZE + NUM_SPECIAL_TOKENS} (byte alphabet + specials) but received ${vocabSize}`, { path: 'vocabSize' });
  }
  await mkdir(runDir, { recursive: true });
  const reader = readSamples({ urls: shards, onError: 'skip', onShardError, ...(signal === undefined ? {} : { signal }) });
  let count = 0;
  async function* captions(): AsyncGenerator<string> {
    try {
      for await (const sample of reader) {
        const txt = sample.files['txt'];
        if (txt === undefined) continue;
        try {
          yield decodeCaption(txt);
        } catch {
          continue; // not UTF-8: the pipeline reports it when it meets the sample
        }
        if (++count >= TOKENIZER_MAX_CAPTIONS) break;
      }
    } finally {
      await reader.close();
    }
  }
  const tok = await CaptionTokenizer.train(captions(), { vocabSize: learned, signal });
  await tok.save(file);
  log(`tokenizer: trained on ${count} captions, ${tok.vocabSize} tokens, saved to ${file}`);
  return file;
}

/** The batch stream of a run, opened at a position (for `train`'s `openBatches`). */
export function trainBatches(config: TrainConfig, shards: readonly string[], tokenizerFile: string, log: (line: string) => void): OpenBatches {
  return (start) => {
    const pipeline = createPipeline({
      shards,
      tokenizerFile,
      batchSize: config.batch,
      imageSize: config.model.vision.imageSize,
      contextLength: config.model.text.contextLength,
      workers: config.data.workers,
      prefetch: config.data.prefetch,
      shuffleBuffer: config.data.shuffleBuffer,
      seed: runSeeds(config.seed).pipeline,
      epochs: Infinity,
      startEpoch: start.epoch,
      skipSamples: start.skipSamples,
      onError: config.data.onError,
      onShardError: config.data.onShardError,
      onWarn: (err) => log(`data: ${err.message}`),
      ...(config.data.augment === 'mocov2' ? {} : { workerExtra: { imageTransform: IMAGE_PRESETS[config.data.augment]({ size: config.model.vision.imageSize }) } }),
    });
    return pipeline;
  };
}

export interface RunTrainingOptions {
  readonly config: TrainConfig;
  readonly runDir: string;
  readonly resume?: boolean;
  readonly signal?: AbortSignal;
  readonly log?: (line: string) => void;
  readonly progressStream?: NodeJS.WriteStream;
}

/** Tokenizer + pipeline + loop: what `declip train` runs (the backend must be selected first). */
export async function runTraining(options: RunTrainingOptions): Promise<TrainResult> {
  const { config } = options;
  const log = options.log ?? (() => undefined);
  const shards = config.data.shards;
  if (shards.length === 0) throw new InvalidOptionError('shards', 'Expected shard URLs for --shards (or data.shards in the config) but received none');
  const runDir = resolve(options.runDir);
  const tokenizerFile = await prepareRunTokenizer(runDir, shards, config.model.text.vocabSize, log, options.signal, config.data.onShardError);
  return train({
    config,
    runDir,
    openBatches: trainBatches(config, shards, tokenizerFile, log),
    resume: options.resume ?? false,
    tokenizer: RUN_TOKENIZER,
    log,
    ...(options.signal === undefined ? {} : { signal: options.signal }),
    ...(options.progressStream === undefined ? {} : { progressStream: options.progressStream }),
  });
}

/** `declip train` without commander (tests call it directly). Returns the exit code. */
export async function runTrainCommand(opts: TrainCommandOptions): Promise<number> {
  const overrides: Record<string, unknown> = {};
  const steps = int('--steps', opts.steps, 1);
  const batch = int('--batch', opts.batch, 1);
  const seed = int('--seed', opts.seed, 0);
  const every = int('--checkpoint-every', opts.checkpointEvery, 0);
  const workers = int('--workers', opts.workers, 1);
  if (steps !== undefined) overrides.steps = steps;
  if (batch !== undefined) overrides.batch = batch;
  if (seed !== undefined) overrides.seed = seed;
  if (every !== undefined) overrides.checkpointEvery = every;
  const data: Record<string, unknown> = {};
  if (opts.shards !== undefined) data.shards = [opts.shards];
  if (workers !== undefined) data.workers = workers;
  if (opts.onShardError !== undefined) data.onShardError = opts.onShardError;
  if (opts.allowPipeFromFiles === true) data.allowPipeFromFiles = true;
  if (Object.keys(data).length > 0) overrides.data = data;
  const threads = parseThreads(opts.threads);
  if (threads !== undefined) overrides.compute = { threads };
  const config = await loadTrainConfig(opts.config ?? 'tiny', overrides);
  if (config.data.shards.length === 0) throw new InvalidOptionError('shards', 'Expected shard URLs for --shards (or data.shards in the config) but received none');
  // Shards typed on the command line are the user's; those of a config file are the file's.
  if (opts.shards === undefined && opts.config !== undefined && !(presetNames as readonly string[]).includes(opts.config)) {
    assertNoPipeFromFile(config.data.shards, 'data.shards', opts.config, config.data.allowPipeFromFiles);
  }
  const log = (line: string): void => void process.stderr.write(`declip: ${line}\n`);
  await selectBackend({ backend: opts.backend ?? 'auto', log });
  const controller = new AbortController();
  let received: NodeJS.Signals | undefined;
  const onSignal = (sig: NodeJS.Signals): void => {
    if (received !== undefined) return;
    received = sig;
    log(`${sig}: finishing the current step, then writing a checkpoint`);
    controller.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const runDir = opts.out ?? join('out', `train-${config.modelName}-${config.mode}`);
    const result = await runTraining({ config, runDir, resume: opts.resume ?? false, signal: controller.signal, log, progressStream: process.stderr });
    const last = result.last;
    log(
      `${result.stopped}: step ${result.step}/${config.steps}${last === undefined ? '' : `, loss ${last.loss.toFixed(4)}`}; metrics ${result.metricsPath}; checkpoint ${result.checkpoint}`,
    );
    if (result.stopped === 'aborted') {
      log('resume with --resume');
      return received === 'SIGTERM' ? 143 : 130;
    }
    return 0;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/** Register `declip train`. */
export function registerTrain(program: Command): void {
  program
    .command('train')
    .description('train a DeCLIP (or CLIP baseline) model on WebDataset shards')
    .option('--config <file|preset>', 'training config: a JSON file or a preset (tiny, small, rn50, vitb32)', 'tiny')
    .option('--shards <url>', 'training shards (brace patterns, :: lists, http(s), pipe:)')
    .option('--steps <n>', 'optimizer steps')
    .option('--batch <b>', 'samples per batch')
    .option('--seed <s>', 'seed of the model, the NN queue and the data order')
    .option('--checkpoint-every <k>', 'write a checkpoint every K steps (0: only at the end)')
    .option('--out <dir>', 'output folder (metrics.jsonl, checkpoints/, tokenizer.json, plots)')
    .option('--resume', 'continue from the newest checkpoint in --out')
    .addOption(new Option('--backend <name>', 'TensorFlow.js backend').choices(['auto', ...BACKEND_NAMES]).default('auto'))
    .option('--workers <n>', 'augmentation worker threads')
    .option('--threads <n|auto>', 'compute threads: data-parallel model replicas, exactly the one-thread update (auto: the core count on wasm/cpu)')
    .addOption(onShardErrorOption())
    .addOption(allowPipeFromFilesOption())
    .action(async (opts: TrainCommandOptions) => {
      process.exitCode = await runTrainCommand(opts);
    });
}
