import { writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import sharp from 'sharp';
import t from 'tap';
import { Rng } from '../../core/rng.js';
import { convertToShards, FASHION_MNIST_CLASSES, fashionMnistSource, openIdx } from '../../datasets/convert/index.js';
import type { SampleInput } from '../../datasets/sample.js';

const ROWS = 4;
const COLS = 5;

function idxImages(n: number, rng: Rng, extra = 0): { bytes: Buffer; images: Buffer[] } {
  const head = Buffer.alloc(16);
  head.writeUInt32BE(0x00000803, 0);
  head.writeUInt32BE(n, 4);
  head.writeUInt32BE(ROWS, 8);
  head.writeUInt32BE(COLS, 12);
  const images = Array.from({ length: n }, () => Buffer.from(Array.from({ length: ROWS * COLS }, () => rng.int(256))));
  return { bytes: Buffer.concat([head, ...images, Buffer.alloc(extra)]), images };
}

function idxLabels(labels: readonly number[]): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(0x00000801, 0);
  head.writeUInt32BE(labels.length, 4);
  return Buffer.concat([head, Buffer.from(labels)]);
}

async function collect(source: AsyncIterable<SampleInput>): Promise<SampleInput[]> {
  const out: SampleInput[] = [];
  for await (const s of source) out.push(s);
  return out;
}

async function fixture(dir: string, opts: { gzip: boolean; prefix: 'train' | 't10k'; n: number; labels?: number[]; spelling?: '-' | '.' }) {
  const rng = new Rng(opts.n + (opts.gzip ? 100 : 0));
  const { bytes, images } = idxImages(opts.n, rng);
  const labels = opts.labels ?? Array.from({ length: opts.n }, (_, i) => i % 10);
  const sep = opts.spelling ?? '-';
  const gz = (b: Buffer): Buffer => (opts.gzip ? gzipSync(b) : b);
  const suffix = opts.gzip ? '.gz' : '';
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, `${opts.prefix}-images${sep}idx3-ubyte${suffix}`), gz(bytes));
  await writeFile(join(dir, `${opts.prefix}-labels${sep}idx1-ubyte${suffix}`), gz(idxLabels(labels)));
  return { images, labels };
}

t.test('converts gzipped and plain IDX files into exact PNGs, captions and labels', async (t) => {
  for (const gzip of [true, false]) {
    const dir = join(t.testdir(), gzip ? 'gz' : 'raw');
    const { images, labels } = await fixture(dir, { gzip, prefix: 'train', n: 12 });
    const source = await fashionMnistSource({ input: dir, split: 'train', seed: 7 });
    t.equal(source.total, 12);
    t.same(source.classes, FASHION_MNIST_CLASSES);
    const samples = await collect(source);
    t.equal(samples.length, 12);
    for (const [i, s] of samples.entries()) {
      t.equal(s.__key__, `train-${String(i).padStart(6, '0')}`);
      t.equal(s.files.cls, String(labels[i]));
      const png = s.files.png as Buffer;
      t.equal(png[25], 0, 'a greyscale PNG (IHDR colour type 0)');
      const { data, info } = await sharp(png).toColourspace('b-w').raw().toBuffer({ resolveWithObject: true });
      t.same([info.width, info.height, info.channels], [COLS, ROWS, 1]);
      t.ok(Buffer.from(data).equals(images[i] as Buffer), `image ${i} is lossless (${gzip ? 'gz' : 'plain'})`);
      t.type(s.files.txt, 'string');
    }
    const again = await collect(await fashionMnistSource({ input: dir, split: 'train', seed: 7 }));
    t.same(again.map((s) => s.files.txt), samples.map((s) => s.files.txt), 'captions are seeded');
    const other = await collect(await fashionMnistSource({ input: dir, split: 'train', seed: 8 }));
    t.not(other.map((s) => s.files.txt).join('|'), samples.map((s) => s.files.txt).join('|'));
  }
});

t.test('captions vary and name the class', async (t) => {
  const dir = t.testdir();
  const labels = Array.from({ length: 200 }, (_, i) => (i * 7) % 10);
  await fixture(dir, { gzip: false, prefix: 'train', n: 200, labels });
  const samples = await collect(await fashionMnistSource({ input: dir, split: 'train', seed: 1 }));
  const words: readonly (readonly string[])[] = [
    ['t-shirt', 'tee', 'top'],
    ['trousers', 'pants', 'slacks'],
    ['pullover', 'sweater', 'jumper'],
    ['dress', 'frock'],
    ['coat', 'jacket'],
    ['sandal', 'open shoe'],
    ['shirt', 'blouse'],
    ['sneaker', 'trainer', 'shoe'],
    ['bag', 'purse'],
    ['boot'],
  ];
  for (const s of samples) {
    const text = String(s.files.txt).toLowerCase();
    t.ok(words[Number(s.files.cls)]?.some((w) => text.includes(w)), `"${text}" names class ${s.files.cls}`);
  }
  t.ok(new Set(samples.map((s) => s.files.txt)).size > 100, 'varied captions');
});

