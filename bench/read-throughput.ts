/**
 * Shard reading throughput: the declip reader (readSamples, every member read into a
 * Buffer) against `tar -xOf FILE > /dev/null` and Python's `tarfile` reading every member
 * of the same files, side by side in one run. MB/s counts member payload bytes (what a
 * training pipeline consumes); samples/s counts WebDataset samples.
 *
 * Usage:
 *   npx tsx bench/read-throughput.ts [--dir DIR] [--samples 2000] [--per-shard 500] [--rounds 3] [--gzip] [--json]
 *   npx tsx bench/read-throughput.ts --tiny 20000   # one shard of tiny members: per-member overhead
 *
 * Without --dir, shards of real JPEG photos are made first with
 * ../shared/bench/make_photo_shards.py (needs /usr/bin/python3 with PIL) in a temporary
 * folder. Each tool reads all shards --rounds times; the best round is reported. The page
 * cache is warm after the first round, so this measures parsing, not the disk. Numbers
 * from a busy machine are only indicative.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createWriteStream, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { parseArgs } from 'node:util';
import { gzipSync } from 'node:zlib';
import { pack as tarPack } from 'tar-stream';
import { packageRoot } from '../core/package-info.js';
import { readSamples } from '../datasets/reader/index.js';

interface Round {
  readonly samples: number;
  readonly bytes: number;
  readonly seconds: number;
}

interface Row {
  readonly tool: string;
  readonly best: Round;
}

const { values } = parseArgs({
  options: {
    dir: { type: 'string' },
    samples: { type: 'string', default: '2000' },
    'per-shard': { type: 'string', default: '500' },
    rounds: { type: 'string', default: '3' },
    gzip: { type: 'boolean', default: false },
    tiny: { type: 'string' },
    json: { type: 'boolean', default: false },
  },
});

const PYTHON = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
const rounds = Math.max(1, Number(values.rounds));

/** One shard of `n` samples with a 300-byte `bin` and a 20-byte `txt` member each. */
async function makeTinyShard(dir: string, n: number): Promise<void> {
  const p = tarPack();
  const done = pipeline(p, createWriteStream(join(dir, 'tiny-000000.tar')));
  for (let i = 0; i < n; i++) {
    const key = String(i).padStart(8, '0');
    for (const [ext, size] of [
      ['bin', 300],
      ['txt', 20],
    ] as const) {
      await new Promise<void>((ok, fail) =>
        p.entry({ name: `${key}.${ext}`, mtime: new Date(0) }, Buffer.alloc(size, i % 256), (err) => (err ? fail(err) : ok())),
      );
    }
  }
  p.finalize();
  await done;
}

async function makeShards(): Promise<{ dir: string; temporary: boolean }> {
  if (values.dir !== undefined) return { dir: resolve(values.dir), temporary: false };
  const dir = mkdtempSync(join(tmpdir(), 'declip-read-bench-'));
  if (values.tiny !== undefined) {
    await makeTinyShard(dir, Number(values.tiny));
    return { dir, temporary: true };
  }
  const script = resolve(packageRoot(), '..', 'shared', 'bench', 'make_photo_shards.py');
  const out = execFileSync(PYTHON, [script, dir, String(values.samples), String(values['per-shard']), '0'], { encoding: 'utf8' });
  process.stderr.write(out);
  return { dir, temporary: true };
}

function listShards(dir: string): string[] {
  const names = readdirSync(dir).filter((n) => /\.(tar|tar\.gz|tgz)$/.test(n)).sort();
  if (names.length === 0) throw new Error(`no .tar shards in ${dir}`);
  return names.map((n) => join(dir, n));
}

async function declipRound(files: readonly string[]): Promise<Round> {
  const start = process.hrtime.bigint();
  let samples = 0;
  let bytes = 0;
  for await (const s of readSamples({ urls: files })) {
    samples++;
    for (const ext in s.files) bytes += (s.files[ext] as Buffer).length;
  }
  return { samples, bytes, seconds: Number(process.hrtime.bigint() - start) / 1e9 };
}

