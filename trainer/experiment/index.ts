/**
 * The CLIP-vs-DeCLIP comparison that `declip experiment` and `declip demo` (`npm start`)
 * run: make the data (train pairs per size, a validation split carved from the training
 * data, the test split), train every row on the same pairs once per seed, evaluate each
 * run on the test split (choices on validation), and write the report.
 *
 * A run whose folder already holds a `scores.json` with the same key (row, seed, size,
 * the training-relevant config fields and the training shards' content: run-key.ts) is
 * not trained again (pass `force`), so a long experiment can be extended seed by seed and
 * resumed after an interruption.
 *
 * @example
 * ```ts
 * await runExperiment({ dataset: 'fashion-mnist', rows: ['clip', 'declip'], seeds: [0, 1, 2] }, io, runTraining);
 * ```
 */
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Writable } from 'node:stream';
import { InvalidOptionError } from '../../core/errors.js';
import { expectInteger, expectOneOf } from '../../core/validate.js';
import { FASHION_MNIST_DEFAULT_DIR } from '../../datasets/convert/index.js';
import { BACKEND_NAMES, type BackendChoice, selectBackend } from '../backend/select.js';
import { ERROR_POLICIES, type ErrorPolicy } from '../../datasets/reader/index.js';
import { resolveTrainConfig, TRAIN_PRESETS, type TrainConfig, type TrainConfigInput } from '../config.js';
import type { TrainResult } from '../loop.js';
import { createSets, EXPERIMENT_DATASETS, type ExperimentDataOptions, type ExperimentDataset, experimentSets, printSetStats, readBackFailed, readBackSets, setUrls } from './data.js';
import { evalTasks, evaluateRun, LabelCache, type RunScores } from './evaluate.js';
import { writeReport, jsonSummary } from './report.js';
import { EXPERIMENT_ROWS, type ExperimentRow, rowConfig } from './rows.js';
import { type RunKeyParts, runKey, savedKeyMatches } from './run-key.js';
import { type ExperimentRun, summariseSize } from './summary.js';

export * from './data.js';
export * from './evaluate.js';
export * from './report.js';
export * from './rows.js';
export * from './run-key.js';
export * from './stats.js';
export * from './summary.js';

/**
 * The comparison's training config: the `tiny` preset with settings for a few hundred
 * steps on a few thousand small pairs (docs/results.md): a 4x higher peak lr (2e-3, 10
 * warm-up steps), the `light` augmentation (the MoCo v2 recipe's grayscale, hue jitter and
 * flips contradict captions that name colours and sides), and a 256-entry NN queue (4096
 * would hold random initial vectors for the first 128 steps at batch 32).
 */
export const EXPERIMENT_TRAIN_CONFIG: TrainConfigInput = Object.freeze({
  ...TRAIN_PRESETS.tiny,
  optimizer: { lr: 2e-3, warmupStartLr: 1e-4, warmupSteps: 10, weightDecay: 0.1, clipGradNorm: 1 },
  loss: { queueSize: 256 },
  data: { augment: 'light' as const },
});

/** Options of {@link runExperiment}. */
export interface ExperimentOptions {
  /** Output folder. */
  readonly out?: string;
  readonly dataset?: ExperimentDataset;
  /** Fashion-MNIST IDX folder. Default {@link FASHION_MNIST_DEFAULT_DIR}. */
  readonly input?: string;
  /** Rows, in order. Default clip, declip. */
  readonly rows?: readonly ExperimentRow[];
  /** Training seeds. Default 0..4. */
  readonly seeds?: readonly number[];
  /** Training-set sizes (several: the data-size curve). */
  readonly trainPairs?: readonly number[];
  /** Optimizer steps of a run (`clip-2x`: twice). 0: make and read the data only. */
  readonly steps?: number;
  readonly batch?: number;
  /** Validation pairs (carved from the training data). */
  readonly validation?: number;
  /** Test pairs (Fashion-MNIST: capped at 10,000, the whole split). */
  readonly test?: number;
  /** Data seed (Fashion-MNIST: captions). Default 0. */
  readonly dataSeed?: number;
  readonly maxCount?: number;
  /** Synthetic image side. */
  readonly imageSize?: number;
  /** Rebuild the shards and retrain every run. */
  readonly force?: boolean;
  /** Training pairs the linear probe is fitted on (at most). */
  readonly probeTrain?: number;
  /** Test pairs retrieval is scored over (the first ones). */
  readonly retrievalPairs?: number;
  /** Wall-clock budget of all training in minutes: a run still going at its share stops (checkpointed) and is evaluated. Default: none. */
  readonly budgetMinutes?: number;
  /** Training config the rows start from. Default {@link EXPERIMENT_TRAIN_CONFIG}. */
  readonly trainConfig?: TrainConfigInput;
  /** Log prefix and report title (`declip experiment`, `declip demo`). */
  readonly title?: string;
  /** Read every shard back and print the data statistics (the demo). */
  readonly readBack?: boolean;
  /** Train nothing: report the runs already scored in `out` (an unfinished experiment's state). */
  readonly scoredOnly?: boolean;
  /** TensorFlow.js backend of the training and evaluation (default `auto`, see trainer/backend/select.ts). */
  readonly backend?: BackendChoice;
  /** A shard that cannot be opened while training or evaluating: throw (default), warn or skip (docs/shard-format.md). */
  readonly onShardError?: ErrorPolicy;
}

