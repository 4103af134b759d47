import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parquetWriteBuffer } from 'hyparquet-writer';
import t from 'tap';
import { openUrlList, type UrlRow } from '../../datasets/convert/url-list.js';

async function all(input: string, opts: { urlCol?: string; captionCol?: string } = {}, wanted?: (r: number) => boolean): Promise<UrlRow[]> {
  const list = await openUrlList({ input, ...opts });
  const rows: UrlRow[] = [];
  for await (const r of list.rows(wanted)) rows.push(r);
  return rows;
}

t.test('csv and tsv: header names the columns, rows numbered from 0, quoted fields', async (t) => {
  const dir = t.testdir();
  await writeFile(join(dir, 'l.csv'), 'caption,url,extra\n"a, b",http://x/1.jpg,1\n\nno url,,2\n"multi\nline",http://x/3.jpg,3\n');
  const list = await openUrlList({ input: join(dir, 'l.csv') });
  t.equal(await list.countRows(), 3);
  t.same(await all(join(dir, 'l.csv')), [
    { row: 0, url: 'http://x/1.jpg', caption: 'a, b' },
    { row: 1, url: undefined, caption: 'no url', problem: 'missing-url' },
    { row: 2, url: 'http://x/3.jpg', caption: 'multi\nline' },
  ]);
  await writeFile(join(dir, 'l.tsv'), 'URL\tTEXT\nhttp://x/1.jpg\tone\n');
  t.same(await all(join(dir, 'l.tsv'), { urlCol: 'URL', captionCol: 'TEXT' }), [{ row: 0, url: 'http://x/1.jpg', caption: 'one' }]);
  await t.rejects(openUrlList({ input: join(dir, 'l.tsv') }), { name: 'SourceDataError', reason: 'bad-header', message: /no column "url" \(set it with --url-col\); its columns: "URL", "TEXT"/ });
  await t.rejects(openUrlList({ input: join(dir, 'l.tsv'), urlCol: 'URL', captionCol: 'nope' }), { message: /--caption-col/ });
  const noCaption = await openUrlList({ input: join(dir, 'l.tsv'), urlCol: 'URL' });
  t.equal(noCaption.captionCol, undefined, 'the default caption column may be absent');
  await t.rejects(openUrlList({ input: join(dir, 'missing.csv') }), { name: 'SourceDataError', reason: 'missing-input' });
  await t.rejects(openUrlList({ input: join(dir, 'list.txt') }), { name: 'InvalidOptionError', field: 'input' });
});

t.test('jsonl: a broken line is a bad-row, still numbered', async (t) => {
  const dir = t.testdir();
  await writeFile(join(dir, 'l.jsonl'), '{"url":"http://x/0","caption":"zero"}\n{broken\n\n[1,2]\n{"url":"http://x/3","caption":7}\n');
  const rows = await all(join(dir, 'l.jsonl'));
  t.same(rows.map((r) => [r.row, r.url, r.caption, r.problem]), [
    [0, 'http://x/0', 'zero', undefined],
    [1, undefined, undefined, 'bad-row'],
    [2, undefined, undefined, 'bad-row'],
    [3, 'http://x/3', '7', undefined],
  ]);
});

t.test('parquet: row groups streamed, groups without a wanted row not read', async (t) => {
  const dir = t.testdir();
  const n = 10;
  const buf = parquetWriteBuffer({
    columnData: [
      { name: 'url', data: Array.from({ length: n }, (_, i) => (i === 4 ? null : `http://x/${i}.jpg`)) },
      { name: 'caption', data: Array.from({ length: n }, (_, i) => `photo ${i}`) },
      { name: 'similarity', data: Array.from({ length: n }, (_, i) => i / 10) },
    ],
    rowGroupSize: 3,
  });
  await writeFile(join(dir, 'l.parquet'), Buffer.from(buf));
  const list = await openUrlList({ input: join(dir, 'l.parquet') });
  t.equal(await list.countRows(), n);
  const rows = await all(join(dir, 'l.parquet'));
  t.equal(rows.length, n);
  t.same(rows[2], { row: 2, url: 'http://x/2.jpg', caption: 'photo 2' });
  t.same(rows[4], { row: 4, url: undefined, caption: 'photo 4', problem: 'missing-url' });
  t.same((await all(join(dir, 'l.parquet'), {}, (r) => r >= 7)).map((r) => r.row), [7, 8, 9]);
  await t.rejects(openUrlList({ input: join(dir, 'l.parquet'), urlCol: 'URL' }), { message: /no column "URL".*"url", "caption", "similarity"/ });
  await writeFile(join(dir, 'bad.parquet'), 'not parquet at all');
  await t.rejects(openUrlList({ input: join(dir, 'bad.parquet') }), { name: 'SourceDataError', reason: 'bad-parquet' });
});
