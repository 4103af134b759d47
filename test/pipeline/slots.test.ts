/**
 * Zero-copy batches (pipeline/slots.ts): rows of shared batch buffers in dispatch order,
 * re-alignment after dropped samples, the batches being the same whether they are
 * shared buffers or copies, and the buffer pool: released buffers are reused (with the
 * next batch's data intact), a consumer that never releases still gets every batch, and
 * a releasing consumer never makes the pipeline use more than its pooled buffers.
 */
import t from 'tap';
import { BatchSlots, sharedBatchImages, type SlotStats, type SlotTarget } from '../../pipeline/slots.js';
import { createPipeline, type DeclipPipeline } from '../../pipeline/pipeline.js';
import type { DeclipBatch } from '../../pipeline/types.js';
import { batchFingerprint, fakeSource, STAND_IN_WORKER } from './helpers.js';

const base = { workerFile: STAND_IN_WORKER, imageSize: 8, contextLength: 8 } as const;

/** The next row; the pool is expected to have a buffer for it. */
function row(slots: BatchSlots): SlotTarget {
  const r = slots.next();
  if (r === null) throw new Error('no pooled buffer');
  return r;
}

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
  const a = [row(slots), row(slots), row(slots), row(slots)];
  t.same(a.map((s) => [s.view1, s.view2]), [[0, 12], [3, 15], [6, 18], [9, 21]]);
  t.ok(a.every((s) => s.buffer === a[0]?.buffer));
  t.equal(a[0]?.buffer.byteLength, 2 * 4 * 3 * 4);
  slots.dropped(); // one of the first four is bad: sample 4 is delivered 4th (row 3 of batch 0)
  const b = row(slots);
  t.not(b.buffer, a[0]?.buffer, 'a new buffer');
  t.equal(b.view1, 3 * 3, 'row 3: where its batch expects it');
  const c = row(slots);
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
        batchBuffers: 64, // this consumer keeps every batch: enough buffers that none falls back to a copy for want of one
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

/** Every batch fingerprinted on arrival (before it is released), and its image buffer. */
interface Consumed {
  prints: unknown[];
  buffers: ArrayBufferLike[];
  pool: SlotStats | undefined;
}

async function consume(p: DeclipPipeline, release: boolean): Promise<Consumed> {
  const prints: unknown[] = [];
  const buffers: ArrayBufferLike[] = [];
  let pool: SlotStats | undefined;
  try {
    for await (const b of p) {
      prints.push(batchFingerprint(b));
      buffers.push(b.images1.buffer);
      if (release) {
        b.release();
        b.release(); // idempotent
      }
    }
    pool = p.metrics().batchBuffers;
  } finally {
    await p.close();
  }
  return { prints, buffers, pool };
}

t.test('BatchSlots recycles a buffer once all its rows are done and the allocator has moved on', async (t) => {
  const slots = new BatchSlots(2, 3, 2);
  const a = [row(slots), row(slots)];
  const b = row(slots);
  t.not(b.buffer, a[0]?.buffer);
  slots.finish(b.buffer, 1);
  t.equal(slots.stats().free, 0, 'the buffer being filled is never free');
  slots.finish(a[0]?.buffer as SharedArrayBuffer, 1);
  t.equal(slots.stats().free, 0, 'one row of the first buffer is still out');
  slots.dropped(a[1]?.buffer);
  t.same(slots.stats(), { pooled: 2, free: 1, reused: 0, copied: 0 }, 'all rows done: free');
  row(slots); // second row of b
  const c = row(slots);
  t.equal(c.buffer, a[0]?.buffer, 'the freed buffer is taken again');
  t.equal(c.view1, 3, 'at row 1: re-aligned after the drop');
  t.same(slots.stats(), { pooled: 2, free: 0, reused: 1, copied: 0 });
});

t.test('BatchSlots: an exhausted pool sends rows through the copy path until a buffer is free', async (t) => {
  const slots = new BatchSlots(1, 3, 2);
  const got = Array.from({ length: 6 }, () => slots.next());
  t.equal(new Set(got.slice(0, 2).map((r) => r?.buffer)).size, 2, 'the pool\'s two buffers');
  t.same(got.slice(2), [null, null, null, null], 'then no buffer: the copy path');
  t.same(slots.stats(), { pooled: 2, free: 0, reused: 0, copied: 4 });
  slots.finish(got[0]?.buffer as SharedArrayBuffer, 1);
  t.same(slots.stats(), { pooled: 2, free: 1, reused: 0, copied: 4 });
  t.equal(slots.next()?.buffer, got[0]?.buffer, 'the released buffer comes back');
  t.throws(() => new BatchSlots(1, 3, -1), RangeError);
  // a task straddling the end of the pool goes whole through the copy path
  const group = new BatchSlots(2, 3, 1);
  const first = group.nextGroup(1);
  t.equal(first?.length, 1);
  t.equal(group.nextGroup(2), undefined, 'its second row has no buffer: no targets at all');
  t.same(group.stats(), { pooled: 1, free: 0, reused: 0, copied: 1 }, 'the straddling row was given back, the first is still out');
  group.finish(first?.[0]?.buffer as SharedArrayBuffer, 1);
  t.equal(group.stats().free, 1);
});

