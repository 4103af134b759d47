/**
 * `declip demo` (what `npm start` runs): the CLIP-vs-DeCLIP comparison of
 * trainer/experiment on the built-in synthetic data (or Fashion-MNIST with `--data`):
 * make the train, validation and test shards in `./out/demo`, print their statistics from
 * the sidecar indexes and from reading every shard back, then (with `--steps`) train the
 * `tiny` model per row on the same pairs within a wall-clock budget (11 minutes per seed by
 * default, so the whole demo stays within 15 on a 2-core CPU), evaluate each run on the
 * test shards and write `report.md`, `results.json` and plots.
 *
 * On the synthetic data the report leads with the colour zero-shot task (what the model
 * learns in the demo's budget) and also reports the shape task. Shards already there with
 * the same parameters are reused (use `--force` to rebuild).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Writable } from 'node:stream';
import type { Command } from 'commander';
import { InvalidOptionError } from '../core/errors.js';
import { expectOneOf } from '../core/validate.js';
import { FASHION_MNIST_DEFAULT_DIR } from '../datasets/convert/index.js';
import { BACKEND_NAMES, type BackendChoice } from '../trainer/backend/select.js';
import { loadTrainConfig, TRAIN_PRESETS, type TrainConfigInput } from '../trainer/config.js';
import { EXPERIMENT_DATASETS, type ExperimentOptions, type ExperimentRow, runExperiment } from '../trainer/experiment/index.js';
import { presetNames, type PresetName } from '../trainer/models/config.js';
import { parseRows } from './experiment.js';
import { parseIntegerOption } from './shards-create.js';
import { runTraining } from './train.js';

/** Options of {@link runDemo}. */
export interface DemoOptions {
  /** Output folder. Default `out/demo`. */
  readonly out?: string;
  /** `synthetic` (the default: built-in shapes) or `fashion-mnist`. */
  readonly data?: (typeof EXPERIMENT_DATASETS)[number];
  /** Folder with the Fashion-MNIST IDX files. Default {@link FASHION_MNIST_DEFAULT_DIR}. */
  readonly input?: string;
  /** Training pairs. Default 2000. */
  readonly train?: number;
  /** Test pairs. Default 500. */
  readonly heldout?: number;
  /** Validation pairs (the probe's choices). Default 500. */
  readonly validation?: number;
  /** Data seed (Fashion-MNIST: the caption seed). Default 0. */
  readonly seed?: number;
  /** Training seeds. Default `[seed]`. */
  readonly seeds?: readonly number[];
  readonly maxCount?: number;
  readonly imageSize?: number;
  readonly force?: boolean;
  /** Optimizer steps of each run (0, the default: make and read the data only; `npm start` passes 80). */
  readonly steps?: number;
  readonly batch?: number;
  /** Rows to train, in order. Default clip, declip. */
  readonly modes?: readonly ExperimentRow[];
  /** Wall-clock budget of all training in minutes. Default 11 per training seed. */
  readonly budgetMinutes?: number;
  readonly trainConfig?: TrainConfigInput;
  /** TensorFlow.js backend of the training and evaluation (default `auto`, see trainer/backend/select.ts). */
  readonly backend?: BackendChoice;
}

/** The defaults of {@link DemoOptions}. */
export const demoDefaults = Object.freeze({ out: join('out', 'demo'), train: 2000, heldout: 500, validation: 500, seed: 0, maxCount: 500, imageSize: 64, steps: 0, batch: 32, budgetMinutes: 11, probeTrain: 1000 });

/** The demo as experiment options. */
export function demoExperimentOptions(options: DemoOptions = {}): ExperimentOptions {
  const seed = options.seed ?? demoDefaults.seed;
  const seeds = options.seeds ?? [seed];
  return {
    title: 'declip demo',
    readBack: true,
    out: options.out ?? demoDefaults.out,
    dataset: expectOneOf('data', options.data ?? 'synthetic', EXPERIMENT_DATASETS),
    input: options.input ?? FASHION_MNIST_DEFAULT_DIR,
    trainPairs: [options.train ?? demoDefaults.train],
    test: options.heldout ?? demoDefaults.heldout,
    validation: options.validation ?? demoDefaults.validation,
    probeTrain: demoDefaults.probeTrain,
    dataSeed: seed,
    seeds,
    maxCount: options.maxCount ?? demoDefaults.maxCount,
    imageSize: options.imageSize ?? demoDefaults.imageSize,
    force: options.force ?? false,
    steps: options.steps ?? demoDefaults.steps,
    batch: options.batch ?? demoDefaults.batch,
    rows: options.modes ?? ['clip', 'declip'],
    budgetMinutes: options.budgetMinutes ?? demoDefaults.budgetMinutes * seeds.length,
    ...(options.trainConfig === undefined ? {} : { trainConfig: options.trainConfig }),
    ...(options.backend === undefined ? {} : { backend: options.backend }),
  };
}

