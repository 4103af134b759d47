import { join } from 'node:path';
import t from 'tap';
import { ShardWriter } from '../../datasets/writer/index.js';
import { createPipeline } from '../../pipeline/pipeline.js';
import { samplesInPipelineBound } from '../../pipeline/options.js';
import { AugmentPool } from '../../pipeline/pool.js';
import { packTask } from '../../pipeline/task.js';
import { fakeSource, STAND_IN_WORKER } from './helpers.js';

/** Busy-wait: a consumer that keeps the main thread, as a training step does. */
function spin(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // a synchronous "training step"
  }
}

function resourceCounts(): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const r of process.getActiveResourcesInfo()) counts[r] = (counts[r] ?? 0) + 1;
  return counts;
}

/** Resources alive now that were not alive (in that number) at `before`. */
function leftOver(before: Record<string, number>): Record<string, number> {
  const extra: Record<string, number> = {};
  for (const [name, n] of Object.entries(resourceCounts())) if (n > (before[name] ?? 0)) extra[name] = n - (before[name] ?? 0);
  return extra;
}

for (const release of [false, true]) {
  t.test(`a consumer 10x slower than the producer keeps every stage within its bound and RSS flat (${release ? 'releasing its batches: zero-copy, recycled' : 'never releasing: the copy path once the pool is used up'})`, async (t) => {
    const count = 3000;
    const batchSize = 32;
    const workers = 2;
    const spinMs = 0.25; // worker time per sample
    const producerMsPerBatch = (batchSize * spinMs) / workers;
    const src = fakeSource({ count, imageBytes: 256 });
    const p = createPipeline({
      open: src.open,
      workerFile: STAND_IN_WORKER,
      workerExtra: { spinMs },
      imageSize: 64, // 98 KB of views per sample: 290 MB if the stream were buffered
      contextLength: 16,
      batchSize,
      workers,
      tasksPerWorker: 2,
      samplesPerTask: 4,
      prefetch: 2,
    });
    const bound = samplesInPipelineBound(p.options);
    let maxAhead = 0;
    let rssAfterWarmup = 0;
    let maxRss = 0;
    let delivered = 0;
    for await (const batch of p) {
      delivered += batch.size;
      maxAhead = Math.max(maxAhead, src.read() - delivered);
      spin(10 * producerMsPerBatch);
      if (release) batch.release();
      const rss = process.memoryUsage.rss();
      if (batch.position.batchIndex === 10) rssAfterWarmup = rss;
      if (batch.position.batchIndex > 10) maxRss = Math.max(maxRss, rss);
    }
    const m = p.metrics();
    t.equal(delivered, count);
    t.ok(maxAhead <= bound, `read ahead of the consumer ${maxAhead} <= ${bound}`);
    t.ok(m.stages.samplesInPipeline.peak <= bound, `samples in the pipeline peak ${m.stages.samplesInPipeline.peak} <= ${bound}`);
    t.ok(m.stages.inFlightTasks.peak <= workers * 2, `tasks in flight peak ${m.stages.inFlightTasks.peak} <= ${workers * 2}`);
    const window = p.options.reorderWindow;
    t.ok(m.stages.reorderWaiting.peak < window, `re-order window peak ${m.stages.reorderWaiting.peak} < ${window}`);
    t.ok(m.stages.prefetched.peak <= Math.ceil(bound / batchSize), `prefetch ring peak ${m.stages.prefetched.peak}`);
    t.ok(m.stages.prefetched.peak >= 1, 'the ring filled: the consumer was the slow side');
    const growthMB = (maxRss - rssAfterWarmup) / 2 ** 20;
    t.ok(growthMB < 100, `RSS grew ${growthMB.toFixed(1)} MB over ${count} samples (flat)`);
    const pool = m.batchBuffers;
    t.ok(pool !== undefined && pool.pooled <= p.options.batchBuffers, `at most ${p.options.batchBuffers} pooled buffers: ${JSON.stringify(pool)}`);
    if (release) t.equal(pool?.copied, 0, 'a releasing consumer is never short of a buffer');
    else t.ok((pool?.copied ?? 0) > 0 && pool?.reused === 0, 'nothing released: the copy path took over');
  });
}

