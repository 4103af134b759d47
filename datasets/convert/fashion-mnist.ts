/**
 * Converter (3): Fashion-MNIST IDX files into PNG + caption + `cls` samples.
 *
 * Reads `train-images-idx3-ubyte` + `train-labels-idx1-ubyte` (split `train`) or
 * `t10k-images-idx3-ubyte` + `t10k-labels-idx1-ubyte` (split `test`) from any folder,
 * gzipped (`.gz`) or not, also with the `.idx3-ubyte` spelling. The Debian package
 * `dataset-fashion-mnist` installs them in {@link FASHION_MNIST_DEFAULT_DIR}. Magic
 * numbers, dimensions, record counts and labels are checked (typed `SourceDataError`s).
 *
 * Each sample: `png` (the 28x28 greyscale image, lossless), `txt` (a caption from
 * varied templates and class-name synonyms, chosen by `Rng(deriveSeed(seed,
 * 'fashion-mnist', split, i))`), `cls` (0-9). Keys are `train-000000` / `test-000000`,
 * so the two splits never share a key; write them to separate shard sets.
 *
 * @example
 * ```ts
 * const source = await fashionMnistSource({ input: FASHION_MNIST_DEFAULT_DIR, split: 'test', seed: 1 });
 * await convertToShards(source, { pattern: 'out/fmnist-test-%06d.tar', maxCount: 5000 });
 * ```
 */
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { SourceDataError } from '../../core/errors.js';
import { deriveSeed, Rng } from '../../core/rng.js';
import { expectInteger, expectOneOf, expectString } from '../../core/validate.js';
import type { SampleInput } from '../sample.js';
import { openIdx, type IdxFile } from './idx.js';
import { orderedMap, type SampleSource } from './source.js';

/** Where the Debian package `dataset-fashion-mnist` puts the files. */
export const FASHION_MNIST_DEFAULT_DIR = '/usr/share/datasets/fashion-mnist';

/** Class names, in label order (the index records these). */
export const FASHION_MNIST_CLASSES = [
  't-shirt',
  'trouser',
  'pullover',
  'dress',
  'coat',
  'sandal',
  'shirt',
  'sneaker',
  'bag',
  'ankle boot',
] as const;

/** Noun phrases per class, article included ("a pair of trousers"). */
const CLASS_PHRASES: readonly (readonly string[])[] = [
  ['a t-shirt', 'a tee', 'a top', 'a short-sleeved top'],
  ['a pair of trousers', 'a pair of pants', 'trousers', 'a pair of slacks'],
  ['a pullover', 'a sweater', 'a jumper', 'a knitted pullover'],
  ['a dress', 'a frock', 'a summer dress', 'a long dress'],
  ['a coat', 'a jacket', 'an overcoat', 'a winter coat'],
  ['a sandal', 'an open shoe', 'a summer sandal', 'a strappy sandal'],
  ['a shirt', 'a button-up shirt', 'a blouse', 'a collared shirt'],
  ['a sneaker', 'a trainer', 'a running shoe', 'a sports shoe'],
  ['a bag', 'a handbag', 'a purse', 'a tote bag'],
  ['an ankle boot', 'a boot', 'a short boot', 'a leather ankle boot'],
];

const TEMPLATES: readonly ((np: string) => string)[] = [
  (np) => `a photo of ${np}`,
  (np) => `a black and white photo of ${np}`,
  (np) => `a greyscale picture of ${np}`,
  (np) => `a small image of ${np}`,
  (np) => `${np} on a black background`,
  (np) => `a low resolution photo of ${np}`,
  (np) => `a product photo of ${np}`,
  (np) => `${np}, seen from the front`,
  (np) => `a catalogue image showing ${np}`,
  (np) => `a centred picture of ${np}`,
];

/**
 * A caption for class `label`, drawn with `rng`.
 *
 * @example
 * ```ts
 * fashionMnistCaption(9, new Rng(1)); // e.g. "a product photo of an ankle boot"
 * ```
 */
export function fashionMnistCaption(label: number, rng: Rng): string {
  const phrases = CLASS_PHRASES[label] ?? ['an item'];
  const np = phrases[rng.int(phrases.length)] as string;
  const caption = (TEMPLATES[rng.int(TEMPLATES.length)] as (np: string) => string)(np);
  return rng.next() < 0.5 ? caption : caption.charAt(0).toUpperCase() + caption.slice(1) + '.';
}

/**
 * Every caption wording of each class, without the random capitalisation: class-major,
 * `[class][phrase x template]` (40 per class). A zero-shot classifier built from these
 * uses only the class names and caption templates the converter knows, never a label.
 *
 * @example
 * ```ts
 * fashionMnistPrompts()[9][0]; // "a photo of an ankle boot"
 * ```
 */
export function fashionMnistPrompts(): string[][] {
  return CLASS_PHRASES.map((phrases) => phrases.flatMap((np) => TEMPLATES.map((template) => template(np))));
}

