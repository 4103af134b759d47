import { join } from 'node:path';
import t from 'tap';
import { Rng } from '../../core/rng.js';
import { type ReadOptions, readSamples, shardsForPass, shuffleBuffer } from '../../datasets/reader/index.js';
import { simpleMembers, writeTar } from './fixtures-tar.js';

async function keys(options: ReadOptions): Promise<string[]> {
  const out: string[] = [];
  for await (const s of readSamples(options)) out.push(s.__key__);
  return out;
}

async function shardDir(dir: string, shards: number, perShard: number): Promise<string> {
  for (let i = 0; i < shards; i++) {
    await writeTar(join(dir, `s-${String(i).padStart(2, '0')}.tar`), simpleMembers(perShard, `${String(i).padStart(2, '0')}-`));
  }
  return `${dir}/s-{00..${String(shards - 1).padStart(2, '0')}}.tar`;
}

t.test('rank and worker splits cover every shard exactly once, shuffled or not', async (t) => {
  const urls = await shardDir(t.testdir(), 12, 2);
  for (const shuffleShards of [false, true]) {
    const seen: string[] = [];
    for (let rank = 0; rank < 3; rank++) {
      for (let workerId = 0; workerId < 2; workerId++) {
        const got = await keys({ urls, rank, worldSize: 3, workerId, numWorkers: 2, shuffleShards, seed: 5 });
        t.equal(got.length, 4, `rank ${rank} worker ${workerId} reads 2 shards`);
        seen.push(...got);
      }
    }
    t.equal(new Set(seen).size, 24, `all 24 samples, none twice (shuffleShards ${shuffleShards})`);
  }
  const plan = { urls: ['a', 'b', 'c', 'd', 'e'], rank: 1, worldSize: 2, workerId: 0, numWorkers: 1, seed: 0, shuffleShards: false };
  t.same(shardsForPass(plan, 0, 0), ['b', 'd'], 'node split is urls[rank::worldSize]');
  t.same(shardsForPass({ ...plan, rank: 0, numWorkers: 2, workerId: 1 }, 0, 0), ['c'], 'then worker split of the node share');
});

t.test('the same options give the same sequence; seed and epoch change the shuffles', async (t) => {
  const urls = await shardDir(t.testdir(), 6, 5);
  const base: ReadOptions = { urls, shuffleShards: true, bufferSize: 8, initial: 4, seed: 11, epochs: 2 };
  const a = await keys(base);
  const b = await keys(base);
  t.same(a, b, 'deterministic');
  t.equal(a.length, 60);
  const plain = await keys({ urls });
  t.same([...a.slice(0, 30)].sort(), [...plain].sort(), 'an epoch is a permutation of the data');
  t.not(a.slice(0, 30).join(), plain.join(), 'shuffled');
  t.not(a.slice(0, 30).join(), a.slice(30).join(), 'each epoch has its own order');
  t.not((await keys({ ...base, seed: 12 })).join(), a.join(), 'another seed, another order');
  // Resuming at epoch 1 replays exactly the second epoch of the run.
  t.same(await keys({ ...base, epoch: 1, epochs: 1 }), a.slice(30), 'epoch option resumes the same stream');
});

t.test('shuffle buffer follows webdataset: bounded, starts after `initial`, a permutation', async (t) => {
  let pulled = 0;
  async function* source(): AsyncGenerator<number> {
    for (let i = 0; i < 100; i++) {
      pulled++;
      yield i;
    }
  }
  const out: number[] = [];
  let firstAfter = -1;
  let maxHeld = 0;
  for await (const x of shuffleBuffer(source(), 10, 5, new Rng(3))) {
    if (firstAfter < 0) firstAfter = pulled;
    out.push(x);
    maxHeld = Math.max(maxHeld, pulled - out.length + 1);
  }
  t.equal(firstAfter, 6, 'two samples per step until `initial` (5) are held, then one out per step');
  t.ok(maxHeld <= 10, `never more than bufferSize held (${maxHeld})`);
  t.same([...out].sort((x, y) => x - y), Array.from({ length: 100 }, (_, i) => i));
  t.not(out.join(), Array.from({ length: 100 }, (_, i) => i).join());
  const again: number[] = [];
  pulled = 0;
  for await (const x of shuffleBuffer(source(), 10, 5, new Rng(3))) again.push(x);
  t.same(again, out, 'same Rng seed, same order');
});

