/**
 * The data of a comparison: training pairs (one shard set per training-set size), a
 * validation split carved from the training data (for every choice the evaluation makes)
 * and the test split, all written as shards under the output folder and reused when
 * matching ones are there.
 *
 * - `fashion-mnist`: training pairs are the first N images of the train split; the
 *   validation split is the last {@link ExperimentDataOptions.validation} images of the
 *   train split (never among the training pairs: N is capped below them); the test split
 *   is the test split's first `test` images (all 10,000 by default).
 * - `synthetic`: training pairs are samples 0..N-1 of the data seed; validation and test
 *   are samples from {@link SYNTHETIC_VALIDATION_START} and {@link SYNTHETIC_TEST_START},
 *   disjoint from any training set.
 */
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Writable } from 'node:stream';
import { InvalidOptionError, SourceDataError } from '../../core/errors.js';
import { convertToShards, FASHION_MNIST_DEFAULT_DIR, fashionMnistSource, syntheticSource, type SampleSource } from '../../datasets/convert/index.js';
import { readSamples } from '../../datasets/reader/index.js';
import { type JsonValue, readShardIndex, type ShardIndex } from '../../datasets/shard-index.js';

/** The data sets a comparison runs on. */
export const EXPERIMENT_DATASETS = ['synthetic', 'fashion-mnist'] as const;
export type ExperimentDataset = (typeof EXPERIMENT_DATASETS)[number];

/** Synthetic samples from here on are the validation split. */
export const SYNTHETIC_VALIDATION_START = 2_000_000;
/** Synthetic samples from here on are the test split. */
export const SYNTHETIC_TEST_START = 1_000_000;

