/**
 * Decoding: JPEG, PNG or WebP bytes -> {@link RgbImage}, once per sample, with sharp
 * (libvips). EXIF orientation is applied; grey becomes RGB; an alpha channel is
 * flattened onto **white** (transparent logos and line art, usually dark on
 * transparent, stay visible; Pillow's `convert('RGB')` would instead expose whatever
 * colour the transparent pixels happen to store); 16-bit images become 8-bit.
 *
 * Guards: an empty buffer is `ImageError('empty-image')`; bytes that are not a
 * supported image, or a truncated/corrupt one, `ImageError('corrupt-image')`; a known
 * but unsupported format (GIF, TIFF, SVG, ...) `ImageError('unsupported-image')`; an
 * image whose header claims more than `maxPixels` pixels `ImageError('too-many-pixels')`
 * before any pixel is decoded (a decompression bomb costs only its header read).
 *
 * Fast JPEG path (`fastJpeg: true`): a plain 8-bit baseline/progressive JPEG, grey or
 * 3-component, without EXIF rotation, ICC profile or Adobe transform, is decoded by
 * libjpeg-turbo directly (`@julusian/jpeg-turbo`, about 1.3 ms instead of sharp's ~5 ms
 * for a 500x375 photo; the binding uses libjpeg-turbo's fast integer IDCT, so pixels
 * differ from sharp/Pillow by at most a few levels: on the benchmark photos max 8, mean
 * 0.96 of 255). Anything else, any error of the fast decoder, or a platform without its
 * prebuilt binary, goes through sharp as above, so orientation, CMYK, ICC, corrupt-input
 * errors and the pixel limit behave the same on both paths.
 */
import { createRequire } from 'node:module';
import type * as JpegTurboModule from '@julusian/jpeg-turbo';
import sharp from 'sharp';
import type { OutputInfo } from 'sharp';
import { ImageError } from '../../core/errors.js';
import { expectBoolean, expectInteger, invalidOption } from '../../core/validate.js';
import { readJpegHeader } from './jpeg-header.js';
import type { RgbImage } from './types.js';

/** Options of {@link decodeImage}. */
export interface DecodeOptions {
  /** Largest `width * height` accepted (checked on the header). Default 40,000,000. */
  readonly maxPixels?: number;
  /**
   * Decode plain JPEGs with libjpeg-turbo's fast path (see the module notes): about 4x
   * less CPU, pixels within a few levels of sharp's. Default false (sharp for everything).
   */
  readonly fastJpeg?: boolean;
}

/** Resolved decode options. */
export interface ResolvedDecodeOptions {
  readonly maxPixels: number;
  readonly fastJpeg: boolean;
}

/** The defaults of {@link DecodeOptions}. */
export const DEFAULT_DECODE_OPTIONS: ResolvedDecodeOptions = Object.freeze({ maxPixels: 40_000_000, fastJpeg: false });

/**
 * Validates decode options once (at the boundary).
 *
 * @example
 * ```ts
 * const opts = resolveDecodeOptions({ maxPixels: 20e6 });
 * ```
 */
export function resolveDecodeOptions(options: DecodeOptions = {}): ResolvedDecodeOptions {
  if (typeof options !== 'object' || options === null) throw invalidOption('decodeOptions', 'object', options);
  return {
    maxPixels:
      options.maxPixels === undefined
        ? DEFAULT_DECODE_OPTIONS.maxPixels
        : expectInteger('maxPixels', options.maxPixels, 1, Number.MAX_SAFE_INTEGER),
    fastJpeg: options.fastJpeg === undefined ? DEFAULT_DECODE_OPTIONS.fastJpeg : expectBoolean('fastJpeg', options.fastJpeg),
  };
}

/** The `@julusian/jpeg-turbo` module's type. */
export type JpegTurbo = typeof JpegTurboModule;
let turbo: JpegTurbo | null | undefined;

/** The libjpeg-turbo binding, loaded on first use; null where it cannot load (no prebuilt binary). */
export function jpegTurbo(): JpegTurbo | null {
  if (turbo === undefined) {
    try {
      turbo = createRequire(import.meta.url)('@julusian/jpeg-turbo') as JpegTurbo;
    } catch {
      turbo = null;
    }
  }
  return turbo;
}

/**
 * Whether this platform has the fast JPEG decoder (see {@link DecodeOptions.fastJpeg}).
 *
 * @example
 * ```ts
 * if (!fastJpegAvailable()) console.warn('JPEGs are decoded by sharp');
 * ```
 */
export function fastJpegAvailable(): boolean {
  return jpegTurbo() !== null;
}

/**
 * The fast path: the decoded image, or `undefined` when this JPEG must go through sharp
 * (not plain, or the fast decoder refused it: sharp then decides, and names the error).
 * `scratch(n)` (called once the header gives the size, n = width x height x 3) may offer
 * a buffer: when it is at least n bytes the pixels are decoded into it (no allocation per
 * image; the result is a view of it, valid until its next use).
 *
 * @example
 * ```ts
 * const image = decodeJpegFast(bytes, 40e6, (n) => reusable(n)) ?? (await decodeImage(bytes));
 * ```
 */
