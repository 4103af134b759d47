/**
 * Converter (2): a CSV or TSV file of `image_path,caption` rows. Image paths are
 * relative to the CSV file's folder (absolute paths are used as they are). Quoted fields
 * may hold delimiters, quotes (`""`) and newlines (parsed with `csv-parse`). A `.tsv`
 * file is tab-separated, anything else comma-separated (override with `delimiter`).
 *
 * Header: with `header: 'auto'` (the default) the first row is a header when it names
 * an image column (`image_path`, `image`, `path`, `file`, `filename`, `filepath`, `img`)
 * and a caption column (`caption`, `text`, `title`, `description`, `sentence`); the
 * columns may then be in any order. Without a header, column 1 is the path and
 * column 2 the caption.
 *
 * Rows whose image is missing or not jpg/jpeg/png/webp, or whose caption is empty, are
 * skipped and counted (`missing-image`, `unsupported-image`, `empty-caption`,
 * `short-row`). The key is the data row number, 9 digits (`000000000`), so one image
 * may appear in several rows with different captions.
 *
 * @example
 * ```ts
 * const source = await csvSource({ input: 'pairs.tsv' });
 * await convertToShards(source, { pattern: 'out/pairs-%06d.tar' });
 * ```
 */
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { dirname, extname, isAbsolute, join } from 'node:path';
import { parse, type Options as CsvOptions } from 'csv-parse';
import { SourceDataError } from '../../core/errors.js';
import { expectString, invalidOption } from '../../core/validate.js';
import type { SampleInput } from '../sample.js';
import { imageExtensionOf } from './images.js';
import { SkipCounter, type SampleSource } from './source.js';

/** Options of {@link csvSource}. */
export interface CsvSourceOptions {
  /** The CSV/TSV file. */
  readonly input: string;
  /** Field delimiter. Default: tab for `.tsv`, comma otherwise. */
  readonly delimiter?: string;
  /** Whether the first row is a header. Default `'auto'`. */
  readonly header?: boolean | 'auto';
}

const PATH_COLUMNS = ['image_path', 'image', 'path', 'file', 'filename', 'filepath', 'img', 'image_file'];
const CAPTION_COLUMNS = ['caption', 'text', 'title', 'description', 'sentence'];

function csvOptions(delimiter: string): CsvOptions {
  return {
    delimiter,
    bom: true,
    relax_column_count: true,
    skip_empty_lines: true,
    relax_quotes: delimiter === '\t',
  };
}

async function* records(file: string, delimiter: string): AsyncGenerator<string[]> {
  const parser = createReadStream(file).pipe(parse(csvOptions(delimiter)));
  try {
    for await (const record of parser as AsyncIterable<string[]>) yield record;
  } catch (err) {
    const line = (err as { lines?: number }).lines;
    throw new SourceDataError(
      'bad-csv',
      `cannot parse the CSV${line === undefined ? '' : ` near line ${line}`}: ${(err as Error).message}`,
      file,
      { cause: err },
    );
  } finally {
    parser.destroy();
  }
}

interface Columns {
  readonly path: number;
  readonly caption: number;
  readonly hasHeader: boolean;
}

function detectColumns(first: readonly string[] | undefined, header: boolean | 'auto', file: string): Columns {
  const names = (first ?? []).map((f) => f.trim().toLowerCase());
  const path = names.findIndex((n) => PATH_COLUMNS.includes(n));
  const caption = names.findIndex((n) => CAPTION_COLUMNS.includes(n));
  const named = path >= 0 && caption >= 0 && path !== caption;
  if (header === true && !named) {
    throw new SourceDataError(
      'bad-header',
      `the header must name an image column (${PATH_COLUMNS.join(', ')}) and a caption column (${CAPTION_COLUMNS.join(', ')})`,
      file,
    );
  }
  if (header !== false && named) return { path, caption, hasHeader: true };
  return { path: 0, caption: 1, hasHeader: false };
}

/**
 * Open a CSV/TSV of image paths and captions. Counts the rows first (a streaming pass,
 * for progress); rejects with a `SourceDataError` (`missing-input`, `bad-csv`,
 * `bad-header`) for a missing or unparsable file.
 */
export async function csvSource(options: CsvSourceOptions): Promise<SampleSource> {
  const file = expectString('input', options.input);
  const delimiter =
    options.delimiter === undefined
      ? extname(file).toLowerCase() === '.tsv'
        ? '\t'
        : ','
      : expectString('delimiter', options.delimiter);
  if (delimiter.length !== 1) throw invalidOption('delimiter', 'one character', delimiter);
  const header = options.header ?? 'auto';
  if (header !== 'auto' && typeof header !== 'boolean') throw invalidOption('header', "true, false or 'auto'", header);
  const s = await stat(file).catch((err: unknown) => {
    throw new SourceDataError('missing-input', 'the CSV file does not exist', file, { cause: err });
  });
  if (!s.isFile()) throw new SourceDataError('missing-input', 'the CSV input is not a file', file);

  let first: string[] | undefined;
  let rows = 0;
  for await (const record of records(file, delimiter)) {
    if (rows === 0) first = record;
    rows++;
  }
  const columns = detectColumns(first, header, file);
  const dataRows = rows - (columns.hasHeader ? 1 : 0);
  const folder = dirname(file);
  const skips = new SkipCounter();

  async function* samples(): AsyncGenerator<SampleInput> {
    let row = -1;
    let line = 0;
    for await (const record of records(file, delimiter)) {
      line++;
      if (line === 1 && columns.hasHeader) continue;
      row++;
      const where = `row ${row + 1}`;
      const rawPath = record[columns.path]?.trim();
      const caption = record[columns.caption]?.trim();
      if (rawPath === undefined || rawPath === '' || caption === undefined) {
        skips.add('short-row', where);
        continue;
      }
      if (caption === '') {
        skips.add('empty-caption', `${where}: ${rawPath}`);
        continue;
      }
      const ext = imageExtensionOf(rawPath);
      if (ext === undefined) {
        skips.add('unsupported-image', `${where}: ${rawPath}`);
        continue;
      }
      const path = isAbsolute(rawPath) ? rawPath : join(folder, rawPath);
      let image: Buffer;
      try {
        image = await readFile(path);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'ENOENT' || code === 'EISDIR' || code === 'ENOTDIR') {
          skips.add('missing-image', `${where}: ${rawPath}`);
          continue;
        }
        throw new SourceDataError('unreadable-image', 'cannot read the image file', path, { cause: err });
      }
      if (image.byteLength === 0) {
        skips.add('empty-image', `${where}: ${rawPath}`);
        continue;
      }
      yield { __key__: String(row).padStart(9, '0'), files: { [ext]: image, txt: caption } };
    }
  }

  return {
    kind: 'csv',
    total: dataRows,
    classes: undefined,
    meta: { source: 'csv', input: file, header: columns.hasHeader },
    skipped: skips.counts,
    skippedExamples: skips.examples,
    [Symbol.asyncIterator]: () => samples(),
  };
}
