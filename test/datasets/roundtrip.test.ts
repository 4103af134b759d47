import { join } from 'node:path';
import t from 'tap';
import { Rng, deriveSeed } from '../../core/rng.js';
import { readSamples } from '../../datasets/reader/index.js';
import type { SampleInput } from '../../datasets/sample.js';
import { readShardIndex } from '../../datasets/shard-index.js';
import { ShardWriter } from '../../datasets/writer/index.js';

const N = 10_000;
const EXTENSIONS = ['txt', 'cls', 'png', 'seg.png', 'json', 'bin'];

/** Sample i, regenerated on demand so neither side holds the dataset. */
function sample(i: number): SampleInput {
  const rng = new Rng(deriveSeed(42, i));
  const files: Record<string, Buffer | string> = {};
  const exts = EXTENSIONS.filter(() => rng.next() < 0.6);
  if (exts.length === 0) exts.push('txt');
  for (const ext of exts) {
    if (ext === 'txt') files[ext] = `caption ${i} caf\u00e9 \u732b ${rng.uint32()}`;
    else if (ext === 'cls') files[ext] = String(rng.int(10));
    else {
      const size = rng.next() < 0.05 ? 0 : rng.int(rng.next() < 0.1 ? 3000 : 300);
      const b = Buffer.alloc(size);
      for (let j = 0; j + 4 <= size; j += 4) b.writeUInt32LE(rng.uint32(), j);
      for (let j = size - (size % 4); j < size; j++) b[j] = rng.int(256);
      files[ext] = b;
    }
  }
  const dir = i % 7 === 0 ? `dir${i % 3}/` : '';
  const long = i % 997 === 0 ? 'x'.repeat(120) + '/' : '';
  const utf8 = i % 501 === 0 ? '\u00fcml\u00e4ut-' : '';
  return { __key__: `${long}${dir}${utf8}s${String(i).padStart(6, '0')}`, files };
}

t.test(`writer -> reader round trip of ${N} samples keeps every byte`, async (t) => {
  const dir = t.testdir();
  const writer = new ShardWriter({ pattern: join(dir, 'rt-%06d.tar'), maxCount: 1500, maxSize: 4_000_000 });
  for (let i = 0; i < N; i++) await writer.write(sample(i));
  const index = await writer.close();
  t.equal(index.totals.samples, N);
  t.ok(index.totals.shards >= 7, `${index.totals.shards} shards`);

  const found = await readShardIndex(join(dir, 'rt-%06d.tar'));
  t.ok(found !== undefined, 'index found');
  const last = String(index.totals.shards - 1).padStart(6, '0');
  const reader = readSamples({ urls: join(dir, `rt-{000000..${last}}.tar`) });
  let i = 0;
  let mismatches = 0;
  const shardOf = new Map<string, number>();
  for await (const got of reader) {
    const want = sample(i);
    const wantExts = Object.keys(want.files).sort();
    const gotExts = Object.keys(got.files).sort();
    let ok = got.__key__ === want.__key__ && gotExts.join() === wantExts.join();
    for (const ext of wantExts) {
      const w = want.files[ext];
      const wb = typeof w === 'string' ? Buffer.from(w, 'utf8') : Buffer.from(w as Uint8Array);
      if (!(got.files[ext]?.equals(wb) ?? false)) ok = false;
    }
    if (!ok) {
      mismatches++;
      if (mismatches <= 3) t.fail(`sample ${i} differs: ${got.__key__} vs ${want.__key__}`);
    }
    shardOf.set(got.__url__, (shardOf.get(got.__url__) ?? 0) + 1);
    i++;
  }
  await reader.close();
  t.equal(i, N, 'every sample read once');
  t.equal(mismatches, 0, 'every key, extension and byte equal');
  t.same(
    [...shardOf.values()],
    index.shards.map((s) => s.samples),
    'per-shard counts in the index match what the reader found',
  );
  t.same(reader.stats.errors, [], 'no reader errors');
});
