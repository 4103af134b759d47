/**
 * JPEG decode micro-benchmark, one thread: CPU time per image of each decode path over
 * the images of real shards, side by side with Pillow on the same images.
 *
 * Paths: sharp as augment/image/decode.ts calls it (autoOrient, flatten, sRGB, raw);
 * sharp with the least work (raw output only) and with `sequentialRead`; the fast path
 * (`decodeImage(bytes, { fastJpeg: true })`, libjpeg-turbo through @julusian/jpeg-turbo);
 * and Pillow's `Image.open(...).convert('RGB')` (the anchor's decode). It also prints how
 * far the fast path's pixels are from sharp's.
 *
 * Usage:
 *   npx tsx bench/decode.ts --shards '/tmp/photos/photos-{000000..000003}.tar' [--n 200] [--rounds 3]
 *                           [--python /usr/bin/python3 | --python none] [--json]
 *
 * Each path decodes the same N images one after another; the best of --rounds is kept.
 * CPU time (process.cpuUsage) is the number to compare on a busy machine.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { decodeImage } from '../augment/image/decode.js';
import { readSamples } from '../datasets/reader/index.js';

const { values } = parseArgs({
  options: {
    shards: { type: 'string' },
    n: { type: 'string', default: '200' },
    rounds: { type: 'string', default: '3' },
    python: { type: 'string', default: '/usr/bin/python3' },
    json: { type: 'boolean', default: false },
  },
});
if (values.shards === undefined) throw new Error('--shards is required (e.g. /tmp/photos/photos-{000000..000003}.tar)');
const N = Number(values.n);
const ROUNDS = Number(values.rounds);

async function loadJpegs(): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for await (const s of readSamples({ urls: values.shards as string })) {
    const jpg = s.files['jpg'] ?? s.files['jpeg'];
    if (jpg !== undefined) out.push(jpg);
    if (out.length >= N) break;
  }
  return out;
}

type Path = (bytes: Buffer) => Promise<unknown>;

const paths: Record<string, Path> = {
  'sharp (decode.ts: autoOrient, flatten, sRGB)': (b) => decodeImage(b),
  'sharp raw only': (b) => sharp(b, { failOn: 'warning' }).raw().toBuffer(),
  'sharp raw, sequentialRead': (b) => sharp(b, { failOn: 'warning', sequentialRead: true }).raw().toBuffer(),
  'fast path (libjpeg-turbo)': (b) => decodeImage(b, { fastJpeg: true }),
};

async function cpuPerImage(path: Path, images: readonly Buffer[]): Promise<{ cpuMs: number; wallMs: number }> {
  let best = { cpuMs: Infinity, wallMs: Infinity };
  for (let r = 0; r < ROUNDS; r++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    for (const b of images) await path(b);
    const c = process.cpuUsage(c0);
    const wallMs = (performance.now() - t0) / images.length;
    const cpuMs = (c.user + c.system) / 1000 / images.length;
    if (cpuMs < best.cpuMs) best = { cpuMs, wallMs };
  }
  return best;
}

function pillow(images: readonly Buffer[]): number | undefined {
  if (values.python === 'none') return undefined;
  const dir = mkdtempSync(join(tmpdir(), 'declip-decode-bench-'));
  try {
    images.forEach((b, i) => writeFileSync(join(dir, `${i}.jpg`), b));
    const code = [
      'import sys, io, os, time, resource',
      'from PIL import Image',
      'd = sys.argv[1]; bufs = [open(os.path.join(d, f), "rb").read() for f in sorted(os.listdir(d))]',
      'best = 1e9',
      `for r in range(${ROUNDS}):`,
      '    t0 = time.process_time()',
      '    for b in bufs: Image.open(io.BytesIO(b)).convert("RGB").load()',
      '    best = min(best, (time.process_time() - t0) * 1000 / len(bufs))',
      'print(best)',
    ].join('\n');
    const r = spawnSync(values.python as string, ['-c', code, dir], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`python failed: ${r.stderr}`);
    return Number(r.stdout.trim());
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function fastVsSharp(images: readonly Buffer[]): Promise<{ max: number; mean: number }> {
  let max = 0;
  let sum = 0;
  let count = 0;
  for (const b of images) {
    const exact = await decodeImage(b);
    const fast = await decodeImage(b, { fastJpeg: true });
    for (let i = 0; i < exact.data.length; i++) {
      const d = Math.abs((exact.data[i] as number) - (fast.data[i] as number));
      max = Math.max(max, d);
      sum += d;
    }
    count += exact.data.length;
  }
  return { max, mean: sum / count };
}

const images = await loadJpegs();
sharp.concurrency(1);
const results: Record<string, { cpuMs: number; wallMs: number }> = {};
for (const [name, path] of Object.entries(paths)) results[name] = await cpuPerImage(path, images);
const pil = pillow(images);
const diff = await fastVsSharp(images);
if (values.json === true) {
  process.stdout.write(JSON.stringify({ images: images.length, results, pillowCpuMs: pil, fastVsSharp: diff }) + '\n');
} else {
  process.stdout.write(`${images.length} JPEGs from ${values.shards}, one thread (sharp.concurrency(1)), best of ${ROUNDS}\n`);
  for (const [name, r] of Object.entries(results)) {
    process.stdout.write(`${name.padEnd(46)} ${r.cpuMs.toFixed(2).padStart(6)} CPU ms/image  ${r.wallMs.toFixed(2).padStart(6)} wall ms/image\n`);
  }
  if (pil !== undefined) process.stdout.write(`${'Pillow open + convert(RGB)'.padEnd(46)} ${pil.toFixed(2).padStart(6)} CPU ms/image\n`);
  process.stdout.write(`fast path vs sharp pixels: max ${diff.max}, mean ${diff.mean.toFixed(3)} (of 255)\n`);
}
