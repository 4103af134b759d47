/**
 * `http(s)://` shards, streamed with undici: retries with exponential backoff, and on a
 * dropped connection a `Range: bytes=N-` request that resumes from the bytes already
 * consumed (the 206 reply and its Content-Range are checked; a server that ignores
 * Range is read again from the start and the first N bytes are discarded).
 *
 * Resuming never splices two versions of an object: the Range request carries
 * `If-Range` with the first reply's strong ETag (else its Last-Modified), so a server
 * whose object changed answers 200 with the new object; a 200 or 206 whose ETag,
 * Last-Modified or length differs from the first reply's is a `http-changed` error, and
 * a 416 (the object is now shorter than the bytes already read) is `http-range`. A body
 * that sends no byte for `stallTimeoutMs` (undici's `headersTimeout`/`bodyTimeout`) is
 * retried like a dropped connection and, once the retries are spent, is `stalled`.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { type Dispatcher, getGlobalDispatcher, interceptors, request } from 'undici';
import { ShardReadError } from '../../core/errors.js';

/** Redirects followed per request. */
export const MAX_REDIRECTS = 5;
/** Bytes of an error reply body kept for the error message. */
const ERROR_BODY_BYTES = 512;

/** How the HTTP source retries, and whom it tells. */
export interface HttpSourceOptions {
  readonly retries: number;
  readonly retryDelayMs: number;
  readonly maxRetryDelayMs: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly signal: AbortSignal;
  /** A reply that sends no header or body byte for this long (ms) has stalled (default 60000). */
  readonly stallTimeoutMs?: number;
  /** Called before each retry with the byte offset it resumes from. */
  readonly onRetry?: (offset: number, cause: unknown) => void;
  /** Called when a server answered a Range request with the whole body. */
  readonly onRangeIgnored?: (offset: number) => void;
}

/** The global dispatcher (so a proxy set with setGlobalDispatcher applies), following redirects. */
function redirectingDispatcher(): Dispatcher {
  return getGlobalDispatcher().compose(interceptors.redirect({ maxRedirections: MAX_REDIRECTS }));
}

function retryableStatus(status: number): boolean {
  return status === 408 || status === 425 || status === 429 || status >= 500;
}

/** Parse `bytes START-END/TOTAL` (TOTAL may be `*`). */
function parseContentRange(value: string | string[] | undefined): { start: number; total: number | undefined } | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  const m = v === undefined ? null : /^bytes\s+(\d+)-(\d+)\/(\d+|\*)$/i.exec(v.trim());
  if (m === null) return undefined;
  return { start: Number(m[1]), total: m[3] === '*' ? undefined : Number(m[3]) };
}

function headerNumber(value: string | string[] | undefined): number | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  if (v === undefined || !/^\d+$/.test(v.trim())) return undefined;
  return Number(v);
}

