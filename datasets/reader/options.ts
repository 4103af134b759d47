/**
 * Options of the shard reader, in three shapes (after piscina): the readonly partial
 * input {@link ReadOptions}, one frozen {@link DEFAULT_READ_OPTIONS}, and the
 * {@link ResolvedReadOptions} that internal code uses. Validated once, here.
 */
import type { Readable } from 'node:stream';
import { resolveLaunch } from '../../core/launch.js';
import { invalidOption, expectBoolean, expectInteger, expectOneOf } from '../../core/validate.js';
import type { SkipEvent } from './stats.js';
import { expandShardUrls } from './urls.js';

/** What to do when a shard or member is bad. */
export type ErrorPolicy = 'throw' | 'warn' | 'skip';

/** The error policies, in documentation order. */
export const ERROR_POLICIES: readonly ErrorPolicy[] = Object.freeze(['throw', 'warn', 'skip']);

/** Options of {@link readSamples} / `ShardReader`. Only `urls` is required. */
export interface ReadOptions {
  /**
   * Shard URLs: local paths, `file:` URLs, `http(s)://`, `pipe:CMD`, `-` (stdin). Each
   * string may hold a brace pattern (`s-{000000..000099}.tar`) and `::`-joined lists.
   */
  readonly urls: string | readonly string[];
  /**
   * This node's rank. With `worldSize`, or alone neither: from the launch environment
   * (`core/launch.ts`: the ranks of one process group - `RANK`/`WORLD_SIZE`,
   * `SLURM_PROCID`/`SLURM_NTASKS`, `OMPI_COMM_WORLD_RANK`/`_SIZE`; job indices such as
   * `JOB_COMPLETION_INDEX` and `SLURM_ARRAY_TASK_ID` are ignored), else 0.
   */
  readonly rank?: number;
  /** Number of nodes (default: the launch environment, as for `rank`, else 1). */
  readonly worldSize?: number;
  /** This reader's index among the node's parallel readers (default 0). */
  readonly workerId?: number;
  /** Number of parallel readers on this node (default 1). */
  readonly numWorkers?: number;
  /** Base seed of every shuffle (default 0). */
  readonly seed?: number;
  /** First epoch to read (default 0); shuffles depend on it. */
  readonly epoch?: number;
  /** How many epochs to read (default 1; `Infinity` for ever). */
  readonly epochs?: number;
  /** Shuffle the shard list each epoch, from (seed, epoch) (default false). */
  readonly shuffleShards?: boolean;
  /** Sample shuffle buffer size; 0 turns sample shuffling off (default 0). */
  readonly bufferSize?: number;
  /** Samples to collect before the first one leaves the buffer (default 100, at most bufferSize). */
  readonly initial?: number;
  /** Draw shards with replacement, for ever, from (seed, rank, worker, epoch) (default false). */
  readonly resampled?: boolean;
  /** Samples per epoch; the epoch stops there (and re-reads the shard list when short). */
  readonly samplesPerEpoch?: number | undefined;
  /**
   * Errors inside a shard (truncated tar, bad gzip, bad member): `throw` (default), `warn`
   * (report and go on), `skip` (go on).
   */
  readonly onError?: ErrorPolicy;
  /**
   * A shard that cannot be opened (missing file, HTTP error status, a `pipe:` command that
   * fails or stalls before its first byte): `throw` (default: the error names the URL),
   * `warn` or `skip` (count it and go on with the next shard).
   */
  readonly onShardError?: ErrorPolicy;
  /**
   * HTTP and `pipe:` sources: a stream that delivers no byte for this long (ms) fails with a
   * `stalled` ShardReadError (default 60000). HTTP retries it like a dropped connection.
   */
  readonly stallTimeoutMs?: number;
  /** Called for every skipped/failed shard or member, whatever the policy. */
  readonly onSkip?: ((event: SkipEvent) => void) | undefined;
  /** Where `warn` writes (default: one line on process.stderr). */
  readonly warn?: ((message: string) => void) | undefined;
  /** Cancels reading; files, sockets and child processes are closed. */
  readonly signal?: AbortSignal | undefined;
  /** Largest member held in memory, in bytes (default 1 GiB); larger ones are errors. */
  readonly maxMemberBytes?: number;
  /** HTTP: retries per failure without progress (default 5). */
  readonly retries?: number;
  /** HTTP: first retry delay in ms, doubled each retry (default 250). */
  readonly retryDelayMs?: number;
  /** HTTP: largest retry delay in ms (default 10000). */
  readonly maxRetryDelayMs?: number;
  /** HTTP: extra request headers. */
  readonly headers?: Readonly<Record<string, string>> | undefined;
  /** The stream read for `-` (default process.stdin). */
  readonly stdin?: Readable | undefined;
}

/** {@link ReadOptions} after validation and defaults. */
export interface ResolvedReadOptions {
  readonly urls: readonly string[];
  readonly rank: number;
  readonly worldSize: number;
  readonly workerId: number;
  readonly numWorkers: number;
  readonly seed: number;
  readonly epoch: number;
  readonly epochs: number;
  readonly shuffleShards: boolean;
  readonly bufferSize: number;
  readonly initial: number;
  readonly resampled: boolean;
  readonly samplesPerEpoch: number | undefined;
  readonly onError: ErrorPolicy;
  readonly onShardError: ErrorPolicy;
  readonly stallTimeoutMs: number;
  readonly onSkip: ((event: SkipEvent) => void) | undefined;
  readonly warn: (message: string) => void;
  readonly signal: AbortSignal | undefined;
  readonly maxMemberBytes: number;
  readonly retries: number;
  readonly retryDelayMs: number;
  readonly maxRetryDelayMs: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly stdin: Readable | undefined;
}

