/**
 * `declip bench ingest`: build shards from a URL list (served on 127.0.0.1, e.g. by
 * `../shared/bench/photo_server.py`) and report images/s and CPU per image; with
 * `--python-anchor FILE`, run the Python reference (`anchor_ingest_py.py`: img2dataset's
 * way, processes x threads, PIL, center crop, JPEG 95) on the same list right after, in
 * the same command, and print both side by side with the machine's load.
 *
 * ```sh
 * declip bench ingest --input LIST.csv --python-anchor ../shared/bench/anchor_ingest_py.py
 * ```
 *
 * Both do the same work: download every row, decode, resize the smaller side to
 * `--image-size` and center-crop, encode JPEG at quality 95, write .jpg/.txt/.json tar
 * shards of `--max-count` rows. CPU is user+system time of the process and all its
 * threads (ours: `process.cpuUsage()` around the run; Python: its children's
 * `getrusage`, read by a one-line wrapper).
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import { InvalidOptionError } from '../core/errors.js';
import { openUrlList } from '../datasets/convert/url-list.js';
import { ingestUrls } from '../pipeline/ingest/ingest.js';
import { parseIntegerOption } from './shards-create.js';

/** Options of {@link runBenchIngest} (strings until parsed). */
export interface BenchIngestOptions {
  readonly input: string;
  readonly imageSize?: string;
  readonly maxCount?: string;
  readonly concurrency?: string;
  readonly workers?: string;
  readonly pythonAnchor?: string;
  readonly python?: string;
  readonly processes?: string;
  readonly threads?: string;
  readonly json?: boolean;
}

/** One side of the comparison. */
export interface IngestBenchSide {
  readonly name: string;
  readonly written: number;
  readonly failed: number;
  readonly seconds: number;
  readonly imagesPerSecond: number;
  readonly cpuMsPerImage: number;
}

async function runPython(
  python: string,
  anchor: string,
  list: string,
  out: string,
  args: readonly string[],
): Promise<{ text: string; cpuSeconds: number; seconds: number }> {
  // The wrapper reports the CPU of the reference and its worker processes (RUSAGE_CHILDREN).
  const wrapper =
    'import resource, subprocess, sys\n' +
    'r = subprocess.run(sys.argv[1:])\n' +
    'u = resource.getrusage(resource.RUSAGE_CHILDREN)\n' +
    'print("cpu_seconds", u.ru_utime + u.ru_stime)\n' +
    'sys.exit(r.returncode)\n';
  const started = performance.now();
  const child = spawn(python, ['-c', wrapper, python, anchor, list, out, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  let text = '';
  child.stdout.on('data', (c: Buffer) => (text += c.toString()));
  const code = await new Promise<number>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (c) => resolve(c ?? 1));
  });
  const seconds = (performance.now() - started) / 1000;
  if (code !== 0) throw new InvalidOptionError('--python-anchor', `the Python reference exited with ${code}: ${text.trim()}`);
  const cpu = /cpu_seconds ([\d.]+)/.exec(text);
  return { text, cpuSeconds: cpu === null ? NaN : Number(cpu[1]), seconds };
}

