/**
 * URL ingestion: rows of a URL list -> downloaded, checked, resized, re-encoded images
 * -> numbered WebDataset shards with a `_stats.json` per shard and an index.
 *
 * - The unit of work is the shard: row `r` goes to shard `floor(r / rowsPerShard)`, and
 *   its key is the row number (9 digits). Rank `R` of `W` writes the shards `n` with
 *   `n % W === R`, and its own index file, so W processes on W machines build one dataset
 *   with no coordinator (`declip shards index` then merges the indexes).
 * - Every owned row ends as exactly one written sample or one counted failure, by class
 *   (`http-404`, `http-4xx`, `http-5xx`, `timeout`, `connection`, `too-many-redirects`,
 *   `too-many-bytes`, `bad-url`, `missing-url`, `bad-row`, `not-an-image`,
 *   `unsupported-format`, `decode-error`, `too-large`, `too-small`, `bad-aspect-ratio`,
 *   `encode-error`). A failed row writes no member.
 * - Samples: `KEY.<encode ext>` (the image), `KEY.txt` (the caption, when the list has
 *   captions), `KEY.json` (url, caption, key, status, width/height, original
 *   width/height, sha256 of the downloaded bytes).
 * - Shards are written atomically (temp name, fsync, rename); the shard's `_stats.json`
 *   is written after it and marks it complete: `existing: 'incremental'` keeps shards
 *   that have one and redoes the rest, so an interrupted run resumes to the same shards.
 *   `'refuse'` (the default) fails before any work if a shard, stats file or index this
 *   process would write exists; `'overwrite'` replaces them and removes stale
 *   higher-numbered shards this process owns.
 * - Concurrency: downloads are bounded by `concurrency`; decode/resize/encode runs on a
 *   piscina pool of `workers` threads; at most `window` rows are in flight or waiting
 *   to be written in row order, so memory stays flat however long the list. (A
 *   hand-written window rather than RxJS `mergeMap`: `from(asyncIterable)` would read
 *   the list ahead without bound, and results must be written in row order with a
 *   stalled row holding back at most `window` others.)
 *
 * @example
 * ```ts
 * const list = await openUrlList({ input: 'cc3m.tsv' });
 * const r = await ingestUrls(list, { pattern: 'cc3m/cc3m-%06d.tar', rowsPerShard: 10_000, image: { imageSize: 256, resizeMode: 'center_crop' } });
 * console.log(r.written, r.failed, r.failures);
 * ```
 */
import { setMaxListeners } from 'node:events';
import { availableParallelism } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import { DeclipError, ShardWriteError } from '../../core/errors.js';
import { runningFromSources } from '../../core/package-info.js';
import { expectInteger, invalidOption } from '../../core/validate.js';
import type { UrlList, UrlRow } from '../../datasets/convert/url-list.js';
import { shardIndexPathFor, shardStem, writeShardIndex, type JsonValue, type ShardIndex, type ShardIndexEntry } from '../../datasets/shard-index.js';
import {
  existingOutputs,
  nodeFileSystem,
  pathExists,
  refuseExisting,
  removeStaleShards,
  statsPathFor,
  writeFileDurably,
  type WriterFileSystem,
} from '../../datasets/writer/files.js';
import { parseShardPattern } from '../../datasets/writer/pattern.js';
import { ShardWriter } from '../../datasets/writer/shard-writer.js';
import { Downloader, type DownloadOptions } from './download.js';
import { DEFAULT_IMAGE_JOB, type ImageJobOptions } from './image.js';
import type { ImageTask, ImageTaskResult } from './image-worker.js';

/** What to do with output that exists. */
export type ExistingPolicy = 'refuse' | 'overwrite' | 'incremental';

/** Options of {@link ingestUrls}. */
export interface IngestOptions {
  /** Shard name pattern with one `%06d`. */
  readonly pattern: string;
  /** Rows per shard (the fixed rows -> shard mapping). Default 10,000 (img2dataset's). */
  readonly rowsPerShard?: number;
  readonly rank?: number;
  readonly worldSize?: number;
  readonly existing?: ExistingPolicy;
  /** Downloads in flight. Default `min(64, 16 x cores)`. */
  readonly concurrency?: number;
  /** Image worker threads. Default: the core count. */
  readonly workers?: number;
  readonly download?: DownloadOptions;
  readonly image?: Partial<ImageJobOptions>;
  /** Index file. Default: `STEM.index.json` for one process, `STEM.rank-RRRRR-of-WWWWW.index.json` for a rank. */
  readonly indexPath?: string;
  readonly signal?: AbortSignal;
  readonly onProgress?: (p: IngestProgress) => void;
  /** Called after each shard (and its stats) is complete. */
  readonly onShard?: (s: ShardStats) => void;
  /** File system layer of the writer (tests inject failures). */
  readonly fs?: WriterFileSystem;
  /** The worker module (default: `image-worker` next to this file). */
  readonly workerFile?: string;
}