t.test('a releasing consumer: buffers are reused, every batch is right, at most batchBuffers buffers', async (t) => {
  const run = (sharedBatches: boolean, release: boolean): Promise<Consumed> =>
    consume(
      // 5 = the 4 batches' worth of samples the credit bound allows in the pipeline + the batch the consumer holds
      createPipeline({ ...base, open: fakeSource({ count: 100 }).open, epochs: 3, batchSize: 8, samplesPerTask: 2, workers: 2, seed: 9, sharedBatches, batchBuffers: 5 }),
      release,
    );
  const copied = await run(false, true);
  const shared = await run(true, true);
  t.equal(shared.prints.length, Math.ceil(300 / 8));
  t.same(shared.prints, copied.prints, 'each batch (read before its release) is the copied path\'s, byte for byte');
  t.ok(shared.buffers.every((b) => b instanceof SharedArrayBuffer), 'every batch is zero-copy');
  const distinct = new Set(shared.buffers);
  t.ok(distinct.size <= 5, `${distinct.size} buffers over ${shared.buffers.length} batches: the pool's 5 at most`);
  const reusedAt = shared.buffers.findIndex((b, i) => shared.buffers.indexOf(b) < i);
  t.ok(reusedAt > 0, `batch ${reusedAt} was written into a buffer an earlier, released batch had`);
  t.equal(shared.pool?.copied, 0, 'never short of a buffer');
  t.ok((shared.pool?.pooled ?? 0) - (shared.pool?.free ?? 0) <= 1, `at the end every pooled buffer is back but the last one written: ${JSON.stringify(shared.pool)}`);
  t.ok((shared.pool?.reused ?? 0) >= shared.prints.length - 5);
});

t.test('a consumer that never releases gets every batch, right, copied into fresh arrays once the pool is used up', async (t) => {
  const open = fakeSource({ count: 120 }).open;
  const opts = { ...base, open, batchSize: 8, samplesPerTask: 2, workers: 2, seed: 4, batchBuffers: 3 } as const;
  const copied = await consume(createPipeline({ ...opts, sharedBatches: false }), false);
  const kept = await consume(createPipeline(opts), false);
  t.same(kept.prints, copied.prints);
  t.equal(kept.buffers.length, 15);
  t.ok(kept.buffers.slice(0, 3).every((b) => b instanceof SharedArrayBuffer), 'the first 3: the pool\'s buffers');
  t.equal(new Set(kept.buffers.slice(0, 3)).size, 3, 'none reused: nothing was handed back');
  t.notOk(kept.buffers.slice(3).some((b) => b instanceof SharedArrayBuffer), 'then copies in their own (garbage-collected) arrays');
  t.same(kept.pool, { pooled: 3, free: 0, reused: 0, copied: 12 });
  // Fingerprints taken after the run: no batch was overwritten by a later one.
  const held: DeclipBatch[] = [];
  const p = createPipeline(opts);
  for await (const b of p) held.push(b);
  await p.close();
  t.same(held.map(batchFingerprint), copied.prints);
});

t.test('releasing with dropped samples: copied batches give their rows back, the data stays right', async (t) => {
  const bad = { 3: 'corrupt', 17: 'no-image', 18: 'corrupt', 40: 'not-utf8' } as const;
  const run = (sharedBatches: boolean): Promise<Consumed> =>
    consume(
      createPipeline({ ...base, open: fakeSource({ count: 90, bad }).open, epochs: 2, batchSize: 8, samplesPerTask: 3, workers: 2, onError: 'skip', seed: 2, sharedBatches }),
      true,
    );
  const copied = await run(false);
  const shared = await run(true);
  t.same(shared.prints, copied.prints);
  t.ok((shared.pool?.reused ?? 0) > 0, 'buffers were reused');
  t.ok((shared.pool?.pooled ?? 0) - (shared.pool?.free ?? 0) <= 1, `no row lost track of: every pooled buffer but the last one written is back: ${JSON.stringify(shared.pool)}`);
  t.ok(shared.buffers.some((b) => !(b instanceof SharedArrayBuffer)), 'the batches just after a drop are copies');
});

t.test('sharedBatches is validated', async (t) => {
  t.throws(() => createPipeline({ ...base, open: fakeSource({ count: 1 }).open, sharedBatches: 1 as unknown as boolean }), /sharedBatches/);
  t.throws(() => createPipeline({ ...base, open: fakeSource({ count: 1 }).open, batchBuffers: -1 }), /batchBuffers/);
  const p = createPipeline({ ...base, open: fakeSource({ count: 1 }).open, workers: 2 });
  t.equal(p.options.sharedBatches, true, 'zero-copy by default');
  t.equal(p.options.batchBuffers, 2 + Math.ceil((8 * 4) / 64) + 2, 'default pool: prefetch + re-order window + 2');
  await p.close();
});
