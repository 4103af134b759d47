import { readFileSync } from 'node:fs';
import { once } from 'node:events';
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { pathToFileURL } from 'node:url';
import { gzipSync } from 'node:zlib';
import t, { type Test } from 'tap';
import { ShardReadError } from '../../core/errors.js';
import { readSamples } from '../../datasets/reader/index.js';
import type { Sample } from '../../datasets/sample.js';
import { simpleMembers, tarBuffer, writeTar } from './fixtures-tar.js';

async function collect(iter: AsyncIterable<Sample>): Promise<Sample[]> {
  const out: Sample[] = [];
  for await (const s of iter) out.push(s);
  return out;
}

async function failure(iter: AsyncIterable<Sample>, got: Sample[] = []): Promise<unknown> {
  try {
    for await (const s of iter) got.push(s);
  } catch (err) {
    return err;
  }
  return undefined;
}

const keysOf = (n: number, prefix = 's'): string[] => Array.from({ length: n }, (_, i) => `${prefix}${String(i).padStart(6, '0')}`);

t.test('local paths, file: URLs, brace patterns and :: lists', async (t) => {
  const dir = t.testdir();
  for (let i = 0; i < 4; i++) await writeTar(join(dir, `s-${String(i).padStart(3, '0')}.tar`), simpleMembers(2, `k${i}-`));
  await writeTar(join(dir, 'extra.tar'), simpleMembers(1, 'x'));
  const reader = readSamples({ urls: [`${dir}/s-{000..003}.tar::${pathToFileURL(join(dir, 'extra.tar')).href}`] });
  const samples = await collect(reader);
  t.same(
    samples.map((s) => s.__key__),
    ['k0-000000', 'k0-000001', 'k1-000000', 'k1-000001', 'k2-000000', 'k2-000001', 'k3-000000', 'k3-000001', 'x000000'],
  );
  t.equal(samples[2]?.__url__, `${dir}/s-001.tar`, 'brace expansion keeps zero padding');
  t.equal(samples[8]?.__url__, pathToFileURL(join(dir, 'extra.tar')).href);
  t.equal(reader.stats.shardsCompleted, 5);
});

t.test('pipe: reads a command\'s stdout; a non-zero exit is a typed error naming the command', async (t) => {
  const dir = t.testdir();
  const file = join(dir, 'p.tar');
  await writeTar(file, simpleMembers(3));
  const ok = await collect(readSamples({ urls: `pipe:cat '${file}'` }));
  t.same(ok.map((s) => s.__key__), keysOf(3));
  t.equal(ok[0]?.__url__, `pipe:cat '${file}'`);

  const cmd = `cat '${file}'; echo 'something broke' >&2; exit 3`;
  const got: Sample[] = [];
  const err = await failure(readSamples({ urls: `pipe:${cmd}` }), got);
  t.ok(err instanceof ShardReadError, 'ShardReadError');
  t.match(err, { reason: 'pipe-failed', url: `pipe:${cmd}` });
  t.match((err as Error).message, 'exited with code 3');
  t.match((err as Error).message, 'something broke', 'stderr of the command is in the message');
  t.match((err as Error).message, cmd, 'the message names the command');
  t.same(got.map((s) => s.__key__), keysOf(3), 'what came before the failure was yielded');

  // A command that fails before its first byte is a shard that cannot be opened: onShardError.
  t.match(await failure(readSamples({ urls: [`pipe:exit 7`, `pipe:cat '${file}'`], onError: 'skip' })), { reason: 'pipe-failed', url: 'pipe:exit 7' });
  const skip = readSamples({ urls: [`pipe:exit 7`, `pipe:cat '${file}'`], onShardError: 'skip' });
  t.same((await collect(skip)).map((s) => s.__key__), keysOf(3));
  t.same(skip.stats.errors.map((e) => [e.url, e.reason, e.count]), [['pipe:exit 7', 'pipe-failed', 1]]);
});

