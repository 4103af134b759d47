/**
 * Streaming reader of IDX files (the MNIST / Fashion-MNIST format), gzipped or not
 * (detected by the gzip magic bytes, not the name). Header: two zero bytes, a type byte
 * (0x08 = unsigned byte), a dimension count, then one big-endian uint32 per dimension.
 * Records are read one at a time: memory does not grow with the file.
 *
 * @example
 * ```ts
 * const idx = await openIdx('train-images-idx3-ubyte.gz');
 * idx.dims; // [60000, 28, 28]
 * for await (const image of idx.records()) { ... } // 784-byte Buffers
 * ```
 */
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { createGunzip } from 'node:zlib';
import { SourceDataError } from '../../core/errors.js';

/** An opened IDX file. */
export interface IdxFile {
  readonly path: string;
  readonly gzipped: boolean;
  /** All dimensions; `dims[0]` is the record count. */
  readonly dims: readonly number[];
  /** Bytes per record (product of `dims[1..]`). */
  readonly recordSize: number;
  /** The records in order, each a Buffer of `recordSize` bytes. Checks the file ends exactly. */
  records(): AsyncGenerator<Buffer>;
  /** Release the file (idempotent); needed only when `records()` is not read to the end. */
  close(): Promise<void>;
}

/** Largest record count accepted (guards against a corrupt header). */
export const MAX_IDX_RECORDS = 100_000_000;

async function isGzip(path: string): Promise<boolean> {
  const fh = await open(path, 'r');
  try {
    const head = Buffer.alloc(2);
    const { bytesRead } = await fh.read(head, 0, 2, 0);
    return bytesRead === 2 && head[0] === 0x1f && head[1] === 0x8b;
  } finally {
    await fh.close();
  }
}

/** Pulls exact byte counts out of a chunk stream. */
class ByteReader {
  #chunks: Buffer[] = [];
  #buffered = 0;
  readonly #it: AsyncIterator<Buffer>;
  constructor(source: AsyncIterable<Buffer>) {
    this.#it = source[Symbol.asyncIterator]();
  }
  /** Exactly `n` bytes, or fewer at the end of the stream. */
  async read(n: number): Promise<Buffer> {
    while (this.#buffered < n) {
      const { value, done } = await this.#it.next();
      if (done === true) break;
      this.#chunks.push(value);
      this.#buffered += value.byteLength;
    }
    const all = this.#chunks.length === 1 ? (this.#chunks[0] as Buffer) : Buffer.concat(this.#chunks);
    const take = Math.min(n, all.byteLength);
    const out = Buffer.from(all.subarray(0, take));
    const rest = all.subarray(take);
    this.#chunks = rest.byteLength > 0 ? [rest] : [];
    this.#buffered = rest.byteLength;
    return out;
  }
  async close(): Promise<void> {
    await this.#it.return?.();
  }
}

function stream(path: string, gzipped: boolean): AsyncIterable<Buffer> {
  const raw = createReadStream(path, { highWaterMark: 1 << 16 });
  return gzipped ? raw.pipe(createGunzip()) : raw;
}

/**
 * Open an IDX file and read its header. `expected` checks the type and the number of
 * dimensions. Rejects with a `SourceDataError`: `missing-input`, `bad-idx-magic`,
 * `bad-idx-header`.
 */
export async function openIdx(path: string, expected: { readonly ndims: number }): Promise<IdxFile> {
  let gzipped: boolean;
  try {
    gzipped = await isGzip(path);
  } catch (err) {
    throw new SourceDataError('missing-input', 'cannot open the IDX file', path, { cause: err });
  }
  const wrap = (err: unknown): SourceDataError =>
    err instanceof SourceDataError ? err : new SourceDataError('corrupt-idx', 'cannot decompress or read the IDX file', path, { cause: err });
  const reader = new ByteReader(stream(path, gzipped));
  let head: Buffer;
  try {
    head = await reader.read(4);
  } catch (err) {
    await reader.close().catch(() => undefined);
    throw wrap(err);
  }
  if (head.byteLength < 4 || head[0] !== 0 || head[1] !== 0 || head[2] !== 0x08 || head[3] !== expected.ndims) {
    await reader.close();
    const magic = head.byteLength < 4 ? 'too short' : `0x${head.toString('hex')}`;
    throw new SourceDataError(
      'bad-idx-magic',
      `not an IDX file of unsigned bytes with ${expected.ndims} dimension(s): magic ${magic}, expected 0x000008${expected.ndims.toString(16).padStart(2, '0')}`,
      path,
    );
  }
  const dimBytes = await reader.read(4 * expected.ndims).catch(async (err: unknown) => {
    await reader.close().catch(() => undefined);
    throw wrap(err);
  });
  if (dimBytes.byteLength < 4 * expected.ndims) {
    await reader.close();
    throw new SourceDataError('bad-idx-header', 'the IDX header is truncated', path);
  }
  const dims = Array.from({ length: expected.ndims }, (_, i) => dimBytes.readUInt32BE(4 * i));
  const recordSize = dims.slice(1).reduce((a, b) => a * b, 1);
  if ((dims[0] ?? 0) > MAX_IDX_RECORDS || recordSize <= 0 || recordSize > 1 << 24) {
    await reader.close();
    throw new SourceDataError('bad-idx-header', `implausible IDX dimensions ${dims.join('x')}`, path);
  }
  const count = dims[0] ?? 0;
  let used = false;
  return {
    path,
    gzipped,
    dims,
    recordSize,
    close: async () => await reader.close().catch(() => undefined),
    async *records(): AsyncGenerator<Buffer> {
      if (used) throw new SourceDataError('idx-reread', 'records() can be read once', path);
      used = true;
      try {
        for (let i = 0; i < count; i++) {
          const rec = await reader.read(recordSize).catch((err: unknown) => {
            throw wrap(err);
          });
          if (rec.byteLength < recordSize) {
            throw new SourceDataError(
              'truncated-idx',
              `the IDX file ends after ${i} of ${count} records (the header promises ${count})`,
              path,
            );
          }
          yield rec;
        }
        const extra = await reader.read(1).catch((err: unknown) => {
          throw wrap(err);
        });
        if (extra.byteLength > 0) {
          throw new SourceDataError('oversized-idx', `the IDX file has bytes after its ${count} records`, path);
        }
      } finally {
        await reader.close().catch(() => undefined);
      }
    },
  };
}
