import { join } from 'node:path';
import sharp from 'sharp';
import t, { type Test } from 'tap';
import { SampleError } from '../../core/errors.js';
import { Rng } from '../../core/rng.js';
import { CaptionTokenizer } from '../../augment/text/tokenizer.js';
import { ShardWriter } from '../../datasets/writer/index.js';
import { createPipeline } from '../../pipeline/pipeline.js';
import type { SlotStats } from '../../pipeline/slots.js';
import type { DeclipBatch } from '../../pipeline/types.js';
import { batchFingerprint } from './helpers.js';

const WORDS = ['dog', 'cat', 'beach', 'red', 'small', 'car', 'tree', 'house', 'running', 'old'];

async function jpeg(rng: Rng, width: number, height: number): Promise<Buffer> {
  const raw = Buffer.alloc(width * height * 3);
  const base = [rng.int(256), rng.int(256), rng.int(256)];
  for (let i = 0; i < raw.length; i++) raw[i] = ((base[i % 3] ?? 0) + ((i / 3) % width) + rng.int(32)) & 255;
  return sharp(raw, { raw: { width, height, channels: 3 } }).jpeg({ quality: 85 }).toBuffer();
}

function caption(rng: Rng, i: number): string {
  return `a ${WORDS[rng.int(10)]} ${WORDS[rng.int(10)]} photo of a ${WORDS[rng.int(10)]} number ${i}`;
}

interface Fixture {
  readonly dir: string;
  readonly shards: string;
  readonly tokenizerFile: string;
}

async function makeShards(dir: string, count: number, bad: (i: number, rng: Rng) => Promise<Record<string, Buffer | string> | undefined>): Promise<string> {
  const rng = new Rng(5);
  const writer = new ShardWriter({ pattern: join(dir, 'part-%06d.tar'), maxCount: 16 });
  for (let i = 0; i < count; i++) {
    const files = (await bad(i, rng)) ?? { jpg: await jpeg(rng, 40 + rng.int(40), 30 + rng.int(40)), txt: caption(rng, i), cls: String(i % 5) };
    await writer.write({ __key__: `k${String(i).padStart(5, '0')}`, files });
  }
  await writer.close();
  return join(dir, `part-{000000..${String(Math.ceil(count / 16) - 1).padStart(6, '0')}}.tar`);
}

async function fixture(t: Test, count: number, bad: Parameters<typeof makeShards>[2] = async () => undefined): Promise<Fixture> {
  const dir = t.testdir({});
  const shards = await makeShards(dir, count, bad);
  const tok = await CaptionTokenizer.train(
    Array.from({ length: 50 }, (_, i) => caption(new Rng(i), i)),
    { vocabSize: 300 },
  );
  const tokenizerFile = join(dir, 'tokenizer.json');
  await tok.save(tokenizerFile);
  return { dir, shards, tokenizerFile };
}

async function collect(p: AsyncIterable<DeclipBatch>): Promise<DeclipBatch[]> {
  const out: DeclipBatch[] = [];
  for await (const b of p) out.push(b);
  return out;
}

t.test('real shards behind a loader thread: release() reaches the loader\'s pool, every batch stays right', async (t) => {
  const f = await fixture(t, 96);
  const opts = { shards: f.shards, tokenizerFile: f.tokenizerFile, imageSize: 32, contextLength: 24, batchSize: 8, workers: 2, shuffleBuffer: 10, seed: 6, epochs: 2 } as const;
  const expected = (await collect(createPipeline({ ...opts, sharedBatches: false }))).map(batchFingerprint);
  const p = createPipeline({ ...opts, loaderThread: true });
  const prints: unknown[] = [];
  let pool: SlotStats | undefined;
  try {
    for await (const b of p) {
      prints.push(batchFingerprint(b));
      t.ok(b.images1.buffer instanceof SharedArrayBuffer, 'zero-copy across the thread too');
      b.release();
    }
    pool = p.metrics().batchBuffers; // the loader's pool, as of its last message
  } finally {
    await p.close();
  }
  t.same(prints, expected, 'the copied path\'s batches, each read before its release');
  t.ok(pool !== undefined && pool.pooled <= p.options.batchBuffers && pool.reused >= prints.length / 2, `released buffers are reused: ${JSON.stringify(pool)}`);
});

