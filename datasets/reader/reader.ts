/**
 * The WebDataset shard reader: shard URLs in, samples out, as an async iterable.
 *
 * Order of the stream (deterministic: the same options always give the same samples in
 * the same order, which is what resuming a run by replaying relies on):
 *
 * 1. for each epoch `e` from `epoch` to `epoch + epochs - 1`:
 * 2. the shard sequence of the epoch (see plan.ts): the reader's share of the (optionally
 *    shuffled) URL list, or endless draws with replacement when `resampled`;
 * 3. each shard's samples in tar order (adjacent members with the same key);
 * 4. through the sample shuffle buffer seeded from (seed, 'samples', e, rank, workerId)
 *    when `bufferSize > 1`;
 * 5. cut at `samplesPerEpoch` when set (if one pass over the share gives fewer samples,
 *    further passes with reshuffled shard order follow until it is reached).
 *
 * Errors follow two policies. A shard that cannot be opened (no byte of it was read: a
 * missing file, an HTTP error status, a `pipe:` command that fails or stalls before its
 * first byte) follows `onShardError`; an error inside a shard (truncated tar, bad gzip,
 * bad member) follows `onError`. `throw` stops the stream with the typed error naming the
 * shard; `warn` and `skip` count it, report it, and go on (with the next member, or the
 * next shard). An epoch that yields no sample at all is always an error (`no-samples`):
 * every shard missing or skipped is a failed run, never an empty one.
 */
import { EventEmitter } from 'node:events';
import type { Readable } from 'node:stream';
import { DeclipError, ShardFormatError, ShardReadError } from '../../core/errors.js';
import { Rng } from '../../core/rng.js';
import type { Sample } from '../sample.js';
import { splitMemberName } from './keys.js';
import { type ReadOptions, type ResolvedReadOptions, resolveReadOptions } from './options.js';
import { resampledShards, sampleShuffleSeed, shardsForPass } from './plan.js';
import { shuffleBuffer } from './shuffle.js';
import { maybeGunzip, shardBytes } from './sources.js';
import { type ReaderStats, type SkipEvent, StatsCollector } from './stats.js';
import { TarStreamError, tarMembers } from './tar.js';

/** In resampled mode, this many shards in a row without a sample end the stream with an error. */
export const MAX_EMPTY_SHARDS_IN_A_ROW = 100;

/** Events of a {@link ShardReader}. */
export type ShardReaderEvents = {
  /** A bad shard or member was counted (emitted before a `throw` policy throws). */
  skip: [event: SkipEvent];
};

type ShardError = ShardFormatError | ShardReadError;

interface PartialSample {
  readonly key: string;
  readonly files: Record<string, Buffer>;
}

function shorten(urls: readonly string[]): string {
  if (urls.length === 1) return urls[0] as string;
  return `${urls[0] as string} .. ${urls[urls.length - 1] as string}`;
}

async function* countBytes(source: AsyncIterable<Buffer>, add: (n: number) => void): AsyncGenerator<Buffer> {
  for await (const chunk of source) {
    add(chunk.length);
    yield chunk;
  }
}

/**
 * Reads WebDataset shards as a stream of {@link Sample}s. Iterate it once (a second
 * `for await` continues where the first stopped); `close()` cancels and releases
 * files, sockets and child processes. `stats` is a live snapshot; `skip` events report
 * every bad shard or member as it happens.
 *
 * @example
 * ```ts
 * const reader = new ShardReader({ urls: 'data/s-{000000..000009}.tar', bufferSize: 1000, seed: 1 });
 * reader.on('skip', (e) => console.error(e.reason, e.url, e.member));
 * for await (const sample of reader) console.log(sample.__key__, Object.keys(sample.files));
 * console.log(reader.stats.samples);
 * await reader.close();
 * ```
 */
export class ShardReader extends EventEmitter<ShardReaderEvents> implements AsyncIterable<Sample> {
  /** The validated options. */
  readonly options: ResolvedReadOptions;
  readonly #stats = new StatsCollector();
  readonly #closer = new AbortController();
  readonly #signal: AbortSignal;
  #iterator: AsyncGenerator<Sample, void> | undefined;
  readonly #reported = new WeakSet<object>();
  #closed = false;

