import { join } from 'node:path';
import t from 'tap';
import { convertToShards, csvSource } from '../../datasets/convert/index.js';
import type { SampleInput } from '../../datasets/sample.js';

async function collect(source: AsyncIterable<SampleInput>): Promise<SampleInput[]> {
  const out: SampleInput[] = [];
  for await (const s of source) out.push(s);
  return out;
}

const images = { 'a.png': Buffer.from('A'), 'b.jpg': Buffer.from('B'), sub: { 'c.webp': Buffer.from('C') } };

t.test('a CSV with a header in any column order, quoted commas, quotes and newlines', async (t) => {
  const dir = t.testdir({
    ...images,
    'pairs.csv':
      'caption,image_path\n' +
      '"a cat, sitting",a.png\n' +
      '"she said ""hi""",b.jpg\n' +
      '"two\nlines",sub/c.webp\n' +
      'same image again,a.png\n',
  });
  const source = await csvSource({ input: join(dir, 'pairs.csv') });
  t.equal(source.total, 4);
  const samples = await collect(source);
  t.same(
    samples.map((s) => [s.__key__, Object.keys(s.files).sort(), s.files.txt]),
    [
      ['000000000', ['png', 'txt'], 'a cat, sitting'],
      ['000000001', ['jpg', 'txt'], 'she said "hi"'],
      ['000000002', ['txt', 'webp'], 'two\nlines'],
      ['000000003', ['png', 'txt'], 'same image again'],
    ],
  );
  t.equal(String(samples[2]?.files.webp), 'C', 'paths are relative to the CSV');
  t.same(source.skipped, {});
});

t.test('no header: path then caption; skips are counted by reason', async (t) => {
  const dir = t.testdir({
    ...images,
    'list.csv': 'a.png,first\nmissing.png,gone\nb.jpg,\nnotes.txt,not an image\nonly-one-field\nsub/c.webp,third\n',
  });
  const source = await csvSource({ input: join(dir, 'list.csv') });
  t.equal(source.total, 6);
  const samples = await collect(source);
  t.same(samples.map((s) => [s.__key__, s.files.txt]), [
    ['000000000', 'first'],
    ['000000005', 'third'],
  ]);
  t.same(source.skipped, { 'missing-image': 1, 'empty-caption': 1, 'unsupported-image': 1, 'short-row': 1 });
  t.ok(source.skippedExamples.some((e) => e.item === 'row 2: missing.png' && e.reason === 'missing-image'));
});

t.test('a .tsv is tab-separated; quotes inside unquoted fields are kept', async (t) => {
  const dir = t.testdir({ ...images, 'p.tsv': 'image\ttext\na.png\ta 5" screen, with commas\nb.jpg\tplain\n' });
  const samples = await collect(await csvSource({ input: join(dir, 'p.tsv') }));
  t.same(samples.map((s) => s.files.txt), ['a 5" screen, with commas', 'plain']);
});

t.test('absolute paths, an explicit delimiter and header: false', async (t) => {
  const dir = t.testdir({ ...images });
  const path = join(dir, 'abs.txt');
  const { writeFile } = await import('node:fs/promises');
  await writeFile(path, `image_path;caption\n${join(dir, 'a.png')};absolute\n`);
  const samples = await collect(await csvSource({ input: path, delimiter: ';', header: false }));
  t.same(samples.map((s) => s.files.txt), ['absolute'], 'the header row is data (and not an image)');
  const withHeader = await csvSource({ input: path, delimiter: ';', header: true });
  t.equal(withHeader.total, 1);
});

t.test('bad input gets typed errors', async (t) => {
  const dir = t.testdir({ ...images, 'bad.csv': 'a.png,"unclosed\n', 'plain.csv': 'x,y\n' });
  await t.rejects(csvSource({ input: join(dir, 'bad.csv') }), { name: 'SourceDataError', reason: 'bad-csv', file: join(dir, 'bad.csv') });
  await t.rejects(csvSource({ input: join(dir, 'none.csv') }), { name: 'SourceDataError', reason: 'missing-input' });
  await t.rejects(csvSource({ input: join(dir, 'plain.csv'), header: true }), { name: 'SourceDataError', reason: 'bad-header' });
  await t.rejects(csvSource({ input: join(dir, 'plain.csv'), delimiter: '::' }), { name: 'InvalidOptionError', field: 'delimiter' });
});

t.test('converts into shards with the CSV named in the index', async (t) => {
  const dir = t.testdir({ ...images, 'pairs.csv': 'image_path,caption\na.png,x\nb.jpg,y\n' });
  const { index } = await convertToShards(await csvSource({ input: join(dir, 'pairs.csv') }), { pattern: join(dir, 'o/c-%06d.tar') });
  t.equal(index.totals.samples, 2);
  t.same(index.extensions, { jpg: 1, png: 1, txt: 2 });
  t.equal(index.meta['source'], 'csv');
  t.equal(index.classes, undefined);
});
