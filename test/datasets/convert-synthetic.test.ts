import { join } from 'node:path';
import sharp from 'sharp';
import t from 'tap';
import type { SampleInput } from '../../datasets/sample.js';
import {
  convertToShards,
  planSyntheticSample,
  SYNTHETIC_COLOURS,
  SYNTHETIC_COLOUR_WORDS,
  SYNTHETIC_SHAPES,
  SYNTHETIC_SHAPE_WORDS,
  syntheticSource,
  type SyntheticAttributes,
} from '../../datasets/convert/index.js';
import { readShardIndex } from '../../datasets/shard-index.js';

async function collect(source: AsyncIterable<SampleInput>): Promise<SampleInput[]> {
  const out: SampleInput[] = [];
  for await (const s of source) out.push(s);
  return out;
}

const buf = (v: unknown): Buffer => v as Buffer;

t.test('the dataset is fully determined by its seed', async (t) => {
  const a = await collect(syntheticSource({ count: 12, seed: 3 }));
  const b = await collect(syntheticSource({ count: 12, seed: 3, renderConcurrency: 1 }));
  const c = await collect(syntheticSource({ count: 12, seed: 4 }));
  t.same(a.map((s) => s.__key__), Array.from({ length: 12 }, (_, i) => String(i).padStart(8, '0')));
  for (let i = 0; i < 12; i++) {
    t.ok(buf(a[i]?.files.png).equals(buf(b[i]?.files.png)), `png ${i} identical whatever the concurrency`);
    t.equal(a[i]?.files.txt, b[i]?.files.txt);
  }
  t.ok(a.some((s, i) => s.files.txt !== c[i]?.files.txt), 'another seed, other captions');
  const head = await collect(syntheticSource({ count: 4, seed: 3, start: 8 }));
  t.same(head.map((s) => [s.__key__, s.files.txt]), a.slice(8).map((s) => [s.__key__, s.files.txt]), 'sample i does not depend on count or start');
});

t.test('images are RGB PNGs of the requested size showing the shape colour', async (t) => {
  for (const imageSize of [64, 32]) {
    const samples = await collect(syntheticSource({ count: 24, seed: 9, imageSize }));
    for (const s of samples) {
      const attrs = JSON.parse(String(s.files.json)) as SyntheticAttributes;
      const { data, info } = await sharp(buf(s.files.png)).raw().toBuffer({ resolveWithObject: true });
      t.equal(info.width, imageSize);
      t.equal(info.height, imageSize);
      t.equal(info.channels, 3);
      const plan = planSyntheticSample(9, Number(s.__key__), imageSize);
      const m = /translate\(([\d.]+) ([\d.]+)\)/.exec(plan.svg);
      const x = Math.floor(Number(m?.[1]));
      const y = Math.floor(Number(m?.[2]));
      const at = (y * imageSize + x) * 3;
      const want = SYNTHETIC_COLOURS[attrs.colour];
      const got: [number, number, number] = [data[at] ?? 0, data[at + 1] ?? 0, data[at + 2] ?? 0];
      const dist = Math.hypot(got[0] - want[0], got[1] - want[1], got[2] - want[2]);
      t.ok(dist < 40, `${s.__key__}: centre pixel ${got} is ${attrs.colour} (${dist.toFixed(0)})`);
    }
  }
});

t.test('captions name the colour and the shape; cls is the shape id', async (t) => {
  const samples = await collect(syntheticSource({ count: 300, seed: 1 }));
  const captions = new Set<string>();
  const shapes = new Map<string, number>();
  const colours = new Set<string>();
  for (const s of samples) {
    const a = JSON.parse(String(s.files.json)) as SyntheticAttributes;
    const text = String(s.files.txt).toLowerCase();
    captions.add(text);
    shapes.set(a.shape, (shapes.get(a.shape) ?? 0) + 1);
    colours.add(a.colour);
    t.equal(s.files.cls, String(SYNTHETIC_SHAPES.indexOf(a.shape)));
    t.ok(SYNTHETIC_COLOUR_WORDS[a.colour].some((w) => text.includes(w)), `"${text}" names ${a.colour}`);
    t.ok(SYNTHETIC_SHAPE_WORDS[a.shape].some((w) => text.includes(w)), `"${text}" names ${a.shape}`);
    t.not(a.colour as string, a.background as string, 'shape and background differ');
  }
  t.equal(shapes.size, SYNTHETIC_SHAPES.length, 'every shape appears');
  for (const [shape, n] of shapes) t.ok(n > 15, `${shape} appears ${n} times (roughly balanced)`);
  t.equal(colours.size, Object.keys(SYNTHETIC_COLOURS).length, 'every colour appears');
  t.ok(captions.size > 250, `${captions.size} distinct captions of 300`);
});

t.test('written shards record the shape classes and the seed', async (t) => {
  const dir = t.testdir();
  const seen: number[] = [];
  const { index } = await convertToShards(syntheticSource({ count: 30, seed: 5 }), { pattern: join(dir, 'syn-%06d.tar'), maxCount: 10 }, {
    onProgress: (p) => seen.push(p.done),
  });
  t.same(index.classes, SYNTHETIC_SHAPES);
  t.equal(index.meta['seed'], 5);
  t.equal(index.meta['source'], 'synthetic');
  t.same(index.extensions, { cls: 30, json: 30, png: 30, txt: 30 });
  t.equal(index.totals.shards, 3);
  t.same(seen.slice(0, 3), [1, 2, 3]);
  t.equal(seen.at(-1), 30);
  t.same((await readShardIndex(join(dir, 'syn-000001.tar')))?.index, index);
});

t.test('validates options', async (t) => {
  t.throws(() => syntheticSource({ count: -1 }), { name: 'InvalidOptionError', field: 'count' });
  t.throws(() => syntheticSource({ count: 1, imageSize: 8 }), {
    name: 'InvalidOptionError',
    message: 'Expected integer between 16 and 1024 for imageSize but received 8 of type number',
  });
  t.throws(() => syntheticSource({ count: 1, seed: 1.5 }), { name: 'InvalidOptionError', field: 'seed' });
});
