import { createHash } from 'node:crypto';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { runShardsCreate } from '../../cli/shards-create.js';
import { runShardsIndex } from '../../cli/shards-index.js';
import { openUrlList } from '../../datasets/convert/url-list.js';
import { readShardIndex } from '../../datasets/shard-index.js';
import { ingestUrls, type ShardStats } from '../../pipeline/ingest/ingest.js';
import { resampleRgb } from '../../augment/image/resample.js';
import { planResize, processImage, resize, DEFAULT_IMAGE_JOB } from '../../pipeline/ingest/image.js';
import { bombPng, startFaultServer, testJpeg, type FaultServer } from './ingest-server.js';
import { readTar } from '../datasets/writer-helpers.js';
import { capture } from '../capture.js';

let server: FaultServer;
t.before(async () => {
  server = await startFaultServer();
});
t.teardown(async () => {
  await server.close();
});


const csvOf = (rows: readonly (readonly [string, string])[]): string =>
  'url,caption\n' + rows.map(([u, c]) => `${u},"${c.replace(/"/g, '""')}"`).join('\n') + '\n';

/** Every fault, and what it must end as. */
function faultRows(base: string): [string, string, string][] {
  return [
    [`${base}/ok/1.jpg`, 'a red gradient', 'ok'],
    [`${base}/404`, 'missing', 'http-404'],
    [`${base}/flaky500/1`, 'flaky 500', 'ok'],
    [`${base}/flaky503/1`, 'flaky 503', 'ok'],
    [`${base}/stall-headers`, 'never answers', 'timeout'],
    [`${base}/stall-body`, 'stops mid-body', 'timeout'],
    [`${base}/truncated-body`, 'short body', 'connection'],
    [`${base}/truncated-image`, 'half a jpeg', 'decode-error'],
    [`${base}/redirect/3`, 'three redirects', 'ok'],
    [`${base}/loop`, 'a redirect loop', 'too-many-redirects'],
    [`${base}/html.jpg`, 'html as jpg', 'not-an-image'],
    [`${base}/bomb.png`, 'decompression bomb', 'too-large'],
    [`${base}/wrong-type`, 'png as text/plain', 'ok'],
    [`${base}/reset`, 'reset mid-body', 'connection'],
    [`${base}/always500`, 'always failing', 'http-5xx'],
    ['not a url', 'garbage', 'bad-url'],
    ['', 'no url at all', 'missing-url'],
    [`${base}/gif.gif`, 'a gif', 'unsupported-format'],
    [`${base}/ok/2.jpg`, 'a "quoted", caption', 'ok'],
  ];
}

