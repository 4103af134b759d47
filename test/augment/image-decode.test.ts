/**
 * decodeImage: formats, orientation, channels, and the guards (typed ImageError reasons).
 */
import t from 'tap';
import sharp from 'sharp';
import { ImageError, InvalidOptionError } from '../../core/errors.js';
import { decodeImage, sniffImageFormat } from '../../augment/image/index.js';
import { reason } from './helpers.js';

/** A 6x4 image whose pixels encode their position: R = 40x, G = 60y, B = 200. */
function positional(w = 6, h = 4): Buffer {
  const data = Buffer.alloc(w * h * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) data.set([40 * x, 60 * y, 200], (y * w + x) * 3);
  }
  return data;
}

t.test('PNG decodes losslessly to RGB', async (t) => {
  const raw = positional();
  const png = await sharp(raw, { raw: { width: 6, height: 4, channels: 3 } }).png().toBuffer();
  const img = await decodeImage(png);
  t.equal(img.width, 6);
  t.equal(img.height, 4);
  t.same(Buffer.from(img.data), raw);
});

t.test('JPEG and WebP decode close to the source', async (t) => {
  const w = 64, h = 48;
  const raw = Buffer.alloc(w * h * 3);
  for (let i = 0; i < w * h; i++) raw.set([(i % w) * 4, Math.floor(i / w) * 5, 128], i * 3);
  for (const fmt of ['jpeg', 'webp'] as const) {
    const bytes = await sharp(raw, { raw: { width: w, height: h, channels: 3 } }).toFormat(fmt, { quality: 95 }).toBuffer();
    t.equal(sniffImageFormat(bytes), fmt);
    const img = await decodeImage(bytes);
    let err = 0;
    for (let i = 0; i < raw.length; i++) err += Math.abs((img.data[i] as number) - (raw[i] as number));
    t.ok(err / raw.length < 4, `${fmt}: mean abs error ${(err / raw.length).toFixed(2)}`);
  }
});

t.test('EXIF orientation is applied', async (t) => {
  // Quadrants: top-left red, top-right green, bottom-left blue, bottom-right white.
  const w = 48, h = 32;
  const raw = Buffer.alloc(w * h * 3);
  const colours = [[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 255]];
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) raw.set(colours[(y < h / 2 ? 0 : 2) + (x < w / 2 ? 0 : 1)] as number[], (y * w + x) * 3);
  }
  // Orientation 6 = "rotate 90 degrees clockwise to display".
  const jpeg = await sharp(raw, { raw: { width: w, height: h, channels: 3 } }).jpeg({ quality: 100 }).withMetadata({ orientation: 6 }).toBuffer();
  t.equal((await sharp(jpeg).metadata()).orientation, 6);
  const img = await decodeImage(jpeg);
  t.same([img.width, img.height], [h, w]);
  const near = (x: number, y: number, rgb: number[]): boolean => {
    const i = (y * img.width + x) * 3;
    return rgb.every((v, c) => Math.abs((img.data[i + c] as number) - v) <= 12);
  };
  // Clockwise: stored bottom-left -> top-left, top-left -> top-right, top-right -> bottom-right.
  t.ok(near(8, 12, [0, 0, 255]), 'top-left is blue');
  t.ok(near(24, 12, [255, 0, 0]), 'top-right is red');
  t.ok(near(24, 36, [0, 255, 0]), 'bottom-right is green');
  t.ok(near(8, 36, [255, 255, 255]), 'bottom-left is white');
});

t.test('grey becomes three equal channels', async (t) => {
  const grey = Buffer.from([0, 50, 100, 150, 200, 250]);
  const png = await sharp(grey, { raw: { width: 3, height: 2, channels: 1 } }).toColourspace('b-w').png().toBuffer();
  t.equal((await sharp(png).metadata()).channels, 1);
  const img = await decodeImage(png);
  t.same([...img.data], [...grey].flatMap((v) => [v, v, v]));
});

