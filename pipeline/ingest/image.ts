/**
 * One downloaded image -> the bytes a shard stores: checks, decode (the project's own
 * decoder, `augment/image/decode.ts`), resize (img2dataset's modes, Pillow's antialiased
 * bilinear through the project's wasm view kernels, `resampleRgb` as the fallback), re-encode (libjpeg-turbo for JPEG, sharp for WebP/PNG).
 * Runs in the ingest worker pool; pure (no I/O), so tests call it directly.
 *
 * Resize modes (img2dataset's meanings, `--image-size N`):
 * - `no`: keep the image as it is (the downloaded bytes when already in the `--encode`
 *   format, else re-encoded at the same size);
 * - `keep_ratio`: the smaller side becomes N, aspect kept;
 * - `keep_ratio_largest`: the larger side becomes N, aspect kept;
 * - `center_crop`: the smaller side becomes N, then the central N x N;
 * - `border`: the larger side becomes N, then centred on an N x N black canvas.
 *
 * Failures (classes of the ingest statistics): bytes that are no image `not-an-image`;
 * a GIF/TIFF/BMP/... `unsupported-format`; more than `maxPixels` pixels by the header
 * `too-large` (nothing is decoded); truncated or corrupt `decode-error` (never padded:
 * sharp fails on warnings, and a JPEG without its end marker goes straight to sharp,
 * not through the fast decoder); smaller side under `minImageSize` `too-small`; aspect ratio over
 * `maxAspectRatio` `bad-aspect-ratio`.
 *
 * @example
 * ```ts
 * const r = await processImage(bytes, { ...DEFAULT_IMAGE_JOB, imageSize: 256, resizeMode: 'center_crop' });
 * if (r.ok) writeJpeg(r.data);
 * ```
 */
import sharp from 'sharp';
import { ImageError } from '../../core/errors.js';
import { decodeImage, decodeJpegFast, jpegTurbo, sniffImageFormat } from '../../augment/image/decode.js';
import { resampleRgb, type ResamplePlan } from '../../augment/image/resample.js';
import type { RgbImage } from '../../augment/image/types.js';
import { WasmViewKernels, wasmKernelsAvailable } from '../../augment/image/wasm/view.js';

/** img2dataset's resize modes. */
export const RESIZE_MODES = ['no', 'keep_ratio', 'keep_ratio_largest', 'center_crop', 'border'] as const;
export type ResizeMode = (typeof RESIZE_MODES)[number];

/** Output encodings (the member extension is the same word). */
export const ENCODINGS = ['jpg', 'webp', 'png'] as const;
export type Encoding = (typeof ENCODINGS)[number];

/** What to do with each image. */
export interface ImageJobOptions {
  readonly imageSize: number;
  readonly resizeMode: ResizeMode;
  readonly encode: Encoding;
  /** 1-100 (JPEG, WebP). */
  readonly quality: number;
  readonly maxPixels: number;
  /** Smaller side at least this (0: off). */
  readonly minImageSize: number;
  /** Larger / smaller side at most this (Infinity: off). */
  readonly maxAspectRatio: number;
}

/** img2dataset's defaults (size 256, border, JPEG 95) and the decoder's pixel limit. */
export const DEFAULT_IMAGE_JOB: ImageJobOptions = Object.freeze({
  imageSize: 256,
  resizeMode: 'border',
  encode: 'jpg',
  quality: 95,
  maxPixels: 40_000_000,
  minImageSize: 0,
  maxAspectRatio: Infinity,
});

/** The image failure classes. */
export type ImageFailure = 'not-an-image' | 'unsupported-format' | 'too-large' | 'decode-error' | 'too-small' | 'bad-aspect-ratio' | 'encode-error';

/** The outcome for one image. */
export type ImageOutcome =
  | {
      readonly ok: true;
      readonly data: Uint8Array;
      readonly width: number;
      readonly height: number;
      readonly originalWidth: number;
      readonly originalHeight: number;
    }
  | { readonly ok: false; readonly failure: ImageFailure; readonly detail: string };