/** The defaults of {@link ExperimentOptions}: the documented Fashion-MNIST experiment (docs/results.md). */
export const experimentDefaults: Omit<ResolvedExperimentOptions, 'trainConfig' | 'budgetMinutes'> = Object.freeze({
  out: join('out', 'experiment'),
  dataset: 'fashion-mnist',
  input: FASHION_MNIST_DEFAULT_DIR,
  rows: ['clip', 'declip'] as const,
  seeds: [0, 1, 2, 3, 4],
  trainPairs: [2000],
  steps: 200,
  batch: 32,
  validation: 2000,
  test: 10_000,
  dataSeed: 0,
  maxCount: 1000,
  imageSize: 64,
  force: false,
  probeTrain: 5000,
  retrievalPairs: 1000,
  title: 'declip experiment',
  readBack: false,
  scoredOnly: false,
  backend: 'auto',
  onShardError: 'throw',
});

/** Resolved {@link ExperimentOptions}: the data step's options and the rest. */
export interface ResolvedExperimentOptions extends ExperimentDataOptions {
  readonly rows: readonly ExperimentRow[];
  readonly seeds: readonly number[];
  readonly steps: number;
  readonly batch: number;
  readonly probeTrain: number;
  readonly retrievalPairs: number;
  readonly title: string;
  readonly readBack: boolean;
  readonly scoredOnly: boolean;
  readonly backend: BackendChoice;
  readonly onShardError: ErrorPolicy;
  readonly trainConfig: TrainConfigInput;
  readonly budgetMinutes: number | undefined;
}

/** Validate {@link ExperimentOptions}. */
export function resolveExperimentOptions(options: ExperimentOptions = {}): ResolvedExperimentOptions {
  const d = experimentDefaults;
  const dataset = expectOneOf('dataset', options.dataset ?? d.dataset, EXPERIMENT_DATASETS);
  const rows = options.rows ?? d.rows;
  for (const r of rows) expectOneOf('rows', r, EXPERIMENT_ROWS);
  if (new Set(rows).size !== rows.length) throw new InvalidOptionError('rows', `Expected distinct rows but received ${rows.join(',')}`);
  const seeds = options.seeds ?? d.seeds;
  if (seeds.length === 0 || new Set(seeds).size !== seeds.length) throw new InvalidOptionError('seeds', `Expected distinct seeds but received ${seeds.join(',')}`);
  const trainPairs = [...new Set(options.trainPairs ?? d.trainPairs)].sort((a, b) => a - b);
  for (const n of trainPairs) expectInteger('trainPairs', n, 1);
  return {
    out: options.out ?? d.out,
    dataset,
    input: options.input ?? d.input,
    rows,
    seeds: seeds.map((s) => expectInteger('seeds', s, 0)),
    trainPairs,
    steps: expectInteger('steps', options.steps ?? d.steps, 0),
    batch: expectInteger('batch', options.batch ?? d.batch, 1),
    validation: expectInteger('validation', options.validation ?? d.validation, 1),
    test: expectInteger('test', options.test ?? d.test, 1),
    dataSeed: expectInteger('dataSeed', options.dataSeed ?? d.dataSeed, 0),
    maxCount: expectInteger('maxCount', options.maxCount ?? d.maxCount, 1),
    imageSize: expectInteger('imageSize', options.imageSize ?? d.imageSize, 16),
    force: options.force ?? d.force,
    probeTrain: expectInteger('probeTrain', options.probeTrain ?? d.probeTrain, 1),
    retrievalPairs: expectInteger('retrievalPairs', options.retrievalPairs ?? d.retrievalPairs, 1),
    title: options.title ?? d.title,
    readBack: options.readBack ?? d.readBack,
    scoredOnly: options.scoredOnly ?? d.scoredOnly,
    backend: expectOneOf('backend', options.backend ?? d.backend, ['auto', ...BACKEND_NAMES] as const),
    onShardError: expectOneOf('onShardError', options.onShardError ?? d.onShardError, ERROR_POLICIES),
    trainConfig: options.trainConfig ?? EXPERIMENT_TRAIN_CONFIG,
    budgetMinutes: options.budgetMinutes,
  };
}

