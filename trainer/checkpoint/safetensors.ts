/**
 * The safetensors format (https://huggingface.co/docs/safetensors), written and read here
 * directly: it is a few lines of code and no well-kept npm package implements it for
 * Node.js. Layout:
 *
 * ```
 * [8 bytes] N = header length, unsigned 64-bit little-endian
 * [N bytes] JSON header: { "__metadata__": {string: string}, name: { "dtype": "F32", "shape": [..],
 *            "data_offsets": [begin, end] }, ... } (padded with spaces to a multiple of 8)
 * [rest]    raw little-endian tensor data; offsets are relative to the start of this part
 * ```
 *
 * Tensors are stored in name order, contiguously, with no holes (what the reference
 * implementation checks). Readers in other languages (`safetensors.torch.load_file`,
 * `safetensors.numpy`) read these files as they are.
 *
 * @example
 * ```ts
 * const bytes = encodeSafetensors({ 'w': { dtype: 'F32', shape: [2], data: new Float32Array([1, 2]) } }, { step: '3' });
 * const { tensors, metadata } = decodeSafetensors(bytes, 'model.safetensors');
 * ```
 */
import { endianness } from 'node:os';
import { CheckpointError } from '../../core/errors.js';

/** Element types this implementation writes and reads. */
export type SafetensorsDtype = 'F32' | 'I32';

/** One named array: dtype, shape and data (row-major). */
export interface StoredTensor {
  readonly dtype: SafetensorsDtype;
  readonly shape: readonly number[];
  readonly data: Float32Array | Int32Array;
}

export type StoredTensors = Readonly<Record<string, StoredTensor>>;

export interface DecodedSafetensors {
  readonly tensors: Record<string, StoredTensor>;
  readonly metadata: Record<string, string>;
}

const BYTES: Readonly<Record<SafetensorsDtype, number>> = { F32: 4, I32: 4 };
/** Largest header accepted when reading (the reference implementation's limit is 100 MB). */
export const MAX_SAFETENSORS_HEADER_BYTES = 100_000_000;

function elements(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

function littleEndianBytes(data: Float32Array | Int32Array): Buffer {
  const bytes = Buffer.from(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength));
  if (endianness() === 'BE') bytes.swap32();
  return bytes;
}

/** Serialise `tensors` (and string `metadata`) to safetensors bytes. */
export function encodeSafetensors(tensors: StoredTensors, metadata: Readonly<Record<string, string>> = {}): Buffer {
  const names = Object.keys(tensors).sort();
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) header.__metadata__ = { ...metadata };
  const chunks: Buffer[] = [];
  let offset = 0;
  for (const name of names) {
    if (name === '__metadata__') throw new RangeError('safetensors: "__metadata__" is not a valid tensor name');
    const t = tensors[name] as StoredTensor;
    if (elements(t.shape) !== t.data.length) {
      throw new RangeError(`safetensors: tensor ${name} has shape [${t.shape.join(', ')}] but ${t.data.length} values`);
    }
    const expected = t.dtype === 'F32' ? Float32Array : Int32Array;
    if (!(t.data instanceof expected)) throw new RangeError(`safetensors: tensor ${name} is ${t.dtype} but its data is not a ${expected.name}`);
    const bytes = littleEndianBytes(t.data);
    header[name] = { dtype: t.dtype, shape: [...t.shape], data_offsets: [offset, offset + bytes.length] };
    chunks.push(bytes);
    offset += bytes.length;
  }
  let json = JSON.stringify(header);
  const pad = (8 - (Buffer.byteLength(json) % 8)) % 8;
  json += ' '.repeat(pad);
  const headerBytes = Buffer.from(json, 'utf8');
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(headerBytes.length));
  return Buffer.concat([prefix, headerBytes, ...chunks]);
}

/** The fields of a tensor's header entry (the reference implementation rejects others). */
const ENTRY_KEYS = new Set(['dtype', 'shape', 'data_offsets']);

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/**
 * Parse safetensors bytes; `source` names the file in errors. Data is copied out. The
 * header is validated field by field (dtype, shape, offsets, contiguity, no unknown
 * fields, string metadata); tensors and metadata come back in null-prototype records, so
 * no name in a file can reach `Object.prototype`.
 */
