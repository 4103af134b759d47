/**
 * Fault injection for the shard reader (issue 11): missing shards under the shard-level
 * policy, an epoch with no sample, `pipe:` commands that fail or stall, an HTTP object
 * that changes between a dropped connection and the Range request, a 416, a stalled
 * HTTP body, and a crafted tar header that claims a huge member.
 */
import { once } from 'node:events';
import { type IncomingMessage, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import t, { type Test } from 'tap';
import { ShardReadError } from '../../core/errors.js';
import { readSamples } from '../../datasets/reader/index.js';
import { MEMBER_PREALLOC_BYTES } from '../../datasets/reader/tar.js';
import type { Sample } from '../../datasets/sample.js';
import { simpleMembers, tarBuffer, writeTar } from './fixtures-tar.js';

async function drain(iter: AsyncIterable<Sample>, got: Sample[] = []): Promise<unknown> {
  try {
    for await (const s of iter) got.push(s);
  } catch (err) {
    return err;
  }
  return undefined;
}

async function server(t: Test, handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<string> {
  const s = createServer(handler);
  s.listen(0, '127.0.0.1');
  await once(s, 'listening');
  t.teardown(() => {
    s.closeAllConnections();
    s.close();
  });
  return `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
}

t.test('a missing shard ends the read naming its URL under the default onShardError; warn and skip go on', async (t) => {
  const dir = t.testdir();
  const good = join(dir, 'good-000000.tar');
  await writeTar(good, simpleMembers(2));
  const typo = join(dir, 'typo-000007.tar');
  const got: Sample[] = [];
  const err = await drain(readSamples({ urls: `${good}::${typo}`, onError: 'skip' }), got);
  t.ok(err instanceof ShardReadError);
  t.match(err, { reason: 'open-failed', url: typo });
  t.equal(got.length, 2, 'the good shard was read first');

  const warnings: string[] = [];
  const events: string[] = [];
  const warned = readSamples({ urls: [typo, good], onShardError: 'warn', warn: (m) => warnings.push(m), onSkip: (e) => events.push(`${e.scope}:${e.reason}:${e.action}`) });
  t.equal((await drain(warned, [])) ?? 'none', 'none');
  t.equal(warned.stats.samples, 2);
  t.match(warnings, [/cannot open the file \(ENOENT\).*typo-000007\.tar/]);
  t.same(events, ['shard:open-failed:skipped']);
});

t.test('an epoch that yields no sample is an error under every policy', async (t) => {
  const dir = t.testdir();
  for (const policy of ['throw', 'warn', 'skip'] as const) {
    const err = await drain(readSamples({ urls: `${dir}/nothere-{000000..000001}.tar`, onShardError: policy, warn: () => {} }));
    t.ok(err instanceof ShardReadError, policy);
    t.match(err, { reason: policy === 'throw' ? 'open-failed' : 'no-samples' });
  }
  const empty = join(dir, 'empty.tar');
  await writeTar(empty, []);
  t.match(await drain(readSamples({ urls: empty })), { reason: 'no-samples', message: /its 1 shard\(s\) hold no sample/ });
  t.match(await drain(readSamples({ urls: 'x-{0..1}.tar', rank: 2, worldSize: 3 })), { reason: 'no-samples', message: /share is empty/ });
});

t.test('pipe: a command that stalls is stopped after stallTimeoutMs with a typed error', async (t) => {
  const dir = t.testdir();
  const file = join(dir, 's.tar');
  await writeTar(file, simpleMembers(8));
  const started = Date.now();
  const got: Sample[] = [];
  // The first 4 KiB hold the first sample and part of the second; then the command goes silent.
  const err = await drain(readSamples({ urls: `pipe:head -c 4096 '${file}'; exec sleep 30`, stallTimeoutMs: 300 }), got);
  t.ok(err instanceof ShardReadError);
  t.match(err, { reason: 'stalled', message: /sent no byte for 300 ms/ });
  t.equal(got[0]?.__key__, 's000000', 'what came before the stall was read');
  t.ok(Date.now() - started < 10_000, 'bounded time');

  // Silent from the start: a shard that cannot be opened, under onShardError.
  const skip = readSamples({ urls: [`pipe:exec sleep 30`, file], stallTimeoutMs: 200, onShardError: 'skip' });
  t.equal((await drain(skip)) ?? 'none', 'none');
  t.equal(skip.stats.samples, 8);
  t.same(skip.stats.errors.map((e) => e.reason), ['stalled']);
});

t.test('pipe: a failing command fails its shard', async (t) => {
  const err = await drain(readSamples({ urls: 'pipe:echo nope >&2; exit 4' }));
  t.match(err, { reason: 'pipe-failed', message: /exited with code 4: nope/ });
});

t.test('http: an object that changes between a dropped connection and the Range request is an error, not a splice', async (t) => {
  const v1 = await tarBuffer(simpleMembers(20, 'a'));
  const v2 = await tarBuffer(simpleMembers(20, 'b'));
  const ranges: (string | undefined)[] = [];
  const ifRanges: (string | undefined)[] = [];
  let version = 1;
  const base = await server(t, (req, res) => {
    const body = version === 1 ? v1 : v2;
    const validators =
      req.url === '/etag.tar' ? { etag: `"v${version}"` } : { 'last-modified': new Date(Date.UTC(2026, 0, version)).toUTCString() };
    ranges.push(req.headers.range);
    ifRanges.push(req.headers['if-range'] as string | undefined);
    if (req.headers.range === undefined) {
      res.writeHead(200, { ...validators, 'content-length': body.length });
      // drop the connection after 3000 bytes, and publish a new version meanwhile
      res.write(body.subarray(0, 3000), () => {
        version = 2;
        res.socket?.destroy();
      });
      return;
    }
    // A server that ignores If-Range and answers the Range from the new object.
    const start = Number(/bytes=(\d+)-/.exec(req.headers.range)?.[1]);
    res.writeHead(206, { ...validators, 'content-range': `bytes ${start}-${body.length - 1}/${body.length}`, 'content-length': body.length - start });
    res.end(body.subarray(start));
  });
  for (const path of ['/etag.tar', '/modified.tar']) {
    version = 1;
    ranges.length = 0;
    ifRanges.length = 0;
    const got: Sample[] = [];
    const err = await drain(readSamples({ urls: `${base}${path}`, retryDelayMs: 1 }), got);
    t.ok(err instanceof ShardReadError, path);
    t.match(err, { reason: 'http-changed', message: path === '/etag.tar' ? /ETag "v1" -> "v2"/ : /Last-Modified/ });
    t.same(ranges, [undefined, 'bytes=3000-']);
    t.equal(ifRanges[1], path === '/etag.tar' ? '"v1"' : new Date(Date.UTC(2026, 0, 1)).toUTCString(), 'the Range request carries If-Range');
    t.ok(got.every((s) => s.__key__.startsWith('a')), 'no sample of the second version');
  }
});

t.test('http: If-Range answered with the whole new object (200) and a 416 are typed errors', async (t) => {
  const v1 = await tarBuffer(simpleMembers(20, 'a'));
  const v2 = await tarBuffer(simpleMembers(20, 'b'));
  let version = 1;
  const base = await server(t, (req, res) => {
    const body = version === 1 ? v1 : v2;
    if (req.headers.range === undefined) {
      res.writeHead(200, { etag: `"v${version}"`, 'content-length': body.length });
      res.write(body.subarray(0, 3000), () => {
        version = 2;
        res.socket?.destroy();
      });
      return;
    }
    if (req.url === '/shrunk.tar') {
      res.writeHead(416, { 'content-range': 'bytes */100' });
      return res.end();
    }
    // If-Range does not match the current ETag: the full new object, as RFC 9110 says.
    t.equal(req.headers['if-range'], '"v1"');
    res.writeHead(200, { etag: `"v${version}"`, 'content-length': body.length });
    res.end(body);
  });
  t.match(await drain(readSamples({ urls: `${base}/replaced.tar`, retryDelayMs: 1 })), { reason: 'http-changed', message: /ETag "v1" -> "v2"/ });
  version = 1;
  t.match(await drain(readSamples({ urls: `${base}/shrunk.tar`, retryDelayMs: 1 })), { reason: 'http-range', message: /HTTP 416/ });
});

t.test('http: a body that stalls is retried and then fails as stalled', async (t) => {
  const shard = await tarBuffer(simpleMembers(10));
  let requests = 0;
  const base = await server(t, (_req, res) => {
    requests++;
    res.writeHead(200, { 'content-length': shard.length });
    res.write(shard.subarray(0, 1024)); // then nothing
  });
  const started = Date.now();
  const err = await drain(readSamples({ urls: `${base}/stall.tar`, stallTimeoutMs: 300, retries: 1, retryDelayMs: 1 }));
  t.match(err, { name: 'ShardReadError', reason: 'stalled', message: /no byte for 300 ms/ });
  t.equal(requests, 2, 'one retry');
  t.ok(Date.now() - started < 10_000, 'bounded time');
});

/** A one-member tar whose header claims `size` bytes, with `body` bytes after it. */
function craftedHeader(size: number): Buffer {
  const h = Buffer.alloc(512);
  h.write('a.jpg', 0);
  h.write('0000644\0', 100);
  h.write('0000000\0', 108);
  h.write('0000000\0', 116);
  h.write(size.toString(8).padStart(11, '0') + '\0', 124);
  h.write('00000000000\0', 136);
  h.write('0', 156);
  h.write('ustar\x0000', 257);
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148);
  return h;
}

t.test('a crafted tar header claiming a huge member allocates with the data, not the claim', async (t) => {
  const claim = 900_000_000; // under the default maxMemberBytes (1 GiB)
  const stdin = new PassThrough();
  const reader = readSamples({ urls: '-', stdin });
  const before = process.memoryUsage().arrayBuffers;
  const reading = drain(reader);
  stdin.write(craftedHeader(claim));
  stdin.write(Buffer.alloc(4096, 7));
  // The member is open now, waiting for the rest of its claimed bytes.
  await new Promise((resolve) => setTimeout(resolve, 200));
  const during = process.memoryUsage().arrayBuffers - before;
  stdin.end();
  const err = await reading;
  t.match(err, { name: 'ShardFormatError', reason: 'truncated', member: 'a.jpg' });
  t.ok(during < 4 * MEMBER_PREALLOC_BYTES, `${(during / 2 ** 20).toFixed(1)} MiB held for a member that claims ${claim} bytes`);

  // Over maxMemberBytes: refused on the header, its bytes passed over.
  const over = readSamples({ urls: '-', stdin: new PassThrough().end(Buffer.concat([craftedHeader(5000), Buffer.alloc(5120), Buffer.alloc(1024)])), maxMemberBytes: 4096, onError: 'skip' });
  t.match(await drain(over), { reason: 'no-samples' });
  t.same(over.stats.errors.map((e) => [e.reason, e.member]), [['member-too-large', 'a.jpg']]);
});
