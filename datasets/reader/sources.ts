/**
 * Byte sources of shards: local files and `file:` URLs, `http(s)://`, `pipe:CMD` and
 * `-` (stdin). Each is an async iterable of chunks that closes what it opened when the
 * iteration ends, fails or is aborted. Gzip is recognised by its magic bytes and
 * decompressed on the fly.
 */
import { spawn } from 'node:child_process';
import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { createGunzip } from 'node:zlib';
import { ShardReadError } from '../../core/errors.js';
import { httpBytes, type HttpSourceOptions } from './http.js';
import { shardUrlKind } from './urls.js';

/** Read size for local files. */
export const FILE_CHUNK_BYTES = 1024 * 1024;
/** Bytes of a pipe command's stderr kept for its error message. */
export const PIPE_STDERR_BYTES = 4096;
/** After SIGTERM, a pipe command gets this long to exit before SIGKILL. */
export const PIPE_KILL_GRACE_MS = 2000;

/** What a source needs besides its URL. */
export interface SourceContext extends Omit<HttpSourceOptions, 'signal'> {
  /** Aborted when the shard is done with (finished, failed, or the reader cancelled). */
  readonly signal: AbortSignal;
  /** The stream read for `-`. */
  readonly stdin: Readable;
}

/**
 * A source that delivered all its bytes and then failed (a pipe command that exited
 * non-zero after closing its stdout): the data is parsed to its end first, then `error`
 * is reported.
 */
export class FailedAfterEnd extends Error {
  constructor(readonly error: ShardReadError) {
    super(error.message, { cause: error });
  }
}

async function* fileBytes(url: string, signal: AbortSignal): AsyncGenerator<Buffer> {
  let path: string;
  try {
    path = url.startsWith('file:') ? fileURLToPath(url) : url;
  } catch (cause) {
    throw new ShardReadError('open-failed', `not a valid file URL`, url, { cause });
  }
  const stream = createReadStream(path, { highWaterMark: FILE_CHUNK_BYTES, signal });
  let started = false;
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      started = true;
      yield chunk;
    }
  } catch (err) {
    if (signal.aborted) throw signal.reason;
    const code = (err as NodeJS.ErrnoException).code ?? 'EIO';
    throw new ShardReadError(started ? 'read-failed' : 'open-failed', `cannot ${started ? 'read' : 'open'} the file (${code})`, url, { cause: err });
  } finally {
    stream.destroy();
  }
}

/** Default of `stallTimeoutMs`: a `pipe:` or HTTP stream silent this long (ms) has stalled. */
export const DEFAULT_STALL_TIMEOUT_MS = 60_000;

async function* pipeBytes(url: string, signal: AbortSignal, stallTimeoutMs: number): AsyncGenerator<Buffer> {
  const command = url.slice('pipe:'.length);
  const child = spawn('/bin/sh', ['-c', command], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (text: string) => {
    stderr = (stderr + text).slice(-PIPE_STDERR_BYTES);
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: Error }>((resolve) => {
    child.once('error', (error) => resolve({ code: null, signal: null, error }));
    child.once('close', (code, sig) => resolve({ code, signal: sig }));
  });
  const kill = (): void => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  };
  signal.addEventListener('abort', kill, { once: true });
  // No byte for stallTimeoutMs: stop the command and end its output (a grandchild of the
  // shell may hold the pipe open after the shell is gone).
  let stalled = false;
  const stall = setTimeout(() => {
    stalled = true;
    kill();
    child.stdout.destroy();
  }, stallTimeoutMs);
  try {
    for await (const chunk of child.stdout as AsyncIterable<Buffer>) {
      stall.refresh();
      yield chunk;
    }
    const end = await exited;
    if (signal.aborted) throw signal.reason;
    if (stalled) {
      throw new ShardReadError('stalled', `command "${command}" sent no byte for ${stallTimeoutMs} ms and was stopped`, url);
    }
    if (end.error !== undefined || end.code !== 0) {
      const how =
        end.error !== undefined
          ? `could not run: ${end.error.message}`
          : end.code !== null
            ? `exited with code ${end.code}`
            : `was killed by ${end.signal ?? 'a signal'}`;
      const tail = stderr.trim();
      throw new FailedAfterEnd(new ShardReadError('pipe-failed', `command "${command}" ${how}${tail ? `: ${tail}` : ''}`, url));
    }
  } catch (err) {
    if (signal.aborted) throw signal.reason;
    if (err instanceof FailedAfterEnd || err instanceof ShardReadError) throw err;
    if (stalled) {
      throw new ShardReadError('stalled', `command "${command}" sent no byte for ${stallTimeoutMs} ms and was stopped`, url, { cause: err });
    }
    throw new ShardReadError('pipe-failed', `command "${command}" failed: ${(err as Error).message}`, url, { cause: err });
  } finally {
    clearTimeout(stall);
    signal.removeEventListener('abort', kill);
    kill();
    // Wait for the child to go, so that closing a reader leaves no process behind.
    const force = setTimeout(() => child.kill('SIGKILL'), PIPE_KILL_GRACE_MS);
    await exited;
    clearTimeout(force);
  }
}