t.test('train and test splits are kept apart (t10k files, other keys)', async (t) => {
  const dir = t.testdir();
  await fixture(dir, { gzip: true, prefix: 'train', n: 5 });
  await fixture(dir, { gzip: false, prefix: 't10k', n: 3, spelling: '.' });
  const test = await fashionMnistSource({ input: dir, split: 'test' });
  t.equal(test.total, 3);
  t.equal(test.meta['split'], 'test');
  t.match(String(test.meta['images']), /t10k-images\.idx3-ubyte$/);
  const out = join(dir, 'out');
  const r1 = await convertToShards(test, { pattern: join(out, 'fm-test-%06d.tar') });
  const r2 = await convertToShards(await fashionMnistSource({ input: dir, split: 'train', limit: 4 }), { pattern: join(out, 'fm-train-%06d.tar') });
  t.equal(r1.index.totals.samples, 3);
  t.equal(r2.index.totals.samples, 4, 'limit');
  t.same(r2.index.classes, FASHION_MNIST_CLASSES);
  t.equal(r2.index.meta['split'], 'train');
});

t.test('bad files get typed errors', async (t) => {
  const dir = t.testdir();
  await t.rejects(fashionMnistSource({ input: dir, split: 'train' }), { name: 'SourceDataError', reason: 'missing-input' });
  await t.rejects(fashionMnistSource({ input: dir, split: 'val' as 'train' }), { name: 'InvalidOptionError', field: 'split' });

  const magic = join(dir, 'magic');
  await fixture(magic, { gzip: false, prefix: 'train', n: 2 });
  await writeFile(join(magic, 'train-labels-idx1-ubyte'), idxImages(2, new Rng(1)).bytes);
  await t.rejects(fashionMnistSource({ input: magic, split: 'train' }), { name: 'SourceDataError', reason: 'bad-idx-magic', message: /magic 0x00000803/ });

  const mismatch = join(dir, 'mismatch');
  await fixture(mismatch, { gzip: true, prefix: 'train', n: 4, labels: [1, 2, 3] });
  await t.rejects(fashionMnistSource({ input: mismatch, split: 'train' }), { name: 'SourceDataError', reason: 'count-mismatch' });

  const badLabel = join(dir, 'label');
  await fixture(badLabel, { gzip: false, prefix: 'train', n: 3, labels: [1, 12, 3] });
  await t.rejects(collect(await fashionMnistSource({ input: badLabel, split: 'train' })), { name: 'SourceDataError', reason: 'bad-label' });

  for (const gzip of [false, true]) {
    const trunc = join(dir, `trunc-${gzip}`);
    await fixture(trunc, { gzip, prefix: 'train', n: 3 });
    const full = idxImages(3, new Rng(3)).bytes;
    const cut = full.subarray(0, full.length - 7);
    await writeFile(join(trunc, `train-images-idx3-ubyte${gzip ? '.gz' : ''}`), gzip ? gzipSync(cut) : cut);
    const source = await fashionMnistSource({ input: trunc, split: 'train' });
    const got: SampleInput[] = [];
    await t.rejects(
      (async () => {
        for await (const s of source) got.push(s);
      })(),
      { name: 'SourceDataError', reason: 'truncated-idx', message: /ends after 2 of 3 records/ },
    );
    t.equal(got.length <= 2, true, 'complete records before the cut may be delivered');
  }

  const long = join(dir, 'long');
  await fixture(long, { gzip: false, prefix: 'train', n: 2 });
  await writeFile(join(long, 'train-images-idx3-ubyte'), idxImages(2, new Rng(1), 5).bytes);
  await t.rejects(collect(await fashionMnistSource({ input: long, split: 'train' })), { name: 'SourceDataError', reason: 'oversized-idx' });

  const notGz = join(dir, 'corrupt-gz');
  await mkdir(notGz);
  await writeFile(join(notGz, 'x.gz'), Buffer.from([0x1f, 0x8b, 1, 2, 3]));
  await t.rejects(openIdx(join(notGz, 'x.gz'), { ndims: 3 }), { name: 'SourceDataError', reason: 'corrupt-idx' });
});
