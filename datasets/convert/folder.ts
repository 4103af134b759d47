/**
 * Converter (1): a folder of images with same-named `.txt` captions
 * (`photos/a/dog.jpg` + `photos/a/dog.txt`). The folder is walked recursively in sorted
 * order (hidden files and folders are ignored); jpg, jpeg, png and webp images are taken
 * (the file's bytes as they are, `jpeg` stored as `jpg`). An image without a caption,
 * or with an empty one, is skipped and counted (`missing-caption`, `empty-caption`).
 *
 * The key is the image's path relative to the folder, without the extension, dots in
 * names replaced by `_` (`a/dog.v2.jpg` -> `a/dog_v2`), made unique with `_2`, `_3`...
 *
 * @example
 * ```ts
 * const source = await folderSource({ input: 'photos' });
 * console.log(source.total); // images found
 * await convertToShards(source, { pattern: 'out/photos-%06d.tar' });
 * ```
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { SourceDataError } from '../../core/errors.js';
import { expectString } from '../../core/validate.js';
import type { SampleInput } from '../sample.js';
import { imageExtensionOf, KeyDeduper, keyFromPath } from './images.js';
import { SkipCounter, type SampleSource } from './source.js';

/** Options of {@link folderSource}. */
export interface FolderOptions {
  /** The folder to walk. */
  readonly input: string;
}

async function walk(root: string, dir: string, out: string[]): Promise<void> {
  const entries = await readdir(dir, { withFileTypes: true });
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const e of entries) {
    if (e.name.startsWith('.')) continue;
    const full = join(dir, e.name);
    let isDir = e.isDirectory();
    let isFile = e.isFile();
    if (e.isSymbolicLink()) {
      const s = await stat(full).catch(() => undefined);
      isDir = s?.isDirectory() ?? false;
      isFile = s?.isFile() ?? false;
    }
    if (isDir) await walk(root, full, out);
    else if (isFile && imageExtensionOf(e.name) !== undefined) out.push(relative(root, full));
  }
}

async function readCaption(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new SourceDataError('unreadable-caption', 'cannot read the caption file', path, { cause: err });
  }
}

/**
 * Scan `input` and return a source of its image/caption pairs. Rejects with a
 * `SourceDataError` (`missing-input`) if the folder does not exist.
 */
export async function folderSource(options: FolderOptions): Promise<SampleSource> {
  const root = expectString('input', options.input);
  const s = await stat(root).catch((err: unknown) => {
    throw new SourceDataError('missing-input', 'the image folder does not exist', root, { cause: err });
  });
  if (!s.isDirectory()) throw new SourceDataError('missing-input', 'the input is not a folder', root);
  const images: string[] = [];
  await walk(root, root, images);
  const skips = new SkipCounter();
  async function* samples(): AsyncGenerator<SampleInput> {
    const keys = new KeyDeduper();
    for (const rel of images) {
      const ext = imageExtensionOf(rel) ?? 'jpg';
      const base = rel.slice(0, rel.lastIndexOf('.'));
      const caption = await readCaption(join(root, base + '.txt'));
      if (caption === undefined) {
        skips.add('missing-caption', rel);
        continue;
      }
      const text = caption.trim();
      if (text === '') {
        skips.add('empty-caption', rel);
        continue;
      }
      let image: Buffer;
      try {
        image = await readFile(join(root, rel));
      } catch (err) {
        throw new SourceDataError('unreadable-image', 'cannot read the image file', join(root, rel), { cause: err });
      }
      if (image.byteLength === 0) {
        skips.add('empty-image', rel);
        continue;
      }
      yield { __key__: keys.unique(keyFromPath(base.split(sep).join('/'))), files: { [ext]: image, txt: text } };
    }
  }
  return {
    kind: 'folder',
    total: images.length,
    classes: undefined,
    meta: { source: 'folder', input: root },
    skipped: skips.counts,
    skippedExamples: skips.examples,
    [Symbol.asyncIterator]: () => samples(),
  };
}
