import { createHash } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { DeclipError, InvalidOptionError, SampleError } from '../../core/errors.js';
import { Rng } from '../../core/rng.js';
import type { SampleInput } from '../../datasets/sample.js';
import { ShardWriter, tarMemberBytes, parseShardPattern } from '../../datasets/writer/index.js';
import { readTar } from './writer-helpers.js';

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

function makeSamples(n: number, seed: number, maxBytes = 3000): SampleInput[] {
  const rng = new Rng(seed);
  const out: SampleInput[] = [];
  for (let i = 0; i < n; i++) {
    const bin = Buffer.alloc(rng.int(maxBytes));
    for (let j = 0; j < bin.length; j++) bin[j] = rng.int(256);
    out.push({ __key__: `s${String(i).padStart(5, '0')}`, files: { txt: `caption ${i}`, cls: String(i % 3), bin } });
  }
  return out;
}

async function writeAll(pattern: string, samples: readonly SampleInput[], opts: { maxCount?: number; maxSize?: number } = {}) {
  const w = new ShardWriter({ pattern, ...opts });
  for (const s of samples) await w.write(s);
  return await w.close();
}

t.test('writes members with sorted extensions and fixed owner, mode and mtime', async (t) => {
  const dir = t.testdir();
  await writeAll(join(dir, 'a-%06d.tar'), [
    { __key__: 'x/k1', files: { txt: 'hello', cls: '2', 'seg.png': Buffer.from([1, 2, 3]), json: '{}' } },
    { __key__: 'x/k0', files: { txt: 'second' } },
  ]);
  const members = await readTar(join(dir, 'a-000000.tar'));
  t.same(
    members.map((m) => m.name),
    ['x/k1.cls', 'x/k1.json', 'x/k1.seg.png', 'x/k1.txt', 'x/k0.txt'],
    'extensions sorted within a sample, samples in the order written',
  );
  for (const m of members) {
    t.equal(m.header.mtime?.getTime(), 0);
    t.equal(m.header.uid, 0);
    t.equal(m.header.gid, 0);
    t.equal(m.header.uname, 'declip');
    t.equal(m.header.gname, 'declip');
    t.equal(m.header.mode, 0o644);
    t.equal(m.header.type, 'file');
  }
  t.equal(members[3]?.data.toString(), 'hello');
  t.same([...(members[2]?.data ?? [])], [1, 2, 3]);
});

t.test('the same samples give byte-identical shards (reproducible)', async (t) => {
  const dir = t.testdir();
  const samples = makeSamples(40, 7);
  const i1 = await writeAll(join(dir, 'one/a-%06d.tar'), samples, { maxCount: 15 });
  const i2 = await writeAll(join(dir, 'two/a-%06d.tar'), samples, { maxCount: 15 });
  t.equal(i1.shards.length, 3);
  for (let n = 0; n < 3; n++) {
    const name = `a-00000${n}.tar`;
    const b1 = await readFile(join(dir, 'one', name));
    const b2 = await readFile(join(dir, 'two', name));
    t.equal(sha(b1), sha(b2), `${name} identical`);
    t.equal(i1.shards[n]?.sha256, sha(b1), 'index sha256 is the file sha256');
  }
  t.same(i1, i2, 'identical indexes');
  const other = makeSamples(40, 8);
  const i3 = await writeAll(join(dir, 'three/a-%06d.tar'), other, { maxCount: 15 });
  t.not(i3.shards[0]?.sha256, i1.shards[0]?.sha256, 'different data, different bytes');
});

t.test('maxCount splits into shards numbered from 0', async (t) => {
  const dir = t.testdir();
  const index = await writeAll(join(dir, 'out/deep/p_%04d.tar'), makeSamples(7, 1, 100), { maxCount: 3 });
  t.same(index.shards.map((s) => [s.url, s.samples]), [
    ['p_0000.tar', 3],
    ['p_0001.tar', 3],
    ['p_0002.tar', 1],
  ]);
  t.same(index.totals.samples, 7);
  const files = (await readdir(join(dir, 'out/deep'))).sort();
  t.same(files, ['p.index.json', 'p_0000.tar', 'p_0001.tar', 'p_0002.tar'], 'folders created, nothing else left');
  const keys = (await readTar(join(dir, 'out/deep/p_0001.tar'))).map((m) => m.name.split('.')[0]);
  t.same([...new Set(keys)], ['s00003', 's00004', 's00005']);
});