/** Run the benchmark; resolves to the sides measured. */
export async function runBenchIngest(opts: BenchIngestOptions, io: { stdout: NodeJS.WritableStream; stderr: NodeJS.WritableStream } = process): Promise<IngestBenchSide[]> {
  const imageSize = opts.imageSize === undefined ? 256 : parseIntegerOption('--image-size', opts.imageSize, 1);
  const perShard = opts.maxCount === undefined ? 1000 : parseIntegerOption('--max-count', opts.maxCount, 1);
  const list = await openUrlList({ input: opts.input });
  const rows = await list.countRows();
  const work = await mkdtemp(join(tmpdir(), 'declip-bench-ingest-'));
  const sides: IngestBenchSide[] = [];
  const load0 = loadavg();
  io.stderr.write(`bench ingest: ${rows} rows from ${opts.input}, ${cpus().length} cores (${cpus()[0]?.model ?? '?'}), load ${load0.map((l) => l.toFixed(2)).join(' ')}\n`);
  try {
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    const r = await ingestUrls(list, {
      pattern: join(work, 'ts/%06d.tar'),
      rowsPerShard: perShard,
      image: { imageSize, resizeMode: 'center_crop', encode: 'jpg', quality: 95 },
      ...(opts.concurrency === undefined ? {} : { concurrency: parseIntegerOption('--concurrency', opts.concurrency, 1) }),
      ...(opts.workers === undefined ? {} : { workers: parseIntegerOption('--workers', opts.workers, 1) }),
    });
    const seconds = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    sides.push({
      name: 'declip-ts',
      written: r.written,
      failed: r.failed,
      seconds,
      imagesPerSecond: r.written / seconds,
      cpuMsPerImage: (cpu.user + cpu.system) / 1000 / Math.max(1, r.written),
    });
    io.stderr.write(`bench ingest: declip-ts ${r.written} written, ${r.failed} failed, ${seconds.toFixed(1)} s\n`);
    if (opts.pythonAnchor !== undefined) {
      const py = await runPython(opts.python ?? '/usr/bin/python3', opts.pythonAnchor, opts.input, join(work, 'py'), [
        opts.processes ?? '2',
        opts.threads ?? '16',
        String(imageSize),
        String(perShard),
      ]);
      const m = /python ingest: (\d+) written, (\d+) failed, ([\d.]+) s/.exec(py.text);
      const written = m === null ? NaN : Number(m[1]);
      // The reference's own timer excludes its start-up; use it, as its README does.
      const pySeconds = m === null ? py.seconds : Number(m[3]);
      sides.push({
        name: 'python (img2dataset-style)',
        written,
        failed: m === null ? NaN : Number(m[2]),
        seconds: pySeconds,
        imagesPerSecond: written / pySeconds,
        cpuMsPerImage: (py.cpuSeconds * 1000) / Math.max(1, written),
      });
    }
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  const load1 = loadavg();
  const line = (s: IngestBenchSide): string =>
    `${s.name.padEnd(28)} ${s.imagesPerSecond.toFixed(1).padStart(8)} images/s  ${s.cpuMsPerImage.toFixed(2).padStart(7)} ms CPU/image  (${s.written} written, ${s.failed} failed, ${s.seconds.toFixed(1)} s)`;
  io.stdout.write(sides.map(line).join('\n') + '\n');
  const [ours, theirs] = sides;
  if (ours !== undefined && theirs !== undefined) {
    io.stdout.write(`ratio: ${(ours.imagesPerSecond / theirs.imagesPerSecond).toFixed(2)}x images/s, ${(theirs.cpuMsPerImage / ours.cpuMsPerImage).toFixed(2)}x less CPU per image\n`);
  }
  io.stdout.write(`load average before ${load0.map((l) => l.toFixed(2)).join(' ')}, after ${load1.map((l) => l.toFixed(2)).join(' ')}\n`);
  if (opts.json === true) io.stdout.write(JSON.stringify({ rows, sides, loadBefore: load0, loadAfter: load1 }) + '\n');
  return sides;
}

/** Register `ingest` on the `bench` command. */
export function registerBenchIngest(parent: Command): void {
  parent
    .command('ingest')
    .description('build shards from a URL list on 127.0.0.1 and report images/s and CPU per image, optionally side by side with the Python reference')
    .requiredOption('--input <list>', 'URL list (url,caption CSV), e.g. from ../shared/bench/photo_server.py')
    .option('--image-size <n>', 'center-crop size (default 256)')
    .option('--max-count <n>', 'rows per shard (default 1000)')
    .option('--concurrency <n>', 'downloads in flight (default min(64, 16 x cores))')
    .option('--workers <n>', 'image threads (default: the core count)')
    .option('--python-anchor <file>', 'also run this Python reference (anchor_ingest_py.py) on the same list')
    .option('--python <exe>', 'the Python interpreter (default /usr/bin/python3)')
    .option('--processes <n>', 'Python reference processes (default 2)')
    .option('--threads <n>', 'Python reference threads per process (default 16)')
    .option('--json', 'also print the results as JSON')
    .action(async (opts: BenchIngestOptions) => {
      await runBenchIngest(opts);
    });
}
