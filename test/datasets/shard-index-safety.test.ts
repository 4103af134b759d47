/**
 * The shard index as untrusted input (issue 11): entries may not be `pipe:` commands or
 * leave the index's folder unless allowed; the first shard of a brace pattern is found
 * with the reader's range limit.
 */
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import t from 'tap';
import { ShardFormatError } from '../../core/errors.js';
import { readShardIndex, sha256Hex, shardIndexLocation, type ShardIndex } from '../../datasets/shard-index.js';

function indexListing(urls: readonly string[]): ShardIndex {
  return {
    format: 'declip-shard-index',
    version: 1,
    pattern: 's-%06d.tar',
    shards: urls.map((url) => ({ url, samples: 1, bytes: 1, sha256: sha256Hex(Buffer.from(url)) })),
    totals: { shards: urls.length, samples: urls.length, bytes: urls.length },
    extensions: {},
    meta: {},
  };
}

t.test('firstUrl: a brace range the reader accepts finds its index (no RangeError)', async (t) => {
  t.equal(shardIndexLocation('d/s-{00000..41455}.tar'), join('d', 's.index.json'));
  t.equal(shardIndexLocation('http://h/d/s-{00000..41455}.tar'), 'http://h/d/s.index.json');
  const dir = t.testdir();
  await writeFile(join(dir, 's.index.json'), JSON.stringify(indexListing(['s-000000.tar'])));
  const found = await readShardIndex(join(dir, 's-{00000..41455}.tar'));
  t.same(found?.shardUrls, [join(dir, 's-000000.tar')]);
});

t.test('a local index may not list a pipe: command or a shard outside its folder', async (t) => {
  const dir = t.testdir({ sub: {} });
  const marker = join(dir, 'ran');
  for (const entry of [`pipe:touch '${marker}'`, '../other/s-000000.tar', '/etc/passwd', 'http://example.com/s.tar', 'a/../../x.tar']) {
    await writeFile(join(dir, 'sub', 's.index.json'), JSON.stringify(indexListing(['s-000000.tar', entry])));
    const err = await readShardIndex(join(dir, 'sub', 's-000000.tar')).catch((e: unknown) => e);
    t.ok(err instanceof ShardFormatError, entry);
    t.match(err, { reason: 'unsafe-index-entry', url: join(dir, 'sub', 's.index.json'), message: /--allow-pipe-from-files/ });
  }
  await writeFile(join(dir, 'sub', 's.index.json'), JSON.stringify(indexListing(['s-000000.tar', 'nested/s-000001.tar'])));
  t.same((await readShardIndex(join(dir, 'sub', 's-000000.tar')))?.shardUrls, [join(dir, 'sub', 's-000000.tar'), join(dir, 'sub', 'nested', 's-000001.tar')], 'names inside the folder are fine');

  await writeFile(join(dir, 'sub', 's.index.json'), JSON.stringify(indexListing([`pipe:touch '${marker}'`, '../o.tar'])));
  const allowed = await readShardIndex(join(dir, 'sub', 's-000000.tar'), { allowPipeFromFiles: true });
  t.same(allowed?.shardUrls, [`pipe:touch '${marker}'`, join(dir, 'o.tar')], 'allowPipeFromFiles resolves entries as written');
  t.notOk(existsSync(marker), 'nothing was run by reading an index');
});

t.test('an index in the current folder: an entry "pipe:..." is refused, not run', async (t) => {
  const dir = t.testdir();
  const cwd = process.cwd();
  process.chdir(dir);
  t.teardown(() => process.chdir(cwd));
  await writeFile('s.index.json', JSON.stringify(indexListing(['pipe:echo hi'])));
  await t.rejects(readShardIndex('s-000000.tar'), { name: 'ShardFormatError', reason: 'unsafe-index-entry' });
  await writeFile('s.index.json', JSON.stringify(indexListing(['s-000000.tar'])));
  t.same((await readShardIndex('s-000000.tar'))?.shardUrls, ['s-000000.tar']);
});

t.test('an HTTP index may only list shards under its own folder on its own origin', async (t) => {
  let listing: string[] = [];
  const server = createServer((req, res) => {
    if (req.url === '/d/s.index.json') {
      res.writeHead(200, { 'content-type': 'application/json' });
      return res.end(JSON.stringify(indexListing(listing)));
    }
    res.writeHead(404);
    res.end();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => server.close());
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  for (const entry of ['pipe:curl x', 'http://evil.example/s.tar', '../e/s.tar', '/other/s.tar', 'file:///etc/passwd']) {
    listing = ['s-000000.tar', entry];
    await t.rejects(readShardIndex(`${base}/d/s-{000000..000001}.tar`), { name: 'ShardFormatError', reason: 'unsafe-index-entry' }, entry);
  }
  listing = ['s-000000.tar', 'x/s-000001.tar'];
  t.same((await readShardIndex(`${base}/d/s-000000.tar`))?.shardUrls, [`${base}/d/s-000000.tar`, `${base}/d/x/s-000001.tar`]);
  listing = ['pipe:curl x'];
  t.same((await readShardIndex(`${base}/d/s-000000.tar`, { allowPipeFromFiles: true }))?.shardUrls, ['pipe:curl x']);
});
