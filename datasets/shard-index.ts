/**
 * The sidecar index of a set of shards: one JSON file next to the shards that says how
 * many samples and bytes each shard holds, and (for labelled data) the class names, so a
 * reader or a trainer can learn the dataset's size and labels without reading any data.
 *
 * Naming: the index of the shards `DIR/STEM-%06d.tar` is `DIR/STEM.index.json`, where
 * STEM is the shard file name up to the shard number (`%06d`, a `{` brace range or the
 * trailing digits), without the separator (`-`, `_` or `.`) before it; an empty stem
 * becomes `shards`. So `d/syn-%06d.tar`, `d/syn-{000000..000003}.tar` and
 * `d/syn-000002.tar` all have the index `d/syn.index.json`.
 *
 * @example
 * ```ts
 * const found = await readShardIndex('d/syn-{000000..000003}.tar');
 * if (found) console.log(found.index.totals.samples, found.index.classes);
 * ```
 */
import { createHash } from 'node:crypto';
import { readFile, readdir } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, posix } from 'node:path';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';
import { z } from 'zod';
import { ShardFormatError, ShardReadError, ShardWriteError } from '../core/errors.js';
import { expandShardUrls } from './reader/urls.js';
import { writeFileDurably, type WriterFileSystem } from './writer/files.js';

/** A JSON value (for the free-form `meta` field). */
export type JsonValue = string | number | boolean | null | readonly JsonValue[] | { readonly [key: string]: JsonValue };

/** One shard as the index records it. */
export interface ShardIndexEntry {
  /** The shard's file name, relative to the folder of the index file. */
  readonly url: string;
  /** Number of samples in the shard. */
  readonly samples: number;
  /** The shard's size in bytes. */
  readonly bytes: number;
  /** Lower-case hex SHA-256 of the shard's bytes. */
  readonly sha256: string;
}

/** The sidecar index file (`format: "declip-shard-index"`, `version: 1`). */
export interface ShardIndex {
  readonly format: 'declip-shard-index';
  readonly version: 1;
  /** The shard name pattern the shards were written with, relative to the index folder. */
  readonly pattern: string;
  readonly shards: readonly ShardIndexEntry[];
  readonly totals: { readonly shards: number; readonly samples: number; readonly bytes: number };
  /** How many samples carry each extension. */
  readonly extensions: Readonly<Record<string, number>>;
  /** Class names; the index is the `cls` id. Present for labelled datasets. */
  readonly classes?: readonly string[];
  /** Free-form description: source, seed, split, ... */
  readonly meta: Readonly<Record<string, JsonValue>>;
}

/** A located and parsed index. */
export interface FoundShardIndex {
  /** Where the index was read from (a local path or an http(s) URL). */
  readonly indexUrl: string;
  readonly index: ShardIndex;
  /** Each shard's location, resolved against the index's folder or URL, in index order. */
  readonly shardUrls: readonly string[];
}

const jsonValue: z.ZodType<JsonValue> = z.lazy(() =>
  z.union([z.string(), z.number(), z.boolean(), z.null(), z.array(jsonValue), z.record(z.string(), jsonValue)]),
);

const count = z.number().int().nonnegative();
const indexSchema = z.object({
  format: z.literal('declip-shard-index'),
  version: z.literal(1),
  pattern: z.string(),
  shards: z.array(
    z.object({ url: z.string().min(1), samples: count, bytes: count, sha256: z.string().regex(/^[0-9a-f]{64}$/) }),
  ),
  totals: z.object({ shards: count, samples: count, bytes: count }),
  extensions: z.record(z.string(), count),
  classes: z.array(z.string()).optional(),
  meta: z.record(z.string(), jsonValue),
});

/** The file name suffix of every index file. */
export const SHARD_INDEX_SUFFIX = '.index.json';

/**
 * The stem shared by a shard pattern, a brace pattern or one shard name:
 * `syn-%06d.tar`, `syn-{0..3}.tar`, `syn-000002.tar` -> `syn`.
 */