t.test('every fault row ends as one sample or one counted failure; --json keeps the last-line contract', async (t) => {
  const dir = t.testdir();
  const rows = faultRows(server.base);
  await writeFile(join(dir, 'list.csv'), csvOf(rows.map(([u, c]) => [u, c] as const)));
  const stdout = capture();
  const stderr = capture();
  const started = performance.now();
  const code = await runShardsCreate(
    {
      from: 'urls',
      input: join(dir, 'list.csv'),
      out: join(dir, 'out/f-%06d.tar'),
      maxCount: '5',
      timeout: '0.4',
      retries: '1',
      concurrency: '8',
      workers: '1',
      imageSize: '64',
      resizeMode: 'center_crop',
      json: true,
    },
    { stdout, stderr },
  );
  t.equal(code, 0, 'a completed run exits 0 whatever failed');
  t.ok(performance.now() - started < 20_000, 'stalls are bounded by --timeout');
  const lines = stdout.text().trim().split('\n');
  const summary = JSON.parse(lines.at(-1) ?? '') as Record<string, unknown>;
  t.same(Object.keys(summary), ['index', 'shards', 'samples', 'bytes', 'skipped', 'seconds', 'failed', 'failures']);
  const expected: Record<string, number> = {};
  for (const [, , want] of rows) if (want !== 'ok') expected[want] = (expected[want] ?? 0) + 1;
  const oks = rows.filter(([, , w]) => w === 'ok').length;
  t.same(summary['failures'], Object.fromEntries(Object.entries(expected).sort(([a], [b]) => (a < b ? -1 : 1))));
  t.equal(summary['samples'], oks);
  t.equal(summary['failed'], rows.length - oks);
  t.equal(summary['shards'], 4, '19 rows, 5 per shard');
  t.equal(summary['index'], join(dir, 'out/f.index.json'));
  t.match(stderr.text(), /wrote 6 samples in 4 shards .* 13 of 19 rows failed \(bad-url 1, connection 2, decode-error 1/);

  // The shards hold exactly the successful rows, keyed by row number, with .jpg/.txt/.json.
  const found = await readShardIndex(join(dir, 'out/f-%06d.tar'));
  t.equal(found?.index.totals.samples, oks);
  t.same(found?.index.extensions, { jpg: oks, json: oks, txt: oks });
  const members = new Map<string, Buffer>();
  for (const s of found?.index.shards ?? []) for (const m of await readTar(join(dir, 'out', s.url))) members.set(m.name, m.data);
  const okKeys = rows.flatMap(([, , w], i) => (w === 'ok' ? [String(i).padStart(9, '0')] : []));
  t.same([...new Set([...members.keys()].map((k) => k.split('.')[0]))], okKeys);
  const meta = JSON.parse(members.get('000000018.json')?.toString() ?? '{}') as Record<string, unknown>;
  t.equal(members.get('000000018.txt')?.toString(), 'a "quoted", caption');
  t.equal(meta['url'], `${server.base}/ok/2.jpg`);
  t.equal(meta['status'], 'success');
  t.equal(meta['sha256'], createHash('sha256').update(await testJpeg(2)).digest('hex'));
  t.equal(meta['width'], 64);
  t.equal(meta['original_width'], 120 + (2 % 7) * 16);

  // Per-shard stats: every row accounted for, failure examples name the row.
  let attempted = 0;
  for (let n = 0; n < 4; n++) {
    const stats = JSON.parse(await readFile(join(dir, `out/f-00000${n}_stats.json`), 'utf8')) as ShardStats;
    t.equal(stats.attempted, n < 3 ? 5 : 4);
    t.equal(stats.written + Object.values(stats.failures).reduce((a, b) => a + b, 0), stats.attempted);
    attempted += stats.attempted;
    for (const ex of stats.examples) t.equal(rows[ex.row]?.[2], ex.failure, `row ${ex.row} ${ex.url}: ${ex.detail}`);
  }
  t.equal(attempted, rows.length);
  t.equal(server.hits.get('/flaky500/1'), 2, 'retried once');
  t.equal(server.hits.get('/404'), 1, 'a 404 is not retried');
  t.equal(server.hits.get('/always500'), 2, '--retries 1: two attempts');
});

t.test('--incremental resumes an interrupted run to the same shards as an uninterrupted one', async (t) => {
  const dir = t.testdir();
  const rows = Array.from({ length: 12 }, (_, i) => [`${server.base}/ok/${i}.jpg`, `photo ${i}`] as const);
  await writeFile(join(dir, 'list.csv'), csvOf(rows));
  const list = await openUrlList({ input: join(dir, 'list.csv') });
  const opts = { rowsPerShard: 4, workers: 1, concurrency: 4, image: { imageSize: 48 } } as const;
  await ingestUrls(list, { ...opts, pattern: join(dir, 'full/u-%06d.tar') });

  const stop = new AbortController();
  await t.rejects(
    ingestUrls(list, {
      ...opts,
      pattern: join(dir, 'part/u-%06d.tar'),
      signal: stop.signal,
      onShard: (s) => {
        if (s.number === 0) stop.abort(new Error('interrupted'));
      },
    }),
    { message: 'interrupted' },
  );
  const left = (await readdir(join(dir, 'part'))).sort();
  t.ok(left.includes('u-000000.tar') && left.includes('u-000000_stats.json'), 'shard 0 complete');
  t.notOk(left.some((f) => f.endsWith('.partial')), 'no partial file left');
  t.notOk(left.includes('u.index.json'), 'no index for an interrupted run');

  // Without --incremental the rerun is refused; with it, shard 0 is kept, the rest redone.
  await t.rejects(ingestUrls(list, { ...opts, pattern: join(dir, 'part/u-%06d.tar') }), { name: 'ShardWriteError', reason: 'exists' });
  const before = server.hits.get('/ok/0.jpg');
  const r = await ingestUrls(list, { ...opts, pattern: join(dir, 'part/u-%06d.tar'), existing: 'incremental' });
  t.equal(r.kept, 1);
  t.equal(r.shardsWritten, 2);
  t.equal(server.hits.get('/ok/0.jpg'), before, 'kept rows are not downloaded again');
  for (const name of ['u-000000.tar', 'u-000001.tar', 'u-000002.tar', 'u.index.json']) {
    t.same(await readFile(join(dir, 'part', name)), await readFile(join(dir, 'full', name)), `${name} identical`);
  }
});

t.test('two ranks of a split run write every shard once; shards index merges them', async (t) => {
  const dir = t.testdir();
  const rows = Array.from({ length: 10 }, (_, i) => [`${server.base}/ok/${i}.jpg`, `photo ${i}`] as const);
  await writeFile(join(dir, 'list.jsonl'), rows.map(([url, caption]) => JSON.stringify({ url, caption })).join('\n') + '\n{broken\n');
  const out = join(dir, 'r/s-%06d.tar');
  const base = { from: 'urls', input: join(dir, 'list.jsonl'), out, maxCount: '3', workers: '1', imageSize: '32', quiet: true, json: true } as const;
  const r1 = capture();
  t.equal(await runShardsCreate({ ...base }, { stdout: r1, stderr: capture() }, { RANK: '1', WORLD_SIZE: '2' }), 0);
  const r0 = capture();
  t.equal(await runShardsCreate({ ...base, rank: '0', worldSize: '2' }, { stdout: r0, stderr: capture() }, {}), 0);
  const files = (await readdir(join(dir, 'r'))).sort();
  t.same(
    files.filter((f) => f.endsWith('.tar')),
    ['s-000000.tar', 's-000001.tar', 's-000002.tar', 's-000003.tar'],
  );
  t.ok(files.includes('s.rank-00000-of-00002.index.json') && files.includes('s.rank-00001-of-00002.index.json'));
  const j0 = JSON.parse(r0.text()) as { samples: number; failed: number; failures: Record<string, number> };
  const j1 = JSON.parse(r1.text()) as { samples: number; failed: number; failures: Record<string, number> };
  t.equal(j0.samples + j1.samples, 10);
  t.same(j1.failures, { 'bad-row': 1 }, 'the broken JSONL line (row 10, shard 3 of rank 1) is counted');
  // Merge: one index over all shards, failures summed from the stats.
  const merged = capture();
  t.equal(await runShardsIndex(out, { json: true, quiet: true }, { stdout: merged, stderr: capture() }), 0);
  t.same(JSON.parse(merged.text()), { index: join(dir, 'r/s.index.json'), ranks: 2, shards: 4, samples: 10, bytes: (JSON.parse(merged.text()) as { bytes: number }).bytes, failed: 1, failures: { 'bad-row': 1 } });
  const idx = await readShardIndex(out);
  t.same(idx?.index.shards.map((s) => s.url), ['s-000000.tar', 's-000001.tar', 's-000002.tar', 's-000003.tar']);
  t.equal(idx?.index.meta['attempted'], 11);
  await t.rejects(runShardsIndex(out, { quiet: true }, { stdout: capture(), stderr: capture() }), { name: 'ShardWriteError', reason: 'exists' });
  // Rank 1 again: refused, its own shards exist. Rank 0's do not matter to it.
  await t.rejects(runShardsCreate({ ...base }, { stdout: capture(), stderr: capture() }, { RANK: '1', WORLD_SIZE: '2' }), {
    name: 'ShardWriteError',
    reason: 'exists',
  });
});

t.test('resize modes follow img2dataset', async (t) => {
  const plan = (w: number, h: number, mode: Parameters<typeof planResize>[3]): number[] => {
    const p = planResize(w, h, 100, mode);
    return [p.resizeWidth, p.resizeHeight, p.window.x, p.window.y, p.window.width, p.window.height];
  };
  t.same(plan(400, 200, 'no'), [400, 200, 0, 0, 400, 200]);
  t.same(plan(400, 200, 'keep_ratio'), [200, 100, 0, 0, 200, 100]);
  t.same(plan(400, 200, 'keep_ratio_largest'), [100, 50, 0, 0, 100, 50]);
  t.same(plan(400, 200, 'center_crop'), [200, 100, 50, 0, 100, 100]);
  t.same(plan(400, 200, 'border'), [100, 50, 0, -25, 100, 100]);
  t.same(plan(200, 400, 'border'), [50, 100, -25, 0, 100, 100]);
  const jpeg = await testJpeg(1, 160, 80);
  // The fast resize (wasm kernels) is the TypeScript reference, bit for bit, in every mode.
  const { decodeImage } = await import('../../augment/image/decode.js');
  const decoded = await decodeImage(jpeg);
  for (const mode of ['keep_ratio', 'keep_ratio_largest', 'center_crop', 'border'] as const) {
    const p = planResize(decoded.width, decoded.height, 50, mode);
    t.same(Buffer.from(resize(decoded, p).data), Buffer.from(resampleRgb(decoded, p).data), `${mode}: wasm = reference`);
  }
  const border = await processImage(jpeg, { ...DEFAULT_IMAGE_JOB, imageSize: 64, resizeMode: 'border' });
  t.ok(border.ok && border.width === 64 && border.height === 64 && border.originalWidth === 160);
  const same = await processImage(jpeg, { ...DEFAULT_IMAGE_JOB, resizeMode: 'no' });
  t.ok(same.ok && same.data === jpeg, 'resize-mode no keeps a JPEG as downloaded');
  const webp = await processImage(jpeg, { ...DEFAULT_IMAGE_JOB, imageSize: 32, encode: 'webp', resizeMode: 'keep_ratio' });
  t.ok(webp.ok && Buffer.from(webp.data.subarray(8, 12)).toString() === 'WEBP' && webp.width === 64 && webp.height === 32);
  t.match(await processImage(await testJpeg(3, 20, 10), { ...DEFAULT_IMAGE_JOB, minImageSize: 16 }), { ok: false, failure: 'too-small' });
  t.match(await processImage(await testJpeg(4, 400, 40), { ...DEFAULT_IMAGE_JOB, maxAspectRatio: 3 }), { ok: false, failure: 'bad-aspect-ratio' });
  t.match(await processImage(await bombPng(8000, 8000), { ...DEFAULT_IMAGE_JOB, maxPixels: 1_000_000 }), { ok: false, failure: 'too-large' });
  const cut = jpeg.subarray(0, jpeg.length - 200);
  t.match(await processImage(cut, DEFAULT_IMAGE_JOB), { ok: false, failure: 'decode-error' }, 'a truncated JPEG is not padded');
});

t.test('JPEGs decode into a reused scratch buffer with the same pixels and the same output', async (t) => {
  const { decodeImage, decodeJpegFast } = await import('../../augment/image/decode.js');
  const small = await testJpeg(1, 160, 80);
  const large = await testJpeg(2, 300, 200);
  const job = { ...DEFAULT_IMAGE_JOB, imageSize: 64, resizeMode: 'center_crop' } as const;
  const first = await processImage(small, job);
  // A larger photo grows the scratch and overwrites it; the small one then gives the same bytes.
  const big = await processImage(large, job);
  const again = await processImage(small, job);
  t.ok(first.ok && big.ok && again.ok);
  if (first.ok && again.ok) t.same(Buffer.from(again.data), Buffer.from(first.data));
  const scratch = Buffer.alloc(300 * 200 * 3);
  const into = decodeJpegFast(large, 40e6, () => scratch);
  t.equal(into?.data.buffer, scratch.buffer, 'decoded into the scratch buffer');
  t.same(Buffer.from(into?.data ?? []), Buffer.from((await decodeImage(large, { fastJpeg: true })).data), 'the same pixels as a fresh decode');
  t.notOk(decodeJpegFast(large, 40e6, () => Buffer.alloc(10))?.data.buffer === scratch.buffer, 'a scratch too small is not used');
  t.same(Buffer.from(decodeJpegFast(large, 40e6, () => Buffer.alloc(10))?.data ?? []), Buffer.from(into?.data ?? []));
});

t.test('max-bytes, a progress bar on a terminal, and option errors that name the flag', async (t) => {
  const dir = t.testdir();
  const { Downloader } = await import('../../pipeline/ingest/download.js');
  const d = new Downloader({ maxBytes: 1000, retries: 0 });
  t.match(await d.fetch(`${server.base}/ok/1.jpg`), { ok: false, failure: 'too-many-bytes', attempts: 1, detail: /Content-Length/ });
  t.match(await d.fetch(`${server.base}/chunked/1.jpg`), { ok: false, failure: 'too-many-bytes', detail: /body over --max-bytes 1000/ });
  const big = new Downloader({ retries: 0 });
  t.match(await big.fetch(`${server.base}/chunked/1.jpg`), { ok: true, bytes: { length: (await testJpeg(1)).length } });
  await big.close();
  t.match(await d.fetch('ftp://example.com/x.jpg'), { ok: false, failure: 'bad-url' });
  await d.close();

  // 429 is retried (honouring Retry-After), and counted as http-4xx when it persists; other 4xx are final.
  const retrying = new Downloader({ retries: 1, retryDelayMs: 1 });
  t.match(await retrying.fetch(`${server.base}/flaky429/1`), { ok: true, attempts: 2 });
  t.match(await retrying.fetch(`${server.base}/status/429`), { ok: false, failure: 'http-4xx', attempts: 2 });
  t.match(await retrying.fetch(`${server.base}/status/403`), { ok: false, failure: 'http-4xx', attempts: 1 });
  t.match(await retrying.fetch(`${server.base}/status/502`), { ok: false, failure: 'http-5xx', attempts: 2 });
  await retrying.close();
  t.equal(server.hits.get('/status/403'), 1, 'a 403 is not retried');

  await writeFile(join(dir, 'l.csv'), csvOf([[`${server.base}/ok/1.jpg`, 'one'], [`${server.base}/404`, 'gone']]));
  const stderr = capture(true);
  const code = await runShardsCreate({ from: 'urls', input: join(dir, 'l.csv'), out: join(dir, 'o/p-%06d.tar'), workers: '1', imageSize: '32' }, { stdout: capture(), stderr });
  t.equal(code, 0);
  t.match(stderr.text(), /shards create \|.*\| 100% 2\/2 rows \| \d+ samples\/s \| ok 50% \|/);

  const base = { from: 'urls', input: join(dir, 'l.csv'), out: join(dir, 'x/p-%06d.tar') } as const;
  const io = { stdout: capture(), stderr: capture() };
  await t.rejects(runShardsCreate({ ...base, quality: '101' }, io), { name: 'InvalidOptionError', field: '--quality' });
  await t.rejects(runShardsCreate({ ...base, resizeMode: 'stretch' }, io), { name: 'InvalidOptionError', field: '--resize-mode' });
  await t.rejects(runShardsCreate({ ...base, maxSize: '1GB' }, io), { name: 'InvalidOptionError', field: '--max-size' });
  await t.rejects(runShardsCreate({ ...base, overwrite: true, incremental: true }, io), { field: '--incremental' } as never);
  await t.rejects(runShardsCreate({ ...base, worldSize: '2' }, io, {}), { name: 'InvalidOptionError', field: '--rank' });
  await t.rejects(runShardsCreate({ ...base, input: join(dir, 'nope.csv') }, io), { name: 'SourceDataError', reason: 'missing-input' });
  await t.rejects(runShardsCreate({ from: 'synthetic', count: '4', out: join(dir, 's/s-%06d.tar'), incremental: true }, io), { name: 'InvalidOptionError', field: '--incremental' });
  await t.rejects(runShardsCreate({ from: 'synthetic', count: '4', out: join(dir, 's/s-%06d.tar'), rank: '0' }, io), { name: 'InvalidOptionError', field: '--rank' });
});
