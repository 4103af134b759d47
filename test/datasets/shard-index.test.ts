import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import t from 'tap';
import {
  countShards,
  locateShardIndex,
  parseShardIndex,
  readShardIndex,
  shardIndexLocation,
  shardIndexPathFor,
  shardStem,
  type ShardIndex,
} from '../../datasets/shard-index.js';
import { ShardWriter } from '../../datasets/writer/index.js';

async function writeDataset(dir: string, name: string, n: number, maxCount: number): Promise<ShardIndex> {
  const w = new ShardWriter({
    pattern: join(dir, `${name}-%06d.tar`),
    maxCount,
    classes: ['circle', 'square'],
    meta: { source: 'test', seed: 5, split: 'train' },
  });
  for (let i = 0; i < n; i++) await w.write({ __key__: `k${i}`, files: { txt: `c${i}`, cls: String(i % 2) } });
  return await w.close();
}

t.test('the index is named after the shard stem', async (t) => {
  t.equal(shardStem('d/syn-%06d.tar'), 'syn');
  t.equal(shardStem('d/syn-{000000..000003}.tar'), 'syn');
  t.equal(shardStem('d/syn-000002.tar'), 'syn');
  t.equal(shardStem('d/syn_000002.tar.gz'), 'syn');
  t.equal(shardStem('d/%06d.tar'), 'shards');
  t.equal(shardStem('d/a-{0..1}.tar::e/b-{0..1}.tar'), 'a');
  t.equal(shardIndexPathFor('out/syn-%06d.tar'), join('out', 'syn.index.json'));
  t.equal(shardIndexLocation('http://h:1/d/syn-{000000..000009}.tar'), 'http://h:1/d/syn.index.json');
  t.equal(shardIndexLocation('file:///x/y/p-000001.tar'), join('/x/y', 'p.index.json'));
  t.equal(shardIndexLocation('out/syn.index.json'), 'out/syn.index.json', 'an index path is itself');
  t.equal(shardIndexLocation('pipe:cat a.tar'), undefined);
  t.equal(shardIndexLocation('-'), undefined);
});

t.test('the writer records shards, totals, extensions, classes and meta', async (t) => {
  const dir = t.testdir();
  const index = await writeDataset(dir, 'syn', 5, 2);
  t.same(index.shards.map((s) => [s.url, s.samples]), [
    ['syn-000000.tar', 2],
    ['syn-000001.tar', 2],
    ['syn-000002.tar', 1],
  ]);
  t.same(index.totals.samples, 5);
  t.same(index.totals.shards, 3);
  t.same(index.extensions, { cls: 5, txt: 5 });
  t.same(index.classes, ['circle', 'square']);
  t.same(index.meta, { source: 'test', seed: 5, split: 'train' });
  t.equal(index.format, 'declip-shard-index');
  t.equal(index.version, 1);
  t.equal(index.pattern, 'syn-%06d.tar');
});

t.test('readShardIndex finds the index from a pattern, a brace list, one shard or a file URL', async (t) => {
  const dir = t.testdir();
  const written = await writeDataset(dir, 'syn', 5, 2);
  const forms = [
    join(dir, 'syn-%06d.tar'),
    join(dir, 'syn-{000000..000002}.tar'),
    join(dir, 'syn-000001.tar'),
    pathToFileURL(join(dir, 'syn-000000.tar')).href,
    `${join(dir, 'syn-000000.tar')}::${join(dir, 'syn-000001.tar')}`,
    join(dir, 'syn.index.json'),
  ];
  for (const form of forms) {
    const found = await readShardIndex(form);
    t.same(found?.index, written, form);
    t.equal(found?.indexUrl, join(dir, 'syn.index.json'));
    t.same(found?.shardUrls, [0, 1, 2].map((n) => join(dir, `syn-00000${n}.tar`)));
  }
  t.equal(await locateShardIndex(join(dir, 'syn-000002.tar')), join(dir, 'syn.index.json'));
  t.equal(await readShardIndex(join(dir, 'other-000000.tar')), undefined, 'no index -> undefined');
  t.equal(await readShardIndex(join(dir, 'missing/other-000000.tar')), undefined, 'no folder -> undefined');
  t.equal(await readShardIndex('pipe:cat x.tar'), undefined);
});

