/**
 * `declip shards cat` and `declip shards stats`: read WebDataset shards from the command
 * line. Both take any shard URLs the reader takes (paths, `file:`, `http(s)://`,
 * `pipe:CMD`, `-`, brace patterns, `::` lists).
 *
 * `cat --jsonl` contract (other tools parse it):
 * - stdout: one JSON object per sample, in tar order:
 *   `{"__key__": ..., "__url__": ..., "files": {"<ext>": {"size": N, "sha256": "<hex>"}}}`
 *   (hashes of the raw member bytes);
 * - stderr: its last line is `{"errors": [{"url", "reason", "member", "count"}, ...]}`;
 * - errors inside a shard: exit 0 under `--on-error warn|skip`; under `throw` (the
 *   default) exit 1 when anything went wrong, after a message naming the shard;
 * - a shard that cannot be opened (missing, HTTP error, failing `pipe:`): exit 1 naming it
 *   under `--on-shard-error throw` (the default for `cat`; `stats` defaults to `skip`);
 * - a read that yields no sample at all exits 1 (`no-samples`) whatever the policies.
 */
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import type { Readable, Writable } from 'node:stream';
import { type Command, CommanderError, Option } from 'commander';
import { DeclipError, InvalidOptionError } from '../core/errors.js';
import { onShardErrorOption } from './reliability-options.js';
import {
  ERROR_POLICIES,
  type ErrorCount,
  type ErrorPolicy,
  type ReaderStats,
  ShardReader,
} from '../datasets/reader/index.js';
import type { Sample } from '../datasets/sample.js';

/** Where the commands read and write (process streams by default; tests pass their own). */
export interface ShardsReadIO {
  readonly stdout: Writable;
  readonly stderr: Writable;
  readonly stdin?: Readable | undefined;
  readonly signal?: AbortSignal | undefined;
}

/** Options of {@link runShardsCat}. */
export interface CatCommandOptions {
  readonly jsonl?: boolean;
  readonly onError?: ErrorPolicy;
  /** A shard that cannot be opened: throw (default), warn, skip. */
  readonly onShardError?: ErrorPolicy;
}

/** Options of {@link runShardsStats}. */
export interface StatsCommandOptions {
  readonly json?: boolean;
  readonly onError?: ErrorPolicy;
  /** A shard that cannot be opened (default: skip, counted in the report). */
  readonly onShardError?: ErrorPolicy;
}

/** Default `--on-error` of `stats`: it reads everything it can and reports what it could not. */
export const STATS_DEFAULT_ON_ERROR: ErrorPolicy = 'skip';

const processIO = (): ShardsReadIO => ({ stdout: process.stdout, stderr: process.stderr, stdin: process.stdin });

function isBrokenPipe(err: unknown): boolean {
  return (err as NodeJS.ErrnoException | undefined)?.code === 'EPIPE';
}

async function writeOut(out: Writable, text: string): Promise<void> {
  if (!out.write(text)) await once(out, 'drain');
}

