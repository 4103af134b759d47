/**
 * Image augmentation micro-benchmark: per-sample time of decode + two mocov2 views +
 * normalisation into batch arrays, one thread, with the WebAssembly SIMD kernels (the
 * default) and with the JavaScript operators (the reference), side by side with the same
 * work in Python (PIL + torchvision, bench/augment_image_py.py), plus a profile by CPU
 * time of where the time goes in both.
 *
 * Usage:
 *   npx tsx bench/augment-image.ts [--photos DIR] [--n 200] [--rounds 2] [--size 224]
 *                                  [--python /usr/bin/python3 | --python none] [--json]
 *
 * Without --photos it writes N realistic JPEG photos (quality 90, ImageNet-like sizes,
 * random crops of the photos Debian ships in python3-skimage-lib and gnome-backgrounds,
 * as ../shared/bench/make_photo_shards.py does) to a temporary folder and reuses them.
 * Compare the two numbers of one run, never numbers across runs or machines.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { Rng, deriveSeed } from '../core/rng.js';
import {
  compileImageTransform,
  decodeImage,
  mocov2Transform,
  normalizeInto,
  normalizeTable,
  resampleRgb,
  runPixelStep,
  IMAGENET_MEAN,
  IMAGENET_STD,
  WasmViewKernels,
} from '../augment/image/index.js';
import type { CompiledImageTransform, PixelStep, RgbImage } from '../augment/image/index.js';

const SOURCES = [
  'astronaut.png', 'chelsea.png', 'coffee.png', 'rocket.jpg', 'motorcycle_left.png', 'motorcycle_right.png',
  'hubble_deep_field.jpg', 'immunohistochemistry.png', 'retina.jpg', 'color.png', 'logo.png', 'ihc.png', 'lily.tif',
  'cell.png', 'camera.png', 'brick.png', 'grass.png', 'gravel.png',
].map((n) => join('/usr/lib/python3/dist-packages/skimage/data', n));
const SIZES: readonly [number, number][] = [[500, 375], [375, 500], [500, 333], [640, 480], [500, 500], [400, 300]];

/** Writes `n` JPEG photos into `dir` (once; reused when present). */
async function makePhotos(dir: string, n: number, seed: number): Promise<void> {
  if (existsSync(dir) && readdirSync(dir).filter((f) => f.endsWith('.jpg')).length >= n) return;
  mkdirSync(dir, { recursive: true });
  const paths = [...SOURCES.filter((p) => existsSync(p))];
  const gnome = '/usr/share/backgrounds/gnome';
  if (existsSync(gnome)) paths.push(...readdirSync(gnome).filter((f) => f.endsWith('.webp')).sort().map((f) => join(gnome, f)));
  const sources: { raw: Buffer; width: number; height: number }[] = [];
  for (const p of paths) {
    try {
      const { data, info } = await sharp(p).resize(1600, 1600, { fit: 'inside', withoutEnlargement: true }).removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
      if (Math.min(info.width, info.height) >= 200 && info.channels === 3) sources.push({ raw: data, width: info.width, height: info.height });
    } catch {
      // not decodable here: skip this source
    }
  }
  if (sources.length === 0) throw new Error('no source photos: apt-get install python3-skimage-lib gnome-backgrounds, or pass --photos DIR');
  const rng = new Rng(seed);
  for (let i = 0; i < n; i++) {
    const src = sources[rng.int(sources.length)] as (typeof sources)[number];
    const a = rng.uniform(0.3, 1);
    const cw = Math.floor(src.width * Math.sqrt(a));
    const ch = Math.floor(src.height * Math.sqrt(a));
    const [tw, th] = SIZES[rng.int(SIZES.length)] as [number, number];
    let img = sharp(src.raw, { raw: { width: src.width, height: src.height, channels: 3 } })
      .extract({ left: rng.int(src.width - cw + 1), top: rng.int(src.height - ch + 1), width: cw, height: ch })
      .resize(tw, th, { fit: 'fill', kernel: 'cubic' });
    if (rng.next() < 0.5) img = img.flop();
    writeFileSync(join(dir, `${String(i).padStart(6, '0')}.jpg`), await img.jpeg({ quality: 90 }).toBuffer());
  }
}

interface Profile {
  decode: number;
  plan: number;
  resample: number;
  normalize: number;
  pixel: Record<PixelStep['op'], number>;
}