/** The resample plan and output size of a mode (exported for tests). */
export function planResize(width: number, height: number, size: number, mode: ResizeMode): ResamplePlan {
  const box = { x: 0, y: 0, width, height };
  const scaled = (scale: number): { w: number; h: number } => ({
    w: Math.max(1, Math.round(width * scale)),
    h: Math.max(1, Math.round(height * scale)),
  });
  switch (mode) {
    case 'no':
      return { box, resizeWidth: width, resizeHeight: height, window: box, mirror: false };
    case 'keep_ratio':
    case 'center_crop': {
      const s = scaled(size / Math.min(width, height));
      // The smaller side is exactly `size` whatever the rounding of the other.
      const w = width <= height ? size : Math.max(size, s.w);
      const h = width <= height ? Math.max(size, s.h) : size;
      const window =
        mode === 'keep_ratio'
          ? { x: 0, y: 0, width: w, height: h }
          : { x: Math.floor((w - size) / 2), y: Math.floor((h - size) / 2), width: size, height: size };
      return { box, resizeWidth: w, resizeHeight: h, window, mirror: false };
    }
    case 'keep_ratio_largest':
    case 'border': {
      const s = scaled(size / Math.max(width, height));
      const w = width >= height ? size : Math.min(size, s.w);
      const h = width >= height ? Math.min(size, s.h) : size;
      const window =
        mode === 'keep_ratio_largest'
          ? { x: 0, y: 0, width: w, height: h }
          : { x: -Math.floor((size - w) / 2), y: -Math.floor((size - h) / 2), width: size, height: size };
      return { box, resizeWidth: w, resizeHeight: h, window, mirror: false };
    }
  }
}

/**
 * Reused buffers of this thread (decoded photo; resized image; JPEG output), each grown to the
 * largest need so far up to 16 MiB (larger images allocate their own).
 */
