/**
 * `ShardWriter`: writes samples into numbered WebDataset tar shards, reproducibly, with
 * a sidecar index (see `../shard-index.ts`).
 *
 * - Reproducible bytes: every member has mtime 0, uid/gid 0, uname/gname `declip`, mode
 *   0644; a sample's members are written in sorted extension order; samples in the order
 *   written. The same samples give the same shards, byte for byte.
 * - Crash safety: a shard is written to a hidden temp name in the target folder
 *   (`.NAME.PID-N.partial`), flushed to disk, and renamed to its final name only when it
 *   is complete. A crash or an abort never leaves a truncated shard under a final name.
 * - Existing output: with `existing: 'refuse'`, before the first shard is written the
 *   writer looks for files the pattern names (numbers it would write: from `firstNumber`,
 *   those `owns` claims) and for the index, and throws `ShardWriteError('exists')` naming
 *   one; each shard is checked again when opened. With `'overwrite'` (the default, as
 *   before) shards are replaced and, on `close()`, higher-numbered shards of the pattern
 *   that `owns` claims (stale output of a larger earlier run) are removed.
 * - Durability: the shard, then its folder, are fsynced around the rename; the index too.
 * - Splitting: a new shard starts when the current one holds `maxCount` samples, or
 *   when the next sample would take it past `maxSize` bytes (tar headers, padding and the
 *   end-of-archive blocks included). A single sample larger than `maxSize` gets a shard
 *   of its own. Shards are numbered from 0.
 * - Memory is bounded: at most one member plus a 1 MiB write batch and tar-stream's
 *   16 KiB read buffer are held; `write()` resolves when the sample is handed to the
 *   tar stream.
 *
 * @example
 * ```ts
 * const writer = new ShardWriter({ pattern: 'out/syn-%06d.tar', maxCount: 500, classes: ['circle', 'square'] });
 * try {
 *   for await (const sample of samples) await writer.write(sample);
 *   const index = await writer.close();
 *   console.log(index.totals.samples);
 * } catch (err) {
 *   await writer.abort(err);
 *   throw err;
 * }
 * ```
 */
import { createHash, type Hash } from 'node:crypto';
import { basename, dirname, join, relative, sep } from 'node:path';
import { threadId } from 'node:worker_threads';
import tar from 'tar-stream';
import { DeclipError, ShardWriteError } from '../../core/errors.js';
import { expectInteger, expectBoolean, invalidOption, expectString } from '../../core/validate.js';
import type { SampleInput } from '../sample.js';
import { shardIndexPathFor, writeShardIndex, type JsonValue, type ShardIndex, type ShardIndexEntry } from '../shard-index.js';
import {
  durableRename,
  existingOutputs,
  nodeFileSystem,
  pathExists,
  refuseExisting,
  removeStaleShards,
  writeFully,
  type WriterFileHandle,
  type WriterFileSystem,
} from './files.js';
import { extensionProblem, keyProblem, memberNameError, tarMemberBytes, TAR_END_BYTES } from './members.js';
import { parseShardPattern, type ShardPattern } from './pattern.js';

/** Options of {@link ShardWriter} (all but `pattern` optional). */
export interface ShardWriterOptions {
  /** Shard file names with one `%d`/`%06d` shard number: `out/name-%06d.tar`. Folders are created. */
  readonly pattern: string;
  /** Most samples per shard. Default 100,000 (as webdataset). */
  readonly maxCount?: number;
  /** Most bytes per shard (whole tar file). Default 3e9 (as webdataset). */
  readonly maxSize?: number;
  /** Write the sidecar index on `close()`. Default true. */
  readonly index?: boolean;
  /** Where to write the index. Default: {@link shardIndexPathFor}(pattern). */
  readonly indexPath?: string;
  /** Class names (index = `cls` id), recorded in the index. */
  readonly classes?: readonly string[];
  /** Free-form description recorded in the index (source, seed, split...). */
  readonly meta?: Readonly<Record<string, JsonValue>>;
  /** Aborting discards the shard being written (completed shards stay) and writes no index. */
  readonly signal?: AbortSignal;
  /** Called after each shard is complete under its final name. */
  readonly onShard?: (shard: WrittenShard) => void;
  /** Number of the first shard. Default 0. */
  readonly firstNumber?: number;
  /** What to do with shards (and the index) that already exist. Default `'overwrite'`. */
  readonly existing?: 'refuse' | 'overwrite';
  /**
   * Which shard numbers belong to this writer (a rank of a split run): the existing-output
   * check and the stale-shard removal look only at these. Default: all.
   */
  readonly owns?: (n: number) => boolean;
  /** On `close()` with no sample written, write one empty shard (end blocks only). Default false. */
  readonly writeEmpty?: boolean;
  /** The file system layer (default `node:fs/promises`); tests inject failures here. */
  readonly fs?: WriterFileSystem;
}

