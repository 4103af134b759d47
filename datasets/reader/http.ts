/**
 * `http(s)://` shards, streamed with undici: retries with exponential backoff, and on a
 * dropped connection a `Range: bytes=N-` request that resumes from the bytes already
 * consumed (the 206 reply and its Content-Range are checked; a server that ignores
 * Range is read again from the start and the first N bytes are discarded).
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
  let failures = 0;
  for (;;) {
    signal.throwIfAborted();
    let progressed = false;
    try {
      const headers: Record<string, string> = { ...options.headers };
      if (offset > 0) headers['range'] = `bytes=${offset}-`;
      const res = await request(url, { method: 'GET', headers, signal, dispatcher: redirectingDispatcher() });
      let discard = 0;
      if (offset > 0 && res.statusCode === 416 && total !== undefined && offset >= total) {
        res.body.destroy();
        return;
      }
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
        throw new ShardReadError(
          'http-failed',
          `giving up after ${options.retries} retries at byte ${offset}: ${err instanceof Error ? err.message : String(err)}`,
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
