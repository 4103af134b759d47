/**
 * A WebDataset sample: the run of adjacent tar members that share a key.
 *
 * `files` maps each extension (lower-cased, everything after the first dot of the
 * member's basename: `seg.png`, `txt`, `cls`) to the member's raw bytes, in tar order.
 */
export interface Sample {
  /** Member path up to the first dot of its basename (`a/b/c.seg.png` -> `a/b/c`). */
  readonly __key__: string;
  /** The URL of the shard the sample came from, as the caller wrote it. */
  readonly __url__: string;
  /** Raw member bytes by extension. */
  readonly files: Readonly<Record<string, Buffer>>;
}

/** A sample to write: member contents by extension (strings are written as UTF-8). */
export interface SampleInput {
  readonly __key__: string;
  readonly files: Readonly<Record<string, Buffer | Uint8Array | string>>;
}