t.test('resampled: endless draws with replacement, deterministic from seed, rank and epoch', async (t) => {
  const urls = await shardDir(t.testdir(), 3, 2);
  const base: ReadOptions = { urls, resampled: true, samplesPerEpoch: 30, epochs: 2, seed: 4 };
  const a = await keys(base);
  t.equal(a.length, 60);
  t.same(await keys(base), a, 'deterministic');
  t.ok(new Set(a.slice(0, 30)).size < 30, 'with replacement: samples come back within an epoch');
  t.not(a.slice(0, 30).join(), a.slice(30).join(), 'epochs differ');
  t.not((await keys({ ...base, rank: 1, worldSize: 2 })).join(), a.join(), 'ranks differ');
  t.not((await keys({ ...base, workerId: 1, numWorkers: 2 })).join(), a.join(), 'workers differ');
  t.same(await keys({ ...base, epoch: 1, epochs: 1 }), a.slice(30), 'resume at epoch 1');
});

t.test('samplesPerEpoch cuts an epoch or reads the share again until it is reached', async (t) => {
  const urls = await shardDir(t.testdir(), 3, 2);
  const once = await keys({ urls });
  t.same(await keys({ urls, samplesPerEpoch: 4 }), once.slice(0, 4));
  const long = await keys({ urls, samplesPerEpoch: 10, epochs: 2 });
  t.equal(long.length, 20);
  t.same(long.slice(0, 10), [...once, ...once].slice(0, 10), 'a second pass follows the first');
  t.same(long.slice(10), long.slice(0, 10), 'unshuffled: every epoch the same');
  const reader = readSamples({ urls: `${t.testdir()}/none-{0..1}.tar`, samplesPerEpoch: 5, epochs: Infinity, onShardError: 'skip' });
  const got: string[] = [];
  await t.rejects(
    (async () => {
      for await (const s of reader) got.push(s.__key__);
    })(),
    { name: 'ShardReadError', reason: 'no-samples', message: /epoch 0 gave no sample: 2 shard error\(s\) were skipped, the first: open-failed/ },
    'a share that gives no sample is an error, not an empty (or endless) stream',
  );
  t.same(got, []);
  t.equal(reader.stats.errorsByReason['open-failed'], 2);
});

t.test('describe() summarises the reader', async (t) => {
  const r = readSamples({ urls: 'x-{0..3}.tar', bufferSize: 100, initial: 10, shuffleShards: true, rank: 1, worldSize: 2 });
  t.equal(
    r.describe(),
    'shards(4: x-0.tar .. x-3.tar, shuffled) -> split(rank 1/2, worker 0/1) -> untar -> shuffle(100, initial 10) -> epochs(1 from 0) -> seed 0, on error throw',
  );
  await r.close();
});

t.test('an endless stream stops cleanly when the consumer stops; a closed reader yields nothing', async (t) => {
  const urls = await shardDir(t.testdir(), 2, 3);
  const reader = readSamples({ urls, resampled: true, epochs: Infinity, samplesPerEpoch: 4, seed: 1 });
  const got: string[] = [];
  for await (const s of reader) {
    got.push(s.__key__);
    if (got.length === 25) break;
  }
  t.equal(got.length, 25, 'read across several epochs');
  t.equal(reader.stats.samples, 25);
  t.ok(reader.stats.shardsOpened >= 8, 'shards were drawn again and again');
  await reader.close();
  const closed = readSamples({ urls });
  await closed.close();
  const none: string[] = [];
  for await (const s of closed) none.push(s.__key__);
  t.same(none, []);
  t.equal(closed.stats.shardsOpened, 0);
});
