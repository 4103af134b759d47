import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import t from 'tap';
import { InvalidOptionError, ShardFormatError, ShardReadError } from '../../core/errors.js';
import { type SkipEvent, readSamples, resolveReadOptions, splitMemberName } from '../../datasets/reader/index.js';
import type { Sample } from '../../datasets/sample.js';
import { memberDataOffset, simpleMembers, tarBuffer, writeTar } from './fixtures-tar.js';

async function collect(iter: AsyncIterable<Sample>): Promise<Sample[]> {
  const out: Sample[] = [];
  for await (const s of iter) out.push(s);
  return out;
}

const view = (s: Sample): [string, Record<string, string>] => [
  s.__key__,
  Object.fromEntries(Object.entries(s.files).map(([k, v]) => [k, v.toString('utf8')])),
];

t.test('key rule: key up to the first dot of the basename, extension lower-cased', async (t) => {
  t.same(splitMemberName('a/b/c.seg.png'), { key: 'a/b/c', ext: 'seg.png' });
  t.same(splitMemberName('dir.v1/img.jpg'), { key: 'dir.v1/img', ext: 'jpg' });
  t.same(splitMemberName('x.TXT'), { key: 'x', ext: 'txt' });
  t.same(splitMemberName('Ünï/cödé.Json'), { key: 'Ünï/cödé', ext: 'json' });
  t.equal(splitMemberName('a/.hidden.txt'), 'hidden');
  t.equal(splitMemberName('.x'), 'hidden');
  t.equal(splitMemberName('dir.v1/README'), 'no-extension');
  t.equal(splitMemberName('noext'), 'no-extension');
});

t.test('groups adjacent members by key; a key that comes back starts a new sample; skips what is not a sample', async (t) => {
  const dir = t.testdir();
  const url = join(dir, 'a.tar');
  await writeTar(url, [
    { name: 'dir', type: 'directory' },
    { name: 'dir/a.jpg', data: 'A1' },
    { name: 'dir/a.txt', data: 'A2' },
    { name: 'dir/a.seg.PNG', data: 'A3' },
    { name: 'dir/.hidden.txt', data: 'H' },
    { name: 'dir.v1/b.jpg', data: 'B1' },
    { name: 'LICENSE', data: 'L' },
    { name: 'link.jpg', type: 'symlink', linkname: 'dir/a.jpg' },
    { name: 'dir/a.cls', data: '7' },
    { name: 'empty.txt', data: '' },
  ]);
  const reader = readSamples({ urls: url });
  const samples = await collect(reader);
  t.same(samples.map(view), [
    ['dir/a', { jpg: 'A1', txt: 'A2', 'seg.png': 'A3' }],
    ['dir.v1/b', { jpg: 'B1' }],
    ['dir/a', { cls: '7' }],
    ['empty', { txt: '' }],
  ]);
  t.ok(samples.every((s) => s.__url__ === url), '__url__ on every sample');
  t.same(Object.keys(samples[0]?.files ?? {}), ['jpg', 'txt', 'seg.png'], 'files in tar order');
  const st = reader.stats;
  t.same(st.ignored, { hidden: 1, 'no-extension': 1, 'not-a-file': 2 });
  t.equal(st.samples, 4);
  t.equal(st.bytes, 2 + 2 + 2 + 2 + 1);
  t.same(st.extensions, { jpg: 2, txt: 2, 'seg.png': 1, cls: 1 });
  t.same(st.errors, []);
});

t.test('UTF-8 names and GNU / PAX long names written by the system tar', async (t) => {
  const dir = t.testdir();
  const src = join(dir, 'src');
  const longDir = 'd'.repeat(120) + '/é' + 'x'.repeat(90);
  mkdirSync(join(src, longDir), { recursive: true });
  const names = [`${longDir}/échantillon-ñ-${'k'.repeat(80)}.jpg`, `${longDir}/échantillon-ñ-${'k'.repeat(80)}.txt`, '日本/猫.txt'];
  mkdirSync(join(src, '日本'), { recursive: true });
  names.forEach((n, i) => writeFileSync(join(src, n), `body ${i}`));
  for (const format of ['gnu', 'pax']) {
    const tarPath = join(dir, `${format}.tar`);
    execFileSync('tar', [`--format=${format}`, '-cf', tarPath, '-C', src, '--sort=name', ...names]);
    const samples = await collect(readSamples({ urls: tarPath }));
    t.same(
      samples.map(view),
      [
        [`${longDir}/échantillon-ñ-${'k'.repeat(80)}`, { jpg: 'body 0', txt: 'body 1' }],
        ['日本/猫', { txt: 'body 2' }],
      ],
      `${format} long names`,
    );
  }
});

