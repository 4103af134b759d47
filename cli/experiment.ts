/**
 * `declip experiment --dataset fashion-mnist|synthetic [--input DIR] --rows clip,declip[,...]
 * --seeds N [--train-pairs N[,N,...]] [--steps N] [--out DIR] [--json]`
 *
 * The CLIP-vs-DeCLIP comparison (trainer/experiment): every row trained on the same pairs
 * once per seed, evaluated on the test split, `report.md`, `results.json` and SVG plots in
 * `--out`. With `--json` the last stdout line is the summary: `{"rows": {"clip":
 * {"zeroShotTop1": x, "linearProbe": y, ..., "perSeed": [...]}, ...}, "seeds": [...],
 * "trainPairs": N}` (fractions, means over seeds; with several sizes `rows` is the
 * largest's and `curve` holds all).
 */
import type { Command } from 'commander';
import { InvalidOptionError } from '../core/errors.js';
import { FASHION_MNIST_DEFAULT_DIR } from '../datasets/convert/index.js';
import { EXPERIMENT_DATASETS, EXPERIMENT_ROWS, experimentDefaults, type ExperimentOptions, type ExperimentRow, runExperiment } from '../trainer/experiment/index.js';
import { expectOneOf } from '../core/validate.js';
import { BACKEND_NAMES } from '../trainer/backend/select.js';
import { parseIntegerOption } from './shards-create.js';
import { onShardErrorOption } from './reliability-options.js';
import { ERROR_POLICIES } from '../datasets/reader/index.js';
import { runTraining } from './train.js';
import { readTrainConfigInput } from './demo.js';

/** `--seeds 5` (seeds 0..4) or `--seeds 0,3,5` (distinct non-negative integers; one seed: `--seeds 3,`). */
export function parseSeeds(text: string): number[] {
  if (!text.includes(',')) return Array.from({ length: parseIntegerOption('--seeds', text, 1) }, (_, i) => i);
  const seeds = text.split(',').filter((x, i, all) => !(x.trim() === '' && i === all.length - 1)).map((x) => parseIntegerOption('--seeds', x.trim(), 0));
  if (new Set(seeds).size !== seeds.length) throw new InvalidOptionError('--seeds', `Expected a count or distinct seeds like 0,3,5 for --seeds but received ${text}`);
  return seeds;
}

/** `--rows clip,declip` (distinct row names). */
export function parseRows(text: string): ExperimentRow[] {
  const rows = text.split(',').map((r) => expectOneOf('--rows', r.trim(), EXPERIMENT_ROWS));
  if (new Set(rows).size !== rows.length) throw new InvalidOptionError('--rows', `Expected distinct rows for --rows but received ${text}`);
  return rows;
}

/** `--train-pairs 1000,4000` (positive integers). */
export function parseTrainPairs(text: string): number[] {
  return text.split(',').map((x) => parseIntegerOption('--train-pairs', x.trim(), 1));
}

type Opts = Record<string, string | boolean | undefined>;

/** The options of a command line (each flag maps to one option here). */
export async function experimentOptions(opts: Opts): Promise<ExperimentOptions> {
  const str = (k: string): string | undefined => (typeof opts[k] === 'string' ? opts[k] : undefined);
  const num = (flag: string, k: string, min: number): number | undefined => (str(k) === undefined ? undefined : parseIntegerOption(flag, String(str(k)), min));
  const defined = <T extends object>(o: T): { [K in keyof T]?: Exclude<T[K], undefined> } => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as { [K in keyof T]?: Exclude<T[K], undefined> };
  const config = str('config');
  return defined({
    dataset: expectOneOf('--dataset', str('dataset') ?? experimentDefaults.dataset, EXPERIMENT_DATASETS),
    input: str('input'),
    rows: str('rows') === undefined ? undefined : parseRows(String(str('rows'))),
    seeds: str('seeds') === undefined ? undefined : parseSeeds(String(str('seeds'))),
    trainPairs: str('trainPairs') === undefined ? undefined : parseTrainPairs(String(str('trainPairs'))),
    steps: num('--steps', 'steps', 0),
    batch: num('--batch', 'batch', 1),
    validation: num('--validation', 'validation', 1),
    test: num('--test', 'test', 1),
    out: str('out'),
    force: opts['force'] === true ? true : undefined,
    scoredOnly: opts['scoredOnly'] === true ? true : undefined,
    backend: str('backend') === undefined ? undefined : expectOneOf('--backend', String(str('backend')), ['auto', ...BACKEND_NAMES] as const),
    onShardError: str('onShardError') === undefined ? undefined : expectOneOf('--on-shard-error', String(str('onShardError')), ERROR_POLICIES),
    trainConfig: config === undefined ? undefined : await readTrainConfigInput(config),
  });
}

/** Register `declip experiment`. */
export function registerExperiment(parent: Command): void {
  const d = experimentDefaults;
  parent
    .command('experiment')
    .description('train CLIP, DeCLIP and ablation rows on the same pairs over several seeds, evaluate on the test split, write report.md, results.json and plots')
    .option('--dataset <name>', 'fashion-mnist or synthetic', d.dataset)
    .option('--input <dir>', `Fashion-MNIST IDX folder (default ${FASHION_MNIST_DEFAULT_DIR}, Debian's dataset-fashion-mnist)`)
    .option('--rows <list>', `rows to train, of ${EXPERIMENT_ROWS.join(', ')} (default ${d.rows.join(',')})`)
    .option('--seeds <n|list>', `training seeds: a count N (seeds 0..N-1) or a list like 0,3,5 (one seed: 3,) (default ${d.seeds.length})`)
    .option('--train-pairs <list>', `training pairs; several sizes draw the data-size curve (default ${d.trainPairs.join(',')})`)
    .option('--steps <n>', `optimizer steps per run, clip-2x twice (default ${d.steps})`)
    .option('--batch <n>', `pairs per step (default ${d.batch})`)
    .option('--validation <n>', `validation pairs carved from the training data (default ${d.validation})`)
    .option('--test <n>', `test pairs (default ${d.test}: Fashion-MNIST's whole test split)`)
    .option('--config <file|preset>', 'training config the rows start from (steps, batch, seed and mode come from the experiment)')
    .option('--out <dir>', `output folder (default ${d.out})`)
    .option('--force', 'rebuild the shards and retrain runs that already have scores')
    .option('--backend <name>', `TensorFlow.js backend: auto | ${BACKEND_NAMES.join(' | ')} (default auto)`)
    .addOption(onShardErrorOption())
    .option('--scored-only', 'train nothing: report the runs already scored in --out (e.g. while an experiment is still running)')
    .option('--json', 'print the summary as JSON on the last stdout line')
    .action(async (opts: Opts) => {
      const json = opts['json'] === true;
      const io = { stdout: json ? process.stderr : process.stdout, stderr: process.stderr };
      const result = await runExperiment(await experimentOptions(opts), io, runTraining);
      if (json) process.stdout.write(JSON.stringify(result.summary ?? {}) + '\n');
      if (result.code !== 0) process.exitCode = result.code;
    });
}
