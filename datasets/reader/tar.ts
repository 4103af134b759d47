/**
 * Tar members of a byte stream, one at a time, with tar-stream's `extract` (PAX and GNU
 * long names, UTF-8 names). Only the member being read is held in memory; the archive is
 * streamed. Members that belong to no sample (directories, links, hidden files, names
 * without an extension) come out as `ignored`.
 */
import { type Extract, extract as tarExtract } from 'tar-stream';
import { ShardFormatError } from '../../core/errors.js';
import { type IgnoreReason, splitMemberName } from './keys.js';
import { FailedAfterEnd, gzipErrorReason } from './sources.js';

/** A regular member that is part of a sample. */
export interface TarFileMember {
  readonly kind: 'file';
  readonly name: string;
  readonly key: string;
  readonly ext: string;
  readonly data: Buffer;
}

/** A member that is not part of any sample (by design, not an error). */
export interface TarIgnoredMember {
  readonly kind: 'ignored';
  readonly name: string;
  readonly reason: IgnoreReason;
}

/** A member too large to hold, skipped; reported as an error by the caller. */
export interface TarOversizedMember {
  readonly kind: 'oversized';
  readonly name: string;
  readonly key: string;
  readonly size: number;
}

export type TarMember = TarFileMember | TarIgnoredMember | TarOversizedMember;

const REGULAR = new Set(['file', 'contiguous-file']);

/**
 * Most bytes allocated for a member before its data arrives. A header's size field is a
 * claim (a crafted 512-byte header can claim a gigabyte): larger members grow their buffer
 * (doubling, capped at the declared size) as the bytes come, so memory follows the data
 * actually read, never the header.
 */
export const MEMBER_PREALLOC_BYTES = 4 * 1024 * 1024;

/** A member's bytes, gathered into one buffer that grows with the data, up to `size`. */
class MemberBuffer {
  #buf: Buffer;
  #at = 0;
  constructor(readonly size: number) {
    this.#buf = Buffer.allocUnsafe(Math.min(size, MEMBER_PREALLOC_BYTES));
  }
  append(chunk: Buffer): void {
    const need = Math.min(this.size, this.#at + chunk.length);
    if (need > this.#buf.length) {
      const grown = Buffer.allocUnsafe(Math.min(this.size, Math.max(need, 2 * this.#buf.length)));
      this.#buf.copy(grown, 0, 0, this.#at);
      this.#buf = grown;
    }
    this.#at += chunk.copy(this.#buf, this.#at);
  }
  /** The bytes received (fewer than `size` when the member was cut short). */
  bytes(): Buffer {
    return this.#at === this.#buf.length ? this.#buf : this.#buf.subarray(0, this.#at);
  }
}

function waitWritable(extract: Extract): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      extract.off('drain', done);
      extract.off('close', done);
      resolve();
    };
    extract.on('drain', done);
    extract.on('close', done);
  });
}

/** Map a tar-stream / zlib error to a typed shard-format error (other errors pass through). */
function classify(err: unknown, url: string, member: string | undefined): unknown {
  if (!(err instanceof Error) || err instanceof ShardFormatError) return err;
  const gz = gzipErrorReason(err);
  if (gz === 'truncated') return new ShardFormatError('truncated', 'gzip stream ends early: the shard is truncated', { url, member }, { cause: err });
  if (gz === 'bad-gzip') return new ShardFormatError('bad-gzip', `corrupt gzip data (${err.message})`, { url, member }, { cause: err });
  if (err.message === 'Unexpected end of data') {
    return new ShardFormatError('truncated', 'the tar stream ends in the middle of a member or header: the shard is truncated', { url, member }, { cause: err });
  }
  if (/^Invalid (tar )?header|Header exceeds max size/.test(err.message)) {
    return new ShardFormatError('bad-header', `corrupt tar header (${err.message})`, { url, member }, { cause: err });
  }
  return err;
}

/** The error of a member cut short, and which member that was. */
export class TarStreamError extends Error {
  constructor(
    readonly error: unknown,
    /** The member being read when the stream failed, else the last member read. */
    readonly member: string | undefined,
    /** True when `member`'s header was read but its data was not (completely). */
    readonly midMember: boolean,
    /** True when the archive was parsed to its end before the failure (a pipe that failed after its output). */
    readonly archiveComplete = false,
  ) {
    super('tar stream failed');
  }
}