t.test('- reads standard input (or the stream given as stdin)', async (t) => {
  const tar = gzipSync(await tarBuffer(simpleMembers(4)));
  const stdin = new PassThrough();
  stdin.end(tar);
  const samples = await collect(readSamples({ urls: '-', stdin }));
  t.same(samples.map((s) => s.__key__), keysOf(4));
  t.equal(samples[0]?.__url__, '-');
});

t.test('aborting cancels promptly and ends the pipe command', async (t) => {
  const dir = t.testdir();
  const file = join(dir, 'p.tar');
  const pidFile = join(dir, 'pid');
  await writeTar(file, simpleMembers(3));
  const controller = new AbortController();
  const reason = new Error('stop now');
  // The command writes the shard, then waits for ever (until it is killed).
  const reader = readSamples({ urls: `pipe:echo $$ > '${pidFile}'; cat '${file}'; exec tail -f /dev/null`, signal: controller.signal });
  const got: Sample[] = [];
  const started = Date.now();
  const err = await (async () => {
    try {
      for await (const s of reader) {
        got.push(s);
        if (got.length === 2) controller.abort(reason);
      }
    } catch (e) {
      return e;
    }
    return undefined;
  })();
  t.equal(err, reason, 'rejects with the abort reason');
  t.ok(Date.now() - started < 20_000, 'promptly');
  const pid = Number(readFileSync(pidFile, 'utf8').trim());
  t.throws(() => process.kill(pid, 0), { code: 'ESRCH' }, 'the child process is gone');
  await reader.close();
  await reader.close();
  t.pass('close() is idempotent');
});

interface Hit {
  readonly path: string;
  readonly range: string | undefined;
}