/** What the data step needs. */
export interface ExperimentDataOptions {
  readonly dataset: ExperimentDataset;
  /** Fashion-MNIST IDX folder. */
  readonly input: string;
  /** Output folder: shards go to `out/data`. */
  readonly out: string;
  /** Training-set sizes (pairs). */
  readonly trainPairs: readonly number[];
  /** Validation pairs. */
  readonly validation: number;
  /** Test pairs (Fashion-MNIST: capped by the split, 10,000). */
  readonly test: number;
  /** Data seed (Fashion-MNIST: the caption seed). */
  readonly dataSeed: number;
  /** Samples per shard. */
  readonly maxCount: number;
  /** Synthetic image side. */
  readonly imageSize: number;
  /** Rebuild even when matching shards exist. */
  readonly force: boolean;
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

/** One set of shards. */
export interface DataSet {
  readonly role: 'train' | 'validation' | 'test';
  /** Training pairs (train sets). */
  readonly pairs?: number;
  readonly pattern: string;
  /** First sample (synthetic: the sample index; Fashion-MNIST: the image of its split). */
  readonly start: number;
  readonly count: number;
  index?: ShardIndex;
  shardUrls?: readonly string[];
  reused?: boolean;
  readBack?: ReadBackStats;
}

/** The name a set is printed under: `train` (or `train-N` with several sizes), `validation`, `test`. */
export function setName(set: DataSet, sizes: number): string {
  return set.role === 'train' && sizes > 1 ? `train-${set.pairs ?? set.count}` : set.role;
}

/**
 * The sets of a comparison: one train set per size, then validation and test. On
 * Fashion-MNIST the train split's header is read for its size (the validation split is
 * its tail).
 */
export async function experimentSets(o: ExperimentDataOptions): Promise<DataSet[]> {
  const dir = join(o.out, 'data');
  let valStart = SYNTHETIC_VALIDATION_START;
  if (o.dataset === 'fashion-mnist') {
    const trainSize = (await openFashionMnist(o, 'train')).total ?? 0;
    valStart = trainSize - o.validation;
    if (valStart < 1) throw new InvalidOptionError('--validation', `Expected fewer than ${trainSize} validation pairs (the train split's size) but received ${o.validation}`);
    for (const n of o.trainPairs) {
      if (n > valStart) throw new InvalidOptionError('--train-pairs', `Expected at most ${valStart} training pairs (the last ${o.validation} of the ${trainSize} train images are the validation split) but received ${n}`);
    }
  }
  // Fashion-MNIST: the whole test split when it holds fewer than `test` images.
  const test = o.dataset === 'fashion-mnist' ? Math.min(o.test, (await openFashionMnist(o, 'test')).total ?? 0) : o.test;
  return [
    ...o.trainPairs.map((n): DataSet => ({ role: 'train', pairs: n, pattern: join(dir, `train-${n}-%06d.tar`), start: 0, count: n })),
    { role: 'validation', pattern: join(dir, 'validation-%06d.tar'), start: valStart, count: o.validation },
    { role: 'test', pattern: join(dir, 'test-%06d.tar'), start: o.dataset === 'fashion-mnist' ? 0 : SYNTHETIC_TEST_START, count: test },
  ];
}

/** The Fashion-MNIST split a set comes from. */
function fashionMnistSplit(set: DataSet): 'train' | 'test' {
  return set.role === 'test' ? 'test' : 'train';
}

/** The index `meta` that identifies a set (compared before reusing shards). */
function setMeta(set: DataSet, o: ExperimentDataOptions): Record<string, JsonValue> {
  return {
    experimentSet: set.role,
    experimentStart: set.start,
    experimentCount: set.count,
    ...(o.dataset === 'fashion-mnist' ? { input: o.input } : { imageSize: o.imageSize }),
  };
}

async function reusable(set: DataSet, o: ExperimentDataOptions): Promise<ShardIndex | undefined> {
  const found = await readShardIndex(set.pattern).catch(() => undefined);
  if (found === undefined) return undefined;
  const m = found.index.meta;
  if (m['source'] !== o.dataset || m['seed'] !== o.dataSeed) return undefined;
  for (const [k, v] of Object.entries(setMeta(set, o))) if (m[k] !== v) return undefined;
  if (found.index.totals.samples !== set.count) return undefined;
  if (found.index.shards.some((s) => s.samples > o.maxCount)) return undefined;
  for (const [i, url] of found.shardUrls.entries()) {
    const size = await stat(url).then((s) => s.size, () => -1);
    if (size !== found.index.shards[i]?.bytes) return undefined;
  }
  return found.index;
}

/** `source` without its first `skip` samples (`total` adjusted). */
function skipSamples(source: SampleSource, skip: number): SampleSource {
  return {
    ...source,
    total: source.total === undefined ? undefined : Math.max(0, source.total - skip),
    async *[Symbol.asyncIterator]() {
      let i = 0;
      for await (const s of source) if (i++ >= skip) yield s;
    },
  };
}

/** A Fashion-MNIST split (its first `limit` images), with a hint on how to get the files when they are missing. */
async function openFashionMnist(o: ExperimentDataOptions, split: 'train' | 'test', limit?: number): Promise<SampleSource> {
  return fashionMnistSource({ input: o.input, split, seed: o.dataSeed, ...(limit === undefined ? {} : { limit }) }).catch((err: unknown) => {
    if (!(err instanceof SourceDataError) || err.reason !== 'missing-input') throw err;
    const detail = err.message.replace(/ \(file [^)]*\)$/, '');
    throw new SourceDataError('missing-input', `${detail}: install Debian's dataset-fashion-mnist (apt-get install dataset-fashion-mnist, files in ${FASHION_MNIST_DEFAULT_DIR}) or pass --input DIR with the four IDX files from https://github.com/zalandoresearch/fashion-mnist`, err.file, { cause: err });
  });
}

async function setSource(set: DataSet, o: ExperimentDataOptions): Promise<SampleSource> {
  if (o.dataset === 'synthetic') return syntheticSource({ count: set.count, start: set.start, seed: o.dataSeed, imageSize: o.imageSize });
  const source = await openFashionMnist(o, fashionMnistSplit(set), set.start + set.count);
  return set.start === 0 ? source : skipSamples(source, set.start);
}

