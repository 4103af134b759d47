import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import t from 'tap';
import { readSamples } from '../../datasets/reader/index.js';

const MiB = 1024 * 1024;

/**
 * Write a shard of `count` samples with one `size`-byte member each, in a separate
 * process (so that this process's memory is not inflated before the measurement).
 */
function writeBigShard(path: string, count: number, size: number): void {
  const script = [
    'import io, sys, tarfile',
    'path, count, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])',
    'with tarfile.open(path, "w", format=tarfile.GNU_FORMAT) as tf:',
    '    for i in range(count):',
    '        info = tarfile.TarInfo("k%06d.bin" % i)',
    '        info.size = size',
    '        tf.addfile(info, io.BytesIO(bytes([i % 256]) * size))',
  ].join('\n');
  execFileSync('python3', ['-c', script, path, String(count), String(size)]);
}

t.test('a shard of large members is read without the memory growing with the shard size', async (t) => {
  const dir = t.testdir();
  const memberSize = 4 * MiB;
  const count = 96; // a 384 MiB shard
  const url = join(dir, 'big.tar');
  writeBigShard(url, count, memberSize);
  const before = process.memoryUsage().rss;
  let peak = before;
  let n = 0;
  for await (const s of readSamples({ urls: url })) {
    const data = s.files['bin'];
    if (data?.length !== memberSize || data[0] !== n % 256 || data[memberSize - 1] !== n % 256) t.fail(`sample ${n} is wrong`);
    n++;
    peak = Math.max(peak, process.memoryUsage().rss);
  }
  t.equal(n, count);
  const growth = (peak - before) / MiB;
  t.comment(`RSS grew by ${growth.toFixed(1)} MiB while reading a ${(count * memberSize) / MiB} MiB shard`);
  // Garbage members wait for the GC, so some growth is expected; holding the shard would be >= 384 MiB.
  const bound = (count * memberSize) / MiB / 2;
  t.ok(growth < bound, `RSS growth ${growth.toFixed(1)} MiB stays below half the shard size (${bound} MiB)`);
});
