/**
 * Image downloads for URL ingestion, over undici with keep-alive connections.
 *
 * - One timeout bounds the connect, the wait for the response headers, and every gap
 *   between body chunks (undici's `connectTimeout`, `headersTimeout`, `bodyTimeout`).
 * - Retries (`retries`, default 2) with exponential backoff (`retryDelayMs * 2^attempt`,
 *   or the server's `Retry-After` when it asks for less than 30 s) on 5xx, 429,
 *   connection errors and timeouts; a 404 or another 4xx is final.
 * - Redirects are followed by hand, at most `maxRedirects` (5), so a loop or a long
 *   chain ends as its own failure class (`too-many-redirects`) rather than a generic error.
 * - `maxBytes`: a Content-Length over it fails at once, a body growing past it is cut
 *   (`too-many-bytes`); neither is retried.
 * - The user agent names the tool and its version.
 *
 * Every outcome is a value, never a throw: `{ ok: true, bytes }` or `{ ok: false,
 * failure, detail }` with a failure class of the ingest statistics.
 *
 * @example
 * ```ts
 * const d = new Downloader({ timeoutMs: 10_000, retries: 2, maxBytes: 64e6, connections: 32 });
 * const r = await d.fetch('https://example.com/cat.jpg');
 * await d.close();
 * ```
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Agent, request } from 'undici';
import { packageVersion } from '../../core/package-info.js';

/** Download failure classes. */
export type DownloadFailure = 'http-404' | 'http-4xx' | 'http-5xx' | 'http-other' | 'timeout' | 'connection' | 'too-many-redirects' | 'too-many-bytes' | 'bad-url';

/** The outcome of one download. */
export type DownloadOutcome =
  | { readonly ok: true; readonly bytes: Uint8Array; readonly status: number; readonly url: string; readonly attempts: number }
  | { readonly ok: false; readonly failure: DownloadFailure; readonly detail: string; readonly attempts: number };

/** Options of {@link Downloader}. */
export interface DownloadOptions {
  /** Milliseconds for connect, headers, and each gap in the body. Default 10,000. */
  readonly timeoutMs?: number;
  /** Retries after the first attempt. Default 2. */
  readonly retries?: number;
  /** First backoff delay; doubles per retry. Default 500 ms. */
  readonly retryDelayMs?: number;
  /** Most redirects followed. Default 5. */
  readonly maxRedirects?: number;
  /** Most bytes per image. Default 64 MiB. */
  readonly maxBytes?: number;
  /** Most open connections per origin. Default 64. */
  readonly connections?: number;
  /** Default {@link DEFAULT_USER_AGENT}: `declip-ts/VERSION (image-text dataset builder)`. */
  readonly userAgent?: string;
}

/** The user agent sent by default. */
export const DEFAULT_USER_AGENT = `declip-ts/${packageVersion()} (image-text dataset builder)`;

