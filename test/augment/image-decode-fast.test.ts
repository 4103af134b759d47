/**
 * The fast JPEG path of decodeImage (`fastJpeg: true`, libjpeg-turbo): pixels within a
 * few levels of the sharp path, and every case it does not handle (EXIF rotation, CMYK,
 * ICC profile, corrupt bytes, the pixel limit) behaving exactly as the sharp path.
 */
import t from 'tap';
import sharp, { type Sharp } from 'sharp';
import { decodeImage, fastJpegAvailable } from '../../augment/image/index.js';
import { readJpegHeader } from '../../augment/image/jpeg-header.js';
import { Rng } from '../../core/rng.js';
import { reason } from './helpers.js';

/** A smooth, textured 96x64 RGB image (seeded noise on gradients), like a small photo. */
function photo(w = 96, h = 64): Buffer {
  const rng = new Rng(7);
  const raw = Buffer.alloc(w * h * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const n = rng.uniform(-20, 20);
      raw.set([Math.max(0, Math.min(255, 2 * x + n)), Math.max(0, Math.min(255, 3 * y - n)), Math.max(0, Math.min(255, 128 + n))], (y * w + x) * 3);
    }
  }
  return raw;
}

const jpeg = (raw: Buffer, w: number, h: number): Sharp => sharp(raw, { raw: { width: w, height: h, channels: 3 } });

function diff(a: Uint8Array, b: Uint8Array): { max: number; mean: number } {
  let max = 0;
  let sum = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs((a[i] as number) - (b[i] as number));
    max = Math.max(max, d);
    sum += d;
  }
  return { max, mean: sum / a.length };
}

t.test('the fast decoder is available on this platform', async (t) => {
  t.ok(fastJpegAvailable());
});

t.test('readJpegHeader reads size, components, process and EXIF orientation', async (t) => {
  const raw = photo();
  const base = await jpeg(raw, 96, 64).jpeg({ quality: 90 }).toBuffer();
  t.match(readJpegHeader(base), { width: 96, height: 64, components: 3, precision: 8, process: 'baseline', orientation: 1, icc: false });
  const prog = await jpeg(raw, 96, 64).jpeg({ progressive: true }).toBuffer();
  t.equal(readJpegHeader(prog)?.process, 'progressive');
  const rotated = await jpeg(raw, 96, 64).jpeg().withMetadata({ orientation: 6 }).toBuffer();
  t.equal(readJpegHeader(rotated)?.orientation, 6);
  const grey = await jpeg(raw, 96, 64).toColourspace('b-w').jpeg().toBuffer();
  t.equal(readJpegHeader(grey)?.components, 1);
  const cmyk = await jpeg(raw, 96, 64).toColourspace('cmyk').jpeg().toBuffer();
  t.equal(readJpegHeader(cmyk)?.components, 4);
  t.equal(readJpegHeader(base.subarray(0, 20)), undefined, 'cut before the first scan');
  t.equal(readJpegHeader(Buffer.from([0x89, 0x50, 0x4e, 0x47])), undefined, 'not a JPEG');
});

t.test('a plain JPEG: fast path within a few levels of sharp, same size', async (t) => {
  const raw = photo();
  for (const options of [{ quality: 90 }, { quality: 75, progressive: true }, { quality: 95, chromaSubsampling: '4:4:4' }]) {
    const bytes = await jpeg(raw, 96, 64).jpeg(options).toBuffer();
    const exact = await decodeImage(bytes);
    const fast = await decodeImage(bytes, { fastJpeg: true });
    t.same([fast.width, fast.height, fast.data.length], [96, 64, 96 * 64 * 3]);
    const d = diff(fast.data, exact.data);
    t.ok(d.max <= 10 && d.mean < 1.5, `${JSON.stringify(options)}: max ${d.max}, mean ${d.mean.toFixed(3)}`);
    t.ok(d.max > 0, 'decoded by libjpeg-turbo (fast IDCT), not by sharp');
  }
});

t.test('grey JPEG: three equal channels', async (t) => {
  const bytes = await jpeg(photo(), 96, 64).toColourspace('b-w').jpeg().toBuffer();
  t.equal(readJpegHeader(bytes)?.components, 1);
  const img = await decodeImage(bytes, { fastJpeg: true });
  t.equal(img.data.length, 96 * 64 * 3);
  let same = true;
  for (let i = 0; i < img.data.length; i += 3) same &&= img.data[i] === img.data[i + 1] && img.data[i] === img.data[i + 2];
  t.ok(same);
  t.ok(diff(img.data, (await decodeImage(bytes)).data).max <= 10);
});

t.test('EXIF orientation, CMYK and ICC JPEGs go through sharp (identical output)', async (t) => {
  const raw = photo();
  const cases = {
    orientation: await jpeg(raw, 96, 64).jpeg().withMetadata({ orientation: 6 }).toBuffer(),
    cmyk: await jpeg(raw, 96, 64).toColourspace('cmyk').jpeg().toBuffer(),
    icc: await jpeg(raw, 96, 64).withIccProfile('p3').jpeg().toBuffer(),
  };
  t.ok(readJpegHeader(cases.icc)?.icc, 'the ICC case carries a profile');
  for (const [name, bytes] of Object.entries(cases)) {
    const exact = await decodeImage(bytes);
    const fast = await decodeImage(bytes, { fastJpeg: true });
    t.same([fast.width, fast.height], [exact.width, exact.height], name);
    t.equal(diff(fast.data, exact.data).max, 0, `${name}: same pixels as sharp`);
  }
  t.same([(await decodeImage(cases.orientation, { fastJpeg: true })).width], [64], 'rotated');
});

t.test('guards: corrupt, truncated and oversized JPEGs give the same typed errors', async (t) => {
  const good = await jpeg(photo(), 96, 64).jpeg({ quality: 90 }).toBuffer();
  const garbled = Buffer.from(good);
  for (let i = Math.floor(good.length / 2); i < good.length - 2; i++) garbled[i] = 0x55;
  // Scan bytes overwritten: whatever sharp decides, the fast path decides the same.
  t.equal(await reason(decodeImage(garbled, { fastJpeg: true })), await reason(decodeImage(garbled)), 'garbled scan');
  const badHuffman = Buffer.from(good);
  for (let i = good.length - 300; i < good.length - 2; i++) badHuffman[i] = 0xff;
  t.equal(await reason(decodeImage(badHuffman, { fastJpeg: true })), await reason(decodeImage(badHuffman)), 'markers in the scan');
  for (const fastJpeg of [false, true]) {
    t.equal(await reason(decodeImage(good.subarray(0, good.length - 40), { fastJpeg })), 'corrupt-image', `truncated (fastJpeg ${fastJpeg})`);
    t.equal(await reason(decodeImage(good.subarray(0, 30), { fastJpeg })), 'corrupt-image', `header only (fastJpeg ${fastJpeg})`);
    t.equal(await reason(decodeImage(good, { fastJpeg, maxPixels: 96 * 64 - 1 })), 'too-many-pixels', `pixel limit (fastJpeg ${fastJpeg})`);
    t.equal(await reason(decodeImage(good, { fastJpeg, maxPixels: 96 * 64 })), 'resolved');
  }
});

t.test('fastJpeg is validated', async (t) => {
  await t.rejects(decodeImage(Buffer.from([1]), { fastJpeg: 'yes' as unknown as boolean }), /fastJpeg/);
});
