/**
 * URL lists for `declip shards create --from urls`: the rows of a CSV, TSV, JSONL or
 * Parquet file, each an image URL and (optionally) a caption, streamed in file order.
 *
 * - CSV/TSV: a header row names the columns (`url` and `caption` by default, as
 *   img2dataset's `url_col`/`caption_col`); quoted fields are parsed by `csv-parse`.
 * - JSONL: one JSON object per line; a line that is not a JSON object is a row that
 *   fails as `bad-row` (it is still counted, so every row is accounted for).
 * - Parquet: read with `hyparquet` one row group at a time, only the two columns, from
 *   byte ranges of the file (never the whole file); snappy, gzip, zstd, brotli and lz4
 *   pages through `hyparquet-compressors`. Row groups holding no wanted row are skipped.
 *
 * Rows are numbered from 0 in file order (blank CSV/JSONL lines are not rows): the row
 * number decides the shard (`floor(row / rowsPerShard)`) and the sample key, so every
 * rerun and every machine maps rows to the same shards.
 *
 * @example
 * ```ts
 * const list = await openUrlList({ input: 'cc3m.tsv', urlCol: 'url', captionCol: 'caption' });
 * for await (const r of list.rows()) console.log(r.row, r.url, r.caption);
 * ```
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { extname } from 'node:path';
import { createInterface } from 'node:readline';
import { parse } from 'csv-parse';
import { asyncBufferFromFile, parquetMetadataAsync, parquetReadObjects, parquetSchema } from 'hyparquet';
import { compressors } from 'hyparquet-compressors';
import { SourceDataError } from '../../core/errors.js';
import { expectString, invalidOption } from '../../core/validate.js';

/** The input formats. */
export const URL_LIST_FORMATS = ['csv', 'tsv', 'jsonl', 'parquet'] as const;
export type UrlListFormat = (typeof URL_LIST_FORMATS)[number];

/** One row of a URL list. `problem` is set when the row itself is unusable. */
export interface UrlRow {
  /** 0-based row number in file order. */
  readonly row: number;
  readonly url: string | undefined;
  readonly caption: string | undefined;
  /** `bad-row` (unparsable JSONL line) or `missing-url` (empty url cell). */
  readonly problem?: 'bad-row' | 'missing-url';
}

/** Options of {@link openUrlList}. */
export interface UrlListOptions {
  readonly input: string;
  /** Column with the image URL. Default `url`. */
  readonly urlCol?: string;
  /**
   * Column with the caption. Default `caption`; when the default column is absent the
   * samples have no caption (a column named explicitly must exist).
   */
  readonly captionCol?: string;
  /** Default: from the file extension (`.csv`, `.tsv`, `.jsonl`/`.ndjson`, `.parquet`). */
  readonly format?: UrlListFormat;
}

/** An opened URL list. */
export interface UrlList {
  readonly input: string;
  readonly format: UrlListFormat;
  readonly urlCol: string;
  /** Undefined when the list has no caption column. */
  readonly captionCol: string | undefined;
  /** Number of rows (a streaming pass for text formats, the footer for Parquet). */
  countRows(): Promise<number>;
  /**
   * The rows in file order. Rows for which `wanted(row)` is false may be skipped
   * without being parsed (Parquet row groups holding none are not read).
   */
  rows(wanted?: (row: number) => boolean): AsyncGenerator<UrlRow>;
}

/** The format of a list file from its extension, or undefined. */
export function urlListFormatOf(file: string): UrlListFormat | undefined {
  const ext = extname(file).toLowerCase();
  if (ext === '.csv') return 'csv';
  if (ext === '.tsv') return 'tsv';
  if (ext === '.jsonl' || ext === '.ndjson') return 'jsonl';
  if (ext === '.parquet') return 'parquet';
  return undefined;
}

