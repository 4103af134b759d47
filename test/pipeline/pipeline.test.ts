import t from 'tap';
import { InvalidOptionError, SampleError } from '../../core/errors.js';
import { createPipeline, describePipeline } from '../../pipeline/pipeline.js';
import { resolvePipelineOptions, samplesInPipelineBound } from '../../pipeline/options.js';
import type { DeclipBatch } from '../../pipeline/types.js';
import { batchFingerprint, fakeSource, STAND_IN_WORKER } from './helpers.js';

const base = { workerFile: STAND_IN_WORKER, imageSize: 8, contextLength: 16 } as const;

async function collect(p: AsyncIterable<DeclipBatch>): Promise<DeclipBatch[]> {
  const out: DeclipBatch[] = [];
  for await (const b of p) out.push(b);
  return out;
}

t.test('delivers every sample once, in source order, in batches of batchSize (last one partial)', async (t) => {
  const src = fakeSource({ count: 103 });
  const p = createPipeline({ ...base, open: src.open, batchSize: 10, workers: 2, samplesPerTask: 3 });
  const batches = await collect(p);
  t.same(batches.map((b) => b.size), [10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 3]);
  const keys = batches.flatMap((b) => b.keys);
  t.same(keys, Array.from({ length: 103 }, (_, i) => `s${String(i).padStart(6, '0')}`));
  t.same(batches.map((b) => b.position.samplesBefore), [0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100]);
  t.same(batches.map((b) => b.position.batchIndex), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  const b0 = batches[0] as DeclipBatch;
  t.equal(b0.images1.length, 10 * 8 * 8 * 3);
  t.equal(b0.tokens.length, 10 * 16);
  t.same(Array.from(b0.labels.subarray(0, 4)), [0, -1, -1, 3], 'label from cls, -1 without one');
  t.equal(b0.tokens[0], 1);
  t.equal(p.metrics().samplesDelivered, 103);
  t.equal(p.metrics().samplesRead, 103);
  t.equal(p.threadCount, 0, 'workers are gone once the stream ended');
  await p.close();
});

t.test('the same batches byte for byte with 1 or 2 workers and any task grouping', async (t) => {
  const run = async (workers: number, samplesPerTask: number, tasksPerWorker: number): Promise<unknown[]> => {
    const src = fakeSource({ count: 75, imageBytes: 200 });
    const p = createPipeline({ ...base, open: src.open, batchSize: 16, workers, samplesPerTask, tasksPerWorker, seed: 42, epochs: 2 });
    return (await collect(p)).map(batchFingerprint);
  };
  const one = await run(1, 1, 1);
  const two = await run(2, 5, 3);
  t.equal(one.length, Math.ceil(150 / 16));
  t.same(two, one);
  const other = await (async () => {
    const src = fakeSource({ count: 75, imageBytes: 200 });
    const p = createPipeline({ ...base, open: src.open, batchSize: 16, workers: 1, seed: 43, epochs: 2 });
    return (await collect(p)).map(batchFingerprint);
  })();
  t.notSame(other[0], one[0], 'another seed gives other views');
});

t.test('batches across epochs carry their epoch and a resume point that replays the rest exactly', async (t) => {
  const full = await collect(createPipeline({ ...base, open: fakeSource({ count: 50 }).open, batchSize: 8, epochs: 2, workers: 2 }));
  t.same(full.map((b) => b.position.epoch).slice(0, 7), [0, 0, 0, 0, 0, 0, 0]);
  const cut = full[8] as DeclipBatch; // spans epochs 1 onwards
  const src = fakeSource({ count: 50 });
  const rp = createPipeline({
      ...base,
      open: src.open,
      batchSize: 8,
      epochs: 2 - cut.position.resumeFrom.epoch,
      startEpoch: cut.position.resumeFrom.epoch,
      skipSamples: cut.position.resumeFrom.skipSamples,
      workers: 1,
    });
  const resumed = await collect(rp);
  const strip = (b: DeclipBatch): unknown => ({ ...(batchFingerprint(b) as object), position: b.position.resumeFrom });
  t.same(resumed.map(strip), full.slice(9).map(strip), 'same keys, views and tokens after the resume point');
  const { epoch, skipSamples } = cut.position.resumeFrom;
  t.equal(src.read(), 50 * (2 - epoch), 'the source is read from the start of the epoch');
  t.equal(rp.metrics().samplesRead, 50 * (2 - epoch) - skipSamples, 'skipped samples are not augmented');
});

t.test('bad samples: throw names the key and shard; skip and warn count by reason', async (t) => {
  const bad = { 5: 'no-image', 9: 'no-caption', 12: 'not-utf8', 20: 'corrupt', 21: 'corrupt' } as const;
  const thrown = createPipeline({ ...base, open: fakeSource({ count: 40, bad }).open, batchSize: 4, workers: 2 });
  const err = await collect(thrown).then(
    () => undefined,
    (e: unknown) => e,
  );
  t.type(err, SampleError);
  t.match((err as SampleError).message, /shard mem:\/\/shard-0\.tar, sample s000005/);
  t.equal((err as SampleError).reason, 'missing-image');
  t.equal((err as SampleError).key, 's000005');
  t.equal(thrown.threadCount, 0);

  const skipped = createPipeline({ ...base, open: fakeSource({ count: 40, bad }).open, batchSize: 4, workers: 2, onError: 'skip' });
  const batches = await collect(skipped);
  t.equal(batches.reduce((n, b) => n + b.size, 0), 35);
  t.notOk(batches.some((b) => b.keys.includes('s000012')));
  t.same(skipped.metrics().skipped, { 'caption-not-utf8': 1, 'corrupt-image': 2, 'missing-caption': 1, 'missing-image': 1 });

  const warnings: string[] = [];
  const warned = createPipeline({
    ...base,
    open: fakeSource({ count: 40, bad }).open,
    batchSize: 4,
    workers: 1,
    onError: 'warn',
    onWarn: (e) => warnings.push(e.message),
  });
  t.equal((await collect(warned)).reduce((n, b) => n + b.size, 0), 35);
  t.equal(warnings.length, 5);
  t.match(warnings[0], /s000005/);
});

t.test('options are validated with the house message', async (t) => {
  t.throws(() => resolvePipelineOptions({ ...base, open: fakeSource({ count: 1 }).open, batchSize: 0 }), {
    message: 'Expected integer between 1 and 65536 for batchSize but received 0 of type number',
  });
  t.throws(() => resolvePipelineOptions({ workerFile: STAND_IN_WORKER }), InvalidOptionError);
  t.throws(() => resolvePipelineOptions({ ...base, open: fakeSource({ count: 1 }).open, onError: 'ignore' as 'skip' }), {
    message: 'Expected one of throw, warn, skip for onError but received "ignore" of type string',
  });
  const o = resolvePipelineOptions({ shards: 'a-{0..3}.tar', workers: 2, batchSize: 64, prefetch: 4, shuffleBuffer: 1000 });
  t.equal(describePipeline(o), 'shards(a-{0..3}.tar) -> untar -> shuffle(1000) -> augment[2 workers x 2 tasks x 4 samples] -> reorder(8) -> batch(64) -> prefetch(4)');
  t.equal(samplesInPipelineBound(o), 4 * 64 + 8 * 4);
});
