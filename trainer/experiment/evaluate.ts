/**
 * Evaluate one trained run: zero-shot top-1/top-5 from class names with a prompt
 * ensemble, a linear probe on frozen image embeddings, and image-text retrieval, on the
 * test split. Every choice the evaluation makes (the probe's L2 penalty) is made on the
 * validation split; the test split is only scored.
 *
 * Tasks: Fashion-MNIST has one (`class`: the samples' `cls`, prompts = every caption
 * wording of a class). The synthetic data has two read from each sample's `json`
 * attributes - `colour` (the headline: what the model learns in a short run) and `shape`.
 */
import { fashionMnistPrompts, FASHION_MNIST_CLASSES, SYNTHETIC_COLOURS, SYNTHETIC_SHAPES } from '../../datasets/convert/index.js';
import { type ErrorPolicy, readSamples } from '../../datasets/reader/index.js';
import { embedShards, encodeTexts, type EvalModel, loadEvalModel, type ShardEmbeddings } from '../eval/embed.js';
import { linearProbe } from '../eval/linear-probe.js';
import { retrievalRecall } from '../eval/retrieval.js';
import { buildPrompts, classEmbeddings, zeroShotAccuracy } from '../eval/zeroshot.js';
import type { ExperimentDataset } from './data.js';

/** A zero-shot task: a labelling of the samples and its prompts (`prompts[c]` = the prompts of class c). */
export interface EvalTask {
  readonly name: 'class' | 'colour' | 'shape';
  readonly classes: readonly string[];
  readonly prompts: readonly (readonly string[])[];
  /** Labels from `cls` (undefined) or from this `json` attribute. */
  readonly attribute?: 'colour' | 'shape';
}

/**
 * The tasks of a data set, headline first. Synthetic prompts use the captions' wording and
 * name the other attribute in every variant ("a red {}", "a green {}", ... for shapes),
 * so a class embedding is the mean over that attribute - no label is used.
 */
export function evalTasks(dataset: ExperimentDataset): readonly EvalTask[] {
  if (dataset === 'fashion-mnist') return [{ name: 'class', classes: FASHION_MNIST_CLASSES, prompts: fashionMnistPrompts() }];
  const colours = Object.keys(SYNTHETIC_COLOURS);
  const perClass = (classes: readonly string[], templates: readonly string[]) => classes.map((c) => buildPrompts([c], templates));
  return [
    { name: 'colour', classes: colours, prompts: perClass(colours, SYNTHETIC_SHAPES.map((s) => `a {} ${s}`)), attribute: 'colour' },
    { name: 'shape', classes: SYNTHETIC_SHAPES, prompts: perClass(SYNTHETIC_SHAPES, colours.map((c) => `a ${c} {}`)), attribute: 'shape' },
  ];
}

/** The probe's L2 penalties tried; the one with the best validation accuracy is scored on test. */
export const PROBE_L2_GRID = [1e-4, 1e-3, 1e-2, 1e-1] as const;

/** One task's scores (fractions). */
export interface TaskScores {
  readonly zeroShotTop1: number;
  readonly zeroShotTop5: number;
  readonly linearProbe: number;
  /** The probe's L2 penalty, chosen on validation. */
  readonly probeL2: number;
  readonly valZeroShotTop1: number;
  readonly valLinearProbe: number;
}

/** A run's scores: the headline task's at the top level, every task under `tasks`. */
export interface RunScores extends TaskScores {
  readonly i2tR1: number;
  readonly i2tR5: number;
  readonly t2iR1: number;
  readonly t2iR5: number;
  /** Test pairs scored (zero-shot, probe). */
  readonly n: number;
  /** Test pairs retrieval ranked among. */
  readonly retrievalN: number;
  readonly tasks: Readonly<Record<string, TaskScores>>;
}

/** The shards of the three splits, and how many training pairs the probe is fitted on. */
export interface EvalData {
  readonly train: readonly string[];
  readonly validation: readonly string[];
  readonly test: readonly string[];
  readonly probeTrain: number;
  /** A shard that cannot be opened: throw, warn or skip (the experiment's `onShardError`). */
  readonly onShardError: ErrorPolicy;
  /** Retrieval is scored over the first this many test pairs (a 10,000 x 10,000 similarity matrix per direction costs minutes of CPU per run). */
  readonly retrievalPairs: number;
}

