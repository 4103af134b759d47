/**
 * `declip train` on bad data (issue 11): missing shards end the command non-zero naming
 * the URL; `--on-shard-error skip` trains on what is there; `pipe:` shards of a config
 * file need `--allow-pipe-from-files`.
 */
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { runTrainCommand } from '../../cli/train.js';
import { ConfigError, ShardReadError } from '../../core/errors.js';
import { packageRoot } from '../../core/package-info.js';
import { convertToShards, syntheticSource } from '../../datasets/convert/index.js';
import { MICRO_MODEL } from './micro-model.js';

const dir = t.testdir();
await convertToShards(syntheticSource({ count: 32, seed: 4, imageSize: 16 }), { pattern: join(dir, 'data', 'good-%06d.tar'), maxCount: 16 });
const good = join(dir, 'data', 'good-{000000..000001}.tar');
const typo = join(dir, 'data', 'typo-000007.tar');
const micro = {
  model: MICRO_MODEL,
  loss: { queueSize: 16 },
  batch: 4,
  steps: 2,
  optimizer: { lr: 1e-3, clipGradNorm: 1 },
  data: { workers: 1, shuffleBuffer: 8, prefetch: 1, augment: 'light' },
  compute: { threads: 1 },
};
const configFile = join(dir, 'micro.json');
await writeFile(configFile, JSON.stringify(micro));

t.test('missing shards: the command exits non-zero naming the shard', async (t) => {
  const proc = spawn(process.execPath, ['--import=tsx', join(packageRoot(), 'cli', 'bin.ts'), 'train', '--config', configFile, '--shards', join(dir, 'nothere-{000000..000001}.tar'), '--steps', '3', '--out', join(dir, 'missing'), '--backend', 'cpu'], {
    cwd: packageRoot(),
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  proc.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  const code = await new Promise<number | null>((resolve) => proc.on('exit', (c) => resolve(c)));
  t.not(code, 0, 'non-zero exit');
  t.match(stderr, /cannot open the file \(ENOENT\) \(shard .*nothere-000000\.tar\)/);
});

t.test('a typo in a :: list stops the run naming it; --on-shard-error skip trains on the rest', async (t) => {
  const err = await runTrainCommand({ config: configFile, shards: `${good}::${typo}`, out: join(dir, 'typo'), backend: 'cpu' }).catch((e: unknown) => e);
  t.ok(err instanceof ShardReadError);
  t.match(err, { reason: 'open-failed', url: typo });
  const code = await runTrainCommand({ config: configFile, shards: `${good}::${typo}`, out: join(dir, 'skip'), backend: 'cpu', onShardError: 'skip' });
  t.equal(code, 0);
});

t.test('pipe: shards from a config file need --allow-pipe-from-files', async (t) => {
  const file = join(dir, 'piped.json');
  await writeFile(file, JSON.stringify({ ...micro, data: { ...micro.data, shards: [`pipe:cat '${join(dir, 'data', 'good-000000.tar')}'`] } }));
  const err = await runTrainCommand({ config: file, out: join(dir, 'piped'), backend: 'cpu' }).catch((e: unknown) => e);
  t.ok(err instanceof ConfigError);
  t.match(err, { path: 'data.shards[0]', file, message: /is a pipe: command .*--allow-pipe-from-files/ });
  t.equal(await runTrainCommand({ config: file, out: join(dir, 'piped'), backend: 'cpu', allowPipeFromFiles: true }), 0, 'allowed: it trains');
  t.equal(await runTrainCommand({ config: file, shards: `pipe:cat '${join(dir, 'data', 'good-000001.tar')}'`, out: join(dir, 'typed'), backend: 'cpu' }), 0, 'typed on the command line: allowed');
});