t.test('maxSize: no shard exceeds it, an oversized sample gets a shard of its own', async (t) => {
  const dir = t.testdir();
  const samples = makeSamples(60, 3, 5000);
  samples.splice(10, 0, { __key__: 'huge', files: { bin: Buffer.alloc(40_000, 7) } });
  const maxSize = 20_000;
  const index = await writeAll(join(dir, 'm-%06d.tar'), samples, { maxSize });
  let total = 0;
  for (const s of index.shards) {
    const size = (await stat(join(dir, s.url))).size;
    t.equal(s.bytes, size, `${s.url}: index bytes = file size`);
    total += size;
    const names = (await readTar(join(dir, s.url))).map((m) => m.name);
    if (names.includes('huge.bin')) t.same(names, ['huge.bin'], 'the oversized sample is alone');
    else t.ok(size <= maxSize, `${s.url}: ${size} <= ${maxSize}`);
  }
  t.equal(index.totals.bytes, total);
  t.equal(index.totals.samples, 61);
  t.ok(index.shards.length >= 8, `split into ${index.shards.length} shards`);
  // Shards are full: adding the next sample would have crossed maxSize.
  const first = await readTar(join(dir, index.shards[0]?.url ?? ''));
  const nextKey = samples[new Set(first.map((m) => m.name.split('.')[0])).size];
  let next = 0;
  for (const [ext, v] of Object.entries(nextKey?.files ?? {})) next += tarMemberBytes(`${nextKey?.__key__}.${ext}`, Buffer.byteLength(v as string | Buffer));
  t.ok((index.shards[0]?.bytes ?? 0) + next > maxSize, 'the first shard was filled as far as it could be');
});

t.test('long and UTF-8 member names (PAX headers) are sized exactly and read back', async (t) => {
  const dir = t.testdir();
  const longKey = 'a'.repeat(60) + '/' + 'b'.repeat(120);
  const samples: SampleInput[] = [
    { __key__: longKey, files: { txt: 'long' } },
    { __key__: 'caf\u00e9/\u732b', files: { txt: 'utf8', 'seg.png': Buffer.alloc(0) } },
    { __key__: 'd'.repeat(90) + '/e', files: { txt: 'prefix split' } },
  ];
  const index = await writeAll(join(dir, 'u-%06d.tar'), samples);
  const path = join(dir, 'u-000000.tar');
  t.equal((await stat(path)).size, index.shards[0]?.bytes);
  let expected = 1024;
  for (const s of samples) for (const [ext, v] of Object.entries(s.files)) expected += tarMemberBytes(`${s.__key__}.${ext}`, Buffer.byteLength(v as string | Buffer));
  t.equal(index.shards[0]?.bytes, expected, 'size estimate matches tar-stream output');
  const names = (await readTar(path)).map((m) => m.name);
  t.same(names, [`${longKey}.txt`, 'caf\u00e9/\u732b.seg.png', 'caf\u00e9/\u732b.txt', 'd'.repeat(90) + '/e.txt']);
});

t.test('Uint8Array views and strings are written as their exact bytes', async (t) => {
  const dir = t.testdir();
  const backing = new Uint8Array([9, 9, 1, 2, 3, 9]);
  await writeAll(join(dir, 'v-%d.tar'), [{ __key__: 'k', files: { bin: backing.subarray(2, 5), txt: 'h\u00e9' } }]);
  const [bin, txt] = await readTar(join(dir, 'v-0.tar'));
  t.same([...(bin?.data ?? [])], [1, 2, 3]);
  t.same([...(txt?.data ?? [])], [...Buffer.from('h\u00e9', 'utf8')]);
});

t.test('a shard is invisible under its final name until it is complete', async (t) => {
  const dir = t.testdir();
  const w = new ShardWriter({ pattern: join(dir, 'r-%06d.tar'), maxCount: 2 });
  await w.write({ __key__: 'a', files: { txt: 'a' } });
  let files = await readdir(dir);
  t.same(files.filter((f) => f.endsWith('.tar')), [], 'no final-named shard while writing');
  t.equal(files.filter((f) => f.startsWith('.r-000000.tar.') && f.endsWith('.partial')).length, 1, 'a hidden temp file');
  await w.write({ __key__: 'b', files: { txt: 'b' } });
  await w.write({ __key__: 'c', files: { txt: 'c' } });
  files = await readdir(dir);
  t.ok(files.includes('r-000000.tar'), 'first shard renamed once full');
  t.notOk(files.includes('r-000001.tar'), 'second shard not yet');
  t.notOk(files.includes('r.index.json'), 'no index before close');
  await w.close();
  files = (await readdir(dir)).sort();
  t.same(files, ['r-000000.tar', 'r-000001.tar', 'r.index.json'], 'no temp files left');
});