export function shardStem(nameOrPattern: string): string {
  let name = basename(nameOrPattern.split('::')[0] ?? nameOrPattern);
  const cut = name.search(/[%{]/);
  if (cut >= 0) name = name.slice(0, cut);
  else {
    name = name.replace(/(\.tar|\.tar\.gz|\.tgz)$/i, '');
    name = name.replace(/\d+$/, '');
  }
  name = name.replace(/[-_.]+$/, '');
  return name === '' ? 'shards' : name;
}

/**
 * The index path the writer uses for a shard pattern (`out/syn-%06d.tar` ->
 * `out/syn.index.json`).
 *
 * @example
 * ```ts
 * shardIndexPathFor('out/syn-%06d.tar'); // 'out/syn.index.json'
 * ```
 */
export function shardIndexPathFor(pattern: string): string {
  return join(dirname(pattern), shardStem(pattern) + SHARD_INDEX_SUFFIX);
}

function isHttp(url: string): boolean {
  return /^https?:\/\//i.test(url);
}

function localPath(url: string): string | undefined {
  if (url.startsWith('file:')) return fileURLToPath(url);
  if (url === '-' || url.startsWith('pipe:') || /^[a-z][a-z0-9+.-]*:\/\//i.test(url)) return undefined;
  return url;
}

/** The first concrete shard name of a brace pattern or `::` list (the reader's range limit applies). */
function firstUrl(urlOrPattern: string): string {
  const first = urlOrPattern.split('::')[0] ?? urlOrPattern;
  if (first.trim() === '') return first;
  return expandShardUrls(first)[0] ?? first;
}

/** How {@link readShardIndex} treats the shard names an index lists. */
export interface ShardIndexReadOptions {
  readonly signal?: AbortSignal;
  /**
   * An index is a file, and whoever wrote it chose its entries: by default an entry must
   * name a shard inside the index's own folder (a relative name without `..` that leaves
   * it; for an HTTP index, a URL of the same origin under the index's folder), never a
   * `pipe:` command nor an absolute path. `true` resolves entries as they are
   * (`--allow-pipe-from-files`, config `data.allowPipeFromFiles`).
   */
  readonly allowPipeFromFiles?: boolean;
}

function unsafeEntry(entry: string, indexUrl: string, why: string): ShardFormatError {
  return new ShardFormatError(
    'unsafe-index-entry',
    `the shard index lists "${entry}", which ${why}; entries read from a file must name shards inside the index's folder (pass --allow-pipe-from-files to trust this index)`,
    { url: indexUrl },
  );
}

/**
 * Where one index entry points, resolved against the index's folder or URL; refused
 * (`unsafe-index-entry`) when it is a command or leaves that folder, unless allowed.
 */
function resolveEntry(entry: string, indexUrl: string, allow: boolean): string {
  if (isHttp(indexUrl)) {
    const resolved = new URL(entry, indexUrl);
    if (allow) return resolved.toString();
    const base = new URL('.', indexUrl);
    if (entry.startsWith('pipe:') || !isHttp(resolved.href)) throw unsafeEntry(entry, indexUrl, 'is not an http(s) shard');
    if (resolved.origin !== base.origin || !resolved.pathname.startsWith(base.pathname)) throw unsafeEntry(entry, indexUrl, `leaves ${base.href}`);
    return resolved.toString();
  }
  const dir = dirname(indexUrl);
  if (allow) return entry.startsWith('pipe:') ? entry : join(dir, entry);
  if (entry.startsWith('pipe:') || entry === '-' || /^[a-z][a-z0-9+.-]*:/i.test(entry)) throw unsafeEntry(entry, indexUrl, 'is not a shard file name');
  if (isAbsolute(entry) || entry.split(/[\\/]/).includes('..')) throw unsafeEntry(entry, indexUrl, `leaves the index's folder ${dir}`);
  const resolved = join(dir, entry);
  // `join('.', 'x')` is `x`: keep a name that could read as a URL scheme a path.
  return /^[a-z][a-z0-9+.-]*:/i.test(resolved) || resolved === '-' ? `./${resolved}` : resolved;
}

function found(indexUrl: string, index: ShardIndex, allow: boolean): FoundShardIndex {
  return { indexUrl, index, shardUrls: index.shards.map((s) => resolveEntry(s.url, indexUrl, allow)) };
}

/** Parse and validate index JSON text. Throws a {@link ShardFormatError} (`bad-index`). */
export function parseShardIndex(text: string, indexUrl: string): ShardIndex {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new ShardFormatError('bad-index', 'the shard index is not valid JSON', { url: indexUrl }, { cause: err });
  }
  const parsed = indexSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const path = issue === undefined ? '' : issue.path.join('.');
    throw new ShardFormatError(
      'bad-index',
      `the shard index is malformed at ${path === '' ? '(root)' : path}: ${issue?.message ?? 'invalid'}`,
      { url: indexUrl },
      { cause: parsed.error },
    );
  }
  return parsed.data as ShardIndex;
}