  constructor(options: ReadOptions) {
    super();
    this.options = resolveReadOptions(options);
    const signals = [this.#closer.signal];
    if (this.options.signal !== undefined) signals.push(this.options.signal);
    this.#signal = signals.length === 1 ? this.#closer.signal : AbortSignal.any(signals);
  }

  /** A snapshot of what was read and what went wrong so far. */
  get stats(): ReaderStats {
    return this.#stats.snapshot();
  }

  /** One line describing the reader, for logs and error messages. */
  describe(): string {
    const o = this.options;
    const parts = [
      `shards(${o.urls.length}: ${shorten(o.urls)}${o.shuffleShards ? ', shuffled' : ''}${o.resampled ? ', resampled' : ''})`,
      `split(rank ${o.rank}/${o.worldSize}, worker ${o.workerId}/${o.numWorkers})`,
      'untar',
    ];
    if (o.bufferSize > 1) parts.push(`shuffle(${o.bufferSize}, initial ${o.initial})`);
    const epochs = o.epochs === Infinity ? 'for ever' : String(o.epochs);
    parts.push(`epochs(${epochs} from ${o.epoch}${o.samplesPerEpoch === undefined ? '' : `, ${o.samplesPerEpoch} samples each`})`);
    parts.push(`seed ${o.seed}, on error ${o.onError}`);
    return parts.join(' -> ');
  }

  [Symbol.asyncIterator](): AsyncIterator<Sample> {
    this.#iterator ??= this.#closed ? (async function* () {})() : this.#run();
    return this.#iterator;
  }

  /** Stop reading and release what is open. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#closer.abort(new DeclipError('the shard reader was closed'));
    const it = this.#iterator;
    if (it !== undefined) {
      try {
        await it.return(undefined);
      } catch {
        // the iteration was cancelled: nothing left to release
      }
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  async *#run(): AsyncGenerator<Sample, void> {
    const o = this.options;
    const signal = this.#signal;
    const last = o.epoch + o.epochs;
    for (let epoch = o.epoch; epoch < last; epoch++) {
      if (signal.aborted) throw signal.reason;
      let samples: AsyncIterable<Sample> = this.#epochSamples(epoch);
      if (o.bufferSize > 1) samples = shuffleBuffer(samples, o.bufferSize, o.initial, new Rng(sampleShuffleSeed(o, epoch)));
      let n = 0;
      for await (const sample of samples) {
        this.#stats.addSample(sample.files);
        yield sample;
        n++;
        if (o.samplesPerEpoch !== undefined && n >= o.samplesPerEpoch) break;
      }
      if (n === 0) throw this.#emptyEpoch(epoch);
    }
  }

  async *#epochSamples(epoch: number): AsyncGenerator<Sample, void> {
    const o = this.options;
    if (o.resampled) {
      let empty = 0;
      for (const url of resampledShards(o, epoch)) {
        const n = yield* this.#shardSamples(url);
        empty = n > 0 ? 0 : empty + 1;
        if (empty >= MAX_EMPTY_SHARDS_IN_A_ROW) {
          throw new ShardReadError(
            'no-samples',
            `${MAX_EMPTY_SHARDS_IN_A_ROW} resampled shards in a row gave no sample; the last one`,
            url,
          );
        }
      }
      return;
    }
    for (let pass = 0; ; pass++) {
      let got = 0;
      for (const url of shardsForPass(o, epoch, pass)) got += yield* this.#shardSamples(url);
      if (o.samplesPerEpoch === undefined || got === 0) return;
    }
  }

  /** The error of an epoch without a single sample, with what went wrong in it. */
  #emptyEpoch(epoch: number): ShardReadError {
    const o = this.options;
    const share = o.resampled ? o.urls : shardsForPass(o, epoch, 0);
    const errors = this.#stats.snapshot().errors;
    const first = errors[0];
    const why =
      share.length === 0
        ? `this reader's share is empty (${o.urls.length} shards for rank ${o.rank}/${o.worldSize}, worker ${o.workerId}/${o.numWorkers})`
        : errors.length === 0
          ? `its ${share.length} shard(s) hold no sample`
          : `${errors.length} shard error(s) were skipped, the first: ${first?.reason ?? ''} in ${first?.url ?? ''}`;
    return new ShardReadError('no-samples', `epoch ${epoch} gave no sample: ${why}`, shorten(share.length === 0 ? o.urls : share));
  }