/** Runs one training (the CLI passes `runTraining`: tokenizer + pipeline + loop). */
export type TrainRunner = (options: {
  readonly config: TrainConfig;
  readonly runDir: string;
  readonly signal?: AbortSignal;
  readonly log?: (line: string) => void;
  readonly progressStream?: NodeJS.WriteStream;
}) => Promise<TrainResult>;

/** Where a comparison writes. */
export interface ExperimentIo {
  readonly stdout: Writable;
  readonly stderr: Writable;
}

/** What {@link runExperiment} resolves to. */
export interface ExperimentResult {
  /** 0, or 1 when reading the data back found errors. */
  readonly code: number;
  readonly runs: readonly ExperimentRun[];
  /** The `--json` summary (undefined when nothing was trained). */
  readonly summary: Record<string, unknown> | undefined;
}

/** The folder of one run. */
export function runDir(out: string, row: ExperimentRow, seed: number, trainPairs: number): string {
  return join(out, 'runs', String(trainPairs), `${row}-seed${seed}`);
}

interface SavedScores {
  readonly key: string;
  readonly steps: number;
  readonly plannedSteps: number;
  readonly stopped: string;
  readonly seconds: number;
  readonly scores: RunScores;
}

async function savedScores(dir: string, key: string, parts: RunKeyParts, shardPaths: readonly string[]): Promise<SavedScores | undefined> {
  try {
    const saved = JSON.parse(await readFile(join(dir, 'scores.json'), 'utf8')) as SavedScores;
    return saved.stopped === 'completed' && savedKeyMatches(saved.key, key, parts, shardPaths) ? saved : undefined;
  } catch {
    return undefined;
  }
}