t.test('abort discards the open shard, keeps completed ones, writes no index', async (t) => {
  const dir = t.testdir();
  const ac = new AbortController();
  const seen: string[] = [];
  const w = new ShardWriter({ pattern: join(dir, 'x-%06d.tar'), maxCount: 2, signal: ac.signal, onShard: (s) => seen.push(s.url) });
  for (const s of makeSamples(3, 2, 10)) await w.write(s);
  const reason = new Error('stop now');
  ac.abort(reason);
  await t.rejects(w.write({ __key__: 'late', files: { txt: 'x' } }), reason, 'write after abort rejects with the reason');
  await t.rejects(w.close(), reason, 'close rejects with the reason');
  await t.rejects(w.close(), reason, 'close stays rejected (idempotent)');
  await w.abort();
  t.same(seen, ['x-000000.tar']);
  t.same((await readdir(dir)).sort(), ['x-000000.tar'], 'the partial shard is gone, no index');
});

t.test('abort() while a large write is in flight rejects that write and cleans up', async (t) => {
  const dir = t.testdir();
  const w = new ShardWriter({ pattern: join(dir, 'y-%06d.tar') });
  const pending = w.write({ __key__: 'big', files: { bin: Buffer.alloc(8 << 20, 1) } });
  const reason = new DeclipError('cancelled');
  const aborted = w.abort(reason);
  await t.rejects(pending, reason);
  await aborted;
  t.same(await readdir(dir), []);
});

t.test('abort() while a member is being written (shard open) rejects and cleans up', async (t) => {
  const dir = t.testdir();
  const w = new ShardWriter({ pattern: join(dir, 'w-%06d.tar') });
  await w.write({ __key__: 'small', files: { txt: 'x' } });
  const pending = w.write({ __key__: 'big', files: { bin: Buffer.alloc(8 << 20, 2), txt: 'y' } });
  const reason = new DeclipError('stop');
  const rejected = t.rejects(pending, reason);
  await w.abort(reason);
  await rejected;
  t.same(await readdir(dir), [], 'no shard, no temp file, no index');
});

t.test('an already aborted signal refuses every write', async (t) => {
  const dir = t.testdir();
  const w = new ShardWriter({ pattern: join(dir, 'z-%06d.tar'), signal: AbortSignal.abort(new Error('early')) });
  await t.rejects(w.write({ __key__: 'a', files: { txt: 'a' } }), /early/);
  t.same(await readdir(dir), []);
});

t.test('refuses bad keys and extensions with typed errors and stays usable', async (t) => {
  const dir = t.testdir();
  const w = new ShardWriter({ pattern: join(dir, 'k-%06d.tar') });
  const cases: [SampleInput, string][] = [
    [{ __key__: '', files: { txt: 'x' } }, 'empty-key'],
    [{ __key__: 'a.b', files: { txt: 'x' } }, 'dot-in-key'],
    [{ __key__: 'dir/a.b', files: { txt: 'x' } }, 'dot-in-key'],
    [{ __key__: '.hidden', files: { txt: 'x' } }, 'dot-in-key'],
    [{ __key__: '/abs', files: { txt: 'x' } }, 'invalid-key'],
    [{ __key__: 'a//b', files: { txt: 'x' } }, 'invalid-key'],
    [{ __key__: '../up', files: { txt: 'x' } }, 'invalid-key'],
    [{ __key__: 'a/', files: { txt: 'x' } }, 'invalid-key'],
    [{ __key__: 'ok', files: {} }, 'no-files'],
    [{ __key__: 'ok', files: { PNG: 'x' } }, 'invalid-extension'],
    [{ __key__: 'ok', files: { '': 'x' } }, 'invalid-extension'],
    [{ __key__: 'ok', files: { 'a/b': 'x' } }, 'invalid-extension'],
    [{ __key__: 'ok', files: { '.png': 'x' } }, 'invalid-extension'],
  ];
  for (const [sample, reason] of cases) {
    await t.rejects(w.write(sample), { name: 'SampleError', reason }, `${JSON.stringify(sample.__key__)} -> ${reason}`);
  }
  await w.write({ __key__: 'good', files: { txt: 'ok' } });
  const err = await w.write({ __key__: 'good', files: { txt: 'again' } }).catch((e: unknown) => e);
  t.ok(err instanceof SampleError && err.reason === 'duplicate-key', 'a repeated adjacent key is refused');
  t.match(String((err as Error).message), /previous sample/);
  await t.rejects(w.write({ __key__: 'n', files: { bin: 42 as unknown as string } }), InvalidOptionError);
  const index = await w.close();
  t.equal(index.totals.samples, 1, 'only the valid sample was written');
});

