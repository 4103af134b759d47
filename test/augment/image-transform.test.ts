/**
 * Transforms as data: validation messages, presets, seeded determinism, views.
 */
import t from 'tap';
import sharp from 'sharp';
import { InvalidOptionError } from '../../core/errors.js';
import { Rng, deriveSeed } from '../../core/rng.js';
import {
  IMAGENET_MEAN,
  augmentDecodedViews,
  augmentViews,
  compileImageTransform,
  evalTransform,
  lightTransform,
  mocov2Transform,
  normalizeInto,
  normalizeTable,
  resampleRgb,
  resolveImageTransform,
  runPixelStep,
  sampleResizedCropBox,
} from '../../augment/image/index.js';
import type { RgbImage } from '../../augment/image/index.js';

function photo(w: number, h: number, seed: number): RgbImage {
  const rng = new Rng(seed);
  const data = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = (y * w + x) * 3;
      data[i] = (x * 255) / w;
      data[i + 1] = (y * 255) / h;
      data[i + 2] = 128 + 100 * Math.sin(x / 7) * Math.cos(y / 5) + rng.int(20);
    }
  }
  return { width: w, height: h, data };
}

function message(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    return err instanceof InvalidOptionError ? `${err.field}: ${err.message}` : `not InvalidOptionError: ${String(err)}`;
  }
  return 'did not throw';
}

t.test('validation names the step and the field in the house format', async (t) => {
  t.equal(message(() => resolveImageTransform([])), 'spec: Expected non-empty array of { op, params, p } steps for spec but received array of type object');
  t.equal(message(() => resolveImageTransform([{ op: 'rotate' }])), 'spec[0].op: Expected one of randomResizedCrop, resize, centerCrop, horizontalFlip, colorJitter, grayscale, gaussianBlur, solarize, normalize for spec[0].op but received "rotate" of type string');
  t.equal(
    message(() => resolveImageTransform([{ op: 'randomResizedCrop', params: { size: 224, scale: [0.9, 0.2] } }])),
    'spec[0].params.scale: Expected [lo, hi] with 0 <= lo <= hi <= 1 for spec[0].params.scale but received array of type object',
  );
  t.equal(message(() => resolveImageTransform([{ op: 'randomResizedCrop', params: { size: 0 } }])), 'spec[0].params.size: Expected integer between 1 and 16384 for spec[0].params.size but received 0 of type number');
  t.equal(message(() => resolveImageTransform([{ op: 'randomResizedCrop', params: { size: 224 }, p: 0.5 }])), 'spec[0].p: Expected 1 (randomResizedCrop changes the image size, so it always applies) for spec[0].p but received 0.5 of type number');
  t.equal(message(() => resolveImageTransform([{ op: 'horizontalFlip', p: 1.5 }])), 'spec[0].p: Expected number between 0 and 1 for spec[0].p but received 1.5 of type number');
  t.equal(message(() => resolveImageTransform([{ op: 'colorJitter', params: { hue: 0.7 } }])), 'spec[0].params.hue: Expected number between 0 and 0.5 for spec[0].params.hue but received 0.7 of type number');
  t.equal(message(() => resolveImageTransform([{ op: 'colorJitter', params: { brightness: -1 } }])), 'spec[0].params.brightness: Expected number of at least 0 for spec[0].params.brightness but received -1 of type number');
  t.equal(message(() => resolveImageTransform([{ op: 'colorJitter', params: { gamma: 2 } }])), 'spec[0].params.gamma: Expected a parameter of colorJitter (brightness, contrast, saturation, hue) for spec[0].params.gamma but received 2 of type number');
  t.equal(message(() => resolveImageTransform([{ op: 'gaussianBlur', params: { sigma: [2, 1] } }])), 'spec[0].params.sigma: Expected [lo, hi] with 0 <= lo <= hi <= 1000 for spec[0].params.sigma but received array of type object');
  t.equal(message(() => resolveImageTransform([{ op: 'normalize', params: { mean: [0, 0, 0], std: [1, 0, 1] } }])), 'spec[0].params.std[1]: Expected number of at least 5e-324 for spec[0].params.std[1] but received 0 of type number');
  t.equal(message(() => resolveImageTransform([{ op: 'grayscale', prob: 0.2 }])), 'spec[0].prob: Expected no such field (op, params, p) for spec[0].prob but received 0.2 of type number');
  t.equal(message(() => resolveImageTransform([{ op: 'grayscale' }, { op: 'centerCrop', params: { size: 8 } }])), 'spec[1]: spec[1]: centerCrop changes the image size, so it must come before the colour and blur steps');
  t.equal(message(() => resolveImageTransform([{ op: 'resize', params: { size: 8 } }, { op: 'randomResizedCrop', params: { size: 8 } }])), 'spec[1]: spec[1]: only one resampling step (randomResizedCrop or resize) is allowed');
  t.equal(message(() => resolveImageTransform([{ op: 'normalize', params: { mean: [0, 0, 0], std: [1, 1, 1] } }, { op: 'grayscale' }])), 'spec[1]: spec[1]: normalize must be the last step, but grayscale follows it');
  t.equal(message(() => resolveImageTransform([{ op: 'solarize', params: { threshold: 'x' } }], 'train.image')), 'train.image[0].params.threshold: Expected number between 0 and 256 for train.image[0].params.threshold but received "x" of type string');
  t.equal(message(() => mocov2Transform({ size: 3 })), 'size: Expected integer between 8 and 4096 for size but received 3 of type number');
});

