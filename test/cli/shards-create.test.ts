import { createHash } from 'node:crypto';
import { readFile, writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import t from 'tap';
import { main } from '../../cli/main.js';
import { runDemo } from '../../cli/demo.js';
import { parseByteSize, parseIntegerOption, runShardsCreate } from '../../cli/shards-create.js';
import { SYNTHETIC_SHAPES, FASHION_MNIST_CLASSES } from '../../datasets/convert/index.js';
import { readShardIndex } from '../../datasets/shard-index.js';
import { capture } from '../capture.js';

/** Run main() and capture what it writes to process.stderr / stdout. */
async function run(args: string[]): Promise<{ code: number; stderr: string; stdout: string }> {
  let stderr = '';
  let stdout = '';
  const errWrite = process.stderr.write.bind(process.stderr);
  const outWrite = process.stdout.write.bind(process.stdout);
  process.stderr.write = ((chunk: string | Uint8Array) => {
    stderr += String(chunk);
    return true;
  }) as typeof process.stderr.write;
  process.stdout.write = ((chunk: string | Uint8Array) => {
    stdout += String(chunk);
    return true;
  }) as typeof process.stdout.write;
  try {
    const code = await main(['node', 'declip', ...args]);
    return { code, stderr, stdout };
  } finally {
    process.stderr.write = errWrite;
    process.stdout.write = outWrite;
  }
}


const sha = async (p: string): Promise<string> => createHash('sha256').update(await readFile(p)).digest('hex');

t.test('synthetic: the documented command writes numbered shards, an index and a summary', async (t) => {
  const dir = t.testdir();
  const out = join(dir, 'd/syn-%06d.tar');
  const r = await run(['shards', 'create', '--from', 'synthetic', '--count', '60', '--seed', '3', '--out', out, '--max-count', '25']);
  t.equal(r.code, 0, r.stderr);
  t.match(r.stderr, /^declip: wrote 60 samples in 3 shards \(.+\) to .*syn-%06d\.tar in [\d.]+ s \(\d+ samples\/s\); index .*syn\.index\.json\n$/);
  const found = await readShardIndex(out);
  t.same(found?.index.shards.map((s) => [s.url, s.samples]), [
    ['syn-000000.tar', 25],
    ['syn-000001.tar', 25],
    ['syn-000002.tar', 10],
  ]);
  t.same(found?.index.classes, SYNTHETIC_SHAPES);
  t.equal(found?.index.meta['seed'], 3);
  const again = join(dir, 'e/syn-%06d.tar');
  t.equal((await run(['shards', 'create', '--from', 'synthetic', '--count', '60', '--seed', '3', '--out', again, '--max-count', '25', '--quiet'])).code, 0);
  for (const n of [0, 1, 2]) {
    t.equal(await sha(join(dir, `e/syn-00000${n}.tar`)), await sha(join(dir, `d/syn-00000${n}.tar`)), `shard ${n} reproducible`);
  }
});

t.test('--json prints a summary on stdout; a TTY gets a progress bar with rate and ETA', async (t) => {
  const dir = t.testdir();
  const stdout = capture(false);
  const stderr = capture(true);
  const code = await runShardsCreate(
    { from: 'synthetic', count: '30', seed: '1', out: join(dir, 'p-%06d.tar'), maxSize: '40kB', json: true },
    { stdout, stderr },
  );
  t.equal(code, 0);
  const summary = JSON.parse(stdout.text()) as { samples: number; shards: number; index: string; skipped: object };
  t.equal(summary.samples, 30);
  t.ok(summary.shards >= 2, `--max-size 40kB split into ${summary.shards} shards`);
  t.equal(summary.index, join(dir, 'p.index.json'));
  t.match(stderr.text(), /shards create \|.*\| 100% 30\/30 samples \| \d+\/s \| ETA/);
  t.match(stderr.text(), /declip: wrote 30 samples/);
});

t.test('folder, csv and fashion-mnist through the command line', async (t) => {
  const dir = t.testdir({
    photos: { 'a.png': 'A', 'a.txt': 'an a', 'b.jpg': 'B' },
    'pairs.tsv': 'image_path\tcaption\nphotos/a.png\tfrom tsv\nphotos/zzz.png\tmissing\n',
  });
  let r = await run(['shards', 'create', '--from', 'folder', '--input', join(dir, 'photos'), '--out', join(dir, 'o/f-%06d.tar')]);
  t.equal(r.code, 0, r.stderr);
  t.match(r.stderr, /wrote 1 samples in 1 shard .*; skipped: missing-caption 1\ndeclip: skipped b\.jpg \(missing-caption\)\n/);
  r = await run(['shards', 'create', '--from', 'csv', '--input', join(dir, 'pairs.tsv'), '--out', join(dir, 'o/c-%06d.tar')]);
  t.equal(r.code, 0, r.stderr);
  t.match(r.stderr, /wrote 1 samples .*skipped: missing-image 1/);

  const fm = join(dir, 'fm');
  await mkdir(fm);
  const images = Buffer.alloc(16 + 3 * 4);
  images.writeUInt32BE(0x803, 0);
  images.writeUInt32BE(3, 4);
  images.writeUInt32BE(2, 8);
  images.writeUInt32BE(2, 12);
  const labels = Buffer.from([0, 0, 8, 1, 0, 0, 0, 3, 9, 0, 4]);
  await writeFile(join(fm, 't10k-images-idx3-ubyte.gz'), gzipSync(images));
  await writeFile(join(fm, 't10k-labels-idx1-ubyte'), labels);
  r = await run(['shards', 'create', '--from', 'fashion-mnist', '--input', fm, '--split', 'test', '--out', join(dir, 'o/fm-%06d.tar')]);
  t.equal(r.code, 0, r.stderr);
  const found = await readShardIndex(join(dir, 'o/fm-000000.tar'));
  t.equal(found?.index.totals.samples, 3);
  t.same(found?.index.classes, FASHION_MNIST_CLASSES);
  t.equal(found?.index.meta['split'], 'test');
  r = await run(['shards', 'create', '--from', 'fashion-mnist', '--input', fm, '--split', 'train', '--out', join(dir, 'o/x-%06d.tar')]);
  t.equal(r.code, 1);
  t.match(r.stderr, /SourceDataError \[ERR_DECLIP_SOURCE_DATA\]: no train-images-idx3-ubyte/);
});

t.test('bad input exits non-zero with a clear message', async (t) => {
  const dir = t.testdir();
  const out = join(dir, 's-%06d.tar');
  const cases: [string[], RegExp][] = [
    [['--from', 'synthetic', '--out', out], /--count is required for --from synthetic/],
    [['--from', 'synthetic', '--count', 'ten', '--out', out], /Expected integer of at least 0 for --count but received "ten"/],
    [['--from', 'synthetic', '--count', '5', '--out', out, '--max-count', '0'], /for --max-count but received "0"/],
    [['--from', 'synthetic', '--count', '5', '--out', out, '--max-size', 'big'], /byte count .* for --max-size/],
    [['--from', 'synthetic', '--count', '5', '--out', join(dir, 'plain.tar')], /for --out but received/],
    [['--from', 'synthetic', '--count', '5', '--input', dir, '--out', out], /--input does not apply to --from synthetic/],
    [['--from', 'fashion-mnist', '--input', dir, '--out', out], /--split is required for --from fashion-mnist/],
    [['--from', 'folder', '--out', out], /--input is required for --from folder/],
    [['--from', 'folder', '--input', join(dir, 'nope'), '--out', out], /the image folder does not exist/],
    [['--from', 'csv', '--input', join(dir, 'nope.csv'), '--out', out], /the CSV file does not exist/],
    [['--from', 'pictures', '--out', out], /argument 'pictures' is invalid/],
    [['--from', 'synthetic', '--count', '5'], /required option '--out <pattern>' not specified/],
  ];
  for (const [args, message] of cases) {
    const r = await run(['shards', 'create', ...args]);
    t.not(r.code, 0, args.join(' '));
    t.match(r.stderr, message, args.join(' '));
  }
});

t.test('option parsers', async (t) => {
  t.equal(parseByteSize('--max-size', '1e9'), 1e9);
  t.equal(parseByteSize('--max-size', '500MB'), 5e8);
  t.equal(parseByteSize('--max-size', '1GiB'), 1024 ** 3);
  t.equal(parseByteSize('--max-size', '12345'), 12345);
  t.throws(() => parseByteSize('--max-size', '0'), { name: 'InvalidOptionError', field: '--max-size' });
  t.throws(() => parseByteSize('--max-size', '-5'), { name: 'InvalidOptionError', field: '--max-size' });
  t.equal(parseIntegerOption('--count', '42'), 42);
  t.throws(() => parseIntegerOption('--count', '4.2'), { name: 'InvalidOptionError', field: '--count' });
});

t.test('declip demo creates train, validation and test shards and prints their statistics', async (t) => {
  const dir = t.testdir();
  const out = join(dir, 'demo');
  const r = await run(['demo', '--out', out, '--train', '40', '--heldout', '12', '--validation', '8', '--max-count', '16', '--seed', '2']);
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, /train: .*train-40-%06d\.tar\n {2}index: {6}40 samples in 3 shards/);
  t.match(r.stdout, /validation: .*validation-%06d\.tar\n {2}index: {6}8 samples in 1 shard,/);
  t.match(r.stdout, /test: .*test-%06d\.tar\n {2}index: {6}12 samples in 1 shard,/);
  t.match(r.stdout, /extensions: cls 40, json 40, png 40, txt 40/);
  t.match(r.stdout, /read back: {2}40 samples \(matches the index\), .* 0 errors/);
  t.match(r.stdout, /classes: {4}circle \d+, square \d+, triangle \d+/);
  const train = await readShardIndex(join(out, 'data', 'train-40-%06d.tar'));
  const test = await readShardIndex(join(out, 'data', 'test-%06d.tar'));
  const validation = await readShardIndex(join(out, 'data', 'validation-%06d.tar'));
  t.same([train?.index.meta['experimentSet'], train?.index.meta['start']], ['train', 0]);
  t.same([test?.index.meta['experimentSet'], test?.index.meta['start']], ['test', 1_000_000], 'the test samples never overlap a training set');
  t.same([validation?.index.meta['experimentSet'], validation?.index.meta['start']], ['validation', 2_000_000]);
  const stdout = capture(false);
  const stderr = capture(false);
  t.equal(await runDemo({ out, train: 40, heldout: 12, validation: 8, maxCount: 16, seed: 2 }, { stdout, stderr }), 0);
  t.match(stdout.text(), /train-40-%06d\.tar \(reused\)/, 'matching shards are reused');
  t.equal(stderr.text(), '', 'nothing was rewritten');
});

t.test('an existing shard or index is refused, named, unless --overwrite (which removes stale higher shards)', async (t) => {
  const dir = t.testdir();
  const out = join(dir, 'd/syn-%06d.tar');
  const base = ['shards', 'create', '--from', 'synthetic', '--seed', '3', '--out', out, '--max-count', '10', '--quiet'];
  t.equal((await run([...base, '--count', '40'])).code, 0);
  const again = await run([...base, '--count', '20']);
  t.not(again.code, 0);
  t.match(again.stderr, /already exists \(and 3 more shard files of the same pattern\).*--overwrite.*syn-000000\.tar/);
  t.equal((await readShardIndex(out))?.index.totals.samples, 40, 'the first run is intact');
  const over = await run([...base, '--count', '20', '--overwrite']);
  t.equal(over.code, 0, over.stderr);
  const { readdir } = await import('node:fs/promises');
  t.same((await readdir(join(dir, 'd'))).sort(), ['syn-000000.tar', 'syn-000001.tar', 'syn.index.json'], 'stale shards 2 and 3 removed');
  const both = await run([...base, '--count', '20', '--overwrite', '--incremental']);
  t.not(both.code, 0);
  t.match(both.stderr, /exclude each other/);
});