function warnToStderr(message: string): void {
  process.stderr.write(`declip: warning: ${message}\n`);
}

/** Defaults of everything but `urls`, `rank` and `worldSize` (those come from the environment). */
export const DEFAULT_READ_OPTIONS = Object.freeze({
  workerId: 0,
  numWorkers: 1,
  seed: 0,
  epoch: 0,
  epochs: 1,
  shuffleShards: false,
  bufferSize: 0,
  initial: 100,
  resampled: false,
  samplesPerEpoch: undefined,
  onError: 'throw',
  onShardError: 'throw',
  stallTimeoutMs: 60_000,
  maxMemberBytes: 1024 ** 3,
  retries: 5,
  retryDelayMs: 250,
  maxRetryDelayMs: 10_000,
} as const satisfies Partial<ResolvedReadOptions>);

function epochsOf(value: unknown): number {
  if (value === Infinity) return Infinity;
  return expectInteger('epochs', value, 1);
}

/**
 * Validate reader options once and fill in defaults. Throws {@link InvalidOptionError}
 * with the house message format.
 *
 * @example
 * ```ts
 * const o = resolveReadOptions({ urls: 's-{0..3}.tar', bufferSize: 1000 });
 * o.urls.length; // 4
 * ```
 */
export function resolveReadOptions(input: ReadOptions, env: NodeJS.ProcessEnv = process.env): ResolvedReadOptions {
  if (typeof input !== 'object' || input === null) throw invalidOption('options', 'object', input);
  if (input.urls === undefined) throw invalidOption('urls', 'string or array of strings', input.urls);
  if (typeof input.urls !== 'string' && !Array.isArray(input.urls)) {
    throw invalidOption('urls', 'string or array of strings', input.urls);
  }
  const urls = Object.freeze(expandShardUrls(input.urls));
  if (urls.length === 0) throw invalidOption('urls', 'at least one shard URL', input.urls);
  const d = DEFAULT_READ_OPTIONS;
  // The launch environment as ingestion reads it (core/launch.ts), less the job indices:
  // RANK/WORLD_SIZE, SLURM_PROCID/NTASKS, OMPI_*.
  const { rank, worldSize } = resolveLaunch(
    {
      rank: input.rank === undefined ? undefined : expectInteger('rank', input.rank, 0),
      worldSize: input.worldSize === undefined ? undefined : expectInteger('worldSize', input.worldSize, 1),
    },
    env,
    { rank: 'rank', worldSize: 'worldSize' },
    { jobIndices: false },
  );
  const numWorkers = expectInteger('numWorkers', input.numWorkers ?? d.numWorkers, 1);
  const workerId = expectInteger('workerId', input.workerId ?? d.workerId, 0);
  if (workerId >= numWorkers) {
    throw invalidOption('workerId', `integer between 0 and ${numWorkers - 1} (numWorkers ${numWorkers})`, workerId);
  }
  const bufferSize = expectInteger('bufferSize', input.bufferSize ?? d.bufferSize, 0);
  const initial = expectInteger('initial', input.initial ?? d.initial, 0);
  const samplesPerEpoch =
    input.samplesPerEpoch === undefined ? undefined : expectInteger('samplesPerEpoch', input.samplesPerEpoch, 1);
  for (const name of ['onSkip', 'warn'] as const) {
    const fn = input[name];
    if (fn !== undefined && typeof fn !== 'function') throw invalidOption(name, 'function', fn);
  }
  if (input.signal !== undefined && !(input.signal instanceof AbortSignal)) {
    throw invalidOption('signal', 'AbortSignal', input.signal);
  }
  const headers = input.headers ?? {};
  if (typeof headers !== 'object' || headers === null || Object.values(headers).some((v) => typeof v !== 'string')) {
    throw invalidOption('headers', 'object of string header values', headers);
  }
  return Object.freeze({
    urls,
    rank,
    worldSize,
    workerId,
    numWorkers,
    seed: expectInteger('seed', input.seed ?? d.seed, 0, 2 ** 53 - 1),
    epoch: expectInteger('epoch', input.epoch ?? d.epoch, 0),
    epochs: epochsOf(input.epochs ?? d.epochs),
    shuffleShards: expectBoolean('shuffleShards', input.shuffleShards ?? d.shuffleShards),
    bufferSize,
    initial: Math.min(initial, bufferSize),
    resampled: expectBoolean('resampled', input.resampled ?? d.resampled),
    samplesPerEpoch,
    onError: expectOneOf('onError', input.onError ?? d.onError, ERROR_POLICIES),
    onShardError: expectOneOf('onShardError', input.onShardError ?? d.onShardError, ERROR_POLICIES),
    stallTimeoutMs: expectInteger('stallTimeoutMs', input.stallTimeoutMs ?? d.stallTimeoutMs, 1, 2 ** 31 - 1),
    onSkip: input.onSkip,
    warn: input.warn ?? warnToStderr,
    signal: input.signal,
    maxMemberBytes: expectInteger('maxMemberBytes', input.maxMemberBytes ?? d.maxMemberBytes, 0, 2 ** 32),
    retries: expectInteger('retries', input.retries ?? d.retries, 0, 100),
    retryDelayMs: expectInteger('retryDelayMs', input.retryDelayMs ?? d.retryDelayMs, 0),
    maxRetryDelayMs: expectInteger('maxRetryDelayMs', input.maxRetryDelayMs ?? d.maxRetryDelayMs, 0),
    headers: Object.freeze({ ...headers }),
    stdin: input.stdin,
  });
}
