/**
 * A writable stream that keeps what was written, for tests of commands that take stdout/stderr
 * streams. `isTTY` makes it pass for a terminal (progress bars draw only there).
 */
import { PassThrough } from 'node:stream';

export type CapturedStream = PassThrough & { text: () => string; isTTY: boolean };

export function capture(isTTY = false): CapturedStream {
  const s = new PassThrough() as CapturedStream;
  const chunks: Buffer[] = [];
  s.on('data', (c: Buffer) => chunks.push(c));
  s.text = () => Buffer.concat(chunks).toString();
  s.isTTY = isTTY;
  return s;
}