t.test('write() must be awaited; close() is idempotent; no write after close', async (t) => {
  const dir = t.testdir();
  const w = new ShardWriter({ pattern: join(dir, 'c-%06d.tar') });
  const first = w.write({ __key__: 'a', files: { txt: 'a' } });
  await t.rejects(w.write({ __key__: 'b', files: { txt: 'b' } }), /await the previous write/);
  await first;
  const p1 = w.close();
  const p2 = w.close();
  t.equal(p1, p2, 'same promise');
  const index = await p1;
  t.equal(index.totals.samples, 1);
  await t.rejects(w.write({ __key__: 'c', files: { txt: 'c' } }), /after close/);
});

t.test('an empty writer writes an empty index', async (t) => {
  const dir = t.testdir();
  const index = await new ShardWriter({ pattern: join(dir, 'new/e-%06d.tar'), classes: ['a'], meta: { seed: 1 } }).close();
  t.same(index.totals, { shards: 0, samples: 0, bytes: 0 });
  const onDisk = JSON.parse(await readFile(join(dir, 'new/e.index.json'), 'utf8')) as unknown;
  t.same(onDisk, index);
});

t.test('index: false writes no sidecar; indexPath moves it and keeps shard urls relative', async (t) => {
  const dir = t.testdir();
  await writeAll(join(dir, 'n-%06d.tar'), makeSamples(2, 1, 10));
  const w = new ShardWriter({ pattern: join(dir, 'shards/q-%06d.tar'), index: false });
  await w.write({ __key__: 'a', files: { txt: 'a' } });
  await w.close();
  t.same((await readdir(join(dir, 'shards'))).sort(), ['q-000000.tar']);
  const w2 = new ShardWriter({ pattern: join(dir, 'shards/r-%06d.tar'), indexPath: join(dir, 'meta/r.json') });
  await w2.write({ __key__: 'a', files: { txt: 'a' } });
  const index = await w2.close();
  t.equal(index.shards[0]?.url, '../shards/r-000000.tar');
  t.equal(index.pattern, '../shards/r-%06d.tar');
});

t.test('validates options with the house message format', async (t) => {
  t.throws(() => new ShardWriter({ pattern: 'out/name.tar' }), {
    name: 'InvalidOptionError',
    field: 'pattern',
    message: /^Expected shard name pattern with one %d or %06d in the file name \(e.g. out\/name-%06d.tar\) for pattern but received "out\/name.tar" of type string$/,
  });
  t.throws(() => new ShardWriter({ pattern: 'o%d/n-%d.tar' }), { name: 'InvalidOptionError', field: 'pattern' });
  t.throws(() => new ShardWriter({ pattern: 'o%d/name.tar' }), { name: 'InvalidOptionError', field: 'pattern' }, 'placeholder must be in the file name');
  t.throws(() => new ShardWriter({ pattern: 'n-%06d.tar', maxCount: 0 }), {
    field: 'maxCount',
    message: 'Expected integer of at least 1 for maxCount but received 0 of type number',
  });
  t.throws(() => new ShardWriter({ pattern: 'n-%06d.tar', maxSize: 1.5 }), { name: 'InvalidOptionError', field: 'maxSize' });
  t.throws(() => new ShardWriter({ pattern: 'n-%06d.tar', classes: ['a', ''] }), { name: 'InvalidOptionError', field: 'classes' });
  t.equal(parseShardPattern('a/b-%06d.tar').format(12), 'a/b-000012.tar');
  t.equal(parseShardPattern('a/b-%d.tar').format(12), 'a/b-12.tar');
});

t.test('a shard that cannot be created fails the writer with a ShardWriteError', async (t) => {
  const dir = t.testdir({ blocker: 'a file, not a folder' });
  const w = new ShardWriter({ pattern: join(dir, 'blocker/s-%06d.tar') });
  const err = await w.write({ __key__: 'a', files: { txt: 'a' } }).catch((e: unknown) => e);
  t.match(err, { name: 'ShardWriteError', code: 'ERR_DECLIP_SHARD_WRITE', reason: 'open-failed' });
  t.ok((err as Error).cause, 'keeps the cause');
  await t.rejects(w.write({ __key__: 'b', files: { txt: 'b' } }), { name: 'ShardWriteError', reason: 'open-failed' }, 'the writer stays failed');
  await t.rejects(w.close(), { name: 'ShardWriteError', reason: 'open-failed' });
});
