/**
 * A small JPEG marker walker: reads the frame header (size, components, precision,
 * coding process) and the metadata that decides whether a JPEG can take the fast
 * libjpeg-turbo path (EXIF orientation, embedded ICC profile, Adobe colour transform),
 * without decoding any pixel. It stops at the first scan (SOS).
 *
 * @example
 * ```ts
 * const h = readJpegHeader(bytes); // { width: 500, height: 375, components: 3, precision: 8, process: 'baseline', orientation: 1, icc: false, adobe: false }
 * ```
 */

/** How the image data is coded (from the SOF marker). */
export type JpegProcess = 'baseline' | 'extended' | 'progressive' | 'other';

/** What {@link readJpegHeader} found before the first scan. */
export interface JpegHeader {
  readonly width: number;
  readonly height: number;
  /** 1 (grey), 3 (YCbCr/RGB) or 4 (CMYK/YCCK). */
  readonly components: number;
  /** Bits per sample (8 or 12; 16 for lossless). */
  readonly precision: number;
  readonly process: JpegProcess;
  /** EXIF orientation 1-8 (1 when there is no EXIF orientation tag). */
  readonly orientation: number;
  /** An ICC_PROFILE (APP2) segment is present. */
  readonly icc: boolean;
  /** An Adobe (APP14) segment is present. */
  readonly adobe: boolean;
}

function u16(b: Uint8Array, at: number, little = false): number {
  const x = b[at] as number;
  const y = b[at + 1] as number;
  return little ? x | (y << 8) : (x << 8) | y;
}

function u32(b: Uint8Array, at: number, little: boolean): number {
  return little ? (u16(b, at, true) + u16(b, at + 2, true) * 65536) : u16(b, at) * 65536 + u16(b, at + 2);
}

function hasAscii(b: Uint8Array, at: number, text: string): boolean {
  if (at + text.length > b.length) return false;
  for (let i = 0; i < text.length; i++) if (b[at + i] !== text.charCodeAt(i)) return false;
  return true;
}

/** The Orientation tag (0x0112) of IFD0 of an EXIF block starting at `start` (after "Exif\0\0"), or 1. */
function exifOrientation(b: Uint8Array, start: number, end: number): number {
  if (start + 8 > end) return 1;
  const little = b[start] === 0x49 && b[start + 1] === 0x49;
  if (!little && !(b[start] === 0x4d && b[start + 1] === 0x4d)) return 1;
  const ifd = start + u32(b, start + 4, little);
  if (ifd + 2 > end) return 1;
  const count = u16(b, ifd, little);
  for (let i = 0; i < count; i++) {
    const entry = ifd + 2 + 12 * i;
    if (entry + 12 > end) return 1;
    if (u16(b, entry, little) === 0x0112) {
      const value = u16(b, entry + 8, little);
      return value >= 1 && value <= 8 ? value : 1;
    }
  }
  return 1;
}

const PROCESS: Readonly<Record<number, JpegProcess>> = { 0xc0: 'baseline', 0xc1: 'extended', 0xc2: 'progressive' };

/**
 * Reads the header of a JPEG (see the module example); `undefined` when the bytes do not
 * hold a well-formed marker sequence up to the first scan with a frame header.
 */
export function readJpegHeader(b: Uint8Array): JpegHeader | undefined {
  if (b.length < 4 || b[0] !== 0xff || b[1] !== 0xd8) return undefined;
  let at = 2;
  let frame: { width: number; height: number; components: number; precision: number; process: JpegProcess } | undefined;
  let orientation = 1;
  let sawExif = false;
  let icc = false;
  let adobe = false;
  while (at + 4 <= b.length) {
    if (b[at] !== 0xff) return undefined;
    const marker = b[at + 1] as number;
    if (marker === 0xff) {
      at++; // fill byte
      continue;
    }
    if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd8)) {
      at += 2; // markers without a length
      continue;
    }
    if (marker === 0xd9) return undefined; // EOI before any scan
    const length = u16(b, at + 2);
    const data = at + 4;
    const end = at + 2 + length;
    if (length < 2 || end > b.length) return undefined;
    if (marker === 0xda) {
      if (frame === undefined) return undefined;
      return { ...frame, orientation, icc, adobe };
    }
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      if (frame !== undefined || length < 8) return undefined;
      frame = {
        precision: b[data] as number,
        height: u16(b, data + 1),
        width: u16(b, data + 3),
        components: b[data + 5] as number,
        process: PROCESS[marker] ?? 'other',
      };
    } else if (marker === 0xe1 && !sawExif && hasAscii(b, data, 'Exif\0\0')) {
      sawExif = true;
      orientation = exifOrientation(b, data + 6, end);
    } else if (marker === 0xe2 && hasAscii(b, data, 'ICC_PROFILE\0')) {
      icc = true;
    } else if (marker === 0xee && hasAscii(b, data, 'Adobe')) {
      adobe = true;
    }
    at = end;
  }
  return undefined;
}
