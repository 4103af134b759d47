import * as fsp from 'node:fs/promises';
import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { ShardWriteError } from '../../core/errors.js';
import { ShardWriter } from '../../datasets/writer/index.js';
import { statsPathFor, type WriterFileHandle, type WriterFileSystem } from '../../datasets/writer/files.js';
import { parseShardPattern } from '../../datasets/writer/pattern.js';

const sample = (i: number): { __key__: string; files: { txt: string } } => ({ __key__: String(i).padStart(4, '0'), files: { txt: `caption ${i}` } });

async function writeAll(pattern: string, n: number, opts: Partial<ConstructorParameters<typeof ShardWriter>[0]> = {}): Promise<void> {
  const w = new ShardWriter({ pattern, maxCount: 2, ...opts });
  try {
    for (let i = 0; i < n; i++) await w.write(sample(i));
    await w.close();
  } catch (err) {
    await w.abort(err);
    throw err;
  }
}

t.test('pattern.numberOf reads back only names the pattern would write', async (t) => {
  const p = parseShardPattern('d/cc-%06d.tar');
  t.equal(p.numberOf('cc-000012.tar'), 12);
  t.equal(p.numberOf('cc-1234567.tar'), 1234567);
  t.equal(p.numberOf('cc-0000012.tar'), undefined, 'wrong padding');
  t.equal(p.numberOf('cc-000012_stats.json'), undefined);
  t.equal(p.numberOf('xcc-000012.tar'), undefined);
  t.equal(parseShardPattern('a.b-%d.tar').numberOf('a.b-7.tar'), 7);
  t.equal(parseShardPattern('a.b-%d.tar').numberOf('aXb-7.tar'), undefined, 'dots are literal');
  t.equal(statsPathFor('d/cc-000003.tar'), 'd/cc-000003_stats.json');
});

t.test("existing: 'refuse' names an existing shard or index before writing anything", async (t) => {
  const dir = t.testdir();
  const pattern = join(dir, 's-%06d.tar');
  await writeAll(pattern, 5);
  t.same((await readdir(dir)).sort(), ['s-000000.tar', 's-000001.tar', 's-000002.tar', 's.index.json']);
  const before = await fsp.readFile(join(dir, 's-000000.tar'));
  const err = await writeAll(pattern, 5, { existing: 'refuse' }).then(
    () => undefined,
    (e: unknown) => e,
  );
  t.type(err, ShardWriteError);
  t.equal((err as ShardWriteError).reason, 'exists');
  t.equal((err as ShardWriteError).url, join(dir, 's-000000.tar'));
  t.match((err as Error).message, /already exists \(and 2 more shard files of the same pattern\).*--overwrite.*--incremental/);
  t.same(await fsp.readFile(join(dir, 's-000000.tar')), before, 'untouched');
  t.same((await readdir(dir)).sort(), ['s-000000.tar', 's-000001.tar', 's-000002.tar', 's.index.json'], 'no temp file left');

  // Only the index left: still refused, naming the index.
  const dir2 = t.testdir();
  await writeFile(join(dir2, 'q.index.json'), '{}');
  await t.rejects(writeAll(join(dir2, 'q-%06d.tar'), 1, { existing: 'refuse' }), { name: 'ShardWriteError', reason: 'exists', url: join(dir2, 'q.index.json') });
  // Even when nothing is written (close() alone checks too).
  await t.rejects(new ShardWriter({ pattern: join(dir2, 'q-%06d.tar'), existing: 'refuse' }).close(), { name: 'ShardWriteError', reason: 'exists' });
});

t.test('the check covers only the numbers this writer owns (ranks do not collide)', async (t) => {
  const dir = t.testdir();
  const pattern = join(dir, 'r-%06d.tar');
  // Rank 1 of 2 already wrote shard 1.
  await writeAll(pattern, 1, { firstNumber: 1, index: false, owns: (n) => n === 1 });
  // Rank 0 writes shard 0 (and would write 2, 4, ...): no collision.
  await writeAll(pattern, 1, { firstNumber: 0, index: false, existing: 'refuse', owns: (n) => n % 2 === 0 });
  t.same((await readdir(dir)).sort(), ['r-000000.tar', 'r-000001.tar']);
  // But rank 1 again, refusing: its shard 1 exists.
  await t.rejects(writeAll(pattern, 1, { firstNumber: 1, index: false, existing: 'refuse', owns: (n) => n % 2 === 1 }), {
    name: 'ShardWriteError',
    reason: 'exists',
    url: join(dir, 'r-000001.tar'),
  });
});