const TIMEOUT_CODES = new Set(['UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'ETIMEDOUT']);

function classify(err: unknown): { failure: DownloadFailure; retry: boolean; detail: string } {
  const e = err as NodeJS.ErrnoException & { cause?: NodeJS.ErrnoException };
  const code = e.code ?? e.cause?.code ?? '';
  const detail = `${code === '' ? '' : code + ': '}${e.message ?? String(err)}`;
  if (TIMEOUT_CODES.has(code)) return { failure: 'timeout', retry: true, detail };
  if (code === 'UND_ERR_INVALID_ARG' || e instanceof TypeError) return { failure: 'bad-url', retry: false, detail };
  return { failure: 'connection', retry: true, detail };
}

/** Downloads with one keep-alive agent (see the module notes). Call `close()` when done. */
export class Downloader {
  readonly #agent: Agent;
  readonly #retries: number;
  readonly #retryDelayMs: number;
  readonly #maxRedirects: number;
  readonly #maxBytes: number;
  readonly #userAgent: string;

  constructor(options: DownloadOptions = {}) {
    const timeout = options.timeoutMs ?? 10_000;
    this.#agent = new Agent({
      connectTimeout: timeout,
      headersTimeout: timeout,
      bodyTimeout: timeout,
      keepAliveTimeout: 30_000,
      connections: options.connections ?? 64,
    });
    this.#retries = options.retries ?? 2;
    this.#retryDelayMs = options.retryDelayMs ?? 500;
    this.#maxRedirects = options.maxRedirects ?? 5;
    this.#maxBytes = options.maxBytes ?? 64 * 1024 * 1024;
    this.#userAgent = options.userAgent ?? DEFAULT_USER_AGENT;
  }

  /** Download one URL (redirects, retries and limits as in the module notes). */
  async fetch(url: string, signal?: AbortSignal): Promise<DownloadOutcome> {
    let attempt = 0;
    for (;;) {
      const r = await this.#once(url, signal);
      attempt++;
      if (r.ok || !r.retry || attempt > this.#retries || signal?.aborted === true) {
        return r.ok ? { ...r, attempts: attempt } : { ok: false, failure: r.failure, detail: r.detail, attempts: attempt };
      }
      const delay = r.retryAfterMs ?? this.#retryDelayMs * 2 ** (attempt - 1);
      await sleep(delay, undefined, signal === undefined ? undefined : { signal }).catch(() => undefined);
    }
  }

  async #once(
    first: string,
    signal: AbortSignal | undefined,
  ): Promise<
    | { ok: true; bytes: Uint8Array; status: number; url: string }
    | { ok: false; failure: DownloadFailure; detail: string; retry: boolean; retryAfterMs?: number | undefined }
  > {
    let url = first;
    for (let hop = 0; ; hop++) {
      let parsed: URL;
      try {
        parsed = new URL(url);
      } catch {
        return { ok: false, failure: 'bad-url', detail: `not a URL: ${JSON.stringify(url)}`, retry: false };
      }
      if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
        return { ok: false, failure: 'bad-url', detail: `not an http(s) URL: ${JSON.stringify(url)}`, retry: false };
      }
      let res;
      try {
        res = await request(parsed, {
          dispatcher: this.#agent,
          method: 'GET',
          headers: { 'user-agent': this.#userAgent, accept: 'image/*,*/*;q=0.8' },
          ...(signal === undefined ? {} : { signal }),
        });
      } catch (err) {
        return { ok: false, ...classify(err) };
      }
      const status = res.statusCode;
      if (status >= 300 && status < 400 && status !== 304) {
        await res.body.dump().catch(() => undefined);
        const location = res.headers['location'];
        const to = Array.isArray(location) ? location[0] : location;
        if (to === undefined) return { ok: false, failure: 'http-other', detail: `HTTP ${status} without a Location`, retry: false };
        if (hop >= this.#maxRedirects) {
          return { ok: false, failure: 'too-many-redirects', detail: `more than ${this.#maxRedirects} redirects (last to ${to})`, retry: false };
        }
        url = new URL(to, parsed).href;
        continue;
      }
      if (status < 200 || status >= 300) {
        await res.body.dump().catch(() => undefined);
        const detail = `HTTP ${status}`;
        if (status === 404) return { ok: false, failure: 'http-404', detail, retry: false };
        if (status === 429) return { ok: false, failure: 'http-4xx', detail, retry: true, retryAfterMs: retryAfter(res.headers['retry-after']) };
        if (status >= 400 && status < 500) return { ok: false, failure: 'http-4xx', detail, retry: false };
        if (status >= 500) return { ok: false, failure: 'http-5xx', detail, retry: true, retryAfterMs: retryAfter(res.headers['retry-after']) };
        return { ok: false, failure: 'http-other', detail, retry: false };
      }
      const declared = Number(res.headers['content-length']);
      if (Number.isFinite(declared) && declared > this.#maxBytes) {
        discard(res.body);
        return { ok: false, failure: 'too-many-bytes', detail: `Content-Length ${declared} over --max-bytes ${this.#maxBytes}`, retry: false };
      }
      const chunks: Buffer[] = [];
      let size = 0;
      try {
        for await (const chunk of res.body as AsyncIterable<Buffer>) {
          size += chunk.byteLength;
          if (size > this.#maxBytes) {
            discard(res.body);
            return { ok: false, failure: 'too-many-bytes', detail: `body over --max-bytes ${this.#maxBytes}`, retry: false };
          }
          chunks.push(chunk);
        }
      } catch (err) {
        return { ok: false, ...classify(err) };
      }
      // One fresh buffer (not a slice of a shared pool): it is moved to a worker.
      const bytes = new Uint8Array(size);
      let at = 0;
      for (const c of chunks) {
        bytes.set(c, at);
        at += c.byteLength;
      }
      return { ok: true, bytes, status, url };
    }
  }

  /** Close the keep-alive connections. */
  async close(): Promise<void> {
    await this.#agent.close();
  }
}

/** Drop a body we will not read (its connection closes); the abort it emits is expected. */
function discard(body: { on(event: 'error', fn: () => void): unknown; destroy(): unknown }): void {
  body.on('error', () => undefined);
  body.destroy();
}

function retryAfter(value: string | string[] | undefined): number | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  if (v === undefined) return undefined;
  const seconds = Number(v);
  if (Number.isFinite(seconds) && seconds >= 0 && seconds < 30) return seconds * 1000;
  return undefined;
}
