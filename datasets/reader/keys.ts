/**
 * The WebDataset key rule: how a tar member name splits into a sample key and an
 * extension (after webdataset's `base_plus_ext`).
 */

/** A member name split into its sample key and (lower-cased) extension. */
export interface MemberKey {
  /** Member path up to the first dot of its basename. */
  readonly key: string;
  /** The rest of the basename after that dot, lower-cased. */
  readonly ext: string;
}

/** Why a member is not part of any sample (not an error: by design of the format). */
export type IgnoreReason = 'hidden' | 'no-extension' | 'not-a-file';

/**
 * Split a tar member name into key and extension, or say why it is ignored.
 *
 * The key is the path up to the first dot of the basename; the extension is the rest
 * of the basename, lower-cased. Basenames that start with a dot (hidden files) and
 * basenames without a dot have no sample and are ignored.
 *
 * @example
 * ```ts
 * splitMemberName('a/b/c.seg.png'); // { key: 'a/b/c', ext: 'seg.png' }
 * splitMemberName('dir.v1/img.JPG'); // { key: 'dir.v1/img', ext: 'jpg' }
 * splitMemberName('a/.hidden.txt'); // 'hidden'
 * splitMemberName('README'); // 'no-extension'
 * ```
 */
export function splitMemberName(name: string): MemberKey | Exclude<IgnoreReason, 'not-a-file'> {
  const slash = name.lastIndexOf('/');
  const base = name.slice(slash + 1);
  if (base.startsWith('.')) return 'hidden';
  const dot = base.indexOf('.');
  if (dot <= 0) return 'no-extension';
  return { key: name.slice(0, slash + 1 + dot), ext: base.slice(dot + 1).toLowerCase() };
}
