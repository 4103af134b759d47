/**
 * Zero-copy batches (pipeline/slots.ts): rows of shared batch buffers in dispatch order,
 * re-alignment after dropped samples, and the batches being the same whether they are
 * shared buffers or copies.
 */
import t from 'tap';
import { BatchSlots, sharedBatchImages } from '../../pipeline/slots.js';
import { createPipeline, type DeclipPipeline } from '../../pipeline/pipeline.js';
import type { DeclipBatch } from '../../pipeline/types.js';
import { batchFingerprint, fakeSource, STAND_IN_WORKER } from './helpers.js';

const base = { workerFile: STAND_IN_WORKER, imageSize: 8, contextLength: 8 } as const;

async function collect(p: DeclipPipeline): Promise<DeclipBatch[]> {
  const out: DeclipBatch[] = [];
  try {
    for await (const b of p) out.push(b);
  } finally {
    await p.close();
  }
  return out;
}

t.test('BatchSlots gives rows in order, a new buffer every B rows, re-aligned after drops', async (t) => {
  const slots = new BatchSlots(4, 3);
  const a = [slots.next(), slots.next(), slots.next(), slots.next()];
  t.same(a.map((s) => [s.view1, s.view2]), [[0, 12], [3, 15], [6, 18], [9, 21]]);
  t.ok(a.every((s) => s.buffer === a[0]?.buffer));
  t.equal(a[0]?.buffer.byteLength, 2 * 4 * 3 * 4);
  slots.dropped(); // one of the first four is bad: sample 4 is delivered 4th (row 3 of batch 0)
  const b = slots.next();
  t.not(b.buffer, a[0]?.buffer, 'a new buffer');
  t.equal(b.view1, 3 * 3, 'row 3: where its batch expects it');
  const c = slots.next();
  t.not(c.buffer, b.buffer, 'the next batch starts a buffer of its own at row 0');
  t.equal(c.view1, 0);
});

t.test('sharedBatchImages: only rows 0..b-1 of one buffer, in order', async (t) => {
  const B = 4;
  const px = 3;
  const buffer = new SharedArrayBuffer(2 * B * px * 4);
  const row = (i: number, buf: ArrayBufferLike = buffer): { view1: Float32Array; view2: Float32Array } => ({
    view1: new Float32Array(buf, i * px * 4, px),
    view2: new Float32Array(buf, (B + i) * px * 4, px),
  });
  const full = sharedBatchImages([row(0), row(1), row(2), row(3)], B, px);
  t.equal(full?.images1.length, B * px);
  t.equal(full?.images2.byteOffset, B * px * 4);
  t.equal(sharedBatchImages([row(0), row(1)], B, px)?.images1.length, 2 * px, 'a partial last batch');
  t.equal(sharedBatchImages([row(1), row(2)], B, px), undefined, 'not starting at row 0');
  t.equal(sharedBatchImages([row(0), row(2)], B, px), undefined, 'a gap');
  t.equal(sharedBatchImages([row(0), row(1, new SharedArrayBuffer(2 * B * px * 4))], B, px), undefined, 'two buffers');
  t.equal(sharedBatchImages([row(0, new ArrayBuffer(2 * B * px * 4))], B, px), undefined, 'not shared');
});

t.test('the same batches, byte for byte, shared or copied, with dropped samples', async (t) => {
  const bad = { 10: 'no-image', 9: 'no-caption', 12: 'not-utf8', 20: 'corrupt', 21: 'corrupt', 60: 'corrupt' } as const;
  const run = async (sharedBatches: boolean, workers: number): Promise<DeclipBatch[]> =>
    collect(
      createPipeline({
        ...base,
        open: fakeSource({ count: 90, bad, imageBytes: 100 }).open,
        batchSize: 8,
        samplesPerTask: 3,
        workers,
        onError: 'skip',
        seed: 5,
        sharedBatches,
      }),
    );
  const copied = await run(false, 1);
  const shared = await run(true, 2);
  t.equal(copied.reduce((n, b) => n + b.size, 0), 84);
  t.same(shared.map(batchFingerprint), copied.map(batchFingerprint));
  t.notOk(copied.some((b) => b.images1.buffer instanceof SharedArrayBuffer), 'sharedBatches false: own buffers');
  const isShared = shared.map((b) => b.images1.buffer instanceof SharedArrayBuffer && b.images2.buffer === b.images1.buffer);
  t.ok(isShared[0], 'the first batch (before any drop) is a shared buffer');
  t.ok(isShared[isShared.length - 1], 'shared again after the drops (re-aligned)');
});

t.test('no drops: every batch is a shared buffer, the last one partial', async (t) => {
  const batches = await collect(createPipeline({ ...base, open: fakeSource({ count: 30 }).open, batchSize: 8, workers: 2, sharedBatches: true }));
  t.same(batches.map((b) => b.size), [8, 8, 8, 6]);
  t.ok(batches.every((b) => b.images1.buffer instanceof SharedArrayBuffer));
  t.equal(batches[3]?.images1.length, 6 * 8 * 8 * 3);
  t.equal(batches[3]?.images2.length, 6 * 8 * 8 * 3);
});

t.test('sharedBatches is validated', async (t) => {
  t.throws(() => createPipeline({ ...base, open: fakeSource({ count: 1 }).open, sharedBatches: 1 as unknown as boolean }), /sharedBatches/);
});