/** Progress of an ingestion run. */
export interface IngestProgress {
  /** Rows this process will handle in this run (kept shards excluded). */
  readonly total: number;
  readonly done: number;
  readonly written: number;
  readonly failed: number;
  readonly shards: number;
}

/** The `_stats.json` of one shard. */
export interface ShardStats {
  readonly format: 'declip-ingest-stats';
  readonly version: 1;
  /** The shard file name (beside the stats file). */
  readonly shard: string;
  readonly number: number;
  /** First row and one past the last. */
  readonly rows: readonly [number, number];
  readonly attempted: number;
  readonly written: number;
  readonly failed: number;
  readonly failures: Readonly<Record<string, number>>;
  /** The shard as the index records it. */
  readonly samples: number;
  readonly bytes: number;
  readonly sha256: string;
  readonly extensions: Readonly<Record<string, number>>;
  readonly downloadedBytes: number;
  readonly seconds: number;
  readonly imagesPerSecond: number;
  /** The first failures of the shard (row, url, class, detail). */
  readonly examples: readonly { readonly row: number; readonly url: string | null; readonly failure: string; readonly detail: string }[];
}

/** The result of {@link ingestUrls}: over every shard the index covers (kept ones included). */
export interface IngestResult {
  readonly indexPath: string;
  readonly index: ShardIndex;
  /** Rows of the list. */
  readonly rows: number;
  readonly rank: number;
  readonly worldSize: number;
  readonly attempted: number;
  readonly written: number;
  readonly failed: number;
  readonly failures: Readonly<Record<string, number>>;
  /** Shards kept from an earlier run (`incremental`). */
  readonly kept: number;
  /** Shards written by this run. */
  readonly shardsWritten: number;
  /** Stale shards removed (`overwrite`). */
  readonly removed: readonly string[];
}

/** The index file of one rank (or the whole dataset for one process). */
export function rankIndexPathFor(pattern: string, rank: number, worldSize: number): string {
  if (worldSize === 1) return shardIndexPathFor(pattern);
  const w = Math.max(5, String(worldSize - 1).length);
  return join(dirname(pattern), `${shardStem(pattern)}.rank-${String(rank).padStart(w, '0')}-of-${String(worldSize).padStart(w, '0')}.index.json`);
}

const MAX_EXAMPLES = 20;

/** One row's result. */
type RowResult =
  | { readonly row: UrlRow; readonly ok: true; readonly image: ImageTaskResult & { readonly ok: true }; readonly downloaded: number }
  | { readonly row: UrlRow; readonly ok: false; readonly failure: string; readonly detail: string; readonly downloaded: number };

function defaultWorkerFile(): string {
  return fileURLToPath(new URL(`./image-worker.${runningFromSources() ? 'ts' : 'js'}`, import.meta.url));
}

async function readStats(path: string): Promise<ShardStats | undefined> {
  const { readFile } = await import('node:fs/promises');
  try {
    const s = JSON.parse(await readFile(path, 'utf8')) as ShardStats;
    return s.format === 'declip-ingest-stats' && typeof s.samples === 'number' && typeof s.sha256 === 'string' ? s : undefined;
  } catch {
    return undefined;
  }
}

/** A counting semaphore (downloads in flight). */
class Gate {
  #free: number;
  readonly #waiting: (() => void)[] = [];
  constructor(n: number) {
    this.#free = n;
  }
  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.#free > 0) this.#free--;
    else await new Promise<void>((resolve) => this.#waiting.push(resolve));
    try {
      return await fn();
    } finally {
      const next = this.#waiting.shift();
      if (next !== undefined) next();
      else this.#free++;
    }
  }
}

/**
 * Build shards from a URL list (see the module notes). Rejects with a
 * `ShardWriteError` (`exists`, `write-failed`, `open-failed`, `index-unwritable`) or
 * the abort reason; bad rows never reject.
 */