async function startServer(
  t: Test,
  handler: (req: IncomingMessage, res: ServerResponse, hits: Hit[]) => void,
): Promise<{ base: string; hits: Hit[]; server: Server }> {
  const hits: Hit[] = [];
  const server = createServer((req, res) => {
    const hit = { path: req.url ?? '', range: req.headers.range };
    hits.push(hit);
    handler(req, res, hits);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => {
    server.closeAllConnections();
    server.close();
  });
  const { port } = server.address() as AddressInfo;
  return { base: `http://127.0.0.1:${port}`, hits, server };
}

function sendRange(req: IncomingMessage, res: ServerResponse, body: Buffer, start: number): void {
  res.writeHead(206, {
    'content-length': body.length - start,
    'content-range': `bytes ${start}-${body.length - 1}/${body.length}`,
  });
  res.end(body.subarray(start));
}

t.test('http: a connection dropped mid-shard resumes with Range from the bytes consumed; every sample once', async (t) => {
  const shard = await tarBuffer(simpleMembers(40));
  const half = Math.floor(shard.length / 2) + 123;
  const { base, hits } = await startServer(t, (req, res, hits) => {
    const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    if (m !== null) return sendRange(req, res, shard, Number(m[1]));
    if (hits.length === 1) {
      res.writeHead(200, { 'content-length': shard.length });
      res.write(shard.subarray(0, half), () => res.socket?.destroy());
      return;
    }
    res.writeHead(200, { 'content-length': shard.length });
    res.end(shard);
  });
  const reader = readSamples({ urls: `${base}/s.tar`, retryDelayMs: 1 });
  const samples = await collect(reader);
  t.same(samples.map((s) => s.__key__), keysOf(40), 'every sample exactly once, in order');
  t.equal(hits.length, 2);
  t.equal(hits[0]?.range, undefined);
  t.match(hits[1]?.range, /^bytes=\d+-$/);
  const resumedAt = Number(/\d+/.exec(hits[1]?.range ?? '')?.[0]);
  t.ok(resumedAt > 0 && resumedAt <= half, `resumed at ${resumedAt} (dropped after ${half})`);
  t.equal(reader.stats.retries, 1);
  t.equal(reader.stats.sourceBytes, shard.length, 'no byte read twice');
  t.same(reader.stats.errors, []);
});

t.test('http: a server that ignores Range is read again and the consumed bytes are skipped', async (t) => {
  const shard = gzipSync(await tarBuffer(simpleMembers(30)));
  const { base, hits } = await startServer(t, (_req, res, hits) => {
    res.writeHead(200, { 'content-length': shard.length });
    if (hits.length === 1) res.write(shard.subarray(0, shard.length >> 1), () => res.socket?.destroy());
    else res.end(shard);
  });
  const samples = await collect(readSamples({ urls: `${base}/s.tar.gz`, retryDelayMs: 1 }));
  t.same(samples.map((s) => s.__key__), keysOf(30));
  t.equal(hits.length, 2);
  t.ok(hits[1]?.range !== undefined, 'Range was asked for');
});

t.test('http: a wrong Content-Range, a 404, and retries on 503', async (t) => {
  const shard = await tarBuffer(simpleMembers(20));
  let flaky = 0;
  const { base, hits } = await startServer(t, (req, res) => {
    if (req.url === '/missing.tar') {
      res.writeHead(404, { 'content-type': 'text/plain' });
      return res.end('no such shard');
    }
    if (req.url === '/flaky.tar' && flaky++ < 2) {
      res.writeHead(503);
      return res.end();
    }
    if (req.url === '/badrange.tar' && req.headers.range !== undefined) {
      res.writeHead(206, { 'content-range': `bytes 0-${shard.length - 1}/${shard.length}`, 'content-length': shard.length });
      return res.end(shard);
    }
    if (req.url === '/badrange.tar') {
      res.writeHead(200, { 'content-length': shard.length });
      res.write(shard.subarray(0, 3000), () => res.socket?.destroy());
      return;
    }
    if (req.url === '/down.tar') {
      res.socket?.destroy();
      return;
    }
    res.writeHead(200, { 'content-length': shard.length });
    res.end(shard);
  });
  const missing = await failure(readSamples({ urls: `${base}/missing.tar`, retryDelayMs: 1 }));
  t.match(missing, { name: 'ShardReadError', reason: 'http-status', url: `${base}/missing.tar` });
  t.match((missing as Error).message, /HTTP 404.*no such shard/);
  t.equal(hits.filter((h) => h.path === '/missing.tar').length, 1, 'a 404 is not retried');

  const flakyReader = readSamples({ urls: `${base}/flaky.tar`, retryDelayMs: 1 });
  t.equal((await collect(flakyReader)).length, 20, '503 twice, then read');
  t.equal(flakyReader.stats.retries, 2);

  const bad = await failure(readSamples({ urls: `${base}/badrange.tar`, retryDelayMs: 1 }));
  t.match(bad, { name: 'ShardReadError', reason: 'http-bad-range' });

  const down = readSamples({ urls: [`${base}/down.tar`, `${base}/ok.tar`], retries: 2, retryDelayMs: 1, onShardError: 'skip' });
  t.equal((await collect(down)).length, 20);
  t.same(down.stats.errors.map((e) => [e.url, e.reason]), [[`${base}/down.tar`, 'http-failed']]);
  t.equal(hits.filter((h) => h.path === '/down.tar').length, 3, 'first try + 2 retries');
});

t.test('http: aborting closes the socket of a stalled download', async (t) => {
  const shard = await tarBuffer(simpleMembers(10));
  let closed: Promise<unknown> = Promise.resolve();
  const { base } = await startServer(t, (req, res) => {
    res.writeHead(200, { 'content-length': shard.length });
    res.write(shard.subarray(0, 4096));
    closed = once(req.socket, 'close');
  });
  const controller = new AbortController();
  const reader = readSamples({ urls: `${base}/stall.tar`, signal: controller.signal });
  let first: string | undefined;
  const err = await (async () => {
    try {
      // The first sample fits in the first 4 KiB; then the download stalls and is aborted.
      for await (const s of reader) {
        first ??= s.__key__;
        controller.abort();
      }
    } catch (e) {
      return e;
    }
    return undefined;
  })();
  t.equal(first, 's000000');
  t.match(err, { name: 'AbortError' });
  await closed;
  t.pass('the server saw the connection close');
});