async function* stdinBytes(url: string, stdin: Readable, signal: AbortSignal): AsyncGenerator<Buffer> {
  const onAbort = (): void => {
    stdin.destroy();
  };
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    for await (const chunk of stdin as AsyncIterable<Buffer | string>) {
      yield typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    }
  } catch (err) {
    if (signal.aborted) throw signal.reason;
    throw new ShardReadError('read-failed', `cannot read standard input: ${(err as Error).message}`, url, { cause: err });
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}

/**
 * The raw (possibly gzipped) bytes of one shard URL.
 *
 * @example
 * ```ts
 * for await (const chunk of shardBytes('pipe:cat s.tar', ctx)) n += chunk.length;
 * ```
 */
export function shardBytes(url: string, ctx: SourceContext): AsyncIterable<Buffer> {
  switch (shardUrlKind(url)) {
    case 'stdin':
      return stdinBytes(url, ctx.stdin, ctx.signal);
    case 'pipe':
      return pipeBytes(url, ctx.signal, ctx.stallTimeoutMs ?? DEFAULT_STALL_TIMEOUT_MS);
    case 'http':
      return httpBytes(url, ctx);
    case 'file':
      return fileBytes(url, ctx.signal);
  }
}

/** A gzip stream starts with these two bytes. */
const GZIP_MAGIC = [0x1f, 0x8b] as const;

/** Why decompression failed, as a ShardFormatError reason. */
export function gzipErrorReason(err: unknown): 'truncated' | 'bad-gzip' | undefined {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'Z_BUF_ERROR') return 'truncated';
  if (typeof code === 'string' && code.startsWith('Z_')) return 'bad-gzip';
  return undefined;
}

/**
 * Pass bytes through, gunzipping them when they start with the gzip magic bytes
 * (whatever the file name says). Errors of the source pass through unchanged; zlib
 * errors carry a `Z_*` code (see {@link gzipErrorReason}).
 *
 * @example
 * ```ts
 * for await (const chunk of maybeGunzip(shardBytes(url, ctx))) extract.write(chunk);
 * ```
 */
export async function* maybeGunzip(source: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  const it = source[Symbol.asyncIterator]();
  const head: Buffer[] = [];
  let headBytes = 0;
  let ended = false;
  try {
    while (headBytes < GZIP_MAGIC.length) {
      const r = await it.next();
      if (r.done === true) {
        ended = true;
        break;
      }
      head.push(r.value);
      headBytes += r.value.length;
    }
    const first = Buffer.concat(head);
    const gzipped = first.length >= 2 && first[0] === GZIP_MAGIC[0] && first[1] === GZIP_MAGIC[1];
    if (!gzipped) {
      if (first.length > 0) yield first;
      if (!ended) {
        for (;;) {
          const r = await it.next();
          if (r.done === true) break;
          yield r.value;
        }
      }
      return;
    }
    yield* gunzip(first, it);
  } finally {
    await it.return?.();
  }
}

async function* gunzip(first: Buffer, it: AsyncIterator<Buffer>): AsyncGenerator<Buffer> {
  const z = createGunzip({ chunkSize: 256 * 1024 });
  let sourceError: unknown;
  let failedAfterEnd: FailedAfterEnd | undefined;
  // Feed the decompressor with backpressure; its output is read below.
  const feed = (async () => {
    try {
      const write = async (chunk: Buffer): Promise<void> => {
        if (!z.write(chunk)) {
          await new Promise<void>((resolve) => {
            const done = (): void => {
              z.off('drain', done);
              z.off('close', done);
              resolve();
            };
            z.on('drain', done);
            z.on('close', done);
          });
        }
      };
      await write(first);
      for (;;) {
        if (z.destroyed) return;
        const r = await it.next();
        if (r.done === true) break;
        await write(r.value);
      }
      z.end();
    } catch (err) {
      if (err instanceof FailedAfterEnd) {
        failedAfterEnd = err;
        z.end();
        return;
      }
      sourceError = err;
      z.destroy(err as Error);
    }
  })();
  try {
    for await (const chunk of z as AsyncIterable<Buffer>) yield chunk;
    await feed;
    if (failedAfterEnd !== undefined) throw failedAfterEnd;
  } catch (err) {
    throw sourceError ?? err;
  } finally {
    z.destroy();
    await feed;
  }
}
