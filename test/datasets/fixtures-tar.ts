/**
 * Tar fixtures for the reader tests, written by the tests themselves with tar-stream's
 * pack (and the system `tar` where a test needs GNU/PAX long-name headers).
 */
import { createHash } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { gzipSync } from 'node:zlib';
import { pack as tarPack } from 'tar-stream';

/** One member to put in a fixture tar. */
export interface FixtureMember {
  readonly name: string;
  readonly data?: Buffer | string;
  readonly type?: 'file' | 'directory' | 'symlink';
  readonly linkname?: string;
}

/** Build a tar archive in memory (fixtures are small) with tar-stream. */
export async function tarBuffer(members: readonly FixtureMember[]): Promise<Buffer> {
  const p = tarPack();
  const chunks: Buffer[] = [];
  const collected = (async () => {
    for await (const chunk of p) chunks.push(chunk as Buffer);
  })();
  for (const m of members) {
    const type = m.type ?? 'file';
    await new Promise<void>((resolve, reject) => {
      const cb = (err?: Error | null): void => (err ? reject(err) : resolve());
      if (type === 'file') {
        p.entry({ name: m.name, mtime: new Date(0), mode: 0o644 }, m.data ?? '', cb);
      } else if (type === 'directory') {
        p.entry({ name: m.name, type: 'directory', mtime: new Date(0), mode: 0o755 }, cb);
      } else {
        p.entry({ name: m.name, type: 'symlink', linkname: m.linkname ?? 'x', mtime: new Date(0) }, cb);
      }
    });
  }
  p.finalize();
  await collected;
  return Buffer.concat(chunks);
}

/** `count` samples `<prefix>NNNNNN` with `jpg`-named random-ish bytes and a `txt` caption. */
export function simpleMembers(count: number, prefix = 's', start = 0): FixtureMember[] {
  const out: FixtureMember[] = [];
  for (let i = start; i < start + count; i++) {
    const key = `${prefix}${String(i).padStart(6, '0')}`;
    const body = Buffer.alloc(100 + (i % 7) * 37, i % 251);
    out.push({ name: `${key}.jpg`, data: body }, { name: `${key}.txt`, data: `caption ${key}` });
  }
  return out;
}

/** Write a tar fixture to `path`, optionally gzipped. */
export async function writeTar(path: string, members: readonly FixtureMember[], gzip = false): Promise<Buffer> {
  const tar = await tarBuffer(members);
  const bytes = gzip ? gzipSync(tar) : tar;
  await writeFile(path, bytes);
  return bytes;
}

/** Lower-case hex SHA-256. */
export function sha256(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Byte offset where member `name`'s data starts inside an uncompressed tar buffer (fixtures use no long names). */
export function memberDataOffset(tar: Buffer, name: string): number {
  let at = 0;
  while (at + 512 <= tar.length) {
    const header = tar.subarray(at, at + 512);
    if (header.every((b) => b === 0)) break;
    const n = header.subarray(0, 100).toString('utf8').replace(/\0.*$/s, '');
    const size = parseInt(header.subarray(124, 136).toString('ascii').replace(/\0.*$/s, '').trim() || '0', 8);
    if (n === name) return at + 512;
    at += 512 + Math.ceil(size / 512) * 512;
  }
  throw new Error(`member ${name} not found`);
}