/** Create (or reuse) every set's shards. */
export async function createSets(sets: readonly DataSet[], o: ExperimentDataOptions, log: (line: string) => void): Promise<void> {
  for (const set of sets) {
    const existing = o.force ? undefined : await reusable(set, o);
    if (existing !== undefined) {
      set.index = existing;
      set.reused = true;
      continue;
    }
    const started = performance.now();
    const { index } = await convertToShards(await setSource(set, o), { pattern: set.pattern, maxCount: o.maxCount, meta: setMeta(set, o) });
    if (index.totals.samples < set.count) {
      const flag = set.role === 'train' ? '--train-pairs' : set.role === 'test' ? '--test' : '--validation';
      throw new InvalidOptionError(flag, `Expected at most ${index.totals.samples} ${set.role} samples from ${o.input} but received ${set.count}`);
    }
    set.index = index;
    set.reused = false;
    const seconds = (performance.now() - started) / 1000;
    log(`wrote ${setName(set, o.trainPairs.length)} (${index.totals.samples} samples, ${index.totals.shards} shard${index.totals.shards === 1 ? '' : 's'}) in ${seconds.toFixed(1)} s`);
  }
}

/** Read every shard of every set back and count what is there. */
export async function readBackSets(sets: readonly DataSet[]): Promise<void> {
  for (const set of sets) {
    const found = await readShardIndex(set.pattern);
    if (found === undefined) continue;
    set.shardUrls = found.shardUrls;
    const classCounts = (found.index.classes ?? []).map(() => 0);
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
        const id = Number(sample.files['cls']?.toString());
        if (Number.isInteger(id) && id >= 0 && id < classCounts.length) classCounts[id] = (classCounts[id] ?? 0) + 1;
      }
    } finally {
      await reader.close();
    }
    const errors = reader.stats.errors.reduce((n, e) => n + e.count, 0);
    set.readBack = { samples, bytes, extensions, classCounts, errors, seconds: (performance.now() - started) / 1000 };
  }
}

function formatBytes(n: number): string {
  return n >= 1e6 ? `${(n / 1e6).toFixed(2)} MB` : `${(n / 1e3).toFixed(1)} kB`;
}

/** Print each set's index statistics and, after {@link readBackSets}, what reading it back found. */
export function printSetStats(sets: readonly DataSet[], o: ExperimentDataOptions, title: string, stdout: Writable): void {
  const out: string[] = [
    o.dataset === 'fashion-mnist'
      ? `${title}: Fashion-MNIST from ${o.input} (train split for training, its last ${o.validation} images for validation, test split for testing; caption seed ${o.dataSeed}) in ${o.out}`
      : `${title}: built-in synthetic shapes (seed ${o.dataSeed}, ${o.imageSize}x${o.imageSize} PNG) in ${o.out}`,
  ];
  for (const set of sets) {
    const index = set.index;
    if (index === undefined) continue;
    const t = index.totals;
    out.push('', `${setName(set, o.trainPairs.length)}: ${set.pattern}${set.reused === true ? ' (reused)' : ''}`);
    out.push(`  index:      ${t.samples} samples in ${t.shards} shard${t.shards === 1 ? '' : 's'}, ${formatBytes(t.bytes)} on disk`);
    out.push(`  extensions: ${Object.entries(index.extensions).map(([e, n]) => `${e} ${n}`).join(', ')}`);
    const rb = set.readBack;
    if (rb !== undefined) {
      const match = rb.samples === t.samples ? 'matches the index' : `INDEX SAYS ${t.samples}`;
      out.push(`  read back:  ${rb.samples} samples (${match}), ${formatBytes(rb.bytes)} of member data, ${rb.errors} errors, ${(rb.samples / Math.max(rb.seconds, 1e-9)).toFixed(0)} samples/s`);
      out.push(`  classes:    ${(index.classes ?? []).map((c, i) => `${c} ${rb.classCounts[i] ?? 0}`).join(', ')}`);
    } else if (index.classes !== undefined) {
      out.push(`  classes:    ${index.classes.join(', ')}`);
    }
  }
  out.push('');
  stdout.write(out.join('\n') + '\n');
}

/** True when reading back found errors or a count that differs from the index. */
export function readBackFailed(sets: readonly DataSet[]): boolean {
  return sets.some((s) => (s.readBack?.errors ?? 0) > 0 || (s.readBack !== undefined && s.readBack.samples !== s.index?.totals.samples));
}

/** The shard URLs of a set (from its index). */
export async function setUrls(set: DataSet): Promise<readonly string[]> {
  if (set.shardUrls !== undefined) return set.shardUrls;
  const found = await readShardIndex(set.pattern);
  if (found === undefined) throw new InvalidOptionError('out', `The ${set.role} shards ${set.pattern} are missing`);
  set.shardUrls = found.shardUrls;
  return found.shardUrls;
}