t.test('gzip is recognised by its magic bytes, whatever the name', async (t) => {
  const dir = t.testdir();
  const members = simpleMembers(5);
  const plain = join(dir, 'plain.tar');
  const gz = join(dir, 'really-gzip.tar');
  const tgz = join(dir, 'x.tgz');
  await writeTar(plain, members);
  await writeTar(gz, members, true);
  await writeTar(tgz, members, true);
  const a = await collect(readSamples({ urls: plain }));
  const gzReader = readSamples({ urls: gz });
  const b = await collect(gzReader);
  t.equal(gzReader.stats.sourceBytes, (await writeTar(join(dir, 'again.tgz'), members, true)).length, 'sourceBytes counts compressed bytes');
  const c = await collect(readSamples({ urls: tgz }));
  t.equal(a.length, 5);
  t.same(b.map(view), a.map(view));
  t.same(c.map(view), a.map(view));
  // A member that is itself gzipped is not decompressed.
  const inner = gzipSync('hello');
  await writeTar(join(dir, 'inner.tar'), [{ name: 'k.txt.gz', data: inner }]);
  const [s] = await collect(readSamples({ urls: join(dir, 'inner.tar') }));
  t.same(s?.files['txt.gz'], inner);
});

t.test('a repeated extension is reported, counted and dropped; the first member is kept', async (t) => {
  const dir = t.testdir();
  const url = join(dir, 'dup.tar');
  await writeTar(url, [
    { name: 'a.txt', data: 'first' },
    { name: 'a.txt', data: 'second' },
    { name: 'a.jpg', data: 'J' },
    { name: 'b.txt', data: 'B' },
    { name: 'b.txt', data: 'B2' },
  ]);
  for (const policy of ['warn', 'skip'] as const) {
    const events: SkipEvent[] = [];
    const warnings: string[] = [];
    const reader = readSamples({ urls: url, onError: policy, onSkip: (e) => events.push(e), warn: (m) => warnings.push(m) });
    const live: SkipEvent[] = [];
    reader.on('skip', (e) => live.push(e));
    const samples = await collect(reader);
    t.same(samples.map(view), [['a', { txt: 'first', jpg: 'J' }], ['b', { txt: 'B' }]], policy);
    t.equal(events.length, 2);
    t.equal(live.length, 2, 'skip events on the reader too');
    t.equal(events[0]?.reason, 'duplicate-extension');
    t.equal(events[0]?.member, 'a.txt');
    t.equal(events[0]?.key, 'a');
    t.equal(events[0]?.action, 'skipped');
    t.ok(events[0]?.error instanceof ShardFormatError);
    t.same(reader.stats.errors, [{ url, reason: 'duplicate-extension', member: 'a.txt', count: 2 }]);
    t.same(reader.stats.errorsByReason, { 'duplicate-extension': 2 });
    t.equal(warnings.length, policy === 'warn' ? 2 : 0, `${policy} warns ${policy === 'warn' ? 'twice' : 'never'}`);
  }
  const reader = readSamples({ urls: url });
  const got: Sample[] = [];
  const err = await (async () => {
    try {
      for await (const s of reader) got.push(s);
    } catch (e) {
      return e;
    }
    return undefined;
  })();
  t.ok(err instanceof ShardFormatError, 'throw policy throws a ShardFormatError');
  t.match((err as ShardFormatError).message, /duplicate|twice/);
  t.equal((err as ShardFormatError).url, url);
  t.equal((err as ShardFormatError).member, 'a.txt');
  t.equal(got.length, 0);
  t.same(reader.stats.errors, [{ url, reason: 'duplicate-extension', member: 'a.txt', count: 1 }], 'counted once');
});

