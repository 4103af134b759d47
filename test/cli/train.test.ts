import t from 'tap';
import { spawn } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { packageRoot } from '../../core/package-info.js';
import { convertToShards, syntheticSource } from '../../datasets/convert/index.js';
import { readMetrics } from '../../trainer/log/metrics.js';
import { loadCheckpoint } from '../../trainer/checkpoint/checkpoint.js';
import { runTrainCommand } from '../../cli/train.js';
import { ConfigError } from '../../core/errors.js';
import { MICRO_MODEL } from './micro-model.js';

const dir = t.testdir();
await convertToShards(syntheticSource({ count: 96, seed: 3, imageSize: 32 }), { pattern: join(dir, 'data', 'train-%06d.tar'), maxCount: 48 });
const shards = join(dir, 'data', 'train-{000000..000001}.tar');
const configFile = join(dir, 'micro.json');
await writeFile(
  configFile,
  JSON.stringify({
    model: MICRO_MODEL,
    loss: { queueSize: 64 },
    batch: 8,
    steps: 6,
    optimizer: { lr: 1e-3, warmupSteps: 2, clipGradNorm: 1 },
    data: { workers: 1, shuffleBuffer: 32, prefetch: 2 },
    compute: { threads: 1 },
  }),
);

interface Child {
  code: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  kill(signal: NodeJS.Signals): void;
  stderr: string[];
}

/** Run `declip train` in a child process; `onLine` sees each stderr line (and may kill it). */
function declip(args: string[], onLine?: (line: string, child: Child) => void): Child {
  const proc = spawn(process.execPath, ['--import=tsx', join(packageRoot(), 'cli', 'bin.ts'), ...args], { cwd: packageRoot(), stdio: ['ignore', 'ignore', 'pipe'] });
  const child: Child = {
    code: new Promise((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal }))),
    kill: (signal) => void proc.kill(signal),
    stderr: [],
  };
  createInterface({ input: proc.stderr }).on('line', (line) => {
    child.stderr.push(line);
    onLine?.(line, child);
  });
  return child;
}

const trainArgs = (out: string, ...extra: string[]): string[] => ['train', '--config', configFile, '--shards', shards, '--out', out, '--backend', 'cpu', '--checkpoint-every', '2', ...extra];

const reference = join(dir, 'reference');
const refRun = declip(trainArgs(reference));
const killedOut = join(dir, 'killed');
const killed = declip(trainArgs(killedOut), (line, child) => {
  if (line.includes('checkpoints/step-000002')) child.kill('SIGKILL');
});
const termOut = join(dir, 'term');
let termSent = false;
// this run trains on 2 compute threads: the signal must also stop the worker threads
const termRun = declip(trainArgs(termOut, '--steps', '40', '--checkpoint-every', '0', '--threads', '2'), (line, child) => {
  if (!termSent && line.includes('checkpoints/step-000000')) {
    termSent = true;
    child.kill('SIGTERM');
  }
});

t.test('an uninterrupted run writes one metrics line per step with every term', async (t) => {
  const { code } = await refRun.code;
  t.equal(code, 0, refRun.stderr.join('\n'));
  const rows = await readMetrics(join(reference, 'metrics.jsonl'));
  t.same(rows.map((r) => r.step), [1, 2, 3, 4, 5, 6]);
  for (const r of rows) for (const k of ['loss', 'clip', 'nns', 'simsiam', 'mlm']) t.ok(Number.isFinite(r[k]), `${k} at step ${r.step}`);
  t.equal((await loadCheckpoint(reference)).state.step, 6);
});

t.test('a run killed with SIGKILL after a checkpoint and resumed reaches the same loss curve', async (t) => {
  await refRun.code;
  const out = killedOut;
  t.equal((await killed.code).signal, 'SIGKILL');
  const resumed = declip(trainArgs(out, '--resume'));
  t.equal((await resumed.code).code, 0, resumed.stderr.join('\n'));
  t.ok(resumed.stderr.some((l) => l.includes('tokenizer.json') && l.includes('reused')), 'the run tokenizer is reused');
  t.ok(resumed.stderr.some((l) => /resume: step [2-6] /.test(l)), resumed.stderr.join('\n'));
  t.equal(await readFile(join(out, 'tokenizer.json'), 'utf8'), await readFile(join(reference, 'tokenizer.json'), 'utf8'), 'tokenizer training is deterministic');
  const a = await readMetrics(join(reference, 'metrics.jsonl'));
  const b = await readMetrics(join(out, 'metrics.jsonl'));
  t.same(b.map((r) => r.step), [1, 2, 3, 4, 5, 6]);
  for (let i = 0; i < a.length; i++) {
    for (const k of ['loss', 'clip', 'nns', 'simsiam', 'mlm'] as const) {
      t.ok(Math.abs((a[i]?.[k] as number) - (b[i]?.[k] as number)) < 1e-4, `step ${i + 1} ${k}: ${a[i]?.[k]} vs ${b[i]?.[k]}`);
    }
  }
});

t.test('SIGTERM finishes the step, writes a checkpoint and exits 143', async (t) => {
  const out = termOut;
  const run = termRun;
  const { code } = await run.code;
  t.equal(code, 143, run.stderr.join('\n'));
  t.ok(run.stderr.some((l) => l.includes('compute: 2 worker threads')), 'trained on 2 compute threads');
  const ck = await loadCheckpoint(out);
  const rows = await readMetrics(join(out, 'metrics.jsonl'));
  t.equal(ck.state.step, rows.at(-1)?.step ?? 0, 'the checkpoint holds the last step logged');
  t.ok(ck.state.step < 40);
  t.ok(run.stderr.some((l) => l.includes('resume with --resume')));
});

t.test('bad flags and configs fail with a message naming the field', async (t) => {
  await t.rejects(runTrainCommand({ config: configFile, shards, steps: 'many', out: join(dir, 'bad') }), /Expected integer of at least 1 for --steps but received NaN/);
  const badFile = join(dir, 'bad.json');
  await writeFile(badFile, JSON.stringify({ optimizer: { lr: 'fast' } }));
  const err = await runTrainCommand({ config: badFile, shards, out: join(dir, 'bad2') }).catch((e: unknown) => e);
  t.ok(err instanceof ConfigError);
  t.match(String((err as Error).message), /Invalid config .*bad\.json: optimizer\.lr/);
  await t.rejects(runTrainCommand({ config: 'tiny', out: join(dir, 'bad3') }), /Expected shard URLs for --shards/);
  await t.rejects(runTrainCommand({ config: configFile, shards, threads: 'two', out: join(dir, 'bad4') }), /Expected integer between 1 and 256 for --threads but received NaN/);
});
