/**
 * Fault injection for the augmentation workers (issue 11): a worker that calls
 * process.exit, one that hangs, one that dies of an uncaught exception, one that crashes
 * once. Each ends in a counted bad sample or a clear typed error, within a bounded time,
 * and the pool is left with no thread after close().
 */
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import t from 'tap';
import { SampleError, ShardReadError } from '../../core/errors.js';
import type { Sample } from '../../datasets/sample.js';
import type { OpenEpoch } from '../../pipeline/operators/source.js';
import { createPipeline } from '../../pipeline/pipeline.js';

const FAULTY_WORKER = fileURLToPath(new URL('./fixtures/faulty-worker.ts', import.meta.url));
const base = { workerFile: FAULTY_WORKER, imageSize: 8, contextLength: 16, workers: 2, samplesPerTask: 4, batchSize: 4 } as const;

/** 12 samples; sample `at` has caption `caption`, the others ordinary ones. */
function source(at: number, caption: string): OpenEpoch {
  return () =>
    (async function* (): AsyncGenerator<Sample> {
      for (let i = 0; i < 12; i++) {
        const key = `s${String(i).padStart(6, '0')}`;
        yield { __key__: key, __url__: 'mem://faults.tar', files: { jpg: Buffer.alloc(32, i), txt: Buffer.from(i === at ? caption : `caption ${i}`) } };
      }
    })();
}

async function run(open: OpenEpoch, extra: Record<string, unknown>): Promise<{ keys: string[]; warnings: string[]; error: unknown; skipped: Record<string, number>; threads: number; ms: number }> {
  const warnings: string[] = [];
  const started = Date.now();
  const p = createPipeline({ ...base, open, onWarn: (e) => warnings.push(e.message), ...extra });
  const keys: string[] = [];
  let error: unknown;
  try {
    for await (const b of p) keys.push(...b.keys);
  } catch (err) {
    error = err;
  } finally {
    await p.close();
  }
  return { keys, warnings, error, skipped: { ...p.metrics().skipped }, threads: p.threadCount, ms: Date.now() - started };
}

t.test('a worker that calls process.exit: the thread is replaced, the task retried sample by sample, the culprit is a bad sample', async (t) => {
  const r = await run(source(5, 'exit'), { onError: 'warn' });
  t.equal(r.error, undefined);
  t.equal(r.keys.length, 11, 'every other sample was delivered');
  t.notOk(r.keys.includes('s000005'));
  t.same(r.skipped, { 'worker-crashed': 1 });
  t.match(r.warnings.join('\n'), /crashed its worker thread: worker exited with code: 3/);
  t.match(r.warnings.join('\n'), /sample crashed its worker thread twice \(shard mem:\/\/faults\.tar, sample s000005\)/);
  t.equal(r.threads, 0, 'no thread left after close');

  const thrown = await run(source(5, 'exit'), { onError: 'throw' });
  t.ok(thrown.error instanceof SampleError, 'under throw: a typed sample error');
  t.match(thrown.error, { reason: 'worker-crashed', key: 's000005' });
});

t.test('a worker that crashes once: the retry delivers every sample', async (t) => {
  const marker = join(t.testdir(), 'crashed');
  const r = await run(source(2, `exit-once:${marker}`), { onError: 'warn' });
  t.equal(r.error, undefined);
  t.equal(r.keys.length, 12);
  t.same(r.skipped, {});
  t.match(r.warnings, [/crashed its worker thread: worker exited with code: 4/]);
});

t.test('a worker that hangs is terminated after taskTimeoutMs; the sample is bad after its second timeout', async (t) => {
  // A thread's start-up (seconds under tsx on a loaded machine) can count against the task
  // that waits for it: 10 s leaves room for that (the default is 60 s).
  const r = await run(source(7, 'hang'), { onError: 'warn', taskTimeoutMs: 10_000 });
  t.equal(r.error, undefined);
  t.equal(r.keys.length, 11);
  t.same(r.skipped, { 'task-timeout': 1 });
  t.match(r.warnings.join('\n'), /ran longer than 10000 ms: its worker thread was terminated/);
  t.ok(r.ms < 120_000, `bounded time (${r.ms} ms)`);
  t.equal(r.threads, 0);
});

t.test('a worker that dies of an uncaught exception counts as a crash', async (t) => {
  const r = await run(source(0, 'uncaught'), { onError: 'skip' });
  t.equal(r.error, undefined);
  t.equal(r.keys.length, 11);
  t.same(r.skipped, { 'worker-crashed': 1 });
  t.same(r.warnings, [], 'skip is silent');
});

t.test('a worker that throws (not a crash) fails the pipeline at once with a WorkerError', async (t) => {
  const r = await run(source(0, 'x'), { workerFile: undefined, tokenizerFile: undefined, onError: 'skip' });
  t.match(r.error, { name: 'WorkerError', message: /needs tokenizerFile/ });
});

t.test('an epoch without a sample is an error, also for a custom source', async (t) => {
  const empty: OpenEpoch = () => (async function* (): AsyncGenerator<Sample> {})();
  const r = await run(empty, { epochs: Infinity });
  t.ok(r.error instanceof ShardReadError);
  t.match(r.error, { reason: 'no-samples', message: /epoch 0 gave no sample/ });
});

t.test('timeouts are validated with the house message', async (t) => {
  t.throws(() => createPipeline({ ...base, open: source(0, 'x'), taskTimeoutMs: 0 }), { name: 'InvalidOptionError', message: /taskTimeoutMs/ });
  t.throws(() => createPipeline({ ...base, open: source(0, 'x'), onShardError: 'ignore' as 'skip' }), { name: 'InvalidOptionError', message: /onShardError/ });
});
