/** Image file extensions the converters take, and their extension in a shard. */

/** Extensions (lower-case) of image files the folder and CSV converters accept. */
export const IMAGE_FILE_EXTENSIONS = ['jpg', 'jpeg', 'png', 'webp'] as const;

/**
 * The shard extension for an image file name (`JPEG` and `jpeg` become `jpg`), or
 * `undefined` if it is not an accepted image.
 *
 * @example
 * ```ts
 * imageExtensionOf('a/B.JPEG'); // 'jpg'
 * ```
 */
export function imageExtensionOf(fileName: string): string | undefined {
  const dot = fileName.lastIndexOf('.');
  if (dot < 0) return undefined;
  const ext = fileName.slice(dot + 1).toLowerCase();
  if (!(IMAGE_FILE_EXTENSIONS as readonly string[]).includes(ext)) return undefined;
  return ext === 'jpeg' ? 'jpg' : ext;
}

/**
 * A valid sample key from a relative path without its extension: `/` separators, dots
 * and characters a tar reader would mangle replaced by `_` in each part.
 *
 * @example
 * ```ts
 * keyFromPath('holiday/img.001'); // 'holiday/img_001'
 * ```
 */
export function keyFromPath(relativePathWithoutExt: string): string {
  const parts = relativePathWithoutExt
    .split(/[\\/]+/)
    .filter((p) => p !== '' && p !== '.' && p !== '..')
    .map((p) => p.replace(/[.\0]/g, '_'));
  return parts.length === 0 ? '_' : parts.join('/');
}

/** Make keys unique by appending `_2`, `_3`... to repeats. */
export class KeyDeduper {
  readonly #seen = new Map<string, number>();
  unique(key: string): string {
    const n = this.#seen.get(key);
    if (n === undefined) {
      this.#seen.set(key, 1);
      return key;
    }
    let k = n + 1;
    while (this.#seen.has(`${key}_${k}`)) k++;
    this.#seen.set(key, k);
    const out = `${key}_${k}`;
    this.#seen.set(out, 1);
    return out;
  }
}