t.test('alpha is flattened onto white', async (t) => {
  // Opaque red, transparent (black underneath), half-transparent blue.
  const rgba = Buffer.from([255, 0, 0, 255, 0, 0, 0, 0, 0, 0, 255, 128]);
  const png = await sharp(rgba, { raw: { width: 3, height: 1, channels: 4 } }).png().toBuffer();
  const img = await decodeImage(png);
  t.same([...img.data.subarray(0, 6)], [255, 0, 0, 255, 255, 255]);
  const blue = [...img.data.subarray(6, 9)];
  t.ok(Math.abs((blue[0] as number) - 127) <= 2 && (blue[2] as number) === 255, `half blue on white: ${blue}`);
});

t.test('16-bit PNG becomes 8-bit', async (t) => {
  const png16 = await sharp(positional(), { raw: { width: 6, height: 4, channels: 3 } }).toColourspace('rgb16').png().toBuffer();
  const img = await decodeImage(png16);
  t.equal(img.data.length, 6 * 4 * 3);
  t.same(Buffer.from(img.data), positional());
});

t.test('guards: empty, corrupt, truncated, unsupported, too many pixels', async (t) => {
  t.equal(await reason(decodeImage(new Uint8Array(0))), 'empty-image');
  t.equal(await reason(decodeImage(Buffer.from('this is not an image at all'))), 'corrupt-image');
  const jpeg = await sharp(positional(64, 64), { raw: { width: 64, height: 64, channels: 3 } }).jpeg().toBuffer();
  t.equal(await reason(decodeImage(jpeg.subarray(0, Math.floor(jpeg.length / 2)))), 'corrupt-image', 'truncated JPEG');
  const garbled = Buffer.from(jpeg);
  garbled.fill(0x55, 200, 400);
  t.equal(await reason(decodeImage(garbled)), 'corrupt-image', 'garbled JPEG body');
  const png = await sharp(positional(), { raw: { width: 6, height: 4, channels: 3 } }).png().toBuffer();
  t.equal(await reason(decodeImage(png.subarray(0, png.length - 20))), 'corrupt-image', 'truncated PNG');
  const gif = await sharp(positional(), { raw: { width: 6, height: 4, channels: 3 } }).gif().toBuffer();
  t.equal(await reason(decodeImage(gif)), 'unsupported-image');
  t.equal(await reason(decodeImage(jpeg, { maxPixels: 64 * 64 - 1 })), 'too-many-pixels');
  t.equal(await reason(decodeImage(jpeg, { maxPixels: 64 * 64 })), 'resolved', 'exactly at the limit is fine');
  await t.rejects(decodeImage(jpeg, { maxPixels: 0 }), InvalidOptionError);
});

t.test('a PNG whose header claims a huge size is refused before decoding', async (t) => {
  // Rewrite the IHDR of a small PNG to claim 100000 x 100000 (10 gigapixels), with a valid CRC.
  const png = Buffer.from(await sharp(positional(), { raw: { width: 6, height: 4, channels: 3 } }).png().toBuffer());
  png.writeUInt32BE(100000, 16);
  png.writeUInt32BE(100000, 20);
  png.writeUInt32BE(crc32(png.subarray(12, 29)), 29);
  const before = process.memoryUsage().rss;
  t.equal(await reason(decodeImage(png)), 'too-many-pixels');
  t.ok(process.memoryUsage().rss - before < 200e6, 'no large allocation');
  // With the default limit (40 MP) too.
  t.equal(await reason(decodeImage(png)), 'too-many-pixels');
  const err = await decodeImage(png).catch((e: unknown) => e);
  t.ok(err instanceof ImageError && err.code === 'ERR_DECLIP_IMAGE' && /more than 40000000 pixels/.test(err.message), String(err));
});

function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  }
  return (c ^ 0xffffffff) >>> 0;
}