/** Options of {@link fashionMnistSource}. */
export interface FashionMnistOptions {
  /** Folder with the IDX files. Default {@link FASHION_MNIST_DEFAULT_DIR}. */
  readonly input?: string;
  /** `train` (60,000) or `test` (10,000, the `t10k` files). */
  readonly split: 'train' | 'test';
  /** Seed for caption choices. Default 0. */
  readonly seed?: number;
  /** Convert only the first `limit` images. Default: all. */
  readonly limit?: number;
  /** PNGs encoded at once on sharp's thread pool. Default 4. */
  readonly encodeConcurrency?: number;
}

const SPLIT_PREFIX = { train: 'train', test: 't10k' } as const satisfies Record<'train' | 'test', string>;

async function findFile(dir: string, prefix: string, kind: 'images' | 'labels'): Promise<string> {
  const n = kind === 'images' ? 3 : 1;
  const names = [`${prefix}-${kind}-idx${n}-ubyte`, `${prefix}-${kind}.idx${n}-ubyte`];
  for (const name of names) {
    for (const candidate of [name + '.gz', name]) {
      const path = join(dir, candidate);
      if (await access(path).then(() => true, () => false)) return path;
    }
  }
  throw new SourceDataError(
    'missing-input',
    `no ${names[0]} or ${names[0]}.gz (nor the .idx${n}-ubyte spelling) in the Fashion-MNIST folder`,
    dir,
  );
}

async function* zip(images: IdxFile, labels: IdxFile, limit: number): AsyncGenerator<{ i: number; pixels: Buffer; label: number }> {
  const li = labels.records();
  const ii = images.records();
  try {
    for (let i = 0; i < limit; i++) {
      const [img, lab] = await Promise.all([ii.next(), li.next()]);
      if (img.done === true || lab.done === true) return;
      const label = lab.value[0] ?? 0;
      if (label >= FASHION_MNIST_CLASSES.length) {
        throw new SourceDataError('bad-label', `label ${label} of record ${i} is not a Fashion-MNIST class (0-9)`, labels.path);
      }
      yield { i, pixels: img.value, label };
    }
    if (limit === (images.dims[0] ?? 0)) {
      // Read to the end so a file longer than its header says is reported.
      await Promise.all([ii.next(), li.next()]);
    }
  } finally {
    await Promise.all([ii.return(undefined), li.return(undefined)]);
  }
}

/**
 * Open the Fashion-MNIST files of one split. Rejects with a `SourceDataError` when a file
 * is missing (`missing-input`), is not IDX (`bad-idx-magic`), has other dimensions than
 * N x rows x cols / N (`bad-idx-header`) or the image and label counts differ
 * (`count-mismatch`); reading rejects on a truncated file or a label above 9.
 */
export async function fashionMnistSource(options: FashionMnistOptions): Promise<SampleSource> {
  const input = expectString('input', options.input ?? FASHION_MNIST_DEFAULT_DIR);
  const split = expectOneOf('split', options.split, ['train', 'test']);
  const seed = expectInteger('seed', options.seed ?? 0, 0, 4294967295);
  const concurrency = expectInteger('encodeConcurrency', options.encodeConcurrency ?? 4, 1, 64);
  const prefix = SPLIT_PREFIX[split];
  const imagesPath = await findFile(input, prefix, 'images');
  const labelsPath = await findFile(input, prefix, 'labels');
  const probeImages = await openIdx(imagesPath, { ndims: 3 });
  const probeLabels = await openIdx(labelsPath, { ndims: 1 });
  // Only the headers were needed: release both streams.
  await probeImages.close();
  await probeLabels.close();
  const count = probeImages.dims[0] ?? 0;
  if (count !== probeLabels.dims[0]) {
    throw new SourceDataError(
      'count-mismatch',
      `${count} images but ${probeLabels.dims[0] ?? 0} labels (${labelsPath})`,
      imagesPath,
    );
  }
  const [, rows = 0, cols = 0] = probeImages.dims;
  const limit = options.limit === undefined ? count : Math.min(count, expectInteger('limit', options.limit, 0));

  async function* samples(): AsyncGenerator<SampleInput> {
    const images = await openIdx(imagesPath, { ndims: 3 });
    const labels = await openIdx(labelsPath, { ndims: 1 });
    const encode = async (r: { i: number; pixels: Buffer; label: number }): Promise<SampleInput> => {
      const png = await sharp(r.pixels, { raw: { width: cols, height: rows, channels: 1 } })
        .toColourspace('b-w')
        .png({ compressionLevel: 6, adaptiveFiltering: false })
        .toBuffer();
      const caption = fashionMnistCaption(r.label, new Rng(deriveSeed(seed, 'fashion-mnist', split, r.i)));
      return { __key__: `${split}-${String(r.i).padStart(6, '0')}`, files: { png, txt: caption, cls: String(r.label) } };
    };
    yield* orderedMap(zip(images, labels, limit), encode, concurrency);
  }

  return {
    kind: 'fashion-mnist',
    total: limit,
    classes: FASHION_MNIST_CLASSES,
    meta: { source: 'fashion-mnist', split, seed, images: imagesPath, labels: labelsPath, rows, cols },
    skipped: {},
    skippedExamples: [],
    [Symbol.asyncIterator]: () => samples(),
  };
}
