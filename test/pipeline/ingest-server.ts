/**
 * A real HTTP server on 127.0.0.1 with the faults URL ingestion meets in the wild, and
 * real images made with sharp. Routes:
 *   /ok/N.jpg          a JPEG photo-like gradient (N varies the size and colours)
 *   /png/N.png         a PNG
 *   /chunked/N.jpg     the JPEG of /ok/N.jpg without a Content-Length (chunked)
 *   /404               404
 *   /flaky500/N        500 on the first request of N, then the JPEG
 *   /flaky503/N        503 (Retry-After: 0) on the first request of N, then the JPEG
 *   /flaky429/N        429 (Retry-After: 0) on the first request of N, then the JPEG
 *   /status/NNN        that status every time (an empty body)
 *   /always500         500 every time
 *   /stall-headers     accepts, never answers
 *   /stall-body        headers and half the JPEG, then nothing
 *   /truncated-body    Content-Length of the whole JPEG, half of it, then the socket ends
 *   /truncated-image   a complete response whose JPEG is cut in half
 *   /reset             headers and part of the body, then a TCP reset
 *   /redirect/K        K redirects, then the JPEG
 *   /loop              redirects to itself
 *   /html.jpg          an HTML page served as image/jpeg
 *   /bomb.png          a PNG whose header claims 100000 x 100000 pixels
 *   /wrong-type        a good PNG served as text/plain
 *   /gif.gif           a GIF
 *   /tiny.jpg          a 20 x 10 JPEG
 *   /wide.jpg          a 400 x 40 JPEG
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { crc32 } from 'node:zlib';
import sharp from 'sharp';

export interface FaultServer {
  readonly base: string;
  readonly hits: Map<string, number>;
  close(): Promise<void>;
}

/** A deterministic photo-like RGB gradient as JPEG. */
export async function testJpeg(n: number, width = 120 + (n % 7) * 16, height = 90 + (n % 5) * 12): Promise<Buffer> {
  const data = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3;
      data[i] = (x * 255) / width + n * 13;
      data[i + 1] = (y * 255) / height + n * 7;
      data[i + 2] = ((x + y) * 3 + n * 29) & 255;
    }
  }
  return await sharp(data, { raw: { width, height, channels: 3 } }).jpeg({ quality: 90 }).toBuffer();
}

/** A PNG whose IHDR claims `width x height` (a decompression-bomb header). */
export async function bombPng(width: number, height: number): Promise<Buffer> {
  const png = Buffer.from(await sharp({ create: { width: 1, height: 1, channels: 3, background: '#000' } }).png().toBuffer());
  // IHDR: length(4) 'IHDR'(4) width(4) height(4) ... crc over type+data at 29.
  png.writeUInt32BE(width, 16);
  png.writeUInt32BE(height, 20);
  png.writeUInt32BE(crc32(png.subarray(12, 29)), 29);
  return png;
}

export async function startFaultServer(): Promise<FaultServer> {
  const jpegs = new Map<number, Buffer>();
  const jpeg = async (n: number): Promise<Buffer> => {
    let b = jpegs.get(n);
    if (b === undefined) {
      b = await testJpeg(n);
      jpegs.set(n, b);
    }
    return b;
  };
  const png = await sharp({ create: { width: 64, height: 48, channels: 3, background: '#3a7' } }).png().toBuffer();
  const gif = await sharp({ create: { width: 8, height: 8, channels: 3, background: '#f00' } }).gif().toBuffer();
  const bomb = await bombPng(100_000, 100_000);
  const tiny = await testJpeg(3, 20, 10);
  const wide = await testJpeg(4, 400, 40);
  const hits = new Map<string, number>();
  const sockets = new Set<Socket>();
  const send = (res: ServerResponse, type: string, body: Buffer): void => {
    res.writeHead(200, { 'content-type': type, 'content-length': body.length });
    res.end(body);
  };
  const handler = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = req.url ?? '/';
    const hit = (hits.get(path) ?? 0) + 1;
    hits.set(path, hit);
    let m: RegExpExecArray | null;
    if ((m = /^\/ok\/(\d+)\.jpg$/.exec(path))) return send(res, 'image/jpeg', await jpeg(Number(m[1])));
    if ((m = /^\/png\/(\d+)\.png$/.exec(path))) return send(res, 'image/png', png);
    if ((m = /^\/chunked\/(\d+)\.jpg$/.exec(path))) {
      const body = await jpeg(Number(m[1]));
      res.writeHead(200, { 'content-type': 'image/jpeg' });
      res.write(body.subarray(0, 1000));
      return void setTimeout(() => res.end(body.subarray(1000)), 10);
    }
    if (path === '/404') {
      res.writeHead(404, { 'content-length': 9 });
      return void res.end('not found');
    }
    if ((m = /^\/flaky(500|503|429)\/(\d+)$/.exec(path))) {
      if (hit === 1) {
        res.writeHead(Number(m[1]), { 'content-length': 4, ...(m[1] === '500' ? {} : { 'retry-after': '0' }) });
        return void res.end('busy');
      }
      return send(res, 'image/jpeg', await jpeg(Number(m[2])));
    }
    if ((m = /^\/status\/(\d{3})$/.exec(path))) {
      res.writeHead(Number(m[1]), { 'content-length': 0 });
      return void res.end();
    }
    if (path === '/always500') {
      res.writeHead(500, { 'content-length': 4 });
      return void res.end('oops');
    }
    if (path === '/stall-headers') return; // never answers
    if (path === '/stall-body') {
      const body = await jpeg(1);
      res.writeHead(200, { 'content-type': 'image/jpeg', 'content-length': body.length });
      return void res.write(body.subarray(0, body.length >> 1));
    }
    if (path === '/truncated-body') {
      const body = await jpeg(1);
      res.writeHead(200, { 'content-type': 'image/jpeg', 'content-length': body.length });
      res.write(body.subarray(0, body.length >> 1));
      return void setTimeout(() => res.socket?.end(), 20);
    }
    if (path === '/truncated-image') return send(res, 'image/jpeg', (await jpeg(2)).subarray(0, (await jpeg(2)).length >> 1));
    if (path === '/reset') {
      const body = await jpeg(1);
      res.writeHead(200, { 'content-type': 'image/jpeg', 'content-length': body.length });
      res.write(body.subarray(0, 600));
      return void setTimeout(() => res.socket?.resetAndDestroy(), 20);
    }
    if ((m = /^\/redirect\/(\d+)$/.exec(path))) {
      const k = Number(m[1]);
      res.writeHead(302, { location: k > 1 ? `/redirect/${k - 1}` : '/ok/5.jpg', 'content-length': 0 });
      return void res.end();
    }
    if (path === '/loop') {
      res.writeHead(301, { location: '/loop', 'content-length': 0 });
      return void res.end();
    }
    if (path === '/html.jpg') return send(res, 'image/jpeg', Buffer.from('<!doctype html><html><body>Not here</body></html>'));
    if (path === '/bomb.png') return send(res, 'image/png', bomb);
    if (path === '/wrong-type') return send(res, 'text/plain', png);
    if (path === '/gif.gif') return send(res, 'image/gif', gif);
    if (path === '/tiny.jpg') return send(res, 'image/jpeg', tiny);
    if (path === '/wide.jpg') return send(res, 'image/jpeg', wide);
    res.writeHead(404, { 'content-length': 0 });
    res.end();
  };
  const server: Server = createServer((req, res) => {
    handler(req, res).catch((err: unknown) => {
      res.destroy(err as Error);
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    base: `http://127.0.0.1:${port}`,
    hits,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