async function readLocalIfExists(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return undefined;
    throw new ShardReadError('index-unreadable', 'cannot read the shard index', path, { cause: err });
  }
}

async function fetchIfExists(url: string, signal: AbortSignal | undefined): Promise<string | undefined> {
  let res;
  try {
    res = await request(url, signal === undefined ? { method: 'GET' } : { method: 'GET', signal });
  } catch (err) {
    throw new ShardReadError('index-unreadable', 'cannot fetch the shard index', url, { cause: err });
  }
  if (res.statusCode === 404 || res.statusCode === 410) {
    await res.body.dump();
    return undefined;
  }
  if (res.statusCode < 200 || res.statusCode >= 300) {
    await res.body.dump();
    throw new ShardReadError('http-status', `HTTP ${res.statusCode} fetching the shard index`, url);
  }
  return await res.body.text();
}

/**
 * Where the index of some shards should be: a path or URL (it may not exist). Accepts a
 * shard pattern (`%06d`), a brace pattern, a `::` list (the first part counts), one
 * shard, or an index file itself. `undefined` for `-` and `pipe:` sources.
 *
 * @example
 * ```ts
 * shardIndexLocation('http://host/d/syn-{000000..000009}.tar'); // 'http://host/d/syn.index.json'
 * ```
 */
export function shardIndexLocation(urlOrPattern: string): string | undefined {
  const first = urlOrPattern.split('::')[0] ?? urlOrPattern;
  if (first.endsWith(SHARD_INDEX_SUFFIX)) return first;
  if (isHttp(first)) {
    const u = new URL(firstUrl(first));
    const dir = posix.dirname(u.pathname);
    u.pathname = posix.join(dir, shardStem(decodeURIComponent(posix.basename(u.pathname))) + SHARD_INDEX_SUFFIX);
    u.search = '';
    return u.toString();
  }
  const path = localPath(first);
  if (path === undefined) return undefined;
  return join(dirname(path), shardStem(path) + SHARD_INDEX_SUFFIX);
}

/**
 * Find the index of some shards: the {@link shardIndexLocation} if it exists, else (for
 * local shards) any `*.index.json` in the same folder that lists the first shard.
 * Resolves to `undefined` when there is none.
 *
 * @example
 * ```ts
 * const at = await locateShardIndex('out/syn-000000.tar'); // 'out/syn.index.json'
 * ```
 */
export async function locateShardIndex(
  urlOrPattern: string,
  options: ShardIndexReadOptions = {},
): Promise<string | undefined> {
  return (await findIndex(urlOrPattern, options))?.indexUrl;
}