function sha256Hex(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** The `--jsonl` line of one sample. */
export function sampleJson(sample: Sample): string {
  // No prototype: an extension named `__proto__` is just a key.
  const files = Object.create(null) as Record<string, { size: number; sha256: string }>;
  for (const ext in sample.files) {
    const data = sample.files[ext] as Buffer;
    files[ext] = { size: data.length, sha256: sha256Hex(data) };
  }
  return JSON.stringify({ __key__: sample.__key__, __url__: sample.__url__, files });
}

function sampleLine(sample: Sample): string {
  const parts = Object.entries(sample.files).map(([ext, data]) => `${ext}:${data.length}`);
  return `${sample.__key__}\t${parts.join(' ')}\t${sample.__url__}`;
}

function errorSummary(errors: readonly ErrorCount[]): string {
  return JSON.stringify({
    errors: errors.map((e) => ({ url: e.url, reason: e.reason, member: e.member, count: e.count })),
  });
}

function errorLine(err: unknown): string {
  if (err instanceof DeclipError) return `declip: ${err.name} [${err.code}]: ${err.message}`;
  return `declip: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`;
}

function exitCodeOf(err: unknown): number {
  return err instanceof InvalidOptionError ? 2 : 1;
}

/**
 * Run `shards cat`. Resolves with the exit code (0, or 1 when reading failed under
 * `throw`, 2 for bad options); the last stderr line is always the error summary.
 *
 * @example
 * ```ts
 * const code = await runShardsCat(['d/s-{000000..000003}.tar'], { jsonl: true, onError: 'warn' });
 * ```
 */
export async function runShardsCat(
  urls: readonly string[],
  options: CatCommandOptions,
  io: ShardsReadIO = processIO(),
): Promise<number> {
  let reader: ShardReader | undefined;
  let code = 0;
  let outError: unknown;
  // A closed stdout (`| head`) ends the command quietly; other write errors are reported.
  const onOutError = (err: unknown): void => {
    outError ??= err;
    void reader?.close();
  };
  io.stdout.on('error', onOutError);
  try {
    reader = new ShardReader({
      urls,
      onError: options.onError ?? 'throw',
      onShardError: options.onShardError ?? 'throw',
      stdin: io.stdin,
      signal: io.signal,
      warn: (message) => io.stderr.write(`declip: warning: ${message}\n`),
    });
    const format = options.jsonl === true ? sampleJson : sampleLine;
    for await (const sample of reader) {
      await writeOut(io.stdout, `${format(sample)}\n`);
      if (outError !== undefined) break;
    }
  } catch (err) {
    const failure = outError ?? err;
    if (!isBrokenPipe(failure)) {
      io.stderr.write(`${errorLine(failure)}\n`);
      code = exitCodeOf(failure);
    }
  } finally {
    io.stdout.off('error', onOutError);
    await reader?.close();
  }
  if (outError !== undefined && !isBrokenPipe(outError) && code === 0) {
    io.stderr.write(`${errorLine(outError)}\n`);
    code = 1;
  }
  io.stderr.write(`${errorSummary(reader?.stats.errors ?? [])}\n`);
  return code;
}

/** What `shards stats --json` prints. */
export interface ShardsStatsReport {
  readonly shards: number;
  readonly shardsCompleted: number;
  readonly samples: number;
  /** Bytes of member data in the samples read. */
  readonly bytes: number;
  /** Bytes read from the shard sources (compressed size for gzip shards). */
  readonly sourceBytes: number;
  readonly extensions: Readonly<Record<string, { readonly count: number; readonly bytes: number }>>;
  readonly ignored: ReaderStats['ignored'];
  readonly samplesDropped: number;
  readonly errorsByReason: Readonly<Record<string, number>>;
  readonly errors: readonly ErrorCount[];
}

function humanBytes(n: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let v = n;
  let u = 0;
  while (v >= 1000 && u < units.length - 1) {
    v /= 1000;
    u++;
  }
  return u === 0 ? `${n} B` : `${v.toFixed(1)} ${units[u] as string}`;
}

function formatStats(r: ShardsStatsReport): string {
  const list = (o: Readonly<Record<string, number>>): string => {
    const parts = Object.entries(o)
      .filter(([, n]) => n > 0)
      .map(([k, n]) => `${k} ${n}`);
    return parts.length === 0 ? 'none' : parts.join(', ');
  };
  const exts = Object.entries(r.extensions).map(([e, v]) => `${e} ${v.count} (${humanBytes(v.bytes)})`);
  const lines = [
    `shards      ${r.shards} (${r.shardsCompleted} read to the end)`,
    `samples     ${r.samples}${r.samplesDropped > 0 ? ` (${r.samplesDropped} lost to errors)` : ''}`,
    `bytes       ${humanBytes(r.bytes)} of member data (${r.bytes} B); ${humanBytes(r.sourceBytes)} read`,
    `extensions  ${exts.length === 0 ? 'none' : exts.join(', ')}`,
    `ignored     ${list(r.ignored)}`,
    `errors      ${list(r.errorsByReason)}`,
  ];
  for (const e of r.errors) lines.push(`  ${e.reason} x${e.count}: ${e.url}${e.member === null ? '' : ` (member ${e.member})`}`);
  return lines.join('\n') + '\n';
}

/**
 * Run `shards stats`: count samples, bytes and extensions, and errors by reason.
 * Resolves with the exit code (errors are reported, not fatal, unless `onError` is `throw`).
 *
 * @example
 * ```ts
 * await runShardsStats(['d/s-{000000..000003}.tar'], { json: true });
 * ```
 */
export async function runShardsStats(
  urls: readonly string[],
  options: StatsCommandOptions,
  io: ShardsReadIO = processIO(),
): Promise<number> {
  let reader: ShardReader | undefined;
  let code = 0;
  const extensions: Record<string, { count: number; bytes: number }> = {};
  try {
    reader = new ShardReader({
      urls,
      onError: options.onError ?? STATS_DEFAULT_ON_ERROR,
      onShardError: options.onShardError ?? STATS_DEFAULT_ON_ERROR,
      stdin: io.stdin,
      signal: io.signal,
      warn: (message) => io.stderr.write(`declip: warning: ${message}\n`),
    });
    for await (const sample of reader) {
      for (const ext in sample.files) {
        const e = (extensions[ext] ??= { count: 0, bytes: 0 });
        e.count++;
        e.bytes += (sample.files[ext] as Buffer).length;
      }
    }
  } catch (err) {
    io.stderr.write(`${errorLine(err)}\n`);
    code = exitCodeOf(err);
  } finally {
    await reader?.close();
  }
  if (reader === undefined) return code;
  const s = reader.stats;
  const report: ShardsStatsReport = {
    shards: s.shardsOpened,
    shardsCompleted: s.shardsCompleted,
    samples: s.samples,
    bytes: s.bytes,
    sourceBytes: s.sourceBytes,
    extensions,
    ignored: s.ignored,
    samplesDropped: s.samplesDropped,
    errorsByReason: s.errorsByReason,
    errors: s.errors,
  };
  try {
    await writeOut(io.stdout, options.json === true ? `${JSON.stringify(report)}\n` : formatStats(report));
  } catch (err) {
    if (!isBrokenPipe(err)) throw err;
  }
  return code;
}

function onErrorOption(defaultValue: ErrorPolicy): Option {
  return new Option('--on-error <policy>', 'what to do with an error inside a shard (truncated, corrupt, bad member)')
    .choices(ERROR_POLICIES)
    .default(defaultValue);
}

function finish(code: number): void {
  // Exit through commander's error path, so main() returns the code without printing more.
  if (code !== 0) throw new CommanderError(code, 'declip.shards.read', '');
}

/** `declip shards cat / shards stats`. */
export function registerShardsRead(parent: Command): void {
  parent
    .command('cat')
    .description('print the samples of shards, one per line (JSON with --jsonl: key, url, size and sha256 per member)')
    .argument('<url...>', 'shard URLs: paths, file:, http(s)://, pipe:CMD, - (stdin); {000..009} and :: lists')
    .option('--jsonl', 'one JSON object per sample (the stable, machine-readable form)')
    .addOption(onErrorOption('throw'))
    .addOption(onShardErrorOption().default('throw'))
    .action(async (urls: string[], opts: { jsonl?: boolean; onError: ErrorPolicy; onShardError: ErrorPolicy }) => {
      finish(await runShardsCat(urls, { jsonl: opts.jsonl === true, onError: opts.onError, onShardError: opts.onShardError }));
    });
  parent
    .command('stats')
    .description('count samples, bytes and extensions of shards, and errors by reason')
    .argument('<url...>', 'shard URLs: paths, file:, http(s)://, pipe:CMD, - (stdin); {000..009} and :: lists')
    .option('--json', 'print one JSON object')
    .addOption(onErrorOption(STATS_DEFAULT_ON_ERROR))
    .addOption(onShardErrorOption().default(STATS_DEFAULT_ON_ERROR))
    .action(async (urls: string[], opts: { json?: boolean; onError: ErrorPolicy; onShardError: ErrorPolicy }) => {
      finish(await runShardsStats(urls, { json: opts.json === true, onError: opts.onError, onShardError: opts.onShardError }));
    });
}