function tarRound(files: readonly string[], samples: number, bytes: number): Round {
  const start = process.hrtime.bigint();
  for (const f of files) {
    const r = spawnSync('tar', ['-xOf', f], { stdio: ['ignore', 'ignore', 'inherit'] });
    if (r.status !== 0) throw new Error(`tar -xOf ${f} failed`);
  }
  return { samples, bytes, seconds: Number(process.hrtime.bigint() - start) / 1e9 };
}

function pythonRound(files: readonly string[]): Round {
  const script = join(packageRoot(), 'bench', 'read_tarfile.py');
  const start = process.hrtime.bigint();
  const out = execFileSync(PYTHON, [script, ...files], { encoding: 'utf8' });
  const wall = Number(process.hrtime.bigint() - start) / 1e9;
  const r = JSON.parse(out) as { samples: number; bytes: number; seconds: number };
  // Wall time including interpreter start, like the tar row (which includes process start too).
  return { samples: r.samples, bytes: r.bytes, seconds: wall };
}

function best(rs: readonly Round[]): Round {
  return rs.reduce((a, b) => (b.seconds < a.seconds ? b : a));
}

async function main(): Promise<void> {
  const { dir, temporary } = await makeShards();
  try {
    let files = listShards(dir);
    if (values.gzip) {
      files = files.map((f) => {
        const gz = `${f}.gz`;
        if (!existsSync(gz)) writeFileSync(gz, gzipSync(readFileSync(f)));
        return gz;
      });
    }
    const fileBytes = files.reduce((n, f) => n + statSync(f).size, 0);
    const rows: Row[] = [];
    const declip: Round[] = [];
    for (let i = 0; i < rounds; i++) declip.push(await declipRound(files));
    const ref = best(declip);
    rows.push({ tool: 'declip readSamples', best: ref });
    const tar: Round[] = [];
    for (let i = 0; i < rounds; i++) tar.push(tarRound(files, ref.samples, ref.bytes));
    rows.push({ tool: `tar -xOf FILE > /dev/null`, best: best(tar) });
    const py: Round[] = [];
    for (let i = 0; i < rounds; i++) py.push(pythonRound(files));
    rows.push({ tool: 'python tarfile (r|*)', best: best(py) });
    for (const r of rows) {
      if (r.best.samples !== ref.samples || r.best.bytes !== ref.bytes) {
        throw new Error(`${r.tool} saw ${r.best.samples} samples / ${r.best.bytes} bytes, declip ${ref.samples} / ${ref.bytes}`);
      }
    }
    const table = rows.map((r) => ({
      tool: r.tool,
      seconds: Number(r.best.seconds.toFixed(3)),
      'MB/s': Number((r.best.bytes / 1e6 / r.best.seconds).toFixed(1)),
      'samples/s': Math.round(r.best.samples / r.best.seconds),
    }));
    const meta = {
      shards: files.length,
      samples: ref.samples,
      memberMB: Number((ref.bytes / 1e6).toFixed(1)),
      fileMB: Number((fileBytes / 1e6).toFixed(1)),
      gzip: values.gzip,
      rounds,
      node: process.version,
    };
    if (values.json) {
      process.stdout.write(`${JSON.stringify({ ...meta, rows: table })}\n`);
      return;
    }
    process.stdout.write(
      `${meta.shards} shards, ${meta.samples} samples, ${meta.memberMB} MB of members (${meta.fileMB} MB of files${meta.gzip ? ', gzip' : ''}), best of ${rounds}, node ${meta.node}\n\n`,
    );
    process.stdout.write('| reader | seconds | MB/s | samples/s |\n| --- | ---: | ---: | ---: |\n');
    for (const r of table) process.stdout.write(`| ${r.tool} | ${r.seconds} | ${r['MB/s']} | ${r['samples/s']} |\n`);
  } finally {
    if (temporary) rmSync(dir, { recursive: true, force: true });
  }
}

await main();