/** The defaults of {@link ShardWriterOptions}. */
export const shardWriterDefaults = Object.freeze({
  maxCount: 100_000,
  maxSize: 3e9,
  index: true,
});

/** Options after validation. */
export interface ResolvedShardWriterOptions {
  readonly pattern: ShardPattern;
  readonly maxCount: number;
  readonly maxSize: number;
  readonly indexPath: string | undefined;
  readonly classes: readonly string[] | undefined;
  readonly meta: Readonly<Record<string, JsonValue>>;
  readonly signal: AbortSignal | undefined;
  readonly onShard: ((shard: WrittenShard) => void) | undefined;
  readonly firstNumber: number;
  readonly existing: 'refuse' | 'overwrite';
  readonly owns: (n: number) => boolean;
  readonly writeEmpty: boolean;
  readonly fs: WriterFileSystem;
}

/** A completed shard. */
export interface WrittenShard extends ShardIndexEntry {
  /** The shard's path as the pattern names it. */
  readonly path: string;
  /** Shard number (0-based). */
  readonly number: number;
}

function resolveOptions(options: ShardWriterOptions): ResolvedShardWriterOptions {
  if (typeof options !== 'object' || options === null) throw invalidOption('options', 'object', options);
  const pattern = parseShardPattern(options.pattern, 'pattern');
  const maxCount = expectInteger('maxCount', options.maxCount ?? shardWriterDefaults.maxCount, 1);
  const maxSize = expectInteger('maxSize', options.maxSize ?? shardWriterDefaults.maxSize, 1);
  const writeIndex = expectBoolean('index', options.index ?? shardWriterDefaults.index);
  const indexPath = writeIndex
    ? options.indexPath === undefined
      ? shardIndexPathFor(options.pattern)
      : expectString('indexPath', options.indexPath)
    : undefined;
  const classes = options.classes;
  if (classes !== undefined && (!Array.isArray(classes) || classes.some((c) => typeof c !== 'string' || c === ''))) {
    throw invalidOption('classes', 'array of non-empty strings', classes);
  }
  const meta = options.meta ?? {};
  if (typeof meta !== 'object' || meta === null || Array.isArray(meta)) throw invalidOption('meta', 'object', meta);
  if (options.onShard !== undefined && typeof options.onShard !== 'function') {
    throw invalidOption('onShard', 'function', options.onShard);
  }
  const existing = options.existing ?? 'overwrite';
  if (existing !== 'refuse' && existing !== 'overwrite') throw invalidOption('existing', "'refuse' or 'overwrite'", existing);
  if (options.owns !== undefined && typeof options.owns !== 'function') throw invalidOption('owns', 'function', options.owns);
  return {
    pattern,
    maxCount,
    maxSize,
    indexPath,
    classes: classes === undefined ? undefined : [...classes],
    meta,
    signal: options.signal,
    onShard: options.onShard,
    firstNumber: expectInteger('firstNumber', options.firstNumber ?? 0, 0),
    existing,
    owns: options.owns ?? (() => true),
    writeEmpty: expectBoolean('writeEmpty', options.writeEmpty ?? false),
    fs: options.fs ?? nodeFileSystem,
  };
}

const FIXED_HEADER = Object.freeze({
  mode: 0o644,
  uid: 0,
  gid: 0,
  uname: 'declip',
  gname: 'declip',
  mtime: new Date(0),
  type: 'file' as const,
});

let tempCounter = 0;

/** Bytes gathered before one file write. */
const WRITE_BATCH = 1 << 20;

/** One shard being written. */
class OpenShard {
  readonly pack = tar.pack();
  readonly hash: Hash = createHash('sha256');
  count = 0;
  /** Bytes that reached the file. */
  written = 0;
  /** Bytes the shard will have once finalised (members so far + end blocks). */
  bytes = TAR_END_BYTES;
  lastKey: string | undefined;
  pump: Promise<void> | undefined;
  fh: WriterFileHandle | undefined;
  started: Promise<void> | undefined;

  constructor(
    readonly number: number,
    readonly path: string,
    readonly tempPath: string,
    readonly fs: WriterFileSystem,
  ) {
    // Errors reach callers through entry callbacks and the pump; never as an unhandled 'error'.
    this.pack.on('error', () => undefined);
  }

