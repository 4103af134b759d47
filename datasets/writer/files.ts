/**
 * What the writer needs from the file system, as one small replaceable layer, and the
 * existing-output rules of `shards create`.
 *
 * - {@link WriterFileSystem}: `node:fs/promises` by default; tests pass a layer that
 *   fails (disk full mid-shard) to check that no half-written shard survives.
 * - {@link durableRename}: rename a complete temp file to its final name, then fsync the
 *   folder, so the new name survives a power loss (the file itself is synced first).
 * - {@link existingOutputs} / {@link refuseExisting}: a run refuses to replace a shard or
 *   index that already exists, naming it, unless told to overwrite; the check covers
 *   exactly the shard numbers the process would write (ranks of a split run do not
 *   collide).
 * - {@link statsPathFor}: the per-shard `_stats.json` beside a shard
 *   (`out/cc-000003.tar` -> `out/cc-000003_stats.json`, as img2dataset names them).
 *
 * @example
 * ```ts
 * const found = await existingOutputs(parseShardPattern('d/s-%06d.tar'), (n) => n % 2 === 0);
 * refuseExisting(found.map((f) => f.path), 'shard');
 * ```
 */
import * as fsp from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { ShardWriteError } from '../../core/errors.js';
import type { ShardPattern } from './pattern.js';

/** An open file, as the writer uses it. `node:fs/promises`' `FileHandle` is one. */
export interface WriterFileHandle {
  write(data: Uint8Array): Promise<{ bytesWritten: number }>;
  sync(): Promise<void>;
  close(): Promise<void>;
}

/** The file operations the writer uses. `node:fs/promises` is one. */
export interface WriterFileSystem {
  open(path: string, flags: string, mode?: number): Promise<WriterFileHandle>;
  rename(from: string, to: string): Promise<void>;
  unlink(path: string): Promise<void>;
  mkdir(path: string, options: { recursive: true }): Promise<unknown>;
}

/** The real file system. */
export const nodeFileSystem: WriterFileSystem = fsp;

/** Write all of `data` (a file write may be short). */
export async function writeFully(fh: WriterFileHandle, data: Uint8Array): Promise<void> {
  let done = 0;
  while (done < data.byteLength) {
    const { bytesWritten } = await fh.write(done === 0 ? data : data.subarray(done));
    if (bytesWritten <= 0) throw new Error(`short write: ${bytesWritten} bytes`);
    done += bytesWritten;
  }
}

/** fsync a folder (so a rename in it is durable). Platforms that cannot open folders skip it. */
export async function syncFolder(dir: string, fs: WriterFileSystem = nodeFileSystem): Promise<void> {
  let fh: WriterFileHandle;
  try {
    fh = await fs.open(dir, 'r');
  } catch (err) {
    if (process.platform === 'win32') return;
    throw err;
  }
  try {
    await fh.sync().catch((err: NodeJS.ErrnoException) => {
      // Some file systems refuse fsync on a folder; the rename itself succeeded.
      if (err.code !== 'EINVAL' && err.code !== 'EISDIR' && err.code !== 'EPERM') throw err;
    });
  } finally {
    await fh.close();
  }
}

/** Rename `from` (already synced) to `to` and fsync the folder. */
export async function durableRename(from: string, to: string, fs: WriterFileSystem = nodeFileSystem): Promise<void> {
  await fs.rename(from, to);
  await syncFolder(dirname(to), fs);
}

/**
 * Write `text` to `path` atomically and durably: a temp file in the same folder, fsync,
 * rename, fsync the folder. Throws what the file system threw (the temp file is removed).
 */
export async function writeFileDurably(path: string, text: string, fs: WriterFileSystem = nodeFileSystem): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}-${tempSuffix++}.partial`);
  try {
    const fh = await fs.open(tmp, 'w', 0o644);
    try {
      await writeFully(fh, Buffer.from(text, 'utf8'));
      await fh.sync();
    } finally {
      await fh.close();
    }
    await durableRename(tmp, path, fs);
  } catch (err) {
    await fs.unlink(tmp).catch(() => undefined);
    throw err;
  }
}
let tempSuffix = 0;

/**
 * The per-shard statistics file beside a shard: the shard name with its `.tar`
 * (`.tar.gz`, `.tgz`) extension replaced by `_stats.json`.
 *
 * @example
 * ```ts
 * statsPathFor('out/cc-000003.tar'); // 'out/cc-000003_stats.json'
 * ```
 */
export function statsPathFor(shardPath: string): string {
  const stem = shardPath.replace(/(\.tar|\.tar\.gz|\.tgz)$/i, '');
  return stem + '_stats.json';
}

/** A file of a shard pattern found on disk. */
export interface PatternFile {
  readonly number: number;
  readonly path: string;
}

/**
 * Files in the pattern's folder that the pattern names (shards), with their numbers,
 * sorted; only those for which `owns(number)` holds. A missing folder has none.
 */
export async function existingOutputs(pattern: ShardPattern, owns: (n: number) => boolean = () => true): Promise<PatternFile[]> {
  const dir = dirname(pattern.format(0));
  let names: string[];
  try {
    names = await fsp.readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new ShardWriteError('open-failed', 'cannot list the output folder', dir, { cause: err });
  }
  const found: PatternFile[] = [];
  for (const name of names) {
    const n = pattern.numberOf(name);
    if (n !== undefined && owns(n)) found.push({ number: n, path: join(dir, name) });
  }
  return found.sort((a, b) => a.number - b.number);
}

/** Whether a path exists (any kind of entry). */
export async function pathExists(path: string): Promise<boolean> {
  try {
    await fsp.lstat(path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw new ShardWriteError('open-failed', 'cannot check whether the output exists', path, { cause: err });
  }
}

/** The hint every refusal carries. */
export const EXISTING_HINT = 'pass --overwrite to replace it (and remove stale higher-numbered shards), or --incremental to keep completed shards';

/**
 * Throw `ShardWriteError('exists')` naming the first of `paths` (and how many more), if any.
 */
export function refuseExisting(paths: readonly string[], what: string): void {
  const [first] = paths;
  if (first === undefined) return;
  const more = paths.length > 1 ? ` (and ${paths.length - 1} more ${what} file${paths.length === 2 ? '' : 's'} of the same pattern)` : '';
  throw new ShardWriteError('exists', `the ${what} already exists${more}: ${EXISTING_HINT}`, first);
}

/**
 * Remove the shards of `pattern` numbered `above` or higher that `owns` claims, with
 * their `_stats.json` files: stale output of an earlier, larger run. Returns the paths removed.
 */
export async function removeStaleShards(
  pattern: ShardPattern,
  from: number,
  owns: (n: number) => boolean = () => true,
  fs: WriterFileSystem = nodeFileSystem,
): Promise<string[]> {
  const stale = await existingOutputs(pattern, (n) => n >= from && owns(n));
  const removed: string[] = [];
  for (const { path } of stale) {
    for (const p of [path, statsPathFor(path)]) {
      try {
        await fs.unlink(p);
        removed.push(p);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
          throw new ShardWriteError('write-failed', 'cannot remove a stale shard', p, { cause: err });
        }
      }
    }
  }
  return removed;
}