/** The class id of every key for one attribute, read from the samples' `json` member (-1: unknown). */
export async function attributeLabels(urls: readonly string[], keys: readonly string[], task: EvalTask): Promise<Int32Array> {
  if (task.attribute === undefined) throw new RangeError(`task ${task.name} has no attribute`);
  const byKey = new Map<string, number>();
  const reader = readSamples({ urls, onError: 'warn' });
  try {
    for await (const sample of reader) {
      const json = sample.files['json'];
      if (json === undefined) continue;
      const value = (JSON.parse(json.toString()) as Record<string, unknown>)[task.attribute];
      byKey.set(sample.__key__, typeof value === 'string' ? task.classes.indexOf(value) : -1);
    }
  } finally {
    await reader.close();
  }
  return Int32Array.from(keys, (k) => byKey.get(k) ?? -1);
}

type Split = 'train' | 'validation' | 'test';

/** Labels per split and task, read once and shared by every run (every run reads the shards in the same order). */
export class LabelCache {
  readonly #labels = new Map<string, Int32Array>();
  async get(split: Split, urls: readonly string[], emb: ShardEmbeddings, task: EvalTask): Promise<Int32Array> {
    if (task.attribute === undefined) return emb.labels;
    const key = `${split}:${task.name}:${emb.n}:${urls.join("::")}`;
    const found = this.#labels.get(key);
    if (found !== undefined) return found;
    const labels = await attributeLabels(urls, emb.keys, task);
    this.#labels.set(key, labels);
    return labels;
  }
}

async function scoreTask(ev: EvalModel, task: EvalTask, emb: Record<Split, ShardEmbeddings>, y: Record<Split, Int32Array>): Promise<TaskScores> {
  const k = task.classes.length;
  const perClass = task.prompts[0]?.length ?? 0;
  const d = emb.test.d;
  const classEmb = classEmbeddings(await encodeTexts(ev, task.prompts.flat()), k, perClass, d);
  const zs = zeroShotAccuracy(emb.test.image, y.test, classEmb, d);
  const zsVal = zeroShotAccuracy(emb.validation.image, y.validation, classEmb, d);
  const train = { x: emb.train.image, y: y.train };
  let best: { l2: number; top1: number } | undefined;
  for (const l2 of PROBE_L2_GRID) {
    const { top1 } = linearProbe(train, { x: emb.validation.image, y: y.validation }, d, { l2, numClasses: k });
    if (best === undefined || top1 > best.top1) best = { l2, top1 };
  }
  const l2 = best?.l2 ?? PROBE_L2_GRID[1];
  const probe = linearProbe(train, { x: emb.test.image, y: y.test }, d, { l2, numClasses: k });
  return { zeroShotTop1: zs.top1, zeroShotTop5: zs.top5, linearProbe: probe.top1, probeL2: l2, valZeroShotTop1: zsVal.top1, valLinearProbe: best?.top1 ?? 0 };
}

/** Evaluate the newest checkpoint of a run folder on every task. */
export async function evaluateRun(runDir: string, dataset: ExperimentDataset, data: EvalData, labels: LabelCache): Promise<RunScores> {
  const ev = await loadEvalModel(runDir);
  try {
    const emb: Record<Split, ShardEmbeddings> = {
      test: await embedShards(ev, { shards: data.test, onShardError: data.onShardError }),
      validation: await embedShards(ev, { shards: data.validation, onShardError: data.onShardError }),
      train: await embedShards(ev, { shards: data.train, limit: data.probeTrain, onShardError: data.onShardError }),
    };
    const r = Math.min(emb.test.n, data.retrievalPairs) * emb.test.d;
    const retrieval = retrievalRecall(emb.test.image.subarray(0, r), emb.test.text.subarray(0, r), emb.test.d);
    const tasks: Record<string, TaskScores> = {};
    for (const task of evalTasks(dataset)) {
      const y = {
        train: await labels.get('train', data.train, emb.train, task),
        validation: await labels.get('validation', data.validation, emb.validation, task),
        test: await labels.get('test', data.test, emb.test, task),
      };
      tasks[task.name] = await scoreTask(ev, task, emb, y);
    }
    const head = Object.values(tasks)[0];
    if (head === undefined) throw new RangeError(`no evaluation task for ${dataset}`);
    return { ...head, i2tR1: retrieval.i2t.r1, i2tR5: retrieval.i2t.r5, t2iR1: retrieval.t2i.r1, t2iR5: retrieval.t2i.r5, n: emb.test.n, retrievalN: retrieval.n, tasks };
  } finally {
    ev.dispose();
  }
}