t.test('presets carry the DeCLIP / MoCo v2 parameters and survive JSON', async (t) => {
  const spec = mocov2Transform();
  const viaJson: unknown = JSON.parse(JSON.stringify(spec));
  t.same(resolveImageTransform(viaJson), resolveImageTransform(spec), 'a spec is plain data');
  const [rrc, jitter, grey, blur, flip, norm] = resolveImageTransform(spec);
  t.same(rrc, { op: 'randomResizedCrop', p: 1, height: 224, width: 224, scale: [0.2, 1], ratio: [3 / 4, 4 / 3] });
  t.same(jitter, { op: 'colorJitter', p: 0.8, brightness: [0.6, 1.4], contrast: [0.6, 1.4], saturation: [0.6, 1.4], hue: [-0.1, 0.1] });
  t.same(grey, { op: 'grayscale', p: 0.2 });
  t.same(blur, { op: 'gaussianBlur', p: 0.5, sigma: [0.1, 2] });
  t.same(flip, { op: 'horizontalFlip', p: 0.5 });
  t.same(norm, { op: 'normalize', p: 1, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] });
  t.same(compileImageTransform(mocov2Transform({ size: 96 })).outputSize, { width: 96, height: 96 });
  t.same(resolveImageTransform(evalTransform())[0], { op: 'resize', p: 1, size: 256 });
  t.same(resolveImageTransform(evalTransform({ size: 112 }))[0], { op: 'resize', p: 1, size: 128 });
  t.same(compileImageTransform(evalTransform({ size: 112 })).outputSize, { width: 112, height: 112 });
  t.equal(compileImageTransform([{ op: 'resize', params: { size: 64 } }]).outputSize, undefined, 'size depends on the input');
  t.match(compileImageTransform(mocov2Transform()).describe(), /^randomResizedCrop\(224, scale 0.2-1\) -> colorJitter@0.8 -> grayscale@0.2 -> gaussianBlur\(0.1-2\)@0.5 -> horizontalFlip@0.5 -> normalize$/);
});