t.test("existing: 'overwrite' replaces shards and removes stale higher-numbered ones it owns", async (t) => {
  const dir = t.testdir();
  const pattern = join(dir, 'o-%06d.tar');
  await writeAll(pattern, 9); // 5 shards
  await writeFile(statsPathFor(join(dir, 'o-000004.tar')), '{}');
  await writeFile(join(dir, 'other-000009.tar'), 'not ours');
  await writeAll(pattern, 3, { existing: 'overwrite' }); // 2 shards
  t.same((await readdir(dir)).sort(), ['o-000000.tar', 'o-000001.tar', 'o.index.json', 'other-000009.tar']);
  // A rank removes only its own stale numbers.
  await writeAll(pattern, 9, { index: false });
  await writeAll(pattern, 1, { existing: 'overwrite', index: false, owns: (n) => n % 2 === 1, firstNumber: 1 });
  t.same((await readdir(dir)).sort(), ['o-000000.tar', 'o-000001.tar', 'o-000002.tar', 'o-000004.tar', 'o.index.json', 'other-000009.tar']);
});

/** The real file system, recording calls, failing writes after `failAfter` bytes with ENOSPC. */
function recordingFs(failAfter = Infinity): WriterFileSystem & { calls: string[] } {
  const calls: string[] = [];
  let written = 0;
  return {
    calls,
    async open(path, flags, mode) {
      const fh = await fsp.open(path, flags, mode);
      calls.push(`open ${flags} ${path}`);
      const handle: WriterFileHandle = {
        async write(data) {
          if (written + data.byteLength > failAfter) {
            const err = new Error('ENOSPC: no space left on device, write') as NodeJS.ErrnoException;
            err.code = 'ENOSPC';
            throw err;
          }
          written += data.byteLength;
          return await fh.write(data);
        },
        async sync() {
          calls.push(`sync ${path}`);
          await fh.sync();
        },
        async close() {
          await fh.close();
        },
      };
      return handle;
    },
    async rename(from, to) {
      calls.push(`rename ${to}`);
      await fsp.rename(from, to);
    },
    unlink: (p) => fsp.unlink(p),
    mkdir: (p, o) => fsp.mkdir(p, o),
  };
}

t.test('shards and the index are fsynced, then renamed, then their folder fsynced', async (t) => {
  const dir = t.testdir();
  const fs = recordingFs();
  await writeAll(join(dir, 'f-%06d.tar'), 1, { fs });
  const shard = join(dir, 'f-000000.tar');
  const index = join(dir, 'f.index.json');
  const calls = fs.calls.map((c) => c.replace(/\.[^/]*\.partial$/, '.partial'));
  const at = (c: string): number => calls.indexOf(c);
  t.ok(at(`rename ${shard}`) > calls.findIndex((c) => c.startsWith('sync ') && c.includes('f-000000.tar')), 'shard synced before rename');
  t.ok(calls.indexOf(`sync ${dir}`, at(`rename ${shard}`)) > at(`rename ${shard}`), 'folder synced after the shard rename');
  t.ok(at(`rename ${index}`) > calls.findIndex((c) => c.startsWith('sync ') && c.includes('f.index.json')), 'index synced before rename');
  t.ok(calls.indexOf(`sync ${dir}`, at(`rename ${index}`)) > at(`rename ${index}`), 'folder synced after the index rename');
});

t.test('disk full mid-shard: write-failed, no shard or temp file under any name, completed shards kept', async (t) => {
  const dir = t.testdir();
  // Shard 0 (2 samples) fits; the disk fills while shard 1 is written.
  const fs = recordingFs(2048 + 1024 + 1500);
  const err = await writeAll(join(dir, 'full-%06d.tar'), 5, { fs }).then(
    () => undefined,
    (e: unknown) => e,
  );
  t.type(err, ShardWriteError);
  t.equal((err as ShardWriteError).reason, 'write-failed');
  t.match((err as ShardWriteError).url, /full-00000[12]\.tar$/);
  t.match(String(((err as Error).cause as Error | undefined)?.message), /ENOSPC/);
  t.same((await readdir(dir)).sort(), ['full-000000.tar'], 'completed shard stays; no partial, no index');
});