  /**
   * Report a bad shard (`scope` 'shard', under `onShardError`) or a bad member or a shard
   * broken inside (`scope` 'data', under `onError`): count, tell listeners, then throw or
   * warn by policy.
   */
  #report(err: ShardError, member: string | undefined, scope: 'shard' | 'data' = 'data'): void {
    const o = this.options;
    const policy = scope === 'shard' ? o.onShardError : o.onError;
    this.#stats.addError(err.url, err.reason, member);
    const event: SkipEvent = {
      url: err.url,
      reason: err.reason,
      member,
      key: err instanceof ShardFormatError ? err.key : undefined,
      scope,
      action: policy === 'throw' ? 'thrown' : 'skipped',
      error: err,
    };
    o.onSkip?.(event);
    this.emit('skip', event);
    if (policy === 'throw') {
      this.#reported.add(err);
      throw err;
    }
    if (policy === 'warn') o.warn(err.message);
  }

  async *#shardSamples(url: string): AsyncGenerator<Sample, number> {
    const o = this.options;
    const stats = this.#stats;
    const outer = this.#signal;
    if (outer.aborted) throw outer.reason;
    const shard = new AbortController();
    const signal = AbortSignal.any([outer, shard.signal]);
    stats.shardsOpened++;
    const raw = shardBytes(url, {
      signal,
      stdin: o.stdin ?? (process.stdin as Readable),
      retries: o.retries,
      retryDelayMs: o.retryDelayMs,
      maxRetryDelayMs: o.maxRetryDelayMs,
      headers: o.headers,
      stallTimeoutMs: o.stallTimeoutMs,
      onRetry: () => {
        stats.retries++;
      },
    });
    let received = 0;
    const bytes = maybeGunzip(
      countBytes(raw, (n) => {
        received += n;
        stats.sourceBytes += n;
      }),
    );
    const members = tarMembers(bytes, url, o.maxMemberBytes, { closeSource: () => shard.abort() });
    let current: PartialSample | undefined;
    let count = 0;
    try {
      for await (const m of members) {
        if (m.kind === 'ignored') {
          stats.ignored[m.reason]++;
          continue;
        }
        if (m.kind === 'oversized') {
          this.#report(
            new ShardFormatError(
              'member-too-large',
              `member of ${m.size} bytes is larger than maxMemberBytes (${o.maxMemberBytes}); it is dropped`,
              { url, member: m.name, key: m.key },
            ),
            m.name,
          );
          continue;
        }
        if (current !== undefined && current.key === m.key) {
          if (Object.hasOwn(current.files, m.ext)) {
            this.#report(
              new ShardFormatError(
                'duplicate-extension',
                `extension "${m.ext}" appears twice in sample "${m.key}"; the first member is kept`,
                { url, member: m.name, key: m.key },
              ),
              m.name,
            );
            continue;
          }
          current.files[m.ext] = m.data;
          continue;
        }
        if (current !== undefined) {
          const done = current;
          current = undefined;
          count++;
          yield { __key__: done.key, __url__: url, files: done.files };
        }
        current = { key: m.key, files: Object.create(null) as Record<string, Buffer> };
        current.files[m.ext] = m.data;
      }
      if (current !== undefined) {
        const done = current;
        current = undefined;
        count++;
        yield { __key__: done.key, __url__: url, files: done.files };
      }
      stats.shardsCompleted++;
    } catch (err) {
      if (outer.aborted) throw outer.reason;
      if (this.#reported.has(err as object)) throw err; // already counted and reported (throw policy)
      let cause: unknown = err;
      let member: string | undefined;
      let lost = current !== undefined;
      if (err instanceof TarStreamError) {
        cause = err.error;
        member = err.member;
        lost ||= err.midMember;
        // The stream broke inside a member of another key: the sample before it is complete.
        const cutIn = err.midMember && err.member !== undefined ? splitMemberName(err.member) : undefined;
        if (current !== undefined && (err.archiveComplete || (typeof cutIn === 'object' && cutIn.key !== current.key))) {
          const done = current;
          current = undefined;
          count++;
          yield { __key__: done.key, __url__: url, files: done.files };
        }
      }
      if (lost) stats.samplesDropped++;
      if (cause instanceof ShardFormatError) {
        this.#report(cause, member ?? cause.member);
      } else {
        // Not an error of ours: an unexpected failure, still reported against the shard.
        const error =
          cause instanceof ShardReadError
            ? cause
            : new ShardReadError('read-failed', `reading failed: ${cause instanceof Error ? cause.message : String(cause)}`, url, { cause });
        // Not a byte came: the shard could not be opened (onShardError), else it broke inside.
        this.#report(error, member, received === 0 ? 'shard' : 'data');
      }
    } finally {
      shard.abort();
    }
    return count;
  }
}

/**
 * Read WebDataset shards as an async iterable of samples (see {@link ShardReader} for
 * `stats`, `skip` events and `close()`).
 *
 * @example
 * ```ts
 * for await (const s of readSamples({ urls: 'pipe:curl -s https://host/s-{000..009}.tar', onError: 'warn' })) {
 *   const caption = s.files['txt']?.toString('utf8');
 * }
 * ```
 */
export function readSamples(options: ReadOptions): ShardReader {
  return new ShardReader(options);
}