t.test('real shards: identical batches, byte for byte, with 1 or 2 workers', async (t) => {
  const f = await fixture(t, 40);
  const run = async (workers: number, samplesPerTask: number, loaderThread = false): Promise<DeclipBatch[]> =>
    collect(createPipeline({ shards: f.shards, tokenizerFile: f.tokenizerFile, imageSize: 32, contextLength: 24, batchSize: 16, workers, samplesPerTask, shuffleBuffer: 10, seed: 3, loaderThread }));
  const one = await run(1, 1);
  const two = await run(2, 3, true);
  t.same(one.map((b) => b.size), [16, 16, 8]);
  t.same(two.map(batchFingerprint), one.map(batchFingerprint), 'same with 2 workers behind a loader thread');
  const b = one[0] as DeclipBatch;
  t.not(b.keys.join(), Array.from({ length: 16 }, (_, i) => `k${String(i).padStart(5, '0')}`).join(), 'shuffled');
  // normalised views: roughly zero-centred floats, not bytes
  const mean = b.images1.reduce((a, v) => a + v, 0) / b.images1.length;
  t.ok(Math.abs(mean) < 2.5, `view mean ${mean} is normalised`);
  t.notSame(Array.from(b.images1.subarray(0, 100)), Array.from(b.images2.subarray(0, 100)), 'two different views');
  const rows = Array.from({ length: b.size }, (_, i) => b.tokens.subarray(i * 24, (i + 1) * 24));
  t.same(rows.map((r) => r[0]), rows.map(() => 1), 'every row starts with [SOT]');
  t.same(rows.map((r, i) => r[b.eot[i] ?? 0]), rows.map(() => 2), 'eot points at [EOT]');
  t.same(Array.from(b.labels), b.keys.map((k) => Number(k.slice(1)) % 5), 'label from cls');
  t.ok(b.mlmLabels.some((v) => v !== -100), 'some positions are masked for MLM');
});

t.test('real shards: bad samples are counted by reason under skip, and named under throw', async (t) => {
  const f = await fixture(t, 24, async (i, rng) => {
    const ok = async (): Promise<Buffer> => jpeg(rng, 40, 40);
    switch (i) {
      case 2: return { jpg: Buffer.from('this is not a jpeg at all'), txt: 'a corrupt image' };
      case 4: return { jpg: (await ok()).subarray(0, 60), txt: 'a truncated image' };
      case 6: return { jpg: Buffer.alloc(0), txt: 'an empty image' };
      case 8: return { jpg: await jpeg(rng, 300, 300), txt: 'too many pixels' };
      case 10: return { jpg: await ok(), txt: Buffer.from([0xc3, 0x28, 0x41]) };
      case 12: return { txt: 'no image at all' };
      case 14: return { jpg: await ok() };
      default: return undefined;
    }
  });
  const skip = createPipeline({ shards: f.shards, tokenizerFile: f.tokenizerFile, imageSize: 16, contextLength: 16, batchSize: 8, workers: 2, onError: 'skip', pixelLimit: 20_000 });
  const batches = await collect(skip);
  t.equal(batches.reduce((n, b) => n + b.size, 0), 17);
  const skipped = skip.metrics().skipped;
  t.equal(skipped['missing-image'], 1);
  t.equal(skipped['missing-caption'], 1);
  t.equal(skipped['caption-not-utf8'], 1);
  t.equal(skipped['too-many-pixels'], 1);
  t.equal(Object.values(skipped).reduce((a, b) => a + b, 0), 7, `7 bad samples: ${JSON.stringify(skipped)}`);

  const thrown = createPipeline({ shards: f.shards, tokenizerFile: f.tokenizerFile, imageSize: 16, contextLength: 16, batchSize: 8, workers: 1, shuffleBuffer: 0, loaderThread: true });
  const err = await collect(thrown).then(
    () => undefined,
    (e: unknown) => e,
  );
  t.type(err, SampleError);
  t.equal((err as SampleError).key, 'k00002');
  t.match((err as SampleError).message, /part-000000\.tar/, 'the error crosses the loader thread with its key and shard');
  await thrown.close();
  t.equal(thrown.threadCount, 0, 'the loader thread has exited');
});