class Scratch {
  #buf = Buffer.alloc(0);
  static readonly MAX = 16 * 1024 * 1024;
  get(size: number): Buffer | undefined {
    if (size === 0 || size > Scratch.MAX) return undefined;
    if (this.#buf.length < size) this.#buf = Buffer.allocUnsafe(Math.max(size, Math.min(Scratch.MAX, 2 * this.#buf.length)));
    return this.#buf;
  }
}
const decoded = new Scratch();
const resized = new Scratch();
const encoded = new Scratch();

/**
 * Encode RGB pixels. The result owns exactly its bytes (its `buffer` is no larger), so
 * handing it to another thread copies only the encoded image: libjpeg-turbo writes into
 * a worst-case-sized buffer (about 200 KB for 256 x 256), here this thread's reused one,
 * and the JPEG is copied out of it.
 */
export async function encodeRgb(image: RgbImage, encode: Encoding, quality: number): Promise<Uint8Array> {
  const raw = Buffer.from(image.data.buffer, image.data.byteOffset, image.data.byteLength);
  if (encode === 'jpg') {
    const lib = jpegTurbo();
    if (lib !== null) {
      const options = { format: lib.FORMAT_RGB, width: image.width, height: image.height, quality, subsampling: lib.SAMP_420 };
      const into = encoded.get(lib.bufferSize(options));
      const out = into === undefined ? lib.compressSync(raw, options) : lib.compressSync(raw, into, options);
      return new Uint8Array(out.buffer, out.byteOffset, out.byteLength).slice();
    }
  }
  const s = sharp(raw, { raw: { width: image.width, height: image.height, channels: 3 } });
  if (encode === 'jpg') return await s.jpeg({ quality }).toBuffer();
  if (encode === 'webp') return await s.webp({ quality }).toBuffer();
  return await s.png().toBuffer();
}

/**
 * Resample with the project's wasm view kernels (SIMD, the same Pillow arithmetic, about
 * 4x faster than the TypeScript reference here), or `resampleRgb` where they cannot load.
 */
let wasm: boolean | undefined;
export function resize(image: RgbImage, plan: ResamplePlan, out?: RgbImage): RgbImage {
  wasm ??= wasmKernelsAvailable();
  if (wasm) return WasmViewKernels.get().run(image, { geometry: plan, pixels: [] }, out);
  return resampleRgb(image, plan);
}

/** True when a JPEG ends with its EOI marker (allowing a little trailing padding). */
function jpegComplete(bytes: Uint8Array): boolean {
  for (let i = bytes.length - 2; i >= Math.max(0, bytes.length - 64); i--) {
    if (bytes[i] === 0xff && bytes[i + 1] === 0xd9) return true;
  }
  return false;
}

const FORMAT_EXT: Readonly<Record<string, Encoding>> = { jpeg: 'jpg', png: 'png', webp: 'webp' };

/** Check, decode, resize and encode one image (see the module notes). Never throws for bad data. */
export async function processImage(bytes: Uint8Array, o: ImageJobOptions): Promise<ImageOutcome> {
  const format = sniffImageFormat(bytes);
  if (format === undefined) {
    return { ok: false, failure: 'not-an-image', detail: `not a JPEG, PNG or WebP image (${bytes.length} bytes${bytes.length > 0 ? `, starting ${JSON.stringify(Buffer.from(bytes.subarray(0, 16)).toString('latin1'))}` : ''})` };
  }
  if (format === 'other') return { ok: false, failure: 'unsupported-format', detail: 'an image format other than JPEG, PNG or WebP' };
  let image: RgbImage;
  try {
    const fast = format === 'jpeg' && jpegComplete(bytes);
    // Into this thread's scratch buffer: the pixels are read only by the resize below,
    // before any await (measured last session: the ~0.5 MB allocated per decoded photo
    // cost about 1 ms of GC per image).
    image = (fast ? decodeJpegFast(bytes, o.maxPixels, (n) => decoded.get(n)) : undefined) ?? (await decodeImage(bytes, { maxPixels: o.maxPixels, fastJpeg: fast }));
  } catch (err) {
    if (err instanceof ImageError && err.reason === 'too-many-pixels') return { ok: false, failure: 'too-large', detail: err.message };
    return { ok: false, failure: 'decode-error', detail: err instanceof Error ? err.message : String(err) };
  }
  const { width, height } = image;
  if (o.minImageSize > 0 && Math.min(width, height) < o.minImageSize) {
    return { ok: false, failure: 'too-small', detail: `${width}x${height}, smaller side under ${o.minImageSize}` };
  }
  if (Math.max(width, height) / Math.min(width, height) > o.maxAspectRatio) {
    return { ok: false, failure: 'bad-aspect-ratio', detail: `${width}x${height}, aspect ratio over ${o.maxAspectRatio}` };
  }
  if (o.resizeMode === 'no' && FORMAT_EXT[format] === o.encode) {
    return { ok: true, data: bytes, width, height, originalWidth: width, originalHeight: height };
  }
  const plan = planResize(width, height, o.imageSize, o.resizeMode);
  // The resized pixels go to scratch too when the encoder reads them before any await
  // (libjpeg-turbo's synchronous JPEG encoder).
  const n = plan.window.width * plan.window.height * 3;
  const into = o.encode === 'jpg' && jpegTurbo() !== null ? resized.get(n) : undefined;
  const out = resize(image, plan, into === undefined ? undefined : { width: plan.window.width, height: plan.window.height, data: into.subarray(0, n) });
  try {
    const data = await encodeRgb(out, o.encode, o.quality);
    return { ok: true, data, width: out.width, height: out.height, originalWidth: width, originalHeight: height };
  } catch (err) {
    return { ok: false, failure: 'encode-error', detail: err instanceof Error ? err.message : String(err) };
  }
}