/** Run the comparison. */
export async function runExperiment(options: ExperimentOptions, io: ExperimentIo, trainRunner: TrainRunner): Promise<ExperimentResult> {
  const o = resolveExperimentOptions(options);
  const startedAt = performance.now();
  const log = (line: string): void => void io.stderr.write(`${o.title}: ${line}\n`);
  const sets = await experimentSets(o);
  await createSets(sets, o, log);
  if (o.readBack) {
    await readBackSets(sets);
    printSetStats(sets, o, o.title, io.stdout);
  }
  const code = readBackFailed(sets) ? 1 : 0;
  if (o.steps === 0 || o.rows.length === 0) return { code, runs: [], summary: undefined };

  const validation = await setUrls(sets.find((s) => s.role === 'validation') ?? fail('validation'));
  const testSet = sets.find((s) => s.role === 'test');
  const test = await setUrls(testSet ?? fail('test'));
  await selectBackend({ backend: o.backend, log });
  const labels = new LabelCache();
  const runs: ExperimentRun[] = [];
  const plan = o.trainPairs.flatMap((n) => o.seeds.flatMap((seed) => o.rows.map((row) => ({ n, seed, row }))));
  const budgetMs = o.budgetMinutes === undefined ? undefined : o.budgetMinutes * 60_000;
  for (const [i, { n, seed, row }] of plan.entries()) {
    const trainSet = sets.find((s) => s.role === 'train' && s.pairs === n) ?? fail(`train-${n}`);
    const train = await setUrls(trainSet);
    const input = rowConfig(row, o.trainConfig, o.steps);
    const config = resolveTrainConfig({ ...input, batch: o.batch, seed, checkpointEvery: 0, data: { ...(input.data ?? {}), shards: [...train], onShardError: o.onShardError } });
    const dir = runDir(o.out, row, seed, n);
    const keyParts: RunKeyParts = {
      row,
      seed,
      trainPairs: n,
      config,
      shards: (trainSet.index ?? fail(`train-${n}`)).shards.map((s) => s.sha256),
      evaluation: { test: o.test, validation: o.validation, dataSeed: o.dataSeed, probeTrain: o.probeTrain, retrievalPairs: o.retrievalPairs },
    };
    const key = runKey(keyParts);
    const saved = o.force ? undefined : await savedScores(dir, key, keyParts, train);
    if (saved !== undefined) {
      runs.push({ row, seed, trainPairs: n, dir, steps: saved.steps, plannedSteps: saved.plannedSteps, stopped: saved.stopped, seconds: saved.seconds, scores: saved.scores, reused: true });
      log(`${row}, seed ${seed}, ${n} pairs: reused ${join(dir, 'scores.json')}`);
      continue;
    }
    if (o.scoredOnly) {
      log(`${row}, seed ${seed}, ${n} pairs: not scored yet (--scored-only: left out)`);
      continue;
    }
    await rm(dir, { recursive: true, force: true });
    // With a budget, share what is left between the runs still to go, keeping 45 s each for evaluation.
    const left = plan.length - i;
    const shareMs = budgetMs === undefined ? undefined : Math.max(20_000, (budgetMs - (performance.now() - startedAt) - 45_000 * left) / left);
    log(`[${i + 1}/${plan.length}] training ${row}, seed ${seed}, ${n} pairs (${config.modelName}, ${config.steps} steps of ${config.batch}${shareMs === undefined ? '' : `; time share ${(shareMs / 60_000).toFixed(1)} min`}) in ${dir}`);
    const started = performance.now();
    const stderr = io.stderr as NodeJS.WriteStream;
    const result = await trainRunner({
      config,
      runDir: dir,
      log,
      ...(shareMs === undefined ? {} : { signal: AbortSignal.timeout(Math.round(shareMs)) }),
      ...(stderr.isTTY === true ? { progressStream: stderr } : {}),
    });
    const seconds = (performance.now() - started) / 1000;
    const scores = await evaluateRun(dir, o.dataset, { train, validation, test, probeTrain: o.probeTrain, retrievalPairs: o.retrievalPairs, onShardError: o.onShardError }, labels);
    const run: ExperimentRun = { row, seed, trainPairs: n, dir, steps: result.step, plannedSteps: config.steps, stopped: result.stopped, seconds, scores, reused: false };
    runs.push(run);
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'scores.json'), JSON.stringify({ key, steps: run.steps, plannedSteps: run.plannedSteps, stopped: run.stopped, seconds, scores } satisfies SavedScores) + '\n');
    const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
    log(
      `${row}, seed ${seed}, ${n} pairs: ${result.step} steps (${result.stopped}) in ${seconds.toFixed(0)} s; ` +
        Object.entries(scores.tasks).map(([t, s]) => `${t} zero-shot ${pct(s.zeroShotTop1)} / probe ${pct(s.linearProbe)}`).join(', ') +
        `, i2t R@1 ${pct(scores.i2tR1)} (${((performance.now() - started) / 1000 - seconds).toFixed(0)} s evaluation)`,
    );
  }
  const sizes = o.trainPairs.map((n) => summariseSize(runs, n, o.rows));
  const tasks = evalTasks(o.dataset);
  const trainConfig = resolveTrainConfig({ ...o.trainConfig, steps: Math.max(1, o.steps), batch: o.batch });
  const lines = await writeReport(runs, sizes, {
    title: o.title,
    out: o.out,
    dataLine:
      o.dataset === 'fashion-mnist'
        ? `Fashion-MNIST (${o.input}, caption seed ${o.dataSeed}): the first ${o.trainPairs.join(', ')} images of the train split as training pairs, its last ${o.validation} images as the validation split, the first ${testSet?.count ?? o.test} test images as the test split (10 classes, 28 px greyscale).`
        : `Built-in synthetic shapes (data seed ${o.dataSeed}, ${o.imageSize} px): ${o.trainPairs.join(', ')} training pairs, ${o.validation} validation and ${o.test} test pairs; zero-shot tasks: ${tasks.map((t) => t.name).join(', ')} (${tasks[0]?.name ?? ''} first: what the model learns in a short run).`,
    setupLine: `Every row: model ${trainConfig.modelName} (${trainConfig.model.vision.imageSize} px input), ${o.steps} steps (clip-2x: ${2 * o.steps}) of ${o.batch} pairs, peak lr ${trainConfig.optimizer.lr}, ${trainConfig.optimizer.warmupSteps} warm-up steps, ${o.trainConfig.data?.augment ?? 'mocov2'} augmentation, NN queue ${trainConfig.loss.queueSize}; only the losses differ.`,
    tasks,
    rows: o.rows,
    seeds: o.seeds,
    testPairs: runs[0]?.scores.n ?? o.test,
    retrievalPairs: runs[0]?.scores.retrievalN ?? o.retrievalPairs,
    options: { ...o, trainConfig: o.trainConfig },
  });
  io.stdout.write(lines.join('\n') + '\n');
  return { code, runs, summary: jsonSummary(sizes, o.seeds) };
}

function fail(what: string): never {
  throw new InvalidOptionError('out', `The ${what} shards are missing`);
}
