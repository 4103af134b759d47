/**
 * Sample keys and extensions as the writer accepts them, and the exact number of tar
 * bytes a member takes in a tar-stream archive (header, PAX header for long or UTF-8
 * names, data padded to 512).
 */
import { SampleError } from '../../core/errors.js';

/** Why a key or an extension was refused. */
export type MemberNameProblem =
  | 'empty-key'
  | 'invalid-key'
  | 'dot-in-key'
  | 'duplicate-key'
  | 'invalid-extension'
  | 'no-files';

/**
 * Check a sample key: non-empty, `/`-separated non-empty segments (no `.` or `..`
 * segments, no leading `/`), no dot in the last segment (webdataset splits the key from
 * the extension at the first dot of the basename), no NUL or backslash.
 * Returns the problem, or `undefined` when the key is valid.
 *
 * @example
 * ```ts
 * keyProblem('a/b/c'); // undefined
 * keyProblem('a/b.c'); // 'dot-in-key'
 * ```
 */
export function keyProblem(key: string): MemberNameProblem | undefined {
  if (key.length === 0) return 'empty-key';
  if (key.includes('\0') || key.includes('\\')) return 'invalid-key';
  const segments = key.split('/');
  if (segments.some((s) => s === '' || s === '.' || s === '..')) return 'invalid-key';
  const base = segments[segments.length - 1] ?? '';
  if (base.includes('.')) return 'dot-in-key';
  return undefined;
}

/**
 * Check an extension: non-empty, lower-case (readers lower-case extensions, so a
 * round trip keeps it), no `/`, no NUL, does not start or end with a dot, no empty part.
 *
 * @example
 * ```ts
 * extensionProblem('seg.png'); // undefined
 * extensionProblem('PNG'); // 'invalid-extension'
 * ```
 */
export function extensionProblem(ext: string): MemberNameProblem | undefined {
  if (ext.length === 0 || ext.includes('/') || ext.includes('\0') || ext.includes('\\')) return 'invalid-extension';
  if (ext !== ext.toLowerCase() || ext.split('.').some((p) => p === '')) return 'invalid-extension';
  return undefined;
}

const DETAIL: Record<MemberNameProblem, string> = {
  'empty-key': 'the sample key is empty',
  'invalid-key': 'the sample key must be /-separated non-empty names without ".", "..", NUL or backslash',
  'dot-in-key': 'the last part of a sample key must not contain a dot (the reader would split the key there)',
  'invalid-extension': 'extensions must be non-empty, lower-case, without "/" and without empty dot-separated parts',
  'no-files': 'a sample needs at least one file',
  'duplicate-key': 'the key repeats the previous sample\'s key (a reader would merge the two samples)',
};

/** The typed error for a refused key or extension. */
export function memberNameError(problem: MemberNameProblem, key: string, url: string, ext?: string): SampleError {
  const what = ext === undefined ? `key ${JSON.stringify(key)}` : `extension ${JSON.stringify(ext)} of key ${JSON.stringify(key)}`;
  return new SampleError(problem, `${DETAIL[problem]}: ${what}`, { url, key });
}

const BLOCK = 512;

function padded(n: number): number {
  return Math.ceil(n / BLOCK) * BLOCK;
}

function paxRecordLength(body: string): number {
  // tar-stream's addLength: "<len> <body>" where len counts itself.
  const len = Buffer.byteLength(body);
  let digits = Math.floor(Math.log(len) / Math.log(10)) + 1;
  if (len + digits >= Math.pow(10, digits)) digits++;
  return len + digits;
}

/** True when tar-stream can put `name` in a plain ustar header (ASCII, fits name/prefix). */
function fitsUstar(name: string): boolean {
  if (Buffer.byteLength(name) !== name.length) return false;
  let rest = name;
  let prefix = '';
  while (rest.length > 100) {
    const i = rest.indexOf('/');
    if (i === -1) return false;
    prefix += prefix ? '/' + rest.slice(0, i) : rest.slice(0, i);
    rest = rest.slice(i + 1);
  }
  return rest.length <= 100 && prefix.length <= 155;
}

/**
 * Bytes one member takes in the archive: its header(s) and its data padded to 512.
 *
 * @example
 * ```ts
 * tarMemberBytes('000001.txt', 12); // 1024
 * ```
 */
export function tarMemberBytes(name: string, size: number): number {
  const header = fitsUstar(name) ? BLOCK : BLOCK + padded(paxRecordLength(' path=' + name + '\n')) + BLOCK;
  return header + padded(size);
}

/** The two zero blocks that end an archive. */
export const TAR_END_BYTES = 1024;