const text = (v: unknown): string | undefined => {
  if (v === undefined || v === null) return undefined;
  const s = typeof v === 'string' ? v : typeof v === 'number' || typeof v === 'bigint' || typeof v === 'boolean' ? String(v) : undefined;
  return s === undefined ? undefined : s.trim();
};

function makeRow(row: number, url: unknown, caption: unknown): UrlRow {
  const u = text(url);
  const c = text(caption);
  return u === undefined || u === '' ? { row, url: undefined, caption: c, problem: 'missing-url' } : { row, url: u, caption: c };
}

function columnsError(file: string, col: string, flag: string, found: readonly string[]): SourceDataError {
  return new SourceDataError(
    'bad-header',
    `the list has no column ${JSON.stringify(col)} (set it with ${flag}); its columns: ${found.map((c) => JSON.stringify(c)).join(', ') || 'none'}`,
    file,
  );
}

/** Pick the columns from the header names. */
function pickColumns(file: string, names: readonly string[], urlCol: string, captionCol: string, captionExplicit: boolean): { url: string; caption: string | undefined } {
  if (!names.includes(urlCol)) throw columnsError(file, urlCol, '--url-col', names);
  if (!names.includes(captionCol)) {
    if (captionExplicit) throw columnsError(file, captionCol, '--caption-col', names);
    return { url: urlCol, caption: undefined };
  }
  return { url: urlCol, caption: captionCol };
}

async function* csvRecords(file: string, delimiter: string): AsyncGenerator<string[]> {
  const parser = createReadStream(file).pipe(
    parse({ delimiter, bom: true, relax_column_count: true, skip_empty_lines: true, relax_quotes: delimiter === '\t' }),
  );
  try {
    for await (const record of parser as AsyncIterable<string[]>) yield record;
  } catch (err) {
    const line = (err as { lines?: number }).lines;
    throw new SourceDataError('bad-csv', `cannot parse the list${line === undefined ? '' : ` near line ${line}`}: ${(err as Error).message}`, file, {
      cause: err,
    });
  } finally {
    parser.destroy();
  }
}

async function* jsonlLines(file: string): AsyncGenerator<string> {
  const lines = createInterface({ input: createReadStream(file), crlfDelay: Infinity });
  try {
    for await (const line of lines) if (line.trim() !== '') yield line;
  } catch (err) {
    throw new SourceDataError('unreadable-input', 'cannot read the list', file, { cause: err });
  } finally {
    lines.close();
  }
}

/**
 * Open a URL list: checks the file and its columns (a `SourceDataError` naming the file:
 * `missing-input`, `bad-header`, `bad-csv`, `bad-parquet`), reads no rows yet.
 */
