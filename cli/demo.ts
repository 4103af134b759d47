/**
 * `declip demo` (what `npm start` runs): make the built-in synthetic dataset - a train
 * set and a held-out set - as shards in `./out/demo`, then print their statistics from
 * the sidecar indexes and from reading every shard back.
 *
 * The demo is a list of small steps ({@link demoSteps}) over one shared state. After the
 * data steps it trains the `tiny` model twice on the same pairs - the CLIP baseline and
 * DeCLIP - within a wall-clock budget (11 minutes by default, so that the whole demo stays within 15 on a 2-core CPU), evaluates
 * both on the held-out shards (zero-shot with a template ensemble, retrieval, linear
 * probe) and writes `report.md` with comparison plots in the output folder.
 *
 * The held-out set is samples `train .. train+heldout-1` of the same seed: the two sets
 * never share a sample or a key. Shards already there with the same parameters are
 * reused (use `--force` to rebuild).
 */
import { readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import type { Writable } from 'node:stream';
import type { Command } from 'commander';
import { convertToShards, FASHION_MNIST_DEFAULT_DIR, fashionMnistPrompts, fashionMnistSource, syntheticSource } from '../datasets/convert/index.js';
import { SYNTHETIC_COLOURS, SYNTHETIC_SHAPES } from '../datasets/convert/synthetic.js';
import { readSamples } from '../datasets/reader/index.js';
import { readShardIndex, type ShardIndex } from '../datasets/shard-index.js';
import { parseIntegerOption } from './shards-create.js';
import { BACKEND_NAMES, type BackendChoice, selectBackend } from '../trainer/backend/select.js';
import { loadTrainConfig, resolveTrainConfig, TRAIN_PRESETS, type TrainConfigInput } from '../trainer/config.js';
import { presetNames, type PresetName } from '../trainer/models/config.js';
import { InvalidOptionError } from '../core/errors.js';
import { expectOneOf } from '../core/validate.js';
import { embedShards, encodeTexts, type EvalModel, loadEvalModel, type ShardEmbeddings } from '../trainer/eval/embed.js';
import { linearProbe } from '../trainer/eval/linear-probe.js';
import { retrievalRecall } from '../trainer/eval/retrieval.js';
import { buildPrompts, classEmbeddings, zeroShotAccuracy } from '../trainer/eval/zeroshot.js';
import { readMetrics, type StepMetrics } from '../trainer/log/metrics.js';
import { lineChart } from '../trainer/log/plot.js';
import { runTraining } from './train.js';

/** The data sets the demo can run on. */
export const DEMO_DATA = ['synthetic', 'fashion-mnist'] as const;

/** Options of {@link runDemo}. */
export interface DemoOptions {
  /** Output folder. Default `out/demo`. */
  readonly out?: string;
  /**
   * `synthetic` (the default: built-in shapes) or `fashion-mnist`: the first `train` images of
   * the Fashion-MNIST train split as training pairs, the first `heldout` images of its test
   * split as the held-out set, captions from the converter, classes from its labels.
   */
  readonly data?: (typeof DEMO_DATA)[number];
  /** Folder with the Fashion-MNIST IDX files (`data: 'fashion-mnist'`). Default {@link FASHION_MNIST_DEFAULT_DIR}. */
  readonly input?: string;
  /** Train samples. Default 2000. */
  readonly train?: number;
  /** Held-out samples. Default 500. */
  readonly heldout?: number;
  /** Dataset seed (Fashion-MNIST: the caption seed). Default 0. */
  readonly seed?: number;
  /** Training seeds: each mode is trained once per seed (model init, data order, augmentations). Default `[seed]`. */
  readonly seeds?: readonly number[];
  /** Samples per shard. Default 500. */
  readonly maxCount?: number;
  /** Image side. Default 64. */
  readonly imageSize?: number;
  /** Rebuild even when matching shards exist. */
  readonly force?: boolean;
  /** Optimizer steps of each training run (0, the default: make and read the data only; `npm start` passes 60). */
  readonly steps?: number;
  /** Samples per batch. Default 32. */
  readonly batch?: number;
  /** Modes to train, in order (the CLIP baseline and DeCLIP on the same pairs). Default both. */
  readonly modes?: readonly ('clip' | 'declip')[];
  /** Wall-clock budget of the whole demo in minutes: a run still going at its share stops (checkpointed) and is evaluated. Default 11 per training seed (with data and evaluation, within 15 minutes per seed on a loaded 2-core CPU). */
  readonly budgetMinutes?: number;
  /** Training config (preset name or object) the runs start from. Default {@link DEMO_TRAIN_CONFIG}. */
  readonly trainConfig?: TrainConfigInput;
  /** TensorFlow.js backend of the training and evaluation (default `auto`, see trainer/backend/select.ts). */
  readonly backend?: BackendChoice;
}

/**
 * The demo's training config: the `tiny` preset with settings for a few dozen steps on
 * 2000 small synthetic pairs (docs/results.md): a 4x higher peak lr (2e-3, 10 warm-up
 * steps), the `light` augmentation (the DeCLIP/MoCo v2 recipe's grayscale, hue jitter
 * and flips contradict captions that name colours and sides, and its 0.2-area crops and
 * blur erase 32-pixel shapes), and a 256-entry NN queue (4096 would hold random
 * initial vectors for the first 64 steps).
 */
export const DEMO_TRAIN_CONFIG: TrainConfigInput = Object.freeze({
  ...TRAIN_PRESETS.tiny,
  optimizer: { lr: 2e-3, warmupStartLr: 1e-4, warmupSteps: 10, weightDecay: 0.1, clipGradNorm: 1 },
  loss: { queueSize: 256 },
  data: { augment: 'light' as const },
});

/** The defaults of {@link DemoOptions}. */
export const demoDefaults = Object.freeze({
  out: join('out', 'demo'),
  train: 2000,
  heldout: 500,
  seed: 0,
  maxCount: 500,
  imageSize: 64,
  force: false,
  steps: 0,
  batch: 32,
  budgetMinutes: 11,
  backend: 'auto',
});

type ResolvedDemoOptions = { readonly [K in keyof typeof demoDefaults]: (typeof demoDefaults)[K] extends boolean ? boolean : (typeof demoDefaults)[K] extends number ? number : string } & {
  readonly modes: readonly ('clip' | 'declip')[];
  readonly seeds: readonly number[];
  readonly trainConfig: TrainConfigInput;
  readonly data: (typeof DEMO_DATA)[number];
  readonly input: string;
};

/** One data set of the demo. */
export interface DemoSet {
  readonly name: 'train' | 'heldout';
  readonly pattern: string;
  readonly start: number;
  readonly count: number;
  index?: ShardIndex;
  shardUrls?: readonly string[];
  reused?: boolean;
  readBack?: ReadBackStats;
}

/** One training run of the demo and what evaluating it gave. */
export interface DemoRun {
  readonly mode: 'clip' | 'declip';
  /** Training seed. */
  readonly seed: number;
  readonly dir: string;
  steps: number;
  stopped: string;
  seconds: number;
  metrics: StepMetrics[];
  zeroShot?: { top1: number; top5: number; n: number };
  retrieval?: { i2t: { r1: number; r5: number; r10: number }; t2i: { r1: number; r5: number; r10: number }; n: number };
  linearProbe?: { top1: number; n: number };
  /** Zero-shot and linear probe per task ({@link DEMO_TASKS}, or `class` on Fashion-MNIST); `zeroShot` and `linearProbe` are the shape (Fashion-MNIST: class) task's. */
  tasks?: Partial<Record<DemoTask['name'], { zeroShot: { top1: number; top5: number; n: number }; linearProbe: { top1: number; n: number } }>>;
}

/** What reading a set back found. */
export interface ReadBackStats {
  readonly samples: number;
  readonly bytes: number;
  readonly extensions: Readonly<Record<string, number>>;
  readonly classCounts: readonly number[];
  readonly errors: number;
  readonly seconds: number;
}

/** The state the demo steps share. */
export interface DemoState {
  readonly options: ResolvedDemoOptions;
  readonly sets: DemoSet[];
  /** Training runs (filled by the train step), evaluated by the eval step. */
  readonly runs: DemoRun[];
  /** When the demo started (performance.now()), for the time budget. */
  readonly startedAt: number;
  readonly stdout: Writable;
  readonly stderr: Writable;
}

/** A demo step. */
export interface DemoStep {
  readonly name: string;
  run(state: DemoState): Promise<void>;
}

async function reusable(set: DemoSet, o: ResolvedDemoOptions): Promise<ShardIndex | undefined> {
  const found = await readShardIndex(set.pattern).catch(() => undefined);
  if (found === undefined) return undefined;
  const m = found.index.meta;
  if (o.data === 'fashion-mnist') {
    if (m['source'] !== 'fashion-mnist' || m['seed'] !== o.seed || m['split'] !== fashionMnistSplit(set) || m['input'] !== o.input) return undefined;
    if (found.index.totals.samples !== set.count) return undefined;
  } else {
    if (m['source'] !== 'synthetic' || m['seed'] !== o.seed || m['start'] !== set.start || m['count'] !== set.count) return undefined;
    if (m['imageSize'] !== o.imageSize) return undefined;
  }
  if (found.index.shards.some((s) => s.samples > o.maxCount)) return undefined;
  for (const [i, url] of found.shardUrls.entries()) {
    const size = await stat(url).then((s) => s.size, () => -1);
    if (size !== found.index.shards[i]?.bytes) return undefined;
  }
  return found.index;
}

/** The Fashion-MNIST split a demo set is taken from: the train set from `train`, the held-out set from `test`. */
function fashionMnistSplit(set: DemoSet): 'train' | 'test' {
  return set.name === 'train' ? 'train' : 'test';
}

/** Step 1: create (or reuse) the synthetic (or Fashion-MNIST) shards. */
export const createDataStep: DemoStep = {
  name: 'create synthetic shards',
  async run(state) {
    const o = state.options;
    for (const set of state.sets) {
      const existing = o.force ? undefined : await reusable(set, o);
      if (existing !== undefined) {
        set.index = existing;
        set.reused = true;
        continue;
      }
      const started = performance.now();
      const { index } =
        o.data === 'fashion-mnist'
          ? await convertToShards(await fashionMnistSource({ input: o.input, split: fashionMnistSplit(set), seed: o.seed, limit: set.count }), {
              pattern: set.pattern,
              maxCount: o.maxCount,
              meta: { input: o.input, demoSet: set.name },
            })
          : await convertToShards(syntheticSource({ count: set.count, start: set.start, seed: o.seed, imageSize: o.imageSize }), {
              pattern: set.pattern,
              maxCount: o.maxCount,
              meta: { split: set.name },
            });
      if (index.totals.samples < set.count) {
        throw new InvalidOptionError(set.name === 'train' ? '--train' : '--heldout', `Expected at most ${index.totals.samples} ${set.name} samples from ${o.input} but received ${set.count}`);
      }
      set.index = index;
      set.reused = false;
      const seconds = (performance.now() - started) / 1000;
      state.stderr.write(
        `declip demo: wrote ${set.name} (${index.totals.samples} samples, ${index.totals.shards} shard${index.totals.shards === 1 ? '' : 's'}) in ${seconds.toFixed(1)} s (${Math.round(index.totals.samples / Math.max(seconds, 1e-9))} samples/s)\n`,
      );
    }
  },
};

/** Step 2: read every shard back and count what is there. */
export const readBackStep: DemoStep = {
  name: 'read the shards back',
  async run(state) {
    for (const set of state.sets) {
      const found = await readShardIndex(set.pattern);
      if (found === undefined) continue;
      set.shardUrls = found.shardUrls;
      const classes = found.index.classes ?? [];
      const classCounts = classes.map(() => 0);
      const extensions: Record<string, number> = {};
      let samples = 0;
      let bytes = 0;
      const started = performance.now();
      const reader = readSamples({ urls: found.shardUrls, onError: 'warn' });
      try {
        for await (const sample of reader) {
          samples++;
          for (const [ext, data] of Object.entries(sample.files)) {
            extensions[ext] = (extensions[ext] ?? 0) + 1;
            bytes += data.byteLength;
          }
          const cls = sample.files['cls'];
          if (cls !== undefined) {
            const id = Number(cls.toString());
            if (Number.isInteger(id) && id >= 0 && id < classCounts.length) classCounts[id] = (classCounts[id] ?? 0) + 1;
          }
        }
      } finally {
        await reader.close();
      }
      const errors = reader.stats.errors.reduce((n, e) => n + e.count, 0);
      set.readBack = { samples, bytes, extensions, classCounts, errors, seconds: (performance.now() - started) / 1000 };
    }
  },
};

function formatBytes(n: number): string {
  return n >= 1e6 ? `${(n / 1e6).toFixed(2)} MB` : `${(n / 1e3).toFixed(1)} kB`;
}

/** Step 3: print the statistics. */
export const printStatsStep: DemoStep = {
  name: 'print statistics',
  async run(state) {
    const o = state.options;
    const out: string[] = [];
    out.push(
      o.data === 'fashion-mnist'
        ? `declip demo: Fashion-MNIST from ${o.input} (train split for training, test split held out; caption seed ${o.seed}) in ${o.out}`
        : `declip demo: built-in synthetic shapes (seed ${o.seed}, ${o.imageSize}x${o.imageSize} PNG) in ${o.out}`,
    );
    for (const set of state.sets) {
      const index = set.index;
      if (index === undefined) continue;
      const t = index.totals;
      out.push('');
      out.push(`${set.name}: ${set.pattern}${set.reused === true ? ' (reused)' : ''}`);
      out.push(`  index:      ${t.samples} samples in ${t.shards} shard${t.shards === 1 ? '' : 's'}, ${formatBytes(t.bytes)} on disk`);
      out.push(`  extensions: ${Object.entries(index.extensions).map(([e, n]) => `${e} ${n}`).join(', ')}`);
      const rb = set.readBack;
      if (rb !== undefined) {
        const match = rb.samples === t.samples ? 'matches the index' : `INDEX SAYS ${t.samples}`;
        out.push(
          `  read back:  ${rb.samples} samples (${match}), ${formatBytes(rb.bytes)} of member data, ` +
            `${rb.errors} errors, ${(rb.samples / Math.max(rb.seconds, 1e-9)).toFixed(0)} samples/s`,
        );
        const classes = index.classes ?? [];
        out.push(`  classes:    ${classes.map((c, i) => `${c} ${rb.classCounts[i] ?? 0}`).join(', ')}`);
      } else if (index.classes !== undefined) {
        out.push(`  classes:    ${index.classes.join(', ')}`);
      }
    }
    out.push('');
    state.stdout.write(out.join('\n') + '\n');
    return Promise.resolve();
  },
};

const pct = (x: number | undefined): string => (x === undefined ? '-' : `${(100 * x).toFixed(1)}%`);

function demoLog(state: DemoState): (line: string) => void {
  return (line) => void state.stderr.write(`declip demo: ${line}\n`);
}

/** The folder of one run: `runs/<mode>` with one seed, `runs/<mode>-seed<k>` with several. */
export function demoRunDir(o: ResolvedDemoOptions, mode: 'clip' | 'declip', seed: number): string {
  return join(o.out, 'runs', o.seeds.length === 1 ? mode : `${mode}-seed${seed}`);
}

/** Step 4: train the CLIP baseline and DeCLIP on the same pairs (same seed, batches and steps), once per training seed. */
export const trainStep: DemoStep = {
  name: 'train',
  async run(state) {
    const o = state.options;
    if (o.steps === 0 || o.modes.length === 0) return;
    const log = demoLog(state);
    const trainSet = state.sets.find((s) => s.name === 'train');
    const found = trainSet === undefined ? undefined : await readShardIndex(trainSet.pattern);
    if (found === undefined) throw new Error('declip demo: the train shards are missing');
    await selectBackend({ backend: o.backend as BackendChoice, log });
    const budgetMs = o.budgetMinutes * 60_000;
    const plan = o.seeds.flatMap((seed) => o.modes.map((mode) => ({ seed, mode })));
    for (const [i, { seed, mode }] of plan.entries()) {
      const dir = demoRunDir(o, mode, seed);
      await rm(dir, { recursive: true, force: true });
      const base = o.trainConfig;
      const config = resolveTrainConfig({
        ...base,
        mode,
        steps: o.steps,
        batch: o.batch,
        seed,
        checkpointEvery: 0,
        data: { ...(base.data ?? {}), shards: [...found.shardUrls] },
      });
      // Share what is left of the budget between the runs still to go, keeping 45 s each for evaluation.
      const left = plan.length - i;
      const shareMs = Math.max(20_000, (budgetMs - (performance.now() - state.startedAt) - 45_000 * left) / left);
      log(`training ${mode}, seed ${seed} (${config.modelName}, ${config.steps} steps of ${config.batch}; time share ${(shareMs / 60_000).toFixed(1)} min) in ${dir}`);
      const started = performance.now();
      const stderr = state.stderr as NodeJS.WriteStream;
      const result = await runTraining({
        config,
        runDir: dir,
        signal: AbortSignal.timeout(Math.round(shareMs)),
        log,
        ...(stderr.isTTY === true ? { progressStream: stderr } : {}),
      });
      const seconds = (performance.now() - started) / 1000;
      log(`${mode}, seed ${seed}: ${result.stopped === 'aborted' ? `stopped by the time budget at step ${result.step}` : `${result.step} steps`} in ${seconds.toFixed(0)} s, last loss ${result.last?.loss.toFixed(4) ?? '-'}`);
      state.runs.push({ mode, seed, dir, steps: result.step, stopped: result.stopped, seconds, metrics: await readMetrics(result.metricsPath) });
    }
  },
};

/** A zero-shot task of the demo: one attribute of the synthetic samples (their `json` member) as the class. */
export interface DemoTask {
  readonly name: 'shape' | 'colour' | 'class';
  readonly classes: readonly string[];
  /** Prompt templates (`{}` = the class name). */
  readonly templates: readonly string[];
}

/**
 * The demo's two zero-shot tasks. The prompts use the captions' own wording and name the
 * other attribute in every variant ("a red {}", "a green {}", ...; "a {} circle", ...), so
 * a class embedding is the mean over that attribute - no label is used.
 */
export const DEMO_TASKS: readonly DemoTask[] = Object.freeze([
  { name: 'shape', classes: SYNTHETIC_SHAPES, templates: Object.keys(SYNTHETIC_COLOURS).map((c) => `a ${c} {}`) },
  { name: 'colour', classes: Object.keys(SYNTHETIC_COLOURS), templates: SYNTHETIC_SHAPES.map((s) => `a {} ${s}`) },
]);

/** The class id of every key for one attribute, read from the samples' `json` member (-1: unknown). */
export async function attributeLabels(urls: readonly string[], keys: readonly string[], task: DemoTask): Promise<Int32Array> {
  const byKey = new Map<string, number>();
  const reader = readSamples({ urls, onError: 'warn' });
  try {
    for await (const sample of reader) {
      const json = sample.files['json'];
      if (json === undefined) continue;
      const value = (JSON.parse(json.toString()) as Record<string, unknown>)[task.name];
      byKey.set(sample.__key__, typeof value === 'string' ? task.classes.indexOf(value) : -1);
    }
  } finally {
    await reader.close();
  }
  return Int32Array.from(keys, (k) => byKey.get(k) ?? -1);
}

/** Fashion-MNIST: the linear probe is fitted on up to this many training pairs' image embeddings. */
const PROBE_TRAIN_FASHION_MNIST = 5000;

/**
 * Zero-shot accuracy on the held-out images (a class's embedding is the mean over its
 * prompts: `prompts` holds the same number per class, class after class) and a linear
 * probe fitted on the training images, for one labelling.
 */
async function scoreTask(
  ev: EvalModel,
  prompts: readonly string[],
  numClasses: number,
  held: ShardEmbeddings,
  yHeld: Int32Array,
  train: ShardEmbeddings,
  yTrain: Int32Array,
): Promise<{ zeroShot: { top1: number; top5: number; n: number }; linearProbe: { top1: number; n: number } }> {
  const classEmb = classEmbeddings(await encodeTexts(ev, prompts), numClasses, numClasses === 0 ? 0 : prompts.length / numClasses, held.d);
  const zeroShot = zeroShotAccuracy(held.image, yHeld, classEmb, held.d);
  const probe = linearProbe({ x: train.image, y: yTrain }, { x: held.image, y: yHeld }, held.d);
  return { zeroShot, linearProbe: { top1: probe.top1, n: probe.n } };
}

/** Step 5: evaluate every run on the held-out shards (zero-shot, retrieval) and with a linear probe. */
export const evalStep: DemoStep = {
  name: 'evaluate',
  async run(state) {
    if (state.runs.length === 0) return;
    const log = demoLog(state);
    const trainSet = state.sets.find((s) => s.name === 'train');
    const heldSet = state.sets.find((s) => s.name === 'heldout');
    const held = heldSet === undefined ? undefined : await readShardIndex(heldSet.pattern);
    const train = trainSet === undefined ? undefined : await readShardIndex(trainSet.pattern);
    if (held === undefined || train === undefined) throw new Error('declip demo: the shards are missing');
    const trainKeys = new Map<string, Int32Array>();
    const heldKeys = new Map<string, Int32Array>();
    for (const run of state.runs) {
      const ev = await loadEvalModel(run.dir);
      try {
        const heldEmb = await embedShards(ev, { shards: held.shardUrls.join('::') });
        run.retrieval = retrievalRecall(heldEmb.image, heldEmb.text, heldEmb.d);
        const trainEmb = await embedShards(ev, { shards: train.shardUrls.join('::'), limit: state.options.data === 'fashion-mnist' ? PROBE_TRAIN_FASHION_MNIST : 1000 });
        const tasks: NonNullable<DemoRun['tasks']> = {};
        if (state.options.data === 'fashion-mnist') {
          // The labels are the samples' `cls`; the class embedding averages every caption wording of the class.
          const prompts = fashionMnistPrompts();
          const scores = await scoreTask(ev, prompts.flat(), prompts.length, heldEmb, heldEmb.labels, trainEmb, trainEmb.labels);
          run.tasks = { class: scores };
          run.zeroShot = scores.zeroShot;
          run.linearProbe = scores.linearProbe;
          log(`${run.mode}, seed ${run.seed}: zero-shot ${pct(scores.zeroShot.top1)} / linear probe ${pct(scores.linearProbe.top1)}, retrieval i2t R@1 ${pct(run.retrieval.i2t.r1)}`);
          continue;
        }
        for (const task of DEMO_TASKS) {
          // Every run reads the shards in the same order, so the labels are read once per task.
          const yHeld = heldKeys.get(task.name) ?? (await attributeLabels(held.shardUrls, heldEmb.keys, task));
          const yTrain = trainKeys.get(task.name) ?? (await attributeLabels(train.shardUrls, trainEmb.keys, task));
          heldKeys.set(task.name, yHeld);
          trainKeys.set(task.name, yTrain);
          tasks[task.name] = await scoreTask(ev, buildPrompts(task.classes, task.templates), task.classes.length, heldEmb, yHeld, trainEmb, yTrain);
        }
        run.tasks = tasks;
        if (tasks.shape !== undefined) {
          run.zeroShot = tasks.shape.zeroShot;
          run.linearProbe = tasks.shape.linearProbe;
        }
        log(
          `${run.mode}, seed ${run.seed}: ` +
            DEMO_TASKS.map((task) => `${task.name} zero-shot ${pct(run.tasks?.[task.name]?.zeroShot.top1)} / linear probe ${pct(run.tasks?.[task.name]?.linearProbe.top1)}`).join(', ') +
            `, retrieval i2t R@1 ${pct(run.retrieval.i2t.r1)}`,
        );
      } finally {
        ev.dispose();
      }
    }
  },
};

/** The headline metrics of a run, as fractions (undefined before evaluation). */
export const DEMO_METRICS = {
  'shape zero-shot': (r: DemoRun) => r.zeroShot?.top1,
  'shape probe': (r: DemoRun) => r.linearProbe?.top1,
  'colour zero-shot': (r: DemoRun) => r.tasks?.colour?.zeroShot.top1,
  'colour probe': (r: DemoRun) => r.tasks?.colour?.linearProbe.top1,
  'i2t R@1': (r: DemoRun) => r.retrieval?.i2t.r1,
  't2i R@1': (r: DemoRun) => r.retrieval?.t2i.r1,
} as const satisfies Record<string, (r: DemoRun) => number | undefined>;

/** The headline metrics of a Fashion-MNIST run ({@link DemoOptions.data}), as fractions. */
export const FASHION_MNIST_DEMO_METRICS = {
  'zero-shot': (r: DemoRun) => r.zeroShot?.top1,
  'linear probe': (r: DemoRun) => r.linearProbe?.top1,
  'i2t R@1': (r: DemoRun) => r.retrieval?.i2t.r1,
  't2i R@1': (r: DemoRun) => r.retrieval?.t2i.r1,
} as const satisfies Record<string, (r: DemoRun) => number | undefined>;

/** Mean and sample standard deviation (0 for one value). */
export function meanSd(xs: readonly number[]): { mean: number; sd: number } {
  const mean = xs.reduce((a, x) => a + x, 0) / Math.max(1, xs.length);
  const sd = xs.length < 2 ? 0 : Math.sqrt(xs.reduce((a, x) => a + (x - mean) ** 2, 0) / (xs.length - 1));
  return { mean, sd };
}

/** Percentage points: `12.3 ± 1.2` (the sign is kept when `signed`). */
function points({ mean, sd }: { mean: number; sd: number }, signed = false): string {
  const m = (100 * mean).toFixed(1);
  return `${signed && mean >= 0 ? '+' : ''}${m} ± ${(100 * sd).toFixed(1)}`;
}

/**
 * The multi-seed comparison: per mode the mean ± sd of each metric, and the DeCLIP - CLIP
 * difference paired by seed (with the number of seeds where DeCLIP is ahead).
 */
export function compareRuns(runs: readonly DemoRun[], metrics: Readonly<Record<string, (r: DemoRun) => number | undefined>> = DEMO_METRICS): string[] {
  const seeds = [...new Set(runs.map((r) => r.seed))];
  const names = Object.keys(metrics);
  const metric = (k: string, r: DemoRun): number => metrics[k]?.(r) ?? Number.NaN;
  const by = (mode: DemoRun['mode']) => runs.filter((r) => r.mode === mode);
  const lines = [
    `| over ${seeds.length} seed${seeds.length === 1 ? '' : 's'} (${seeds.join(', ')}), % | ${names.join(' | ')} |`,
    `| --- |${names.map(() => ' ---: |').join('')}`,
  ];
  for (const mode of ['clip', 'declip'] as const) {
    const rs = by(mode);
    if (rs.length === 0) continue;
    lines.push(`| ${mode === 'clip' ? 'CLIP baseline' : 'DeCLIP'} | ${names.map((k) => points(meanSd(rs.map((r) => metric(k, r))))).join(' | ')} |`);
  }
  const pairs = seeds.flatMap((seed) => {
    const c = runs.find((r) => r.mode === 'clip' && r.seed === seed);
    const d = runs.find((r) => r.mode === 'declip' && r.seed === seed);
    return c === undefined || d === undefined ? [] : [{ c, d }];
  });
  if (pairs.length > 0) {
    const cells = names.map((k) => {
      const diffs = pairs.map(({ c, d }) => metric(k, d) - metric(k, c));
      return `${points(meanSd(diffs), true)} (${diffs.filter((x) => x > 0).length}/${diffs.length})`;
    });
    lines.push(`| DeCLIP - CLIP, paired by seed (seeds where DeCLIP is ahead) | ${cells.join(' | ')} |`);
  }
  return lines;
}

/** Step 6: comparison plots and a short markdown report in the output folder. */
export const reportStep: DemoStep = {
  name: 'report',
  async run(state) {
    if (state.runs.length === 0) return;
    const o = state.options;
    const multi = o.seeds.length > 1;
    const label = (r: DemoRun) => (multi ? `${r.mode} seed ${r.seed}` : r.mode);
    const series = (key: string) => state.runs.map((r) => ({ name: label(r), points: r.metrics.map((m) => [m.step, Number(m[key])] as const) }));
    await writeFile(join(o.out, 'compare-loss.svg'), lineChart({ title: 'total loss (declip: weighted sum of 4 terms)', series: series('loss') }));
    await writeFile(join(o.out, 'compare-clip-term.svg'), lineChart({ title: 'contrastive (CLIP) term', series: series('clip') }));
    const heldout = state.sets.find((s) => s.name === 'heldout');
    const numClasses = heldout?.index?.classes?.length ?? 0;
    const first = state.runs[0];
    const config = first === undefined ? undefined : resolveTrainConfig({ ...o.trainConfig, mode: first.mode, steps: o.steps, batch: o.batch });
    const fm = o.data === 'fashion-mnist';
    const metrics = fm ? FASHION_MNIST_DEMO_METRICS : DEMO_METRICS;
    const comparison = compareRuns(state.runs, metrics);
    const lines = [
      '# declip-ts demo report',
      '',
      fm
        ? `Fashion-MNIST (${o.input}, caption seed ${o.seed}): the first ${o.train} images of the train split as training pairs, the first ${o.heldout} of the test split held out (${numClasses} classes), 28px greyscale PNG.`
        : `Built-in synthetic shapes (data seed ${o.seed}): ${o.train} training pairs, ${o.heldout} held-out pairs (${numClasses} shape classes), ${o.imageSize}px PNG.`,
      `Every run uses the same model (${config?.modelName ?? '-'}, ${config?.model.vision.imageSize ?? '-'}px input), steps (${o.steps}), batches (${o.batch} per step) and, for one seed, the same data order; only the losses differ.` +
        ` Peak lr ${config?.optimizer.lr ?? '-'}, ${config?.optimizer.warmupSteps ?? 0} warm-up steps, NN queue ${config?.loss.queueSize ?? '-'} (DeCLIP).`,
      '',
      '## Comparison',
      '',
      ...comparison,
      '',
      fm
        ? `Chance level: zero-shot top-1 and linear probe ${pct(1 / Math.max(1, numClasses))} (${numClasses} classes), retrieval R@1 ${pct(1 / Math.max(1, o.heldout))} (${o.heldout} held-out pairs; captions name only the class, so retrieval is capped by caption ties).` +
          ' A class\'s zero-shot embedding is the mean over every wording the converter uses for it (4 class-name synonyms x 10 caption templates, no labels);' +
          ` the linear probe is a logistic regression on up to ${PROBE_TRAIN_FASHION_MNIST} training images' frozen embeddings, scored on the held-out test images.`
        : `Chance level: shape and colour zero-shot top-1 and linear probe ${pct(1 / SYNTHETIC_SHAPES.length)} (8 classes each), retrieval R@1 ${pct(1 / Math.max(1, o.heldout))} (${o.heldout} held-out pairs).` +
          ' Zero-shot prompts use the captions\' wording and average over the other attribute ("a red {}", "a green {}", ... for shapes; "a {} circle", "a {} square", ... for colours);' +
          ' the linear probe is a logistic regression on 1000 training images\' frozen embeddings.',
      '',
      '## Runs',
      '',
      `| run | steps | time | final loss | zero-shot top-1 | top-5 | i2t R@1 | R@5 | t2i R@1 | R@5 | linear probe |${fm ? '' : ' colour zero-shot | colour probe |'}`,
      `| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |${fm ? '' : ' ---: | ---: |'}`,
      ...state.runs.map((r) => {
        const last = r.metrics.at(-1);
        return `| ${r.mode === 'clip' ? 'CLIP baseline' : 'DeCLIP'}${multi ? `, seed ${r.seed}` : ''} | ${r.steps}${r.stopped === 'aborted' ? ' (time budget)' : ''} | ${r.seconds.toFixed(0)} s | ${last?.loss.toFixed(3) ?? '-'} | ${pct(r.zeroShot?.top1)} | ${pct(r.zeroShot?.top5)} | ${pct(r.retrieval?.i2t.r1)} | ${pct(r.retrieval?.i2t.r5)} | ${pct(r.retrieval?.t2i.r1)} | ${pct(r.retrieval?.t2i.r5)} | ${pct(r.linearProbe?.top1)} |${fm ? '' : ` ${pct(r.tasks?.colour?.zeroShot.top1)} | ${pct(r.tasks?.colour?.linearProbe.top1)} |`}`;
      }),
      '',
      'A few minutes of CPU training on a tiny model is not a reproduction of the paper\'s numbers; docs/results.md explains the setting and what it shows.',
      '',
      '## Curves',
      '',
      '![total loss](compare-loss.svg)',
      '![contrastive term](compare-clip-term.svg)',
      '',
      ...state.runs.flatMap((r) => [
        `- ${label(r)}: \`${relative(o.out, join(r.dir, 'metrics.jsonl'))}\`, plots ${['loss', 'lr', 'logit-scale', 'throughput'].map((n) => `[${n}](${relative(o.out, join(r.dir, `${n}.svg`))})`).join(', ')}, checkpoint \`${relative(o.out, join(r.dir, 'checkpoints'))}\``,
      ]),
      '',
    ];
    await writeFile(join(o.out, 'report.md'), lines.join('\n'));
    const results = state.runs.map((r) => ({
      mode: r.mode,
      seed: r.seed,
      steps: r.steps,
      seconds: Math.round(r.seconds),
      ...Object.fromEntries(Object.entries(metrics).map(([k, f]) => [k, f(r) ?? null])),
    }));
    const dataOptions = fm ? { data: o.data, input: o.input } : {};
    await writeFile(join(o.out, 'results.json'), JSON.stringify({ options: { ...dataOptions, train: o.train, heldout: o.heldout, steps: o.steps, batch: o.batch, seeds: o.seeds, trainConfig: o.trainConfig }, runs: results }, null, 1) + '\n');
    state.stdout.write([...comparison, '', `chance: zero-shot ${pct(1 / Math.max(1, numClasses))}, R@1 ${pct(1 / Math.max(1, o.heldout))}`].join('\n') + `\n\nreport: ${join(o.out, 'report.md')}\n`);
  },
};

/** The demo's steps, in order: data, read-back, statistics, training (both modes), evaluation, report. */
export const demoSteps: readonly DemoStep[] = [createDataStep, readBackStep, printStatsStep, trainStep, evalStep, reportStep];

/** Validate {@link DemoOptions}. */
export function resolveDemoOptions(options: DemoOptions = {}): ResolvedDemoOptions {
  return {
    out: options.out ?? demoDefaults.out,
    train: options.train ?? demoDefaults.train,
    heldout: options.heldout ?? demoDefaults.heldout,
    seed: options.seed ?? demoDefaults.seed,
    maxCount: options.maxCount ?? demoDefaults.maxCount,
    imageSize: options.imageSize ?? demoDefaults.imageSize,
    force: options.force ?? demoDefaults.force,
    steps: options.steps ?? demoDefaults.steps,
    batch: options.batch ?? demoDefaults.batch,
    budgetMinutes: options.budgetMinutes ?? demoDefaults.budgetMinutes * (options.seeds?.length ?? 1),
    modes: options.modes ?? ['clip', 'declip'],
    seeds: options.seeds ?? [options.seed ?? demoDefaults.seed],
    trainConfig: options.trainConfig ?? DEMO_TRAIN_CONFIG,
    data: expectOneOf('data', options.data ?? 'synthetic', DEMO_DATA),
    input: options.input ?? FASHION_MNIST_DEFAULT_DIR,
    backend: expectOneOf('backend', options.backend ?? demoDefaults.backend, ['auto', ...BACKEND_NAMES] as const),
  };
}

/** The demo's initial state: the train and held-out sets under `out`. */
export function demoState(options: DemoOptions, io: { stdout: Writable; stderr: Writable }): DemoState {
  const o = resolveDemoOptions(options);
  return {
    options: o,
    sets: [
      { name: 'train', pattern: join(o.out, 'train-%06d.tar'), start: 0, count: o.train },
      { name: 'heldout', pattern: join(o.out, 'heldout-%06d.tar'), start: o.train, count: o.heldout },
    ],
    stdout: io.stdout,
    stderr: io.stderr,
    runs: [],
    startedAt: performance.now(),
  };
}

/**
 * Run the demo. Resolves to the exit code (non-zero when reading back found errors).
 *
 * @example
 * ```ts
 * await runDemo({ out: 'tmp/demo', train: 200, heldout: 50 });
 * ```
 */
export async function runDemo(
  options: DemoOptions = {},
  io: { stdout: Writable; stderr: Writable } = { stdout: process.stdout, stderr: process.stderr },
  steps: readonly DemoStep[] = demoSteps,
): Promise<number> {
  const state = demoState(options, io);
  for (const step of steps) await step.run(state);
  return state.sets.some((s) => (s.readBack?.errors ?? 0) > 0 || (s.readBack !== undefined && s.readBack.samples !== s.index?.totals.samples)) ? 1 : 0;
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
    .option('--train <n>', 'train samples', String(demoDefaults.train))
    .option('--heldout <n>', 'held-out samples', String(demoDefaults.heldout))
    .option('--seed <s>', 'dataset seed', String(demoDefaults.seed))
    .option('--max-count <n>', 'samples per shard', String(demoDefaults.maxCount))
    .option('--image-size <n>', 'image side in pixels', String(demoDefaults.imageSize))
    .option('--force', 'rebuild the shards even if matching ones exist')
    .option('--steps <n>', 'optimizer steps of each training run (0: data only)', String(demoDefaults.steps))
    .option('--batch <n>', 'samples per batch', String(demoDefaults.batch))
    .option('--modes <list>', 'runs to train: clip,declip', 'clip,declip')
    .option('--budget-minutes <n>', `wall-clock budget of the whole demo (default ${demoDefaults.budgetMinutes} per training seed)`)
    .option('--seeds <list>', 'training seeds, e.g. 0,1,2: each mode is trained once per seed and the report gives mean +- sd (default: the data seed)')
    .option('--config <file|preset>', 'training config the runs start from (a preset name or a JSON file; steps, batch, seed and mode come from the demo)')
    .option('--backend <name>', `TensorFlow.js backend: auto | ${BACKEND_NAMES.join(' | ')}`, demoDefaults.backend)
    .action(async (opts: Record<string, string | boolean | undefined>) => {
      const num = (flag: string, key: string, min: number): number => parseIntegerOption(flag, String(opts[key]), min);
      const seeds = typeof opts['seeds'] === 'string' ? parseSeedList(opts['seeds']) : undefined;
      const trainConfig = typeof opts['config'] === 'string' ? await readTrainConfigInput(opts['config']) : undefined;
      const code = await runDemo({
        ...(seeds === undefined ? {} : { seeds }),
        ...(trainConfig === undefined ? {} : { trainConfig }),
        out: String(opts['out']),
        backend: expectOneOf('--backend', String(opts['backend']), ['auto', ...BACKEND_NAMES] as const),
        ...(opts['data'] === 'synthetic' ? {} : { data: expectOneOf('--data', String(opts['data']), DEMO_DATA) }),
        ...(typeof opts['input'] === 'string' ? { input: opts['input'] } : {}),
        train: num('--train', 'train', 1),
        heldout: num('--heldout', 'heldout', 1),
        seed: num('--seed', 'seed', 0),
        maxCount: num('--max-count', 'maxCount', 1),
        imageSize: num('--image-size', 'imageSize', 16),
        force: opts['force'] === true,
        steps: num('--steps', 'steps', 0),
        batch: num('--batch', 'batch', 1),
        ...(opts['budgetMinutes'] === undefined ? {} : { budgetMinutes: num('--budget-minutes', 'budgetMinutes', 1) }),
        modes: String(opts['modes'])
          .split(',')
          .map((m) => m.trim())
          .filter((m): m is 'clip' | 'declip' => m === 'clip' || m === 'declip'),
      });
      if (code !== 0) process.exitCode = code;
    });
}
