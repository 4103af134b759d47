/**
 * `declip shards index PATTERN`: merge the per-rank indexes of a split run (`STEM.rank-
 * RRRRR-of-WWWWW.index.json`, one per rank of `shards create --from urls --rank R
 * --world-size W`) into the dataset's index `STEM.index.json`, checking that every rank
 * is there, that no shard is listed twice and that each listed shard's `_stats.json`
 * agrees with its entry; row and failure counts (from the stats) are summed into `meta`.
 *
 * ```sh
 * declip shards index 'cc3m/cc3m-%06d.tar'            # writes cc3m/cc3m.index.json
 * ```
 */
import { readdir, readFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Writable } from 'node:stream';
import type { Command } from 'commander';
import { ShardFormatError } from '../core/errors.js';
import { parseShardIndex, shardIndexPathFor, shardStem, writeShardIndex, type ShardIndex, type JsonValue } from '../datasets/shard-index.js';
import { pathExists, refuseExisting, statsPathFor } from '../datasets/writer/files.js';
import { parseShardPattern } from '../datasets/writer/pattern.js';
import { buildIndex, type ShardStats } from '../pipeline/ingest/ingest.js';

/** Options of {@link runShardsIndex}. */
export interface ShardsIndexOptions {
  readonly overwrite?: boolean;
  readonly json?: boolean;
  readonly quiet?: boolean;
}

/** Merge the rank indexes of `pattern` (see the module notes). Resolves to the exit code. */
export async function runShardsIndex(
  patternText: string,
  opts: ShardsIndexOptions,
  io: { readonly stdout: Writable; readonly stderr: Writable } = { stdout: process.stdout, stderr: process.stderr },
): Promise<number> {
  parseShardPattern(patternText, 'PATTERN');
  const dir = dirname(patternText);
  const stem = shardStem(patternText);
  const re = new RegExp(`^${stem.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\.rank-(\\d+)-of-(\\d+)\\.index\\.json$`);
  const found: { rank: number; world: number; path: string }[] = [];
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    const m = re.exec(name);
    if (m) found.push({ rank: Number(m[1]), world: Number(m[2]), path: join(dir, name) });
  }
  const target = shardIndexPathFor(patternText);
  if (found.length === 0) throw new ShardFormatError('no-rank-index', `no rank index ${stem}.rank-*-of-*.index.json to merge`, { url: dir });
  const worlds = new Set(found.map((f) => f.world));
  if (worlds.size !== 1) {
    throw new ShardFormatError('mixed-world-size', `rank indexes from runs of different world sizes (${[...worlds].join(', ')}): remove the stale ones`, { url: dir });
  }
  const world = found[0]?.world ?? 1;
  const missing = Array.from({ length: world }, (_, r) => r).filter((r) => !found.some((f) => f.rank === r));
  if (missing.length > 0) {
    throw new ShardFormatError('missing-rank', `ranks ${missing.join(', ')} of ${world} have no index yet (has each finished?)`, { url: dir });
  }
  if (opts.overwrite !== true && (await pathExists(target))) refuseExisting([target], 'index');

  const stats: ShardStats[] = [];
  const seen = new Set<string>();
  let meta: Readonly<Record<string, JsonValue>> = {};
  for (const f of found.sort((a, b) => a.rank - b.rank)) {
    const index: ShardIndex = parseShardIndex(await readFile(f.path, 'utf8'), f.path);
    meta = index.meta;
    for (const entry of index.shards) {
      if (seen.has(entry.url)) throw new ShardFormatError('duplicate-shard', `shard ${entry.url} is listed by two rank indexes`, { url: f.path });
      seen.add(entry.url);
      const statsPath = statsPathFor(join(dirname(f.path), entry.url));
      let s: ShardStats;
      try {
        s = JSON.parse(await readFile(statsPath, 'utf8')) as ShardStats;
      } catch (err) {
        throw new ShardFormatError('missing-stats', `cannot read the shard's stats ${basename(statsPath)}`, { url: entry.url }, { cause: err });
      }
      if (s.sha256 !== entry.sha256 || s.samples !== entry.samples) {
        throw new ShardFormatError('stale-stats', `the stats ${basename(statsPath)} do not match the rank index (rewritten since?)`, { url: entry.url });
      }
      stats.push(s);
    }
  }
  stats.sort((a, b) => a.number - b.number);
  const rest = Object.fromEntries(Object.entries(meta).filter(([k]) => !['rank', 'worldSize', 'attempted', 'failed', 'failures'].includes(k)));
  const index = buildIndex(patternText, target, stats, { ...rest, mergedFrom: world });
  await writeShardIndex(target, index);
  const failed = typeof index.meta['failed'] === 'number' ? index.meta['failed'] : 0;
  if (opts.quiet !== true) {
    io.stderr.write(
      `declip: merged ${world} rank index${world === 1 ? '' : 'es'}: ${index.totals.shards} shards, ${index.totals.samples} samples, ${failed} failed rows; index ${target}\n`,
    );
  }
  if (opts.json === true) {
    io.stdout.write(
      JSON.stringify({ index: target, ranks: world, shards: index.totals.shards, samples: index.totals.samples, bytes: index.totals.bytes, failed, failures: index.meta['failures'] ?? {} }) +
        '\n',
    );
  }
  return 0;
}

/** Register `index` on the `shards` command. */
export function registerShardsIndex(parent: Command): void {
  parent
    .command('index')
    .description('merge the per-rank indexes (and shard stats) of a split `shards create --from urls` run into one index')
    .argument('<pattern>', 'the --out pattern of the run, e.g. cc3m/cc3m-%06d.tar')
    .option('--overwrite', 'replace an existing merged index')
    .option('--json', 'also print a JSON summary on stdout')
    .option('--quiet', 'no summary on stderr')
    .action(async (pattern: string, opts: ShardsIndexOptions, cmd: Command) => {
      const code = await runShardsIndex(pattern, opts);
      if (code !== 0) cmd.error('', { exitCode: code });
    });
}