export async function openUrlList(options: UrlListOptions): Promise<UrlList> {
  const input = expectString('input', options.input);
  const urlCol = expectString('urlCol', options.urlCol ?? 'url');
  const captionExplicit = options.captionCol !== undefined;
  const captionCol = expectString('captionCol', options.captionCol ?? 'caption');
  const format = options.format ?? urlListFormatOf(input);
  if (format === undefined || !(URL_LIST_FORMATS as readonly string[]).includes(format)) {
    throw invalidOption('input', 'a .csv, .tsv, .jsonl or .parquet file', input);
  }
  const s = await stat(input).catch((err: unknown) => {
    throw new SourceDataError('missing-input', 'the URL list does not exist', input, { cause: err });
  });
  if (!s.isFile()) throw new SourceDataError('missing-input', 'the URL list is not a file', input);

  if (format === 'parquet') return await openParquet(input, urlCol, captionCol, captionExplicit);

  if (format === 'jsonl') {
    // Columns of JSONL are per line: check the first object's keys.
    let cols: { url: string; caption: string | undefined } | undefined;
    for await (const line of jsonlLines(input)) {
      let first: unknown;
      try {
        first = JSON.parse(line);
      } catch {
        break;
      }
      if (typeof first === 'object' && first !== null && !Array.isArray(first)) {
        cols = pickColumns(input, Object.keys(first), urlCol, captionCol, captionExplicit);
      }
      break;
    }
    const picked = cols ?? { url: urlCol, caption: captionExplicit ? captionCol : undefined };
    return {
      input,
      format,
      urlCol: picked.url,
      captionCol: picked.caption,
      async countRows() {
        let n = 0;
        for await (const _ of jsonlLines(input)) n++;
        return n;
      },
      async *rows(wanted = () => true) {
        let row = 0;
        for await (const line of jsonlLines(input)) {
          const r = row++;
          if (!wanted(r)) continue;
          let obj: unknown;
          try {
            obj = JSON.parse(line);
          } catch {
            obj = undefined;
          }
          if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) {
            yield { row: r, url: undefined, caption: undefined, problem: 'bad-row' };
            continue;
          }
          const o = obj as Record<string, unknown>;
          yield makeRow(r, o[picked.url], picked.caption === undefined ? undefined : o[picked.caption]);
        }
      },
    };
  }

  const delimiter = format === 'tsv' ? '\t' : ',';
  let header: string[] | undefined;
  for await (const record of csvRecords(input, delimiter)) {
    header = record.map((h) => h.trim());
    break;
  }
  const names = header ?? [];
  const cols = pickColumns(input, names, urlCol, captionCol, captionExplicit);
  const urlAt = names.indexOf(cols.url);
  const captionAt = cols.caption === undefined ? -1 : names.indexOf(cols.caption);
  return {
    input,
    format,
    urlCol: cols.url,
    captionCol: cols.caption,
    async countRows() {
      let n = -1;
      for await (const _ of csvRecords(input, delimiter)) n++;
      return Math.max(n, 0);
    },
    async *rows(wanted = () => true) {
      let row = -2; // the header is row -1
      for await (const record of csvRecords(input, delimiter)) {
        row++;
        if (row < 0 || !wanted(row)) continue;
        yield makeRow(row, record[urlAt], captionAt < 0 ? undefined : record[captionAt]);
      }
    },
  };
}

async function openParquet(input: string, urlCol: string, captionCol: string, captionExplicit: boolean): Promise<UrlList> {
  const bad = (err: unknown): SourceDataError =>
    new SourceDataError('bad-parquet', `cannot read the Parquet list: ${err instanceof Error ? err.message : String(err)}`, input, { cause: err });
  let file;
  let metadata;
  try {
    file = await asyncBufferFromFile(input);
    metadata = await parquetMetadataAsync(file);
  } catch (err) {
    throw bad(err);
  }
  const names = parquetSchema(metadata).children.map((c) => c.element.name);
  const cols = pickColumns(input, names, urlCol, captionCol, captionExplicit);
  const columns = cols.caption === undefined ? [cols.url] : [cols.url, cols.caption];
  const groups = metadata.row_groups.map((g) => Number(g.num_rows));
  const total = Number(metadata.num_rows);
  const pf = file;
  const md = metadata;
  return {
    input,
    format: 'parquet',
    urlCol: cols.url,
    captionCol: cols.caption,
    countRows: () => Promise.resolve(total),
    async *rows(wanted = () => true) {
      let start = 0;
      for (const n of groups) {
        const end = start + n;
        let any = false;
        for (let r = start; r < end && !any; r++) any = wanted(r);
        if (any) {
          let objects: Record<string, unknown>[];
          try {
            objects = await parquetReadObjects({ file: pf, metadata: md, columns, rowStart: start, rowEnd: end, compressors });
          } catch (err) {
            throw bad(err);
          }
          for (let i = 0; i < objects.length; i++) {
            const r = start + i;
            if (!wanted(r)) continue;
            const o = objects[i] ?? {};
            yield makeRow(r, o[cols.url], cols.caption === undefined ? undefined : o[cols.caption]);
          }
        }
        start = end;
      }
    },
  };
}