t.test('the light preset keeps hue, colour and left/right: milder crop and jitter, no grayscale, blur or flip', async (t) => {
  const steps = resolveImageTransform(lightTransform({ size: 32 }));
  t.same(steps.map((s) => s.op), ['randomResizedCrop', 'colorJitter', 'normalize']);
  t.same(steps[0], { op: 'randomResizedCrop', p: 1, height: 32, width: 32, scale: [0.6, 1], ratio: [3 / 4, 4 / 3] });
  t.same(steps[1], { op: 'colorJitter', p: 0.8, brightness: [0.8, 1.2], contrast: [0.8, 1.2], saturation: [0.8, 1.2], hue: null });
});

t.test('same seed, same bytes; different view seeds, different crops', async (t) => {
  const img = photo(200, 150, 1);
  const tr = compileImageTransform(mocov2Transform({ size: 64 }));
  const a = tr.apply(img, new Rng(deriveSeed(42, 0, 'key-1', 1)));
  const b = tr.apply(img, new Rng(deriveSeed(42, 0, 'key-1', 1)));
  t.same(Buffer.from(a.data), Buffer.from(b.data), 'identical bytes');
  const boxes = new Set<string>();
  for (let v = 0; v < 20; v++) boxes.add(JSON.stringify(tr.plan(200, 150, new Rng(deriveSeed(42, 0, 'key-1', v))).geometry.box));
  t.ok(boxes.size >= 18, `20 view seeds gave ${boxes.size} distinct crop boxes`);
  const c = tr.apply(img, new Rng(deriveSeed(42, 0, 'key-1', 2)));
  t.not(Buffer.from(a.data).equals(Buffer.from(c.data)), true, 'view 2 differs from view 1');
});

t.test('random choices follow the configured probabilities', async (t) => {
  const tr = compileImageTransform(mocov2Transform({ size: 32 }));
  const rng = new Rng(7);
  const n = 4000;
  let jitter = 0, grey = 0, blur = 0, mirror = 0;
  let minArea = 1, maxArea = 0, outOfRange = 0;
  const ratios: number[] = [];
  for (let i = 0; i < n; i++) {
    const plan = tr.plan(400, 300, rng);
    if (plan.pixels.some((s) => s.op === 'brightness')) jitter++;
    if (plan.pixels.some((s) => s.op === 'grayscale')) grey++;
    if (plan.pixels.some((s) => s.op === 'gaussianBlur')) blur++;
    if (plan.geometry.mirror) mirror++;
    const { width, height } = plan.geometry.box;
    const area = (width * height) / (400 * 300);
    minArea = Math.min(minArea, area);
    maxArea = Math.max(maxArea, area);
    ratios.push(width / height);
    for (const s of plan.pixels) {
      if ((s.op === 'brightness' || s.op === 'contrast' || s.op === 'saturation') && !(s.factor >= 0.6 && s.factor <= 1.4)) outOfRange++;
      if (s.op === 'hue' && !(Math.abs(s.factor) <= 0.1)) outOfRange++;
      if (s.op === 'gaussianBlur' && !(s.sigma >= 0.1 && s.sigma <= 2)) outOfRange++;
    }
  }
  t.equal(outOfRange, 0, 'every sampled factor within its range');
  // 4000 draws: a standard error of <= 0.8%; allow 4 of them.
  t.ok(Math.abs(jitter / n - 0.8) < 0.03, `jitter ${jitter / n}`);
  t.ok(Math.abs(grey / n - 0.2) < 0.03, `grey ${grey / n}`);
  t.ok(Math.abs(blur / n - 0.5) < 0.03, `blur ${blur / n}`);
  t.ok(Math.abs(mirror / n - 0.5) < 0.03, `mirror ${mirror / n}`);
  t.ok(minArea >= 0.19 && minArea < 0.25 && maxArea > 0.95 && maxArea <= 1, `areas ${minArea}-${maxArea}`);
  t.ok(Math.min(...ratios) >= 0.74 && Math.max(...ratios) <= 1.34, 'aspect ratios within 3/4-4/3 (+ rounding)');
});