/** Process CPU time (user + system, all threads), ms. */
function cpuNow(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

function fmt(ms: number): string {
  return ms.toFixed(2).padStart(7);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      photos: { type: 'string' },
      n: { type: 'string', default: '200' },
      rounds: { type: 'string', default: '2' },
      size: { type: 'string', default: '224' },
      python: { type: 'string', default: '/usr/bin/python3' },
      json: { type: 'boolean', default: false },
    },
  });
  const n = Number(values.n);
  const rounds = Number(values.rounds);
  const size = Number(values.size);
  const dir = values.photos ?? join(tmpdir(), `declip-bench-photos-${n}`);
  if (values.photos === undefined) await makePhotos(dir, n, 0);
  const files = readdirSync(dir).filter((f) => f.endsWith('.jpg')).sort().slice(0, n);
  const blobs = files.map((f) => readFileSync(join(dir, f)));
  const log = (s: string): void => {
    if (!values.json) process.stdout.write(s + '\n');
  };
  log(`${blobs.length} JPEG photos from ${dir} (${(blobs.reduce((s, b) => s + b.length, 0) / blobs.length / 1024).toFixed(0)} KiB on average), ${rounds} rounds, size ${size}, one thread`);

  const jsTransform = compileImageTransform(mocov2Transform({ size }), 'mocov2', { kernels: 'js' });
  const wasmTransform = compileImageTransform(mocov2Transform({ size }), 'mocov2', { kernels: 'wasm' });
  const S = size * size * 3;
  const B = 64;
  const images1 = new Float32Array(B * S);
  const images2 = new Float32Array(B * S);
  const viewsWith = (transform: CompiledImageTransform) => async (bytes: Buffer, i: number, epoch: number): Promise<void> => {
    const image = await decodeImage(bytes);
    const key = String(i);
    transform.applyInto(image, new Rng(deriveSeed(0, epoch, key, 1)), images1, (i % B) * S);
    transform.applyInto(image, new Rng(deriveSeed(0, epoch, key, 2)), images2, (i % B) * S);
  };
  const jsViews = viewsWith(jsTransform);
  const wasmViews = viewsWith(wasmTransform);
  for (let i = 0; i < Math.min(16, blobs.length); i++) {
    await jsViews(blobs[i] as Buffer, i, 99); // warm-up (JIT, libvips)
    await wasmViews(blobs[i] as Buffer, i, 99);
  }

  const t0 = performance.now();
  for (let r = 0; r < rounds; r++) for (const b of blobs) await decodeImage(b);
  const decodeMs = (performance.now() - t0) / (rounds * blobs.length);

  const timeViews = async (views: ReturnType<typeof viewsWith>): Promise<{ ms: number; cpuMs: number }> => {
    const start = performance.now();
    const cpu0 = process.cpuUsage();
    for (let r = 0; r < rounds; r++) for (let i = 0; i < blobs.length; i++) await views(blobs[i] as Buffer, i, r);
    const cpu = process.cpuUsage(cpu0);
    return { ms: (performance.now() - start) / (rounds * blobs.length), cpuMs: (cpu.user + cpu.system) / 1000 / (rounds * blobs.length) };
  };
  const jsTime = await timeViews(jsViews);
  const wasmTime = await timeViews(wasmViews);
  const nodeMs = wasmTime.ms;
  const nodeCpuMs = wasmTime.cpuMs;

  // Profile: the same work, stage by stage, by process CPU time (robust to other load on the machine); JavaScript operators one by one, then the wasm kernels (fused as they run).
  const prof: Profile = { decode: 0, plan: 0, resample: 0, normalize: 0, pixel: { brightness: 0, contrast: 0, saturation: 0, hue: 0, grayscale: 0, gaussianBlur: 0, solarize: 0 } };
  const lut = normalizeTable(IMAGENET_MEAN, IMAGENET_STD);
  const scratch: RgbImage = { width: size, height: size, data: new Uint8Array(S) };
  const kernels = WasmViewKernels.get();
  const wasmProf: Record<string, number> = {};
  let wasmPlan = 0;
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < blobs.length; i++) {
      let t = cpuNow();
      const image = await decodeImage(blobs[i] as Buffer);
      prof.decode += cpuNow() - t;
      for (const v of [1, 2]) {
        t = cpuNow();
        const plan = jsTransform.plan(image.width, image.height, new Rng(deriveSeed(0, r, String(i), v)));
        let t2 = cpuNow();
        prof.plan += t2 - t;
        resampleRgb(image, plan.geometry, scratch);
        t = cpuNow();
        prof.resample += t - t2;
        for (const step of plan.pixels) {
          t2 = cpuNow();
          runPixelStep(scratch, step);
          prof.pixel[step.op] += cpuNow() - t2;
        }
        t = cpuNow();
        normalizeInto(scratch, lut, v === 1 ? images1 : images2, (i % B) * S);
        prof.normalize += cpuNow() - t;
      }
      for (const v of [1, 2]) {
        t = cpuNow();
        const plan = wasmTransform.plan(image.width, image.height, new Rng(deriveSeed(0, r, String(i), v)));
        wasmPlan += cpuNow() - t;
        kernels.profile = { now: cpuNow, ms: wasmProf };
        kernels.run(image, plan, undefined, lut, v === 1 ? images1 : images2, (i % B) * S);
        kernels.profile = undefined;
      }
    }
  }
  const count = rounds * blobs.length;

  let python: { msPerSample: number; cpuMsPerSample: number; decodeMsPerSample: number } | undefined;
  if (values.python !== 'none') {
    const script = join(dirname(fileURLToPath(import.meta.url)), 'augment_image_py.py');
    const res = spawnSync(values.python, [script, dir, String(rounds), String(size)], { encoding: 'utf8', env: { ...process.env, OMP_NUM_THREADS: '1' } });
    if (res.status === 0) python = JSON.parse(res.stdout.trim().split('\n').pop() ?? '{}') as typeof python;
    else log(`python reference failed (${basename(values.python)}): ${res.stderr.trim().split('\n').pop() ?? res.error?.message ?? ''}`);
  }

  const stages = ['decode', 'plan', 'resample', 'brightness', 'contrast', 'saturation', 'hue', 'grayscale', 'gaussianBlur', 'solarize', 'normalize'] as const;
  const jsStage: Record<string, number> = { decode: prof.decode, plan: prof.plan, resample: prof.resample, normalize: prof.normalize, ...prof.pixel };
  const wasmStage: Record<string, number> = { decode: prof.decode, plan: wasmPlan, ...wasmProf };
  const perSample = (m: Record<string, number>): Record<string, number> => Object.fromEntries(stages.map((k) => [k, (m[k] ?? 0) / count]));
  const result = {
    samples: count,
    size,
    nodeMsPerSample: nodeMs,
    nodeCpuMsPerSample: nodeCpuMs,
    nodeJsMsPerSample: jsTime.ms,
    nodeJsCpuMsPerSample: jsTime.cpuMs,
    nodeDecodeMsPerSample: decodeMs,
    pythonMsPerSample: python?.msPerSample,
    pythonCpuMsPerSample: python?.cpuMsPerSample,
    pythonDecodeMsPerSample: python?.decodeMsPerSample,
    speedup: python === undefined ? undefined : python.msPerSample / nodeMs,
    cpuSpeedup: python === undefined ? undefined : python.cpuMsPerSample / nodeCpuMs,
    profileMsPerSample: perSample(jsStage),
    wasmProfileMsPerSample: perSample(wasmStage),
  };
  if (values.json) {
    process.stdout.write(JSON.stringify(result) + '\n');
    return;
  }
  log('');
  log('per sample (decode + 2 mocov2 views + normalise), ms:');
  log(`                                          wall      cpu   decode alone (wall)`);
  log(`  node, wasm SIMD kernels (default)     ${fmt(nodeMs)}  ${fmt(nodeCpuMs)}  ${fmt(decodeMs)}`);
  log(`  node, JavaScript operators            ${fmt(jsTime.ms)}  ${fmt(jsTime.cpuMs)}  ${fmt(decodeMs)}`);
  if (python !== undefined) {
    log(`  python (PIL + torchvision)            ${fmt(python.msPerSample)}  ${fmt(python.cpuMsPerSample)}  ${fmt(python.decodeMsPerSample)}`);
    log(`  speed-up python time / node time: ${(python.msPerSample / nodeMs).toFixed(2)}x wall, ${(python.cpuMsPerSample / nodeCpuMs).toFixed(2)}x cpu (JavaScript operators: ${(python.msPerSample / jsTime.ms).toFixed(2)}x wall)`);
  }
  log('');
  log('profile, CPU ms per sample (both views); JavaScript ops one at a time vs the wasm kernels as they run');
  log('(wasm: brightness/contrast/solarize are tables folded into the next op, so their pixel cost shows there):');
  log(`  ${'stage'.padEnd(13)} ${'js'.padStart(7)} ${'wasm'.padStart(7)}`);
  let jsTotal = 0;
  let wasmTotal = 0;
  for (const k of stages) {
    const a = result.profileMsPerSample[k] ?? 0;
    const b = result.wasmProfileMsPerSample[k] ?? 0;
    jsTotal += a;
    wasmTotal += b;
    log(`  ${k.padEnd(13)} ${fmt(a)} ${fmt(b)}`);
  }
  log(`  ${'total'.padEnd(13)} ${fmt(jsTotal)} ${fmt(wasmTotal)}`);
}

await main();
