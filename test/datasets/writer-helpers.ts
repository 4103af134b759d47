/** Test helpers: read a tar back with tar-stream (independently of the project's reader). */
import { readFile } from 'node:fs/promises';
import tar from 'tar-stream';

export interface TarMember {
  readonly name: string;
  readonly header: tar.Header;
  readonly data: Buffer;
}

export async function readTar(path: string): Promise<TarMember[]> {
  const bytes = await readFile(path);
  const extract = tar.extract();
  const members: TarMember[] = [];
  const done = (async () => {
    for await (const entry of extract) {
      const chunks: Buffer[] = [];
      for await (const chunk of entry as AsyncIterable<Buffer>) chunks.push(chunk);
      members.push({ name: entry.header.name, header: entry.header, data: Buffer.concat(chunks) });
    }
  })();
  extract.end(bytes);
  await done;
  return members;
}