t.test('the four jitter adjustments come in every order', async (t) => {
  const tr = compileImageTransform([{ op: 'colorJitter', params: { brightness: 0.4, contrast: 0.4, saturation: 0.4, hue: 0.1 } }]);
  const orders = new Set<string>();
  const rng = new Rng(3);
  for (let i = 0; i < 500; i++) orders.add(tr.plan(10, 10, rng).pixels.map((s) => s.op[0]).join(''));
  t.equal(orders.size, 24);
});

t.test('sampleResizedCropBox stays inside the image', async (t) => {
  const rng = new Rng(11);
  for (let i = 0; i < 2000; i++) {
    const w = 1 + rng.int(300);
    const h = 1 + rng.int(300);
    const b = sampleResizedCropBox(w, h, [0.08, 1], [3 / 4, 4 / 3], rng);
    if (!(b.x >= 0 && b.y >= 0 && b.width >= 1 && b.height >= 1 && b.x + b.width <= w && b.y + b.height <= h)) {
      t.fail(`box ${JSON.stringify(b)} outside ${w}x${h}`);
      return;
    }
  }
  t.pass('2000 random boxes inside');
});

t.test('augmentViews decodes once and writes both normalised views in place', async (t) => {
  const img = photo(160, 120, 5);
  const jpeg = await sharp(img.data, { raw: { width: 160, height: 120, channels: 3 } }).jpeg({ quality: 95 }).toBuffer();
  const tr = compileImageTransform(mocov2Transform({ size: 48 }));
  const S = 48 * 48 * 3;
  const images1 = new Float32Array(3 * S).fill(NaN);
  const images2 = new Float32Array(3 * S).fill(NaN);
  const seeds = (key: string): Rng[] => [new Rng(deriveSeed(1, 0, key, 1)), new Rng(deriveSeed(1, 0, key, 2))];
  const size = await augmentViews(jpeg, tr, seeds('k'), [{ out: images1, offset: S }, { out: images2, offset: S }]);
  t.same(size, { width: 160, height: 120 });
  t.ok(Number.isNaN(images1[S - 1]) && Number.isNaN(images1[2 * S]), 'only slot 1 written');
  const slot1 = images1.subarray(S, 2 * S);
  const slot2 = images2.subarray(S, 2 * S);
  t.ok(slot1.every(Number.isFinite) && slot2.every(Number.isFinite));
  const lo = (0 - (IMAGENET_MEAN[2] as number)) / 0.225 - 1e-4;
  const hi = (1 - 0.406) / 0.225 + 1e-4;
  t.ok(slot1.every((v) => v >= -2.2 && v <= Math.max(hi, 2.7)) && lo < 0, 'values in the normalised range');
  t.not(Buffer.from(slot1.buffer, slot1.byteOffset, slot1.byteLength).equals(Buffer.from(slot2.buffer, slot2.byteOffset, slot2.byteLength)), true, 'two different views');
  // Same as decoding then augmenting: the views depend only on the bytes and the seeds.
  const again = new Float32Array(S);
  const again2 = new Float32Array(S);
  await augmentViews(jpeg, tr, seeds('k'), [{ out: again, offset: 0 }, { out: again2, offset: 0 }]);
  t.same(Buffer.from(again.buffer), Buffer.from(slot1.slice().buffer));
  t.throws(() => augmentDecodedViews(img, tr, seeds('k'), [{ out: again, offset: 0 }]), InvalidOptionError, 'one target per rng');
  t.throws(() => augmentDecodedViews(img, tr, seeds('k'), [{ out: again, offset: 1 }, { out: again2, offset: 0 }]), /room for 6912 values at offset 1/);
  await t.rejects(augmentViews(jpeg, compileImageTransform([{ op: 'resize', params: { size: 32 } }]), [], []), /output size depends on the input/);
});