t.test('a truncated shard yields every complete sample before the cut, then goes on under warn/skip', async (t) => {
  const dir = t.testdir();
  const members = simpleMembers(6);
  const full = await tarBuffer(members);
  const cutAt = memberDataOffset(full, 's000004.jpg') + 50; // in the middle of s000004.jpg
  const cut = join(dir, 'cut.tar');
  await writeFile(cut, full.subarray(0, cutAt));
  const next = join(dir, 'next.tar');
  await writeTar(next, simpleMembers(2, 'n'));
  const cutGz = join(dir, 'cut.tar.gz');
  const gz = gzipSync(full);
  await writeFile(cutGz, gz.subarray(0, Math.floor(gz.length * 0.8)));

  for (const policy of ['warn', 'skip'] as const) {
    const reader = readSamples({ urls: [cut, next], onError: policy, warn: () => {} });
    const keys = (await collect(reader)).map((s) => s.__key__);
    t.same(keys, ['s000000', 's000001', 's000002', 's000003', 'n000000', 'n000001'], policy);
    t.same(reader.stats.errors, [{ url: cut, reason: 'truncated', member: 's000004.jpg', count: 1 }]);
    t.equal(reader.stats.samplesDropped, 1);
    t.equal(reader.stats.shardsCompleted, 1);
  }
  const gzReader = readSamples({ urls: [cutGz, next], onError: 'skip' });
  const gzKeys = (await collect(gzReader)).map((s) => s.__key__);
  t.ok(gzKeys.length >= 2 && gzKeys.slice(-2).join() === 'n000000,n000001', 'truncated gzip shard: goes on with the next');
  t.same(gzKeys.slice(0, -2), simpleMembers(6).filter((_, i) => i % 2 === 0).map((m) => m.name.split('.')[0]).slice(0, gzKeys.length - 2));
  t.equal(gzReader.stats.errors[0]?.reason, 'truncated');

  const reader = readSamples({ urls: [cut, next] });
  const got: string[] = [];
  let error: unknown;
  try {
    for await (const s of reader) got.push(s.__key__);
  } catch (err) {
    error = err;
  }
  t.ok(error instanceof ShardFormatError, 'throw: a ShardFormatError');
  t.match(error, { reason: 'truncated', url: cut, member: 's000004.jpg' });
  t.match((error as Error).message, cut, 'the message names the shard');
  t.same(got, ['s000000', 's000001', 's000002', 's000003'], 'throw: the complete samples came first');
});

t.test('corrupt headers and unreadable files are typed errors naming the shard', async (t) => {
  const dir = t.testdir();
  const bad = join(dir, 'bad.tar');
  const full = await tarBuffer(simpleMembers(2));
  const corrupt = Buffer.from(full);
  corrupt.fill(0x41, 1024, 1024 + 100); // overwrite the second header's name and checksum area
  corrupt.fill(0x41, 1024 + 148, 1024 + 156);
  await writeFile(bad, corrupt);
  const good = join(dir, 'good.tar');
  await writeTar(good, simpleMembers(1, 'g'));
  const reader = readSamples({ urls: [bad, join(dir, 'missing.tar'), good], onError: 'skip', onShardError: 'skip' });
  const keys = (await collect(reader)).map((s) => s.__key__);
  t.same(keys, ['g000000'], 'the sample whose member header is corrupt is lost, the missing shard skipped');
  t.same(
    reader.stats.errors.map((e) => [e.url, e.reason]),
    [
      [bad, 'bad-header'],
      [join(dir, 'missing.tar'), 'open-failed'],
    ],
  );
  await t.rejects(collect(readSamples({ urls: join(dir, 'missing.tar') })), ShardReadError);
  // onError covers errors inside a shard only: a missing shard still throws under it.
  await t.rejects(collect(readSamples({ urls: [good, join(dir, 'missing.tar')], onError: 'skip' })), { name: 'ShardReadError', reason: 'open-failed', url: join(dir, 'missing.tar') });
});

t.test('members over maxMemberBytes are dropped and reported', async (t) => {
  const dir = t.testdir();
  const url = join(dir, 'big.tar');
  await writeTar(url, [
    { name: 'a.jpg', data: Buffer.alloc(5000, 1) },
    { name: 'a.txt', data: 'small' },
  ]);
  const reader = readSamples({ urls: url, maxMemberBytes: 4096, onError: 'skip' });
  const samples = await collect(reader);
  t.same(samples.map(view), [['a', { txt: 'small' }]]);
  t.same(reader.stats.errors, [{ url, reason: 'member-too-large', member: 'a.jpg', count: 1 }]);
});

t.test('options are validated once, with the house message format', async (t) => {
  t.throws(() => resolveReadOptions({ urls: [] }), InvalidOptionError);
  t.throws(() => readSamples({ urls: 'a.tar', bufferSize: -1 }), {
    message: 'Expected integer of at least 0 for bufferSize but received -1 of type number',
  });
  t.throws(() => readSamples({ urls: 'a.tar', onError: 'ignore' as 'skip' }), {
    message: 'Expected one of throw, warn, skip for onError but received "ignore" of type string',
  });
  t.throws(() => readSamples({ urls: 'a.tar', rank: 2, worldSize: 2 }), { name: 'InvalidOptionError' });
  t.throws(() => readSamples({ urls: 'a.tar', workerId: 1 }), { name: 'InvalidOptionError' });
  t.throws(() => readSamples({ urls: 'a.tar::' }), { name: 'InvalidOptionError' });
  t.throws(() => resolveReadOptions({ urls: 'a.tar' }, { RANK: 'x' }), { name: 'InvalidOptionError' });
  const o = resolveReadOptions({ urls: 'a.tar', bufferSize: 10 }, { RANK: '1', WORLD_SIZE: '4' });
  t.equal(o.rank, 1);
  t.equal(o.worldSize, 4);
  t.equal(o.initial, 10, 'initial is clipped to bufferSize');
  t.ok(Object.isFrozen(o));
});