  start(): Promise<void> {
    this.started ??= this.#start();
    return this.started;
  }

  async #start(): Promise<void> {
    await this.fs.mkdir(dirname(this.path), { recursive: true });
    const fh = await this.fs.open(this.tempPath, 'w', 0o644);
    this.fh = fh;
    // Chunks (headers, members, padding) are gathered up to WRITE_BATCH bytes and written
    // with one call: a write per tar chunk cost more CPU than the tar itself. The pack
    // stream pauses while a batch is written, so at most one batch plus one chunk is held.
    this.pump = (async () => {
      let batch: Buffer[] = [];
      let size = 0;
      const flush = async (): Promise<void> => {
        if (size === 0) return;
        const data = batch.length === 1 ? (batch[0] as Buffer) : Buffer.concat(batch, size);
        batch = [];
        size = 0;
        await writeFully(fh, data);
        this.written += data.byteLength;
      };
      for await (const chunk of this.pack as AsyncIterable<Buffer>) {
        this.hash.update(chunk);
        batch.push(chunk);
        size += chunk.byteLength;
        if (size >= WRITE_BATCH) await flush();
      }
      await flush();
    })();
    // A failing write must release a producer waiting for the pack to drain.
    this.pump.catch((err: unknown) => this.pack.destroy(err instanceof Error ? err : new Error(String(err))));
  }

  entry(name: string, data: Buffer): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const sink = this.pack.entry({ ...FIXED_HEADER, name, size: data.byteLength }, data, (err?: Error | null) =>
        err ? reject(err) : resolve(),
      );
      // A destroyed pack destroys the entry too; its error reaches us through the callback.
      sink.on('error', () => undefined);
    });
  }

  async finish(): Promise<string> {
    this.pack.finalize();
    await this.pump;
    const fh = this.fh;
    if (fh !== undefined) {
      await fh.sync();
      this.fh = undefined;
      await fh.close();
    }
    await durableRename(this.tempPath, this.path, this.fs);
    return this.hash.digest('hex');
  }

  async discard(reason: unknown): Promise<void> {
    await this.started?.catch(() => undefined);
    this.pack.destroy(reason instanceof Error ? reason : new Error(String(reason)));
    await this.pump?.catch(() => undefined);
    await this.fh?.close().catch(() => undefined);
    this.fh = undefined;
    await this.fs.unlink(this.tempPath).catch(() => undefined);
  }
}

/**
 * Writes samples into numbered tar shards with a sidecar index. See the module comment
 * for the guarantees. Await each `write()` before the next one; call `close()` once done
 * (idempotent), or `abort()` on failure (idempotent).
 *
 * @example
 * ```ts
 * const w = new ShardWriter({ pattern: 'out/pairs-%06d.tar', maxSize: 1e9 });
 * await w.write({ __key__: 'img0001', files: { jpg: jpegBytes, txt: 'a dog on a beach' } });
 * const index = await w.close(); // out/pairs-000000.tar and out/pairs.index.json
 * ```
 */
export class ShardWriter {
  readonly options: ResolvedShardWriterOptions;
  #shard: OpenShard | undefined;
  #nextNumber: number;
  #preflight: Promise<void> | undefined;
  #shards: WrittenShard[] = [];
  #extensions = new Map<string, number>();
  #samples = 0;
  #lastKey: string | undefined;
  #busy: Promise<void> | undefined;
  #closing: Promise<ShardIndex> | undefined;
  #aborting: Promise<void> | undefined;
  #failure: unknown;
  #failed = false;
  #onAbort: (() => void) | undefined;
  #meta: Readonly<Record<string, JsonValue>>;

  constructor(options: ShardWriterOptions) {
    this.options = resolveOptions(options);
    this.#nextNumber = this.options.firstNumber;
    this.#meta = this.options.meta;
    const signal = this.options.signal;
    if (signal !== undefined) {
      this.#onAbort = () => void this.abort(signal.reason);
      if (signal.aborted) this.#fail(signal.reason);
      else signal.addEventListener('abort', this.#onAbort, { once: true });
    }
  }

  /** Samples written so far. */
  get samples(): number {
    return this.#samples;
  }

  /** Shards completed so far. */
  get shards(): readonly WrittenShard[] {
    return this.#shards;
  }

  /**
   * Write one sample. Rejects with a `SampleError` (reason `empty-key`, `invalid-key`,
   * `dot-in-key`, `invalid-extension`, `no-files`, `duplicate-key`) for a sample it
   * refuses - the writer stays usable - and with a `ShardWriteError` for I/O failures.
   */
  async write(sample: SampleInput): Promise<void> {
    if (this.#busy !== undefined) {
      throw new DeclipError('ShardWriter.write: await the previous write() before writing the next sample');
    }
    const p = this.#write(sample);
    this.#busy = p.then(
      () => undefined,
      () => undefined,
    );
    try {
      await p;
    } finally {
      this.#busy = undefined;
    }
  }