/**
 * The members of a (decompressed) tar byte stream, in archive order. Format errors
 * are thrown as {@link ShardFormatError} (`truncated`, `bad-header`, `bad-gzip`) naming
 * the member being read; source errors pass through unchanged.
 *
 * @example
 * ```ts
 * for await (const m of tarMembers(maybeGunzip(shardBytes(url, ctx)), url, 1 << 30)) {
 *   if (m.kind === 'file') console.log(m.key, m.ext, m.data.length);
 * }
 * ```
 */
export async function* tarMembers(
  bytes: AsyncIterable<Buffer>,
  url: string,
  maxMemberBytes: number,
  hooks: { readonly closeSource?: () => void } = {},
): AsyncGenerator<TarMember> {
  const { closeSource } = hooks;
  // tar-stream also takes these (not in its typings): old v7 headers, UTF-8 names.
  const extractOptions = { allowUnknownFormat: true, filenameEncoding: 'utf-8' };
  const extract = tarExtract(extractOptions as unknown as Parameters<typeof tarExtract>[0]);
  const source = bytes[Symbol.asyncIterator]();
  let sourceError: unknown;
  let failedAfterEnd: unknown;
  let stopped = false;
  const pump = (async () => {
    try {
      for (;;) {
        if (stopped || extract.destroyed) return;
        const r = await source.next();
        if (r.done === true) break;
        if (stopped || extract.destroyed) return;
        if (!extract.write(r.value)) await waitWritable(extract);
      }
      if (!extract.destroyed) extract.end(undefined);
    } catch (err) {
      if (err instanceof FailedAfterEnd) {
        // All bytes are in: let the archive finish, report the failure after it.
        failedAfterEnd = err.error;
        if (!extract.destroyed) extract.end(undefined);
        return;
      }
      sourceError = err;
      extract.destroy(err as Error);
    }
  })();
  let current: string | undefined;
  let last: string | undefined;
  // One-member hand-off between tar-stream's `entry` events and this generator: the
  // parser is held (its `next` callback not called) until the member has been taken.
  let ready: TarMember | undefined;
  let resumeParser: (() => void) | undefined;
  let closed = false;
  let failure: unknown;
  let wake: (() => void) | undefined;
  const signal = (): void => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  extract.on('entry', (h, stream, next) => {
    current = h.name;
    const size = h.size ?? 0;
    let member: TarMember | undefined;
    let data: MemberBuffer | undefined;
    const split = REGULAR.has(h.type ?? 'file') ? splitMemberName(h.name) : 'not-a-file';
    if (typeof split === 'string') {
      member = { kind: 'ignored', name: h.name, reason: split };
    } else if (size > maxMemberBytes) {
      // refused on the header's word, before anything is allocated
      member = { kind: 'oversized', name: h.name, key: split.key, size };
    } else {
      data = new MemberBuffer(size);
    }
    stream.on('data', (chunk) => data?.append(chunk as Buffer));
    stream.on('error', () => {
      // the extract stream reports the error
    });
    stream.on('end', () => {
      if (data !== undefined && typeof split === 'object') member = { kind: 'file', name: h.name, key: split.key, ext: split.ext, data: data.bytes() };
      ready = member;
      resumeParser = next;
      last = current;
      current = undefined;
      signal();
    });
  });
  extract.on('error', (err: Error) => {
    failure ??= err;
    signal();
  });
  extract.on('close', () => {
    closed = true;
    signal();
  });
  try {
    for (;;) {
      if (ready !== undefined) {
        const member = ready;
        const next = resumeParser;
        ready = undefined;
        resumeParser = undefined;
        yield member;
        next?.();
        continue;
      }
      if (failure !== undefined) throw failure;
      if (closed) break;
      await new Promise<void>((resolve) => {
        wake = resolve;
      });
    }
    await pump;
    if (failedAfterEnd !== undefined) throw failedAfterEnd;
  } catch (err) {
    const cause = failedAfterEnd ?? sourceError ?? err;
    const complete = failedAfterEnd !== undefined && err === failedAfterEnd;
    throw new TarStreamError(classify(cause, url, current ?? last), current ?? last, current !== undefined, complete);
  } finally {
    stopped = true;
    closeSource?.();
    extract.destroy();
    await pump;
    await source.return?.();
  }
}
