/**
 * What every converter produces - a {@link SampleSource}: an async iterable of samples
 * plus what is known about them (expected count, class names, a description, skip
 * counts) - and {@link convertToShards}, which writes any source through a
 * `ShardWriter` with progress callbacks.
 *
 * @example
 * ```ts
 * const source = syntheticSource({ count: 1000, seed: 3 });
 * const { index } = await convertToShards(source, { pattern: 'd/syn-%06d.tar', maxCount: 500 }, {
 *   onProgress: (p) => console.error(`${p.done}/${p.total}`),
 * });
 * ```
 */
import { invalidOption } from '../../core/validate.js';
import type { SampleInput } from '../sample.js';
import type { JsonValue, ShardIndex } from '../shard-index.js';
import { ShardWriter, type ShardWriterOptions, type WrittenShard } from '../writer/shard-writer.js';

/** A stream of samples to write, with what is known about it. */
export interface SampleSource extends AsyncIterable<SampleInput> {
  /** Converter name (`synthetic`, `folder`, `csv`, `fashion-mnist`). */
  readonly kind: string;
  /** Items the source will look at (samples + skips), when known up front. */
  readonly total: number | undefined;
  /** Class names (index = `cls` id) for labelled data. */
  readonly classes: readonly string[] | undefined;
  /** Recorded in the index `meta`: source, seed, split, input... */
  readonly meta: Readonly<Record<string, JsonValue>>;
  /** Input items skipped so far, by reason (`missing-caption`, `missing-image`...). */
  readonly skipped: Readonly<Record<string, number>>;
  /** The first few skipped items (path and reason), for reports. */
  readonly skippedExamples: readonly SkippedItem[];
}

/** One skipped input item. */
export interface SkippedItem {
  readonly item: string;
  readonly reason: string;
}

/** Progress of a conversion. */
export interface ConvertProgress {
  /** Samples written. */
  readonly done: number;
  /** Samples + skips expected, when known. */
  readonly total: number | undefined;
  /** Input items skipped, by reason. */
  readonly skipped: Readonly<Record<string, number>>;
  /** Shards completed. */
  readonly shards: number;
}

/** What {@link convertToShards} returns. */
export interface ConvertResult {
  readonly index: ShardIndex;
  readonly skipped: Readonly<Record<string, number>>;
  readonly skippedExamples: readonly SkippedItem[];
  readonly shards: readonly WrittenShard[];
}

/** Options of {@link convertToShards} besides the writer's. */
export interface ConvertOptions {
  readonly onProgress?: (progress: ConvertProgress) => void;
  readonly onShard?: (shard: WrittenShard) => void;
  readonly signal?: AbortSignal;
}

/** How many skipped items a source remembers by name. */
export const MAX_SKIPPED_EXAMPLES = 20;

/** Skip bookkeeping shared by the converters. */
export class SkipCounter {
  readonly counts: Record<string, number> = {};
  readonly examples: SkippedItem[] = [];
  get total(): number {
    return Object.values(this.counts).reduce((a, b) => a + b, 0);
  }
  add(reason: string, item: string): void {
    this.counts[reason] = (this.counts[reason] ?? 0) + 1;
    if (this.examples.length < MAX_SKIPPED_EXAMPLES) this.examples.push({ item, reason });
  }
}

/**
 * Write every sample of `source` into shards. Class names and the source's `meta` (plus
 * `skipped` counts) go into the index. Aborting stops after the current sample (the
 * partial shard is discarded, completed shards stay, no index is written).
 *
 * @example
 * ```ts
 * const { index, skipped } = await convertToShards(await folderSource({ input: 'photos' }), { pattern: 'out/ph-%06d.tar' });
 * ```
 */
export async function convertToShards(
  source: SampleSource,
  writerOptions: Omit<ShardWriterOptions, 'classes' | 'meta' | 'signal' | 'onShard'> & {
    readonly meta?: Readonly<Record<string, JsonValue>>;
  },
  options: ConvertOptions = {},
): Promise<ConvertResult> {
  if (options.onProgress !== undefined && typeof options.onProgress !== 'function') {
    throw invalidOption('onProgress', 'function', options.onProgress);
  }
  const signal = options.signal;
  signal?.throwIfAborted();
  const shards: WrittenShard[] = [];
  const writer = new ShardWriter({
    ...writerOptions,
    ...(source.classes === undefined ? {} : { classes: source.classes }),
    meta: { ...source.meta, ...(writerOptions.meta ?? {}) },
    ...(signal === undefined ? {} : { signal }),
    onShard: (s) => {
      shards.push(s);
      options.onShard?.(s);
    },
  });
  let done = 0;
  try {
    for await (const sample of source) {
      signal?.throwIfAborted();
      await writer.write(sample);
      done++;
      options.onProgress?.({ done, total: source.total, skipped: source.skipped, shards: shards.length });
    }
    writer.annotate({ skipped: { ...source.skipped } });
    const index = await writer.close();
    options.onProgress?.({ done, total: source.total, skipped: source.skipped, shards: shards.length });
    return { index, skipped: { ...source.skipped }, skippedExamples: [...source.skippedExamples], shards };
  } catch (err) {
    await writer.abort(err);
    throw err;
  }
}

/**
 * Map `items` through an async `fn` with at most `concurrency` calls in flight, yielding
 * results in input order (a bounded, ordered window: used to render or encode images
 * on sharp's thread pool while keeping the output deterministic).
 *
 * @example
 * ```ts
 * for await (const png of orderedMap(indices(), (i) => render(i), 4)) await writer.write(png);
 * ```
 */
export async function* orderedMap<T, R>(
  items: Iterable<T> | AsyncIterable<T>,
  fn: (item: T) => Promise<R>,
  concurrency: number,
): AsyncGenerator<R> {
  const window: Promise<R>[] = [];
  try {
    for await (const item of items) {
      const p = fn(item);
      p.catch(() => undefined); // observed when it reaches the head of the window
      window.push(p);
      if (window.length >= concurrency) yield await (window.shift() as Promise<R>);
    }
    while (window.length > 0) yield await (window.shift() as Promise<R>);
  } finally {
    window.length = 0;
  }
}
