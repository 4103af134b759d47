/**
 * The one-op functions of augment/image/ops.ts (for tools and one-off use), each checked
 * against what its operator means, on a real pattern image; none modifies its input.
 */
import t from 'tap';
import { Rng } from '../../core/rng.js';
import { colorJitter, gaussianBlur, horizontalFlip, randomGrayscale, randomResizedCrop, resizeCenterCrop, solarize } from '../../augment/image/ops.js';
import type { RgbImage } from '../../augment/image/types.js';
import { pattern } from './helpers.js';

const W = 12;
const H = 10;

function at(img: RgbImage, x: number, y: number): number[] {
  const i = (y * img.width + x) * 3;
  return [img.data[i] ?? -1, img.data[i + 1] ?? -1, img.data[i + 2] ?? -1];
}

t.test('horizontalFlip mirrors left-right', async (t) => {
  const img = pattern(W, H);
  const before = Buffer.from(img.data);
  const out = horizontalFlip(img, {}, new Rng(1));
  for (const [x, y] of [[0, 0], [3, 7], [11, 9]] as const) t.same(at(out, x, y), at(img, W - 1 - x, y));
  t.ok(Buffer.from(img.data).equals(before), 'input untouched');
  t.same(horizontalFlip(img, { p: 0 }, new Rng(1)).data, img.data, 'p 0: unchanged');
});

t.test('randomGrayscale makes the three channels equal; solarize inverts values at or above the threshold', async (t) => {
  const img = pattern(W, H);
  const gray = randomGrayscale(img, {}, new Rng(2));
  for (let i = 0; i < gray.data.length; i += 3) t.ok(gray.data[i] === gray.data[i + 1] && gray.data[i] === gray.data[i + 2], `pixel ${i / 3}`);
  const sol = solarize(img, { threshold: 128 }, new Rng(3));
  t.same(Array.from(sol.data), Array.from(img.data, (v) => (v >= 128 ? 255 - v : v)));
});

t.test('colorJitter with zero strength is the identity; a constant image stays constant under gaussianBlur', async (t) => {
  const img = pattern(W, H);
  t.same(colorJitter(img, { brightness: 0, contrast: 0, saturation: 0, hue: 0 }, new Rng(4)).data, img.data);
  const jittered = colorJitter(img, { brightness: 0.8, contrast: 0.8, saturation: 0.8, hue: 0.2 }, new Rng(4));
  t.notSame(jittered.data, img.data, 'a strong jitter changes the image');
  const flat: RgbImage = { width: W, height: H, data: new Uint8Array(W * H * 3).fill(90) };
  const blurred = gaussianBlur(flat, { sigma: 1.5 }, new Rng(5));
  t.ok(blurred.data.every((v) => v === 90));
  t.notSame(gaussianBlur(img, { sigma: 2 }, new Rng(5)).data, img.data, 'a pattern is smoothed');
});

t.test('randomResizedCrop and resizeCenterCrop give the requested sizes, reproducibly', async (t) => {
  const img = pattern(40, 30);
  const a = randomResizedCrop(img, { size: 16, scale: [0.2, 1] }, new Rng(6));
  t.same([a.width, a.height], [16, 16]);
  t.same(randomResizedCrop(img, { size: 16, scale: [0.2, 1] }, new Rng(6)).data, a.data, 'same seed, same crop');
  const c = resizeCenterCrop(img, { size: 20, crop: 16 }, new Rng(7));
  t.same([c.width, c.height], [16, 16]);
  const r = resizeCenterCrop(img, { size: 20, crop: [12, 8] }, new Rng(7));
  t.equal(r.width * r.height, 96);
});