t.test('breaking out of the loop closes the shard files, the workers, the loader thread and every timer', async (t) => {
  const dir = t.testdir({});
  const writer = new ShardWriter({ pattern: join(dir, 's-%06d.tar'), maxCount: 100 });
  for (let i = 0; i < 300; i++) await writer.write({ __key__: `k${i}`, files: { jpg: Buffer.alloc(500, i), txt: `caption ${i}` } });
  await writer.close();
  for (const loaderThread of [false, true]) {
    const before = resourceCounts();
    const p = createPipeline({
      shards: join(dir, 's-{000000..000002}.tar'),
      workerFile: STAND_IN_WORKER,
      imageSize: 8,
      contextLength: 8,
      batchSize: 10,
      workers: 2,
      loaderThread,
    });
    let n = 0;
    for await (const batch of p) {
      n += batch.size;
      if (n >= 20) break;
    }
    t.equal(n, 20);
    t.equal(p.threadCount, 0, `no live worker threads (loaderThread ${loaderThread})`);
    await p.close(); // idempotent
    t.same(leftOver(before), {}, `no open files, ports or timers left (loaderThread ${loaderThread})`);
  }
});

t.test('an AbortSignal stops a waiting consumer with the abort reason and tears everything down', async (t) => {
  const before = resourceCounts();
  const ac = new AbortController();
  const src = fakeSource({ count: 100_000 });
  const p = createPipeline({ open: src.open, workerFile: STAND_IN_WORKER, imageSize: 8, contextLength: 8, batchSize: 16, workers: 2, signal: ac.signal });
  const it = p[Symbol.asyncIterator]();
  const first = await it.next();
  t.equal(first.done, false);
  const pending = it.next();
  ac.abort(new Error('stop now'));
  await t.rejects(pending, { message: 'stop now' });
  await p.close();
  t.equal(p.threadCount, 0);
  t.ok(src.read() < 1000, `reading stopped early (${src.read()} samples read)`);
  t.same(leftOver(before), {}, 'no open files, ports or timers left');
});

/** `Atomics.waitAsync` (Node >= 16; not in the ES2023 lib typings). */
const waitAsync = (Atomics as unknown as {
  waitAsync(array: Int32Array, index: number, value: number): { async: boolean; value: Promise<string> | string };
}).waitAsync;

t.test('after an abort of running tasks, close() resolves only once their threads have exited', async (t) => {
  // Each task marks that it started, then keeps its thread in native calls that terminate()
  // cannot interrupt (as a stuck decoder would): its thread exits only at the end of the
  // current call, so a close() that does not wait for the 'exit' leaves its ports behind.
  const dir = t.testdir({
    'blocking-worker.mjs': [
      "import { execFileSync } from 'node:child_process';",
      "import { workerData } from 'piscina';",
      'export function augment() {',
      '  const started = new Int32Array(workerData.extra.started);',
      '  Atomics.add(started, 0, 1);',
      '  Atomics.notify(started, 0);',
      "  for (;;) execFileSync('sleep', ['0.5']);",
      '}',
      '',
    ].join('\n'),
  });
  const started = new Int32Array(new SharedArrayBuffer(4));
  const before = resourceCounts();
  const pool = new AugmentPool({
    workers: 2,
    tasksPerWorker: 1,
    filename: join(dir, 'blocking-worker.mjs'),
    init: { imageSize: 8, contextLength: 8, extra: { started: started.buffer } },
  });
  const ac = new AbortController();
  const runs = [0, 1].map((seq) =>
    pool.run(packTask([{ sample: { __key__: `k${seq}`, __url__: 'mem://a.tar', files: { txt: Buffer.from('a caption') } }, epoch: 0, index: seq }], seq, 1), ac.signal),
  );
  for (let n = Atomics.load(started, 0); n < 2; n = Atomics.load(started, 0)) {
    const w = waitAsync(started, 0, n);
    if (w.async) await w.value;
  }
  ac.abort(new Error('stop now'));
  for (const run of runs) await t.rejects(run, { message: 'stop now' });
  await pool.close();
  t.equal(pool.threadCount, 0);
  t.same(leftOver(before), {}, 'the aborted threads have exited and their ports are closed');
});