export async function ingestUrls(list: UrlList, options: IngestOptions): Promise<IngestResult> {
  const pattern = parseShardPattern(options.pattern, 'pattern');
  const rowsPerShard = expectInteger('rowsPerShard', options.rowsPerShard ?? 10_000, 1);
  const worldSize = expectInteger('worldSize', options.worldSize ?? 1, 1);
  const rank = expectInteger('rank', options.rank ?? 0, 0, worldSize - 1);
  const existing = options.existing ?? 'refuse';
  if (!['refuse', 'overwrite', 'incremental'].includes(existing)) throw invalidOption('existing', "'refuse', 'overwrite' or 'incremental'", existing);
  const cores = availableParallelism();
  const concurrency = expectInteger('concurrency', options.concurrency ?? Math.min(64, 16 * cores), 1, 4096);
  const workers = expectInteger('workers', options.workers ?? cores, 1, 256);
  const image: ImageJobOptions = { ...DEFAULT_IMAGE_JOB, ...options.image };
  const fs = options.fs ?? nodeFileSystem;
  const signal = options.signal;
  const indexPath = options.indexPath ?? rankIndexPathFor(options.pattern, rank, worldSize);
  signal?.throwIfAborted();

  const rows = await list.countRows();
  const numShards = Math.ceil(rows / rowsPerShard);
  const owns = (n: number): boolean => n % worldSize === rank;
  const mine: number[] = [];
  for (let n = rank; n < numShards; n += worldSize) mine.push(n);
  const rowsOf = (n: number): number => Math.min(rowsPerShard, rows - n * rowsPerShard);

  // Existing output, for exactly the shard numbers this process would write.
  const kept = new Map<number, ShardStats>();
  if (existing === 'refuse') {
    const found = await existingOutputs(pattern, (n) => owns(n) && n < numShards);
    refuseExisting(found.map((f) => f.path), 'shard');
    const stats: string[] = [];
    for (const n of mine) if (await pathExists(statsPathFor(pattern.format(n)))) stats.push(statsPathFor(pattern.format(n)));
    refuseExisting(stats, 'shard stats');
    if (await pathExists(indexPath)) refuseExisting([indexPath], 'index');
  } else if (existing === 'incremental') {
    for (const n of mine) {
      const s = await readStats(statsPathFor(pattern.format(n)));
      if (s !== undefined && s.attempted === rowsOf(n) && s.rows[0] === n * rowsPerShard && (await pathExists(pattern.format(n)))) kept.set(n, s);
    }
  }
  const todo = new Set(mine.filter((n) => !kept.has(n)));
  const shardOf = (row: number): number => Math.floor(row / rowsPerShard);
  const total = [...todo].reduce((a, n) => a + rowsOf(n), 0);

  const downloader = new Downloader({ connections: concurrency, ...options.download });
  const pool =
    todo.size === 0
      ? undefined
      : new Piscina<ImageTask, ImageTaskResult>({
          filename: options.workerFile ?? defaultWorkerFile(),
          name: 'ingestImage',
          minThreads: workers,
          maxThreads: workers,
          idleTimeout: 5_000,
        });
  const gate = new Gate(concurrency);
  const window = Math.max(2 * concurrency, 4 * workers);
  const abortAll = new AbortController();
  // One listener per download in flight or backing off (at most the window).
  setMaxListeners(window + 16, abortAll.signal);
  const onAbort = (): void => abortAll.abort(signal?.reason);
  signal?.addEventListener('abort', onAbort, { once: true });

  const handle = async (row: UrlRow): Promise<RowResult> => {
    if (row.problem !== undefined || row.url === undefined) {
      return { row, ok: false, failure: row.problem ?? 'missing-url', detail: row.problem === 'bad-row' ? 'not a JSON object' : 'no URL in the row', downloaded: 0 };
    }
    const url = row.url;
    const dl = await gate.run(() => downloader.fetch(url, abortAll.signal));
    if (!dl.ok) return { row, ok: false, failure: dl.failure, detail: dl.detail, downloaded: 0 };
    if (pool === undefined) throw new DeclipError('ingest: no worker pool');
    const result = await pool.run({ bytes: dl.bytes, options: image }, { transferList: [dl.bytes.buffer as ArrayBuffer] });
    const downloaded = dl.bytes.byteLength;
    return result.ok ? { row, ok: true, image: result, downloaded } : { row, ok: false, failure: result.failure, detail: result.detail, downloaded };
  };

  /** Row results in row order, at most `window` started ahead of the one being written. */
  async function* results(): AsyncGenerator<RowResult> {
    const queue: Promise<RowResult>[] = [];
    try {
      for await (const row of list.rows((r) => todo.has(shardOf(r)))) {
        abortAll.signal.throwIfAborted();
        const p = handle(row);
        p.catch(() => undefined); // observed when it reaches the head
        queue.push(p);
        if (queue.length >= window) yield await (queue.shift() as Promise<RowResult>);
      }
      while (queue.length > 0) yield await (queue.shift() as Promise<RowResult>);
    } finally {
      if (queue.length > 0) {
        abortAll.abort(new DeclipError('ingest stopped'));
        await Promise.allSettled(queue);
      }
    }
  }

  const written = new Map<number, ShardStats>(kept);
  let done = 0;
  let okCount = 0;
  let failCount = 0;
  let shardsDone = 0;
  const progress = (): void => options.onProgress?.({ total, done, written: okCount, failed: failCount, shards: shardsDone });

  interface Open {
    readonly number: number;
    readonly writer: ShardWriter;
    readonly started: number;
    seen: number;
    ok: number;
    downloaded: number;
    readonly failures: Record<string, number>;
    readonly examples: { row: number; url: string | null; failure: string; detail: string }[];
    readonly extensions: Record<string, number>;
  }
  let open: Open | undefined;

  const openShard = async (n: number): Promise<Open> => {
    // A shard being redone loses its completion mark first: a crash mid-shard must not
    // leave an old stats file vouching for it.
    await fs.unlink(statsPathFor(pattern.format(n))).catch(() => undefined);
    return {
      number: n,
      writer: new ShardWriter({
        pattern: options.pattern,
        firstNumber: n,
        maxCount: Number.MAX_SAFE_INTEGER,
        maxSize: Number.MAX_SAFE_INTEGER,
        index: false,
        writeEmpty: true,
        existing: 'overwrite',
        owns: (k) => k === n,
        fs,
        ...(signal === undefined ? {} : { signal }),
      }),
      started: performance.now(),
      seen: 0,
      ok: 0,
      downloaded: 0,
      failures: {},
      examples: [],
      extensions: {},
    };
  };

  const finishShard = async (s: Open): Promise<void> => {
    await s.writer.close();
    const [entry] = s.writer.shards;
    if (entry === undefined) throw new ShardWriteError('write-failed', 'the shard was not written', pattern.format(s.number));
    const seconds = (performance.now() - s.started) / 1000;
    const failed = s.seen - s.ok;
    const stats: ShardStats = {
      format: 'declip-ingest-stats',
      version: 1,
      shard: basename(entry.path),
      number: s.number,
      rows: [s.number * rowsPerShard, s.number * rowsPerShard + rowsOf(s.number)],
      attempted: s.seen,
      written: s.ok,
      failed,
      failures: Object.fromEntries(Object.entries(s.failures).sort(([a], [b]) => (a < b ? -1 : 1))),
      samples: entry.samples,
      bytes: entry.bytes,
      sha256: entry.sha256,
      extensions: s.extensions,
      downloadedBytes: s.downloaded,
      seconds: Number(seconds.toFixed(3)),
      imagesPerSecond: Number((seconds > 0 ? s.ok / seconds : 0).toFixed(1)),
      examples: s.examples,
    };
    const statsPath = statsPathFor(entry.path);
    try {
      await writeFileDurably(statsPath, JSON.stringify(stats, null, 2) + '\n', fs);
    } catch (err) {
      throw new ShardWriteError('write-failed', 'cannot write the shard stats', statsPath, { cause: err });
    }
    written.set(s.number, stats);
    shardsDone++;
    options.onShard?.(stats);
  };

  const ext = image.encode;
  try {
    for await (const r of results()) {
      const n = shardOf(r.row.row);
      if (open !== undefined && open.number !== n) {
        const finished = open;
        open = undefined;
        await finishShard(finished);
      }
      open ??= await openShard(n);
      open.seen++;
      open.downloaded += r.downloaded;
      done++;
      if (r.ok) {
        const key = String(r.row.row).padStart(9, '0');
        const caption = r.row.caption;
        const meta: Record<string, JsonValue> = {
          url: r.row.url ?? null,
          caption: caption ?? null,
          key,
          status: 'success',
          width: r.image.width,
          height: r.image.height,
          original_width: r.image.originalWidth,
          original_height: r.image.originalHeight,
          sha256: r.image.sha256,
        };
        const files: Record<string, Uint8Array | string> = { [ext]: r.image.data, json: JSON.stringify(meta) };
        if (caption !== undefined) files['txt'] = caption;
        await open.writer.write({ __key__: key, files });
        for (const e of Object.keys(files)) open.extensions[e] = (open.extensions[e] ?? 0) + 1;
        open.ok++;
        okCount++;
      } else {
        open.failures[r.failure] = (open.failures[r.failure] ?? 0) + 1;
        if (open.examples.length < MAX_EXAMPLES) open.examples.push({ row: r.row.row, url: r.row.url ?? null, failure: r.failure, detail: r.detail });
        failCount++;
      }
      if (open.seen === rowsOf(n)) {
        const finished = open;
        open = undefined;
        await finishShard(finished);
      }
      if (done % 16 === 0) progress();
    }
    if (open !== undefined) {
      // The list ended early (it changed since it was counted): this shard is not complete.
      throw new DeclipError(`the URL list ${list.input} has fewer rows than counted (shard ${open.number} got ${open.seen} of ${rowsOf(open.number)}); was it changed during the run?`);
    }
    progress();
    const removed = existing === 'overwrite' ? await removeStaleShards(pattern, numShards, owns, fs) : [];
    const index = buildIndex(options.pattern, indexPath, mine.map((n) => written.get(n)).filter((s): s is ShardStats => s !== undefined), {
      source: 'urls',
      input: list.input,
      format: list.format,
      rows,
      rowsPerShard,
      rank,
      worldSize,
      imageSize: image.imageSize,
      resizeMode: image.resizeMode,
      encode: image.encode,
    });
    await writeShardIndex(indexPath, index, fs);
    const all = [...written.values()];
    const failures: Record<string, number> = {};
    for (const s of all) for (const [k, v] of Object.entries(s.failures)) failures[k] = (failures[k] ?? 0) + v;
    return {
      indexPath,
      index,
      rows,
      rank,
      worldSize,
      attempted: all.reduce((a, s) => a + s.attempted, 0),
      written: all.reduce((a, s) => a + s.written, 0),
      failed: all.reduce((a, s) => a + s.failed, 0),
      failures: Object.fromEntries(Object.entries(failures).sort(([a], [b]) => (a < b ? -1 : 1))),
      kept: kept.size,
      shardsWritten: shardsDone,
      removed,
    };
  } catch (err) {
    abortAll.abort(err);
    await open?.writer.abort(err);
    throw err;
  } finally {
    signal?.removeEventListener('abort', onAbort);
    await pool?.destroy();
    await downloader.close().catch(() => undefined);
  }
}