  async #write(sample: SampleInput): Promise<void> {
    this.#checkUsable();
    const url = this.#shard?.path ?? this.options.pattern.format(this.#nextNumber);
    if (typeof sample !== 'object' || sample === null) throw invalidOption('sample', 'object with __key__ and files', sample);
    const key = sample.__key__;
    if (typeof key !== 'string') throw invalidOption('sample.__key__', 'string', key);
    const keyIssue = keyProblem(key);
    if (keyIssue !== undefined) throw memberNameError(keyIssue, key, url);
    const files = sample.files;
    if (typeof files !== 'object' || files === null) throw invalidOption('sample.files', 'object', files);
    const exts = Object.keys(files).sort();
    if (exts.length === 0) throw memberNameError('no-files', key, url);
    const members: { name: string; data: Buffer }[] = [];
    let sampleBytes = 0;
    for (const ext of exts) {
      const extIssue = extensionProblem(ext);
      if (extIssue !== undefined) throw memberNameError(extIssue, key, url, ext);
      const value = files[ext];
      let data: Buffer;
      if (typeof value === 'string') data = Buffer.from(value, 'utf8');
      else if (Buffer.isBuffer(value)) data = value;
      else if (value instanceof Uint8Array) data = Buffer.from(value.buffer, value.byteOffset, value.byteLength);
      else throw invalidOption(`sample.files[${JSON.stringify(ext)}]`, 'Buffer, Uint8Array or string', value);
      const name = `${key}.${ext}`;
      sampleBytes += tarMemberBytes(name, data.byteLength);
      members.push({ name, data });
    }
    if (key === this.#lastKey) throw memberNameError('duplicate-key', key, url);

    let shard = this.#shard;
    if (
      shard !== undefined &&
      shard.count > 0 &&
      (shard.count >= this.options.maxCount || shard.bytes + sampleBytes > this.options.maxSize)
    ) {
      await this.#finishShard();
      shard = undefined;
    }
    if (shard === undefined) shard = await this.#openShard();
    try {
      // tar-stream queues a sample's entries in order; awaiting them together keeps one
      // sample (at most) in flight.
      await Promise.all(members.map((m) => shard.entry(m.name, m.data)));
    } catch (err) {
      throw this.#fail(new ShardWriteError('write-failed', `cannot write sample ${key}`, shard.path, { cause: err }));
    }
    if (this.#failed) throw this.#failure;
    shard.count++;
    shard.bytes += sampleBytes;
    this.#samples++;
    this.#lastKey = key;
    for (const ext of exts) this.#extensions.set(ext, (this.#extensions.get(ext) ?? 0) + 1);
  }

  #checkUsable(): void {
    if (this.#failed) throw this.#failure;
    if (this.#closing !== undefined) throw new DeclipError('ShardWriter: write() after close()');
  }

  #fail(err: unknown): unknown {
    if (!this.#failed) {
      this.#failed = true;
      this.#failure = err;
      const shard = this.#shard;
      this.#shard = undefined;
      if (shard !== undefined) this.#aborting = shard.discard(err);
    }
    return this.#failed ? this.#failure : err;
  }

  /** With `existing: 'refuse'`, once before anything is written: no shard this writer may write, no index. */
  #checkExisting(): Promise<void> {
    this.#preflight ??= (async () => {
      if (this.options.existing !== 'refuse') return;
      const { firstNumber, owns, pattern, indexPath } = this.options;
      const shards = await existingOutputs(pattern, (n) => n >= firstNumber && owns(n));
      refuseExisting(shards.map((f) => f.path), 'shard');
      if (indexPath !== undefined && (await pathExists(indexPath))) refuseExisting([indexPath], 'index');
    })();
    return this.#preflight;
  }

  async #openShard(): Promise<OpenShard> {
    try {
      await this.#checkExisting();
    } catch (err) {
      throw this.#fail(err);
    }
    const number = this.#nextNumber++;
    const path = this.options.pattern.format(number);
    try {
      if (this.options.existing === 'refuse' && (await pathExists(path))) refuseExisting([path], 'shard');
    } catch (err) {
      throw this.#fail(err);
    }
    // An abort while we looked: nothing is open yet, nothing to clean.
    if (this.#failed) throw this.#failure;
    const tempPath = join(dirname(path), `.${basename(path)}.${process.pid}-${threadId}-${tempCounter++}.partial`);
    const shard = new OpenShard(number, path, tempPath, this.options.fs);
    this.#shard = shard;
    try {
      await shard.start();
    } catch (err) {
      throw this.#fail(new ShardWriteError('open-failed', 'cannot create the shard file', path, { cause: err }));
    }
    if (this.#failed) throw this.#failure;
    return shard;
  }

  async #finishShard(): Promise<void> {
    const shard = this.#shard;
    if (shard === undefined) return;
    let sha256: string;
    try {
      sha256 = await shard.finish();
    } catch (err) {
      throw this.#fail(new ShardWriteError('write-failed', 'cannot complete the shard', shard.path, { cause: err }));
    }
    this.#shard = undefined;
    const written: WrittenShard = {
      url: this.#relativeToIndex(shard.path),
      path: shard.path,
      number: shard.number,
      samples: shard.count,
      bytes: shard.written,
      sha256,
    };
    this.#shards.push(written);
    this.options.onShard?.(written);
  }

  #relativeToIndex(path: string): string {
    const indexDir = dirname(this.options.indexPath ?? shardIndexPathFor(this.options.pattern.pattern));
    return relative(indexDir, path).split(sep).join('/');
  }

  /**
   * Add or replace `meta` fields of the index (before `close()`): e.g. counts only known
   * at the end.
   */
  annotate(meta: Readonly<Record<string, JsonValue>>): void {
    this.#meta = { ...this.#meta, ...meta };
  }

  /** The index as it stands (complete after `close()`). */
  index(): ShardIndex {
    const shards = this.#shards.map(({ url, samples, bytes, sha256 }) => ({ url, samples, bytes, sha256 }));
    const extensions: Record<string, number> = {};
    for (const [ext, n] of [...this.#extensions].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) extensions[ext] = n;
    return {
      format: 'declip-shard-index',
      version: 1,
      pattern: this.#relativeToIndex(this.options.pattern.pattern),
      shards,
      totals: {
        shards: shards.length,
        samples: shards.reduce((n, s) => n + s.samples, 0),
        bytes: shards.reduce((n, s) => n + s.bytes, 0),
      },
      extensions,
      ...(this.options.classes === undefined ? {} : { classes: this.options.classes }),
      meta: this.#meta,
    };
  }

  /**
   * Finish the last shard, write the index, and resolve to it. Idempotent: later calls
   * return the same promise. Rejects if the writer failed or was aborted.
   */
  close(): Promise<ShardIndex> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<ShardIndex> {
    await this.#busy;
    this.#detachSignal();
    if (this.#failed) {
      await this.#aborting;
      throw this.#failure;
    }
    if (this.#shards.length === 0 && this.#shard === undefined && this.options.writeEmpty) await this.#openShard();
    else await this.#checkExisting().catch((err: unknown) => {
      throw this.#fail(err);
    });
    await this.#finishShard();
    if (this.options.existing === 'overwrite') {
      const last = this.#shards.at(-1)?.number ?? this.options.firstNumber - 1;
      try {
        await removeStaleShards(this.options.pattern, last + 1, this.options.owns, this.options.fs);
      } catch (err) {
        throw this.#fail(err);
      }
    }
    const index = this.index();
    if (this.options.indexPath !== undefined) {
      try {
        await this.options.fs.mkdir(dirname(this.options.indexPath), { recursive: true });
      } catch (err) {
        throw this.#fail(new ShardWriteError('open-failed', 'cannot create the index folder', this.options.indexPath, { cause: err }));
      }
      await writeShardIndex(this.options.indexPath, index, this.options.fs);
    }
    return index;
  }

  /**
   * Stop writing: discard the shard being written (its temp file is removed), keep the
   * completed shards, write no index. Idempotent; resolves once the cleanup is done.
   * A pending `write()` rejects with `reason`.
   */
  async abort(reason: unknown = new DeclipError('ShardWriter aborted')): Promise<void> {
    this.#detachSignal();
    this.#fail(reason);
    await this.#aborting;
  }

  #detachSignal(): void {
    if (this.#onAbort !== undefined) {
      this.options.signal?.removeEventListener('abort', this.#onAbort);
      this.#onAbort = undefined;
    }
  }
}