t.test('eval transform is deterministic and ignores the rng', async (t) => {
  const img = photo(90, 70, 2);
  const tr = compileImageTransform(evalTransform({ size: 56 }));
  const a = tr.apply(img, new Rng(1));
  const b = tr.apply(img, new Rng(2));
  t.same(Buffer.from(a.data), Buffer.from(b.data));
  t.equal(a.width, 56);
});

t.test('a flip anywhere in the geometry mirrors the same crop', async (t) => {
  const img = photo(60, 40, 3);
  const flipped = compileImageTransform([{ op: 'resize', params: { size: 20 } }, { op: 'centerCrop', params: { size: [20, 16] } }, { op: 'horizontalFlip' }]).apply(img, new Rng(0));
  const plain = compileImageTransform([{ op: 'resize', params: { size: 20 } }, { op: 'centerCrop', params: { size: [20, 16] } }]).apply(img, new Rng(0));
  const before = compileImageTransform([{ op: 'horizontalFlip' }, { op: 'resize', params: { size: 20 } }, { op: 'centerCrop', params: { size: [20, 16] } }]).apply(img, new Rng(0));
  let maxDiff = 0;
  let maxDiffBefore = 0;
  for (let y = 0; y < 20; y++) {
    for (let x = 0; x < 16; x++) {
      for (let c = 0; c < 3; c++) {
        const m = plain.data[(y * 16 + (15 - x)) * 3 + c] as number;
        maxDiff = Math.max(maxDiff, Math.abs((flipped.data[(y * 16 + x) * 3 + c] as number) - m));
        maxDiffBefore = Math.max(maxDiffBefore, Math.abs((before.data[(y * 16 + x) * 3 + c] as number) - m));
      }
    }
  }
  t.equal(maxDiff, 0, 'flip after the crop is an exact mirror');
  t.ok(maxDiffBefore <= 1, `flip before the resize: mirror up to rounding (max ${maxDiffBefore})`);
});

t.test('fused pixel steps give the same bytes as running each step alone', async (t) => {
  const img = photo(90, 70, 4);
  const tr = compileImageTransform([
    { op: 'randomResizedCrop', params: { size: 40, scale: [0.3, 1] } },
    { op: 'colorJitter', params: { brightness: 0.5, contrast: 0.5, saturation: 0.5, hue: 0.2 } },
    { op: 'solarize', params: { threshold: 200 }, p: 0.5 },
    { op: 'grayscale', p: 0.3 },
    { op: 'gaussianBlur', params: { sigma: [0.1, 3] }, p: 0.5 },
    { op: 'colorJitter', params: { brightness: 0.3, contrast: 0.3 }, p: 0.7 },
    { op: 'normalize', params: { mean: IMAGENET_MEAN, std: [0.229, 0.224, 0.225] } },
  ]);
  const lut = normalizeTable(IMAGENET_MEAN, [0.229, 0.224, 0.225]);
  let mismatches = 0;
  let endsWithTable = 0;
  for (let seed = 0; seed < 150; seed++) {
    const plan = tr.plan(img.width, img.height, new Rng(seed));
    const fused = tr.run(img, plan);
    const alone = resampleRgb(img, plan.geometry);
    for (const step of plan.pixels) runPixelStep(alone, step);
    if (!Buffer.from(fused.data).equals(Buffer.from(alone.data))) mismatches++;
    const last = plan.pixels[plan.pixels.length - 1];
    if (last?.op === 'brightness' || last?.op === 'contrast' || last?.op === 'solarize') endsWithTable++;
    const a = new Float32Array(40 * 40 * 3);
    const b = new Float32Array(40 * 40 * 3);
    tr.applyInto(img, new Rng(seed), a, 0);
    normalizeInto(alone, lut, b, 0);
    if (!Buffer.from(a.buffer).equals(Buffer.from(b.buffer))) mismatches++;
  }
  t.equal(mismatches, 0);
  t.ok(endsWithTable > 10, `${endsWithTable} plans end with a table op folded into normalisation`);
});
