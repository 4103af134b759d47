import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import t from 'tap';
import { Rng } from '../../core/rng.js';
import { ShardWriter } from '../../datasets/writer/index.js';

const BIN = fileURLToPath(new URL('../../cli/bin.ts', import.meta.url));

function run(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import=tsx', BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

t.test('bench pipeline over a shard of bad samples: skip counts them, throw names the first, RSS stays low', async (t) => {
  const dir = t.testdir({});
  const rng = new Rng(9);
  const raw = Buffer.alloc(64 * 48 * 3);
  for (let i = 0; i < raw.length; i++) raw[i] = rng.int(256);
  const good = await sharp(raw, { raw: { width: 64, height: 48, channels: 3 } }).jpeg().toBuffer();
  // 7000 x 6000 = 42 megapixels, over the decoder's 40 MP limit, a few hundred KB as PNG
  const bomb = await sharp({ create: { width: 7000, height: 6000, channels: 3, background: { r: 9, g: 9, b: 9 } } }).png().toBuffer();
  const writer = new ShardWriter({ pattern: join(dir, 'bad-%06d.tar') });
  const kinds = ['good', 'corrupt', 'truncated', 'empty', 'bomb', 'not-utf8', 'no-image', 'no-caption'] as const;
  for (let i = 0; i < 96; i++) {
    const kind = kinds[i % kinds.length] ?? 'good';
    const txt = `a photo of thing number ${i} on a table`;
    const files: Record<string, Buffer | string> = {
      good: { jpg: good, txt },
      corrupt: { jpg: Buffer.from('garbage bytes, not an image'), txt },
      truncated: { jpg: good.subarray(0, good.length >> 1), txt },
      empty: { jpg: Buffer.alloc(0), txt },
      bomb: { png: bomb, txt },
      'not-utf8': { jpg: good, txt: Buffer.from([0x61, 0xff, 0xfe, 0x62]) },
      'no-image': { txt },
      'no-caption': { jpg: good },
    }[kind];
    await writer.write({ __key__: `b${String(i).padStart(4, '0')}`, files });
  }
  await writer.close();
  const shards = join(dir, 'bad-000000.tar');

  const skip = await run(['bench', 'pipeline', '--shards', shards, '--workers', '2', '--batch', '8', '--size', '32', '--on-error', 'skip', '--vocab-size', '300', '--json']);
  t.equal(skip.code, 0, skip.stderr);
  const result = JSON.parse(skip.stdout.trim().split('\n').at(-1) ?? '{}') as {
    samples: number;
    samplesPerSecond: number;
    skipped: Record<string, number>;
    peakRssMB: number;
  };
  t.equal(result.samples, 12, 'the 12 good samples are delivered');
  t.equal(Object.values(result.skipped).reduce((a, b) => a + b, 0), 84, `84 bad samples counted: ${JSON.stringify(result.skipped)}`);
  t.equal(result.skipped['too-many-pixels'], 12);
  t.equal(result.skipped['caption-not-utf8'], 12);
  t.equal(result.skipped['missing-image'], 12);
  t.equal(result.skipped['missing-caption'], 12);
  t.ok(result.peakRssMB < 1536, `peak RSS ${result.peakRssMB} MB < 1.5 GB`);

  const scaled = await run(['bench', 'pipeline', '--shards', shards, '--workers', '2', '--batch', '4', '--size', '32', '--on-error', 'skip', '--vocab-size', '300', '--scaling', '--json']);
  t.equal(scaled.code, 0, scaled.stderr);
  const s = JSON.parse(scaled.stdout.trim().split('\n').at(-1) ?? '{}') as Record<string, unknown> & { scaling: { workers: number[]; samplesPerSecond: number[]; speedup: number } };
  t.equal(s['samples'], 12);
  t.equal(typeof s['firstBatchSeconds'], 'number', 'firstBatchSeconds kept');
  t.equal(s['sharedBatches'], true, 'zero-copy by default');
  t.equal(s['released'], true);
  t.match(s['batchBufferStats'], { pooled: Number, free: Number, reused: Number, copied: 0 }, 'a releasing consumer never falls back to copies');
  t.same(s.scaling.workers, [1, 2]);
  t.equal(s.scaling.samplesPerSecond[1], s['samplesPerSecond'], 'the 2-worker side is the main run');
  t.ok((s.scaling.samplesPerSecond[0] ?? 0) > 0);
  const ratio = (s.scaling.samplesPerSecond[1] ?? 0) / (s.scaling.samplesPerSecond[0] ?? 1);
  t.ok(Math.abs(s.scaling.speedup - ratio) < 0.01 * ratio, `speedup ${s.scaling.speedup} is N workers over 1 (${ratio.toFixed(3)} from the rounded rates)`);
  const kept = await run(['bench', 'pipeline', '--shards', shards, '--workers', '2', '--batch', '4', '--size', '32', '--on-error', 'skip', '--vocab-size', '300', '--no-release', '--no-shared-batches', '--json']);
  t.equal(kept.code, 0, kept.stderr);
  const k = JSON.parse(kept.stdout.trim().split('\n').at(-1) ?? '{}') as Record<string, unknown>;
  t.same([k['samples'], k['released'], k['sharedBatches'], 'scaling' in k], [12, false, false, false]);

  const thrown = await run(['bench', 'pipeline', '--shards', shards, '--workers', '1', '--batch', '8', '--size', '32', '--shuffle', '0', '--vocab-size', '300', '--json']);
  t.not(thrown.code, 0);
  t.match(thrown.stderr, /sample b0001/);
  t.match(thrown.stderr, /bad-000000\.tar/);
});
