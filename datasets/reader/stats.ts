/**
 * What a reader did: samples and bytes read, members ignored by design, and every error
 * or skip counted by reason and shard (never silent).
 */
import type { IgnoreReason } from './keys.js';

/** One bad shard or member, as the reader reports it (live, through `onSkip` / the `skip` event). */
export interface SkipEvent {
  /** Shard URL. */
  readonly url: string;
  /** Stable reason slug: `truncated`, `duplicate-extension`, `bad-header`, `http-failed`, ... */
  readonly reason: string;
  /** Tar member name, when known. */
  readonly member: string | undefined;
  /** Sample key, when known. */
  readonly key: string | undefined;
  /**
   * `shard`: the shard could not be opened (no byte was read; `onShardError` applies);
   * `data`: an error inside a shard (`onError` applies).
   */
  readonly scope: 'shard' | 'data';
  /** What was done: the error was thrown (`throw` policy) or the reader went on. */
  readonly action: 'thrown' | 'skipped';
  /** The typed error (ShardFormatError, ShardReadError). */
  readonly error: Error;
}

/** Errors of one reason in one shard, aggregated. */
export interface ErrorCount {
  readonly url: string;
  readonly reason: string;
  /** The first member that had this error in this shard (null when none is known). */
  readonly member: string | null;
  /** How many times it happened (members dropped, samples lost, or 1 for a failed shard). */
  readonly count: number;
}

/** Live counters of a reader (a snapshot is returned by `ShardReader.stats`). */
export interface ReaderStats {
  /** Samples yielded. */
  readonly samples: number;
  /** Bytes of member data in yielded samples. */
  readonly bytes: number;
  /** Member count by extension, over yielded samples. */
  readonly extensions: Readonly<Record<string, number>>;
  /** Shards opened (a shard read twice counts twice). */
  readonly shardsOpened: number;
  /** Shards read to their end without error. */
  readonly shardsCompleted: number;
  /** Bytes read from shard sources (compressed size for gzip shards). */
  readonly sourceBytes: number;
  /** Members that are not part of any sample by design (hidden, no extension, not a file). */
  readonly ignored: Readonly<Record<IgnoreReason, number>>;
  /** Samples lost because their shard was cut or failed while they were being read. */
  readonly samplesDropped: number;
  /** HTTP retries (each resumed or restarted request). */
  readonly retries: number;
  /** Error count by reason, over all shards. */
  readonly errorsByReason: Readonly<Record<string, number>>;
  /** Errors by (shard, reason), in the order they first happened. */
  readonly errors: readonly ErrorCount[];
}

interface MutableErrorCount {
  url: string;
  reason: string;
  member: string | null;
  count: number;
}

/** Mutable accumulator behind {@link ReaderStats}. */
export class StatsCollector {
  samples = 0;
  bytes = 0;
  shardsOpened = 0;
  shardsCompleted = 0;
  sourceBytes = 0;
  samplesDropped = 0;
  retries = 0;
  readonly extensions = new Map<string, number>();
  readonly ignored: Record<IgnoreReason, number> = { hidden: 0, 'no-extension': 0, 'not-a-file': 0 };
  readonly #errors = new Map<string, MutableErrorCount>();

  addSample(files: Readonly<Record<string, Buffer>>): void {
    this.samples++;
    for (const ext in files) {
      this.bytes += (files[ext] as Buffer).length;
      this.extensions.set(ext, (this.extensions.get(ext) ?? 0) + 1);
    }
  }

  addError(url: string, reason: string, member: string | undefined, count = 1): void {
    const id = `${reason}\u0000${url}`;
    const entry = this.#errors.get(id);
    if (entry === undefined) this.#errors.set(id, { url, reason, member: member ?? null, count });
    else {
      entry.count += count;
      if (entry.member === null && member !== undefined) entry.member = member;
    }
  }

  snapshot(): ReaderStats {
    const errors = [...this.#errors.values()].map((e) => Object.freeze({ ...e }));
    const errorsByReason: Record<string, number> = {};
    for (const e of errors) errorsByReason[e.reason] = (errorsByReason[e.reason] ?? 0) + e.count;
    return Object.freeze({
      samples: this.samples,
      bytes: this.bytes,
      extensions: Object.freeze(Object.fromEntries(this.extensions)),
      shardsOpened: this.shardsOpened,
      shardsCompleted: this.shardsCompleted,
      sourceBytes: this.sourceBytes,
      ignored: Object.freeze({ ...this.ignored }),
      samplesDropped: this.samplesDropped,
      retries: this.retries,
      errorsByReason: Object.freeze(errorsByReason),
      errors: Object.freeze(errors),
    });
  }
}