/** An index over shards described by their stats (meta adds the failure totals). */
export function buildIndex(pattern: string, indexPath: string, stats: readonly ShardStats[], meta: Readonly<Record<string, JsonValue>>): ShardIndex {
  const rel = (p: string): string => {
    const base = dirname(indexPath);
    const d = dirname(p);
    return (d === base ? '' : join(d.startsWith(base + '/') ? d.slice(base.length + 1) : d, '/')) + basename(p);
  };
  const shards: ShardIndexEntry[] = stats.map((s) => ({ url: rel(join(dirname(pattern), s.shard)), samples: s.samples, bytes: s.bytes, sha256: s.sha256 }));
  const extensions: Record<string, number> = {};
  const failures: Record<string, number> = {};
  let attempted = 0;
  let failed = 0;
  for (const s of stats) {
    for (const [k, v] of Object.entries(s.extensions)) extensions[k] = (extensions[k] ?? 0) + v;
    for (const [k, v] of Object.entries(s.failures)) failures[k] = (failures[k] ?? 0) + v;
    attempted += s.attempted;
    failed += s.failed;
  }
  const sorted = (o: Record<string, number>): Record<string, number> => Object.fromEntries(Object.entries(o).sort(([a], [b]) => (a < b ? -1 : 1)));
  return {
    format: 'declip-shard-index',
    version: 1,
    pattern: rel(pattern),
    shards,
    totals: {
      shards: shards.length,
      samples: shards.reduce((a, s) => a + s.samples, 0),
      bytes: shards.reduce((a, s) => a + s.bytes, 0),
    },
    extensions: sorted(extensions),
    meta: { ...meta, attempted, failed, failures: sorted(failures) },
  };
}
