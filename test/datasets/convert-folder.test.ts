import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { convertToShards, folderSource, keyFromPath, imageExtensionOf } from '../../datasets/convert/index.js';
import { readTar } from './writer-helpers.js';

t.test('pairs images with same-named captions, recursively, and counts skips', async (t) => {
  const dir = t.testdir({
    photos: {
      'b.png': Buffer.from('png-b'),
      'b.txt': '  a blue bird \n',
      'a.JPEG': Buffer.from('jpeg-a'),
      'a.txt': 'an apple',
      'no-caption.webp': Buffer.from('webp'),
      'empty.jpg': Buffer.from('jpg'),
      'empty.txt': '   \n',
      'notes.md': 'ignored',
      '.hidden.png': Buffer.from('hidden'),
      '.hidden.txt': 'hidden',
      sub: {
        'deep.v2.webp': Buffer.from('webp-deep'),
        'deep.v2.txt': 'deep caption, with a comma',
        'x.jpg': Buffer.from('x1'),
        'x.txt': 'x caption',
        'x.png': Buffer.from('x2'),
        'zero.png': Buffer.alloc(0),
        'zero.txt': 'zero bytes',
      },
      '.git': { 'c.png': 'x', 'c.txt': 'x' },
    },
  });
  const source = await folderSource({ input: join(dir, 'photos') });
  t.equal(source.total, 8, 'eight images found (hidden ones ignored)');
  const dest = join(dir, 'out/ph-%06d.tar');
  const progress: number[] = [];
  const result = await convertToShards(source, { pattern: dest }, { onProgress: (p) => progress.push(p.done) });
  t.same(result.skipped, { 'missing-caption': 1, 'empty-caption': 1, 'empty-image': 1 });
  t.same(result.skippedExamples.map((e) => e.reason).sort(), ['empty-caption', 'empty-image', 'missing-caption']);
  t.ok(result.skippedExamples.some((e) => e.item === 'no-caption.webp'));
  t.same(result.index.meta['skipped'], result.skipped, 'skip counts are in the index');
  const members = await readTar(join(dir, 'out/ph-000000.tar'));
  t.same(members.map((m) => m.name), [
    'a.jpg',
    'a.txt',
    'b.png',
    'b.txt',
    'sub/deep_v2.txt',
    'sub/deep_v2.webp',
    'sub/x.jpg',
    'sub/x.txt',
    'sub/x_2.png',
    'sub/x_2.txt',
  ]);
  const byName = new Map(members.map((m) => [m.name, m.data.toString()]));
  t.equal(byName.get('a.jpg'), 'jpeg-a', 'image bytes copied as they are');
  t.equal(byName.get('b.txt'), 'a blue bird', 'caption trimmed');
  t.equal(byName.get('sub/deep_v2.txt'), 'deep caption, with a comma');
  t.equal(byName.get('sub/x_2.png'), 'x2');
  t.equal(progress.at(-1), 5);
  t.equal(result.index.totals.samples, 5);
});

t.test('a missing folder is a SourceDataError', async (t) => {
  const dir = t.testdir({ file: 'x' });
  await t.rejects(folderSource({ input: join(dir, 'nope') }), { name: 'SourceDataError', reason: 'missing-input' });
  await t.rejects(folderSource({ input: join(dir, 'file') }), { name: 'SourceDataError', reason: 'missing-input' });
});

t.test('keys and image extensions', async (t) => {
  t.equal(keyFromPath('a/b.c'), 'a/b_c');
  t.equal(keyFromPath('./a//b'), 'a/b');
  t.equal(imageExtensionOf('x.JPEG'), 'jpg');
  t.equal(imageExtensionOf('x.webp'), 'webp');
  t.equal(imageExtensionOf('x.gif'), undefined);
  t.equal(imageExtensionOf('noext'), undefined);
});

t.test('many images stream through in sorted order', async (t) => {
  const dir = t.testdir();
  await mkdir(join(dir, 'in'));
  for (let i = 0; i < 40; i++) {
    await writeFile(join(dir, 'in', `img${String(i).padStart(3, '0')}.png`), Buffer.from([i]));
    await writeFile(join(dir, 'in', `img${String(i).padStart(3, '0')}.txt`), `caption ${i}`);
  }
  const { index } = await convertToShards(await folderSource({ input: join(dir, 'in') }), { pattern: join(dir, 'o/f-%06d.tar'), maxCount: 16 });
  t.same(index.shards.map((s) => s.samples), [16, 16, 8]);
  const last = await readTar(join(dir, 'o/f-000002.tar'));
  t.equal(last[0]?.name, 'img032.png');
  t.same([...(last[0]?.data ?? [])], [32]);
  t.equal((await readFile(join(dir, 'o/f.index.json'), 'utf8')).includes('"source": "folder"'), true);
});