export function decodeJpegFast(bytes: Uint8Array, maxPixels: number, scratch?: (bytes: number) => Buffer | undefined): RgbImage | undefined {
  const header = readJpegHeader(bytes);
  if (header === undefined || header.process === 'other' || header.precision !== 8) return undefined;
  if (header.components !== 1 && header.components !== 3) return undefined;
  if (header.orientation !== 1 || header.icc || header.adobe) return undefined;
  if (header.width * header.height > maxPixels) {
    throw new ImageError('too-many-pixels', `jpeg image has ${header.width * header.height} pixels, more than ${maxPixels}`);
  }
  if (header.width === 0 || header.height === 0) return undefined;
  const lib = jpegTurbo();
  if (lib === null) return undefined;
  try {
    const src = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
    const n = header.width * header.height * 3;
    const offered = scratch?.(n);
    const into = offered !== undefined && offered.length >= n ? offered : undefined;
    const out = into === undefined ? lib.decompressSync(src, { format: lib.FORMAT_RGB }) : lib.decompressSync(src, into, { format: lib.FORMAT_RGB });
    if (out.width !== header.width || out.height !== header.height || out.data.length !== out.width * out.height * 3) return undefined;
    return { width: out.width, height: out.height, data: new Uint8Array(out.data.buffer, out.data.byteOffset, out.data.length) };
  } catch {
    return undefined;
  }
}

/** The image formats {@link decodeImage} accepts, by their leading bytes. */
export type ImageFormat = 'jpeg' | 'png' | 'webp';

function startsWith(bytes: Uint8Array, sig: readonly number[], at = 0): boolean {
  if (bytes.length < at + sig.length) return false;
  for (let i = 0; i < sig.length; i++) if (bytes[at + i] !== sig[i]) return false;
  return true;
}

const ascii = (s: string): number[] => [...s].map((c) => c.charCodeAt(0));

/**
 * The format of `bytes` from its signature: a supported one, `'other'` for a known
 * image format we do not accept, or `undefined` when it is not recognisably an image.
 *
 * @example
 * ```ts
 * sniffImageFormat(jpegBytes); // 'jpeg'
 * ```
 */
export function sniffImageFormat(bytes: Uint8Array): ImageFormat | 'other' | undefined {
  if (startsWith(bytes, [0xff, 0xd8, 0xff])) return 'jpeg';
  if (startsWith(bytes, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) return 'png';
  if (startsWith(bytes, ascii('RIFF')) && startsWith(bytes, ascii('WEBP'), 8)) return 'webp';
  if (
    startsWith(bytes, ascii('GIF8')) ||
    startsWith(bytes, [0x49, 0x49, 0x2a, 0x00]) ||
    startsWith(bytes, [0x4d, 0x4d, 0x00, 0x2a]) ||
    startsWith(bytes, ascii('BM')) ||
    startsWith(bytes, ascii('ftyp'), 4) ||
    startsWith(bytes, ascii('<svg')) ||
    startsWith(bytes, ascii('<?xml'))
  ) {
    return 'other';
  }
  return undefined;
}

/**
 * Decodes an image to 8-bit RGB. Rejects with {@link ImageError} (see the module notes).
 *
 * @example
 * ```ts
 * const image = await decodeImage(sample.files['jpg'], { maxPixels: 20_000_000 });
 * console.log(image.width, image.height, image.data.length); // w, h, w*h*3
 * ```
 */
export async function decodeImage(bytes: Uint8Array, options?: DecodeOptions | ResolvedDecodeOptions): Promise<RgbImage> {
  const { maxPixels, fastJpeg } = resolveDecodeOptions(options);
  if (bytes.length === 0) throw new ImageError('empty-image', 'image is empty (0 bytes)');
  const format = sniffImageFormat(bytes);
  if (format === undefined) throw new ImageError('corrupt-image', `not a JPEG, PNG or WebP image (${bytes.length} bytes)`);
  if (format === 'other') throw new ImageError('unsupported-image', 'unsupported image format (JPEG, PNG and WebP are accepted)');
  if (fastJpeg && format === 'jpeg') {
    const fast = decodeJpegFast(bytes, maxPixels);
    if (fast !== undefined) return fast;
  }
  let raw: { data: Buffer; info: OutputInfo };
  try {
    raw = await sharp(bytes, { limitInputPixels: maxPixels, failOn: 'warning', autoOrient: true })
      .flatten({ background: { r: 255, g: 255, b: 255 } })
      .toColourspace('srgb')
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    if (/pixel limit/i.test(message)) {
      throw new ImageError('too-many-pixels', `${format} image has more than ${maxPixels} pixels`, { cause: err });
    }
    throw new ImageError('corrupt-image', `cannot decode ${format} image: ${message}`, { cause: err });
  }
  const { width, height, channels } = raw.info;
  if (width * height > maxPixels) {
    throw new ImageError('too-many-pixels', `${format} image has ${width * height} pixels, more than ${maxPixels}`);
  }
  const src = raw.data;
  if (channels === 3) return { width, height, data: new Uint8Array(src.buffer, src.byteOffset, src.length) };
  // sharp gives 3 channels after flatten + sRGB; convert defensively if it did not.
  const data = new Uint8Array(width * height * 3);
  for (let i = 0, j = 0; i < width * height; i++, j += channels) {
    const r = src[j] as number;
    data[i * 3] = r;
    data[i * 3 + 1] = channels >= 3 ? (src[j + 1] as number) : r;
    data[i * 3 + 2] = channels >= 3 ? (src[j + 2] as number) : r;
  }
  return { width, height, data };
}