export function decodeSafetensors(bytes: Uint8Array, source = 'safetensors'): DecodedSafetensors {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buf.length < 8) throw new CheckpointError(source, 'file is shorter than the 8-byte safetensors header length');
  const n = buf.readBigUInt64LE(0);
  if (n > BigInt(Math.min(MAX_SAFETENSORS_HEADER_BYTES, buf.length - 8))) {
    throw new CheckpointError(source, `safetensors header length ${n} exceeds the file (${buf.length} bytes)`);
  }
  const headerLen = Number(n);
  let header: unknown;
  try {
    header = JSON.parse(buf.subarray(8, 8 + headerLen).toString('utf8'));
  } catch (err) {
    throw new CheckpointError(source, 'safetensors header is not valid JSON', { cause: err });
  }
  if (!isRecord(header)) throw new CheckpointError(source, 'safetensors header is not a JSON object');
  const dataStart = 8 + headerLen;
  const dataLen = buf.length - dataStart;
  // Null-prototype records: a tensor or metadata name such as "__proto__" is just a name.
  const metadata: Record<string, string> = Object.create(null) as Record<string, string>;
  const tensors: Record<string, StoredTensor> = Object.create(null) as Record<string, StoredTensor>;
  const spans: [number, number, string][] = [];
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') {
      if (!isRecord(entry)) throw new CheckpointError(source, '__metadata__ is not an object');
      for (const [k, v] of Object.entries(entry)) {
        if (typeof v !== 'string') throw new CheckpointError(source, `__metadata__.${k} is not a string`);
        metadata[k] = v;
      }
      continue;
    }
    if (!isRecord(entry)) throw new CheckpointError(source, `tensor ${name}: header entry is not an object`);
    const extra = Object.keys(entry).filter((k) => !ENTRY_KEYS.has(k));
    if (extra.length > 0) throw new CheckpointError(source, `tensor ${name}: unknown header field(s) ${extra.join(', ')}`);
    const { dtype, shape, data_offsets: offsets } = entry;
    if (dtype !== 'F32' && dtype !== 'I32') throw new CheckpointError(source, `tensor ${name}: unsupported dtype ${String(dtype)}`);
    if (!Array.isArray(shape) || !shape.every((d): d is number => Number.isInteger(d) && d >= 0)) {
      throw new CheckpointError(source, `tensor ${name}: shape is not a list of non-negative integers`);
    }
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o): o is number => Number.isInteger(o) && o >= 0)) {
      throw new CheckpointError(source, `tensor ${name}: data_offsets is not [begin, end]`);
    }
    const [begin, end] = offsets as [number, number];
    if (end < begin || end > dataLen) throw new CheckpointError(source, `tensor ${name}: data_offsets [${begin}, ${end}] outside the data (${dataLen} bytes)`);
    const count = elements(shape);
    if ((end - begin) !== count * BYTES[dtype]) {
      throw new CheckpointError(source, `tensor ${name}: ${end - begin} bytes for shape [${shape.join(', ')}] of ${dtype}`);
    }
    const raw = Buffer.from(buf.subarray(dataStart + begin, dataStart + end));
    if (endianness() === 'BE') raw.swap32();
    const ab = raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength);
    tensors[name] = { dtype, shape, data: dtype === 'F32' ? new Float32Array(ab) : new Int32Array(ab) };
    spans.push([begin, end, name]);
  }
  spans.sort((a, b) => a[0] - b[0]);
  let cursor = 0;
  for (const [begin, end, name] of spans) {
    if (begin !== cursor) throw new CheckpointError(source, `tensor ${name}: data is not contiguous (starts at ${begin}, expected ${cursor})`);
    cursor = end;
  }
  if (cursor !== dataLen) throw new CheckpointError(source, `${dataLen - cursor} trailing bytes after the last tensor`);
  return { tensors, metadata };
}