/** Run the demo. Resolves to the exit code (non-zero when reading back found errors). */
export async function runDemo(options: DemoOptions = {}, io: { stdout: Writable; stderr: Writable } = { stdout: process.stdout, stderr: process.stderr }): Promise<number> {
  return (await runExperiment(demoExperimentOptions(options), io, runTraining)).code;
}

/** `--seeds 0,1,2` (distinct non-negative integers). */
export function parseSeedList(text: string): number[] {
  const seeds = text.split(',').map((x) => parseIntegerOption('--seeds', x.trim(), 0));
  if (seeds.length === 0 || new Set(seeds).size !== seeds.length) throw new InvalidOptionError('--seeds', `Expected distinct seeds like 0,1,2 for --seeds but received ${text}`);
  return seeds;
}

/** A `--config` value as a config input: a preset's settings or a JSON file (validated when the runs resolve it). */
export async function readTrainConfigInput(nameOrFile: string): Promise<TrainConfigInput> {
  if ((presetNames as readonly string[]).includes(nameOrFile)) return TRAIN_PRESETS[nameOrFile as PresetName];
  await loadTrainConfig(nameOrFile); // validates, with the file named in every error
  return JSON.parse(await readFile(nameOrFile, 'utf8')) as TrainConfigInput;
}

/** Register `declip demo`. */
export function registerDemo(parent: Command): void {
  parent
    .command('demo')
    .description('synthetic shards, then train the CLIP baseline and DeCLIP (tiny, CPU) and compare them on held-out data (npm start)')
    .option('--out <dir>', 'output folder', demoDefaults.out)
    .option('--data <name>', 'synthetic (built-in shapes) or fashion-mnist (train split for training, test split held out)', 'synthetic')
    .option('--input <dir>', `Fashion-MNIST IDX folder (--data fashion-mnist; default ${FASHION_MNIST_DEFAULT_DIR})`)
    .option('--train <n>', 'training pairs', String(demoDefaults.train))
    .option('--heldout <n>', 'test pairs', String(demoDefaults.heldout))
    .option('--validation <n>', 'validation pairs (carved from the training data; the probe is tuned on them)', String(demoDefaults.validation))
    .option('--seed <s>', 'dataset seed', String(demoDefaults.seed))
    .option('--max-count <n>', 'samples per shard', String(demoDefaults.maxCount))
    .option('--image-size <n>', 'image side in pixels', String(demoDefaults.imageSize))
    .option('--force', 'rebuild the shards and retrain')
    .option('--steps <n>', 'optimizer steps of each training run (0: data only)', String(demoDefaults.steps))
    .option('--batch <n>', 'samples per batch', String(demoDefaults.batch))
    .option('--modes <list>', 'rows to train (clip, clip+ss, clip+ss+mvs, declip, clip-2x)', 'clip,declip')
    .option('--budget-minutes <n>', `wall-clock budget of all training (default ${demoDefaults.budgetMinutes} per training seed)`)
    .option('--seeds <list>', 'training seeds, e.g. 0,1,2 (default: the data seed)')
    .option('--config <file|preset>', 'training config the runs start from (a preset name or a JSON file; steps, batch, seed and mode come from the demo)')
    .option('--backend <name>', `TensorFlow.js backend: auto | ${BACKEND_NAMES.join(' | ')}`, 'auto')
    .action(async (opts: Record<string, string | boolean | undefined>) => {
      const num = (flag: string, key: string, min: number): number => parseIntegerOption(flag, String(opts[key]), min);
      const code = await runDemo({
        ...(typeof opts['seeds'] === 'string' ? { seeds: parseSeedList(opts['seeds']) } : {}),
        ...(typeof opts['config'] === 'string' ? { trainConfig: await readTrainConfigInput(opts['config']) } : {}),
        ...(typeof opts['input'] === 'string' ? { input: opts['input'] } : {}),
        ...(opts['budgetMinutes'] === undefined ? {} : { budgetMinutes: num('--budget-minutes', 'budgetMinutes', 1) }),
        out: String(opts['out']),
        data: expectOneOf('--data', String(opts['data']), EXPERIMENT_DATASETS),
        train: num('--train', 'train', 1),
        heldout: num('--heldout', 'heldout', 1),
        validation: num('--validation', 'validation', 1),
        seed: num('--seed', 'seed', 0),
        maxCount: num('--max-count', 'maxCount', 1),
        imageSize: num('--image-size', 'imageSize', 16),
        force: opts['force'] === true,
        steps: num('--steps', 'steps', 0),
        batch: num('--batch', 'batch', 1),
        modes: parseRows(String(opts['modes'])),
        backend: expectOneOf('--backend', String(opts['backend']), ['auto', ...BACKEND_NAMES] as const),
      });
      if (code !== 0) process.exitCode = code;
    });
}