async function findIndex(urlOrPattern: string, options: ShardIndexReadOptions): Promise<FoundShardIndex | undefined> {
  const { signal } = options;
  const allow = options.allowPipeFromFiles ?? false;
  const where = shardIndexLocation(urlOrPattern);
  if (where === undefined) return undefined;
  if (isHttp(where)) {
    const text = await fetchIfExists(where, signal);
    if (text === undefined) return undefined;
    return found(where, parseShardIndex(text, where), allow);
  }
  const text = await readLocalIfExists(where);
  const dir = dirname(where);
  if (text !== undefined) return found(where, parseShardIndex(text, where), allow);
  // Fall back to any index in the folder that lists the first shard.
  const path = localPath(firstUrl(urlOrPattern));
  if (path === undefined) return undefined;
  const wanted = basename(path);
  let names: string[];
  try {
    names = (await readdir(dir)).filter((n) => n.endsWith(SHARD_INDEX_SUFFIX)).sort();
  } catch {
    return undefined;
  }
  // A `%06d` pattern matches any shard number; a concrete name matches itself.
  const escaped = wanted.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const matcher = new RegExp('^' + escaped.replace(/%0?\d*d/, '\\d+') + '$');
  for (const name of names) {
    const candidate = join(dir, name);
    const body = await readLocalIfExists(candidate);
    if (body === undefined) continue;
    const index = parseShardIndex(body, candidate);
    if (index.shards.some((s) => matcher.test(s.url))) {
      return found(candidate, index, allow);
    }
  }
  return undefined;
}

/**
 * Read the sidecar index of some shards (local path, `file:` URL, brace pattern, `::`
 * list, `%06d` pattern, or `http(s)://` - then the index next to the shards is fetched).
 * Resolves to `undefined` when there is no index; rejects with a
 * {@link ShardFormatError} (`bad-index`) when there is one and it is malformed, and
 * (`unsafe-index-entry`) when it lists a `pipe:` command or a shard outside its folder
 * (see {@link ShardIndexReadOptions.allowPipeFromFiles}).
 *
 * @example
 * ```ts
 * const found = await readShardIndex('out/syn-{000000..000003}.tar');
 * const numClasses = found?.index.classes?.length ?? 0;
 * ```
 */
export async function readShardIndex(
  urlOrPattern: string,
  options: ShardIndexReadOptions = {},
): Promise<FoundShardIndex | undefined> {
  return await findIndex(urlOrPattern, options);
}

/**
 * Samples and bytes of the listed shards only (when a reader reads a subset), by file
 * name. `missing` lists shards the index does not know.
 *
 * @example
 * ```ts
 * const { samples } = countShards(found.index, ['syn-000000.tar', 'syn-000001.tar']);
 * ```
 */
export function countShards(
  index: ShardIndex,
  urls: readonly string[],
): { readonly samples: number; readonly bytes: number; readonly missing: readonly string[] } {
  const byName = new Map(index.shards.map((s) => [s.url, s] as const));
  let samples = 0;
  let bytes = 0;
  const missing: string[] = [];
  for (const url of urls) {
    const name = isHttp(url) ? decodeURIComponent(posix.basename(new URL(url).pathname)) : basename(localPath(url) ?? url);
    const entry = byName.get(name);
    if (entry === undefined) missing.push(url);
    else {
      samples += entry.samples;
      bytes += entry.bytes;
    }
  }
  return { samples, bytes, missing };
}

/**
 * Write an index file atomically (temp file in the same folder, then rename).
 *
 * @example
 * ```ts
 * await writeShardIndex('out/syn.index.json', index);
 * ```
 */
export async function writeShardIndex(path: string, index: ShardIndex, fs?: WriterFileSystem): Promise<void> {
  try {
    // Temp file, fsync, rename, fsync the folder: a crash leaves the old index or the new one.
    await writeFileDurably(path, JSON.stringify(index, null, 2) + '\n', fs);
  } catch (err) {
    throw new ShardWriteError('index-unwritable', 'cannot write the shard index', path, { cause: err });
  }
}

/** Lower-case hex SHA-256 of a buffer (exported for tests and tools). */
export function sha256Hex(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}