t.test('an index under another name is found by scanning the folder for the shard', async (t) => {
  const dir = t.testdir();
  const w = new ShardWriter({ pattern: join(dir, 'part%03d.tar'), indexPath: join(dir, 'mydata.index.json') });
  await w.write({ __key__: 'a', files: { txt: 'a' } });
  await w.close();
  const found = await readShardIndex(join(dir, 'part000.tar'));
  t.equal(found?.indexUrl, join(dir, 'mydata.index.json'));
  t.equal(found?.index.totals.samples, 1);
  t.equal((await readShardIndex(join(dir, 'part%03d.tar')))?.indexUrl, join(dir, 'mydata.index.json'), 'a %d pattern matches too');
  t.equal(await readShardIndex(join(dir, 'unlisted-000.tar')), undefined);
  t.equal(await readShardIndex(join(dir, 'unlisted-%03d.tar')), undefined, 'another pattern does not take that index');
});

t.test('a malformed index is a ShardFormatError naming the field', async (t) => {
  const dir = t.testdir({ 'bad.index.json': '{"format":"declip-shard-index","version":1}', 'junk.index.json': '{not json' });
  await t.rejects(readShardIndex(join(dir, 'bad-000000.tar')), {
    name: 'ShardFormatError',
    reason: 'bad-index',
    url: join(dir, 'bad.index.json'),
    message: /malformed at pattern/,
  });
  await t.rejects(readShardIndex(join(dir, 'junk-{0..3}.tar')), { name: 'ShardFormatError', reason: 'bad-index', message: /not valid JSON/ });
  t.throws(() => parseShardIndex('{"format":"x"}', 'mem'), { name: 'ShardFormatError', message: /format/ });
});

t.test('countShards sums the selected shards and lists unknown ones', async (t) => {
  const dir = t.testdir();
  const index = await writeDataset(dir, 'c', 5, 2);
  const r = countShards(index, [join(dir, 'c-000000.tar'), 'http://h/x/c-000002.tar', join(dir, 'c-000009.tar')]);
  t.equal(r.samples, 3);
  t.equal(r.bytes, (index.shards[0]?.bytes ?? 0) + (index.shards[2]?.bytes ?? 0));
  t.same(r.missing, [join(dir, 'c-000009.tar')]);
});

t.test('over HTTP the index next to the shards is fetched; 404 means none', async (t) => {
  const dir = t.testdir();
  await mkdir(join(dir, 'pub'));
  const index = await writeDataset(join(dir, 'pub'), 'web', 3, 2);
  await writeFile(join(dir, 'pub/bad.index.json'), '[]');
  const hits: string[] = [];
  const server = createServer((req, res) => {
    hits.push(req.url ?? '');
    if (req.url === '/d/web.index.json') {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify(index));
    } else if (req.url === '/d/bad.index.json') res.end('[]');
    else if (req.url === '/d/err.index.json') {
      res.statusCode = 500;
      res.end('boom');
    } else {
      res.statusCode = 404;
      res.end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/d`;
  const found = await readShardIndex(`${base}/web-{000000..000001}.tar`);
  t.same(found?.index, index);
  t.equal(found?.indexUrl, `${base}/web.index.json`);
  t.same(found?.shardUrls, [`${base}/web-000000.tar`, `${base}/web-000001.tar`]);
  t.equal(await readShardIndex(`${base}/none-000000.tar`), undefined);
  await t.rejects(readShardIndex(`${base}/bad-000000.tar`), { name: 'ShardFormatError', reason: 'bad-index' });
  await t.rejects(readShardIndex(`${base}/err-000000.tar`), { name: 'ShardReadError', reason: 'http-status', message: /HTTP 500/ });
  t.same(hits.filter((h) => h.endsWith('.tar')), [], 'no shard was fetched');
});