function header(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** What identifies one version of the object: strong ETag, Last-Modified, total length. */
interface Version {
  readonly etag: string | undefined;
  readonly lastModified: string | undefined;
}

function versionOf(headers: Dispatcher.ResponseData['headers']): Version {
  const etag = header(headers['etag']);
  return { etag: etag === undefined || etag.startsWith('W/') ? undefined : etag, lastModified: header(headers['last-modified']) };
}

/** The first difference between two versions, or undefined when they may be the same. */
function changed(first: Version, now: Version): string | undefined {
  if (first.etag !== undefined && now.etag !== undefined && first.etag !== now.etag) return `ETag ${first.etag} -> ${now.etag}`;
  if (first.lastModified !== undefined && now.lastModified !== undefined && first.lastModified !== now.lastModified) {
    return `Last-Modified ${first.lastModified} -> ${now.lastModified}`;
  }
  return undefined;
}

function isTimeout(err: unknown): boolean {
  const code = (err as { code?: unknown } | undefined)?.code;
  return code === 'UND_ERR_BODY_TIMEOUT' || code === 'UND_ERR_HEADERS_TIMEOUT';
}

/** A reply we will not retry (4xx, bad Content-Range). */
class FatalHttpError extends Error {
  constructor(readonly readError: ShardReadError) {
    super(readError.message);
  }
}

async function snippet(body: Dispatcher.ResponseData['body']): Promise<string> {
  const chunks: Buffer[] = [];
  let n = 0;
  try {
    for await (const chunk of body as AsyncIterable<Buffer>) {
      chunks.push(chunk);
      n += chunk.length;
      if (n >= ERROR_BODY_BYTES) break;
    }
  } catch {
    // the reason is the status, not the body
  }
  body.destroy();
  return Buffer.concat(chunks).subarray(0, ERROR_BODY_BYTES).toString('utf8').replace(/\s+/g, ' ').trim();
}

/**
 * The bytes of an HTTP shard, in order, exactly once each, across dropped connections.
 *
 * @example
 * ```ts
 * for await (const chunk of httpBytes('http://127.0.0.1:8080/s-000000.tar', opts)) total += chunk.length;
 * ```
 */
export async function* httpBytes(url: string, options: HttpSourceOptions): AsyncGenerator<Buffer> {
  const { signal } = options;
  let offset = 0;
  let total: number | undefined;
  let first: Version | undefined;
  let failures = 0;
  const timeout = options.stallTimeoutMs ?? 60_000;
  const fatal = (reason: string, detail: string, res: Dispatcher.ResponseData): never => {
    res.body.destroy();
    throw new FatalHttpError(new ShardReadError(reason, detail, url));
  };
  for (;;) {
    signal.throwIfAborted();
    let progressed = false;
    try {
      const headers: Record<string, string> = { ...options.headers };
      if (offset > 0) {
        headers['range'] = `bytes=${offset}-`;
        const validator = first?.etag ?? first?.lastModified;
        if (validator !== undefined) headers['if-range'] = validator;
      }
      const res = await request(url, { method: 'GET', headers, signal, dispatcher: redirectingDispatcher(), headersTimeout: timeout, bodyTimeout: timeout });
      let discard = 0;
      if (offset > 0 && res.statusCode === 416) {
        if (total !== undefined && offset >= total) {
          res.body.destroy();
          return;
        }
        fatal('http-range', `the server refused Range bytes=${offset}- (HTTP 416): the object is now shorter than the ${offset} bytes already read`, res);
      }
      if (offset > 0 && (res.statusCode === 200 || res.statusCode === 206) && first !== undefined) {
        const now = versionOf(res.headers);
        const length = res.statusCode === 206 ? parseContentRange(res.headers['content-range'])?.total : headerNumber(res.headers['content-length']);
        const diff = changed(first, now) ?? (total !== undefined && length !== undefined && length !== total ? `length ${total} -> ${length}` : undefined);
        if (diff !== undefined) fatal('http-changed', `the object changed while it was being read (${diff}) after ${offset} bytes`, res);
      }
      if (offset === 0 && res.statusCode === 200) first = versionOf(res.headers);
      if (res.statusCode === 206 && offset > 0) {
        const range = parseContentRange(res.headers['content-range']);
        if (range === undefined || range.start !== offset) {
          const got = String(res.headers['content-range'] ?? 'none');
          res.body.destroy();
          throw new FatalHttpError(
            new ShardReadError('http-bad-range', `asked for bytes ${offset}- but the server sent Content-Range ${got}`, url),
          );
        }
        total ??= range.total;
      } else if (res.statusCode === 200) {
        const length = headerNumber(res.headers['content-length']);
        if (offset > 0) {
          // The server ignored Range: read from the start again, dropping what we have.
          discard = offset;
          options.onRangeIgnored?.(offset);
        }
        total ??= length;
      } else {
        const text = await snippet(res.body);
        const err = new ShardReadError(
          'http-status',
          `HTTP ${res.statusCode} for GET ${offset > 0 ? `(Range bytes=${offset}-) ` : ''}${url}${text ? `: ${text}` : ''}`,
          url,
        );
        if (!retryableStatus(res.statusCode)) throw new FatalHttpError(err);
        throw err;
      }
      for await (const chunk of res.body as AsyncIterable<Buffer>) {
        let data = chunk;
        if (discard > 0) {
          if (data.length <= discard) {
            discard -= data.length;
            continue;
          }
          data = data.subarray(discard);
          discard = 0;
        }
        offset += data.length;
        progressed = true;
        yield data;
      }
      if (total !== undefined && offset < total) {
        throw new ShardReadError('http-short', `connection ended after ${offset} of ${total} bytes`, url);
      }
      return;
    } catch (err) {
      if (signal.aborted) throw signal.reason;
      if (err instanceof FatalHttpError) throw err.readError;
      failures = progressed ? 1 : failures + 1;
      if (failures > options.retries) {
        const stalled = isTimeout(err);
        throw new ShardReadError(
          stalled ? 'stalled' : 'http-failed',
          `giving up after ${options.retries} retries at byte ${offset}: ${stalled ? `no byte for ${timeout} ms (${(err as Error).message})` : err instanceof Error ? err.message : String(err)}`,
          url,
          { cause: err },
        );
      }
      options.onRetry?.(offset, err);
      const wait = Math.min(options.maxRetryDelayMs, options.retryDelayMs * 2 ** (failures - 1));
      if (wait > 0) {
        await delay(wait, undefined, { signal }).catch(() => {
          throw signal.reason;
        });
      }
    }
  }
}
