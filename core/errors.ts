/**
 * One error family with stable codes (after undici's `errors.js`).
 *
 * Every error the toolkit raises on purpose is a {@link DeclipError} with a stable
 * `code`, so callers can tell a corrupt shard from a crashed worker from a NaN loss
 * without parsing messages. Always pass `{ cause }` when wrapping.
 *
 * @example
 * ```ts
 * try { await readAll(url) } catch (err) {
 *   if (err instanceof ShardFormatError) console.error(err.url, err.member)
 * }
 * ```
 */

export type DeclipErrorCode =
  | 'ERR_DECLIP'
  | 'ERR_DECLIP_INVALID_OPTION'
  | 'ERR_DECLIP_CONFIG'
  | 'ERR_DECLIP_SHARD_FORMAT'
  | 'ERR_DECLIP_SHARD_READ'
  | 'ERR_DECLIP_SAMPLE'
  | 'ERR_DECLIP_IMAGE'
  | 'ERR_DECLIP_TEXT'
  | 'ERR_DECLIP_WORKER'
  | 'ERR_DECLIP_BACKEND'
  | 'ERR_DECLIP_CHECKPOINT'
  | 'ERR_DECLIP_NON_FINITE_LOSS'
  | 'ERR_DECLIP_SOURCE_DATA'
  | 'ERR_DECLIP_SHARD_WRITE';

/** Base class of every error the toolkit raises on purpose. */
export class DeclipError extends Error {
  readonly code: DeclipErrorCode;
  constructor(message: string, options?: { cause?: unknown; code?: DeclipErrorCode }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = options?.code ?? 'ERR_DECLIP';
  }
}

/** An option or argument is out of range or of the wrong type. `field` names it. */
export class InvalidOptionError extends DeclipError {
  readonly field: string;
  constructor(field: string, message: string, options?: { cause?: unknown }) {
    super(message, { ...options, code: 'ERR_DECLIP_INVALID_OPTION' });
    this.field = field;
  }
}

/** A configuration file (or object) failed validation. `path` is the dotted field path. */
export class ConfigError extends DeclipError {
  readonly path: string;
  readonly file: string | undefined;
  constructor(message: string, details: { path: string; file?: string | undefined; cause?: unknown }) {
    super(message, { cause: details.cause, code: 'ERR_DECLIP_CONFIG' });
    this.path = details.path;
    this.file = details.file;
  }
}

/** Where in the data something went wrong. */
export interface DataLocation {
  /** The shard URL (path, `http(s)://`, `pipe:`, `-`). */
  readonly url: string;
  /** The tar member name, when one is known. */
  readonly member?: string | undefined;
  /** The sample key (`__key__`), when one is known. */
  readonly key?: string | undefined;
}

function where(loc: DataLocation): string {
  const parts = [`shard ${loc.url}`];
  if (loc.member !== undefined) parts.push(`member ${loc.member}`);
  else if (loc.key !== undefined) parts.push(`sample ${loc.key}`);
  return parts.join(', ');
}

/**
 * A shard is not a valid (WebDataset) tar: truncated, corrupt header, duplicate
 * extension in a sample... `reason` is a short stable slug used for skip counts.
 */
export class ShardFormatError extends DeclipError {
  readonly url: string;
  readonly member: string | undefined;
  readonly key: string | undefined;
  readonly reason: string;
  constructor(reason: string, detail: string, loc: DataLocation, options?: { cause?: unknown }) {
    super(`${detail} (${where(loc)})`, { ...options, code: 'ERR_DECLIP_SHARD_FORMAT' });
    this.reason = reason;
    this.url = loc.url;
    this.member = loc.member;
    this.key = loc.key;
  }
}

/** A shard could not be opened or read (I/O, HTTP status, a pipe command failed). */
export class ShardReadError extends DeclipError {
  readonly url: string;
  readonly reason: string;
  constructor(reason: string, detail: string, url: string, options?: { cause?: unknown }) {
    super(`${detail} (shard ${url})`, { ...options, code: 'ERR_DECLIP_SHARD_READ' });
    this.reason = reason;
    this.url = url;
  }
}

/** A sample is unusable (missing image or caption, caption not UTF-8, ...). */
export class SampleError extends DeclipError {
  readonly url: string;
  readonly key: string | undefined;
  readonly reason: string;
  constructor(
    reason: string,
    detail: string,
    loc: DataLocation,
    options?: { cause?: unknown; code?: DeclipErrorCode },
  ) {
    super(`${detail} (${where(loc)})`, { cause: options?.cause, code: options?.code ?? 'ERR_DECLIP_SAMPLE' });
    this.reason = reason;
    this.url = loc.url;
    this.key = loc.key;
  }
}

/** An image could not be decoded, is empty, or is over the pixel limit. */
export class ImageError extends DeclipError {
  readonly reason: 'corrupt-image' | 'empty-image' | 'too-many-pixels' | 'unsupported-image';
  constructor(reason: ImageError['reason'], message: string, options?: { cause?: unknown }) {
    super(message, { ...options, code: 'ERR_DECLIP_IMAGE' });
    this.reason = reason;
  }
}

/** A caption is not valid UTF-8 text or cannot be tokenized. */
export class TextError extends DeclipError {
  readonly reason: string;
  constructor(reason: string, message: string, options?: { cause?: unknown }) {
    super(message, { ...options, code: 'ERR_DECLIP_TEXT' });
    this.reason = reason;
  }
}

/** A worker thread crashed or could not run a task. */
export class WorkerError extends DeclipError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, { ...options, code: 'ERR_DECLIP_WORKER' });
  }
}

/** A tfjs backend could not be loaded or lacks what is needed. */
export class BackendError extends DeclipError {
  readonly backend: string;
  constructor(backend: string, message: string, options?: { cause?: unknown }) {
    super(message, { ...options, code: 'ERR_DECLIP_BACKEND' });
    this.backend = backend;
  }
}

/** A checkpoint is missing, unreadable or does not match the model. */
export class CheckpointError extends DeclipError {
  readonly path: string;
  constructor(path: string, message: string, options?: { cause?: unknown }) {
    super(`${message} (checkpoint ${path})`, { ...options, code: 'ERR_DECLIP_CHECKPOINT' });
    this.path = path;
  }
}

/** Training produced a NaN or infinite loss (repeatedly, once the guard gives up). */
export class NonFiniteLossError extends DeclipError {
  readonly step: number;
  constructor(step: number, message: string, options?: { cause?: unknown }) {
    super(`${message} (step ${step})`, { ...options, code: 'ERR_DECLIP_NON_FINITE_LOSS' });
    this.step = step;
  }
}

/**
 * An input file of a converter (a Fashion-MNIST IDX file, a CSV of captions, an image
 * folder) is missing, unreadable or malformed. `file` names it; `reason` is a short slug.
 */
export class SourceDataError extends DeclipError {
  readonly file: string;
  readonly reason: string;
  constructor(reason: string, detail: string, file: string, options?: { cause?: unknown }) {
    super(`${detail} (file ${file})`, { ...options, code: 'ERR_DECLIP_SOURCE_DATA' });
    this.reason = reason;
    this.file = file;
  }
}

/** A shard or its index could not be written (I/O error, disk full, folder not creatable). */
export class ShardWriteError extends DeclipError {
  readonly url: string;
  readonly reason: string;
  constructor(reason: string, detail: string, url: string, options?: { cause?: unknown }) {
    super(`${detail} (shard ${url})`, { ...options, code: 'ERR_DECLIP_SHARD_WRITE' });
    this.reason = reason;
    this.url = url;
  }
}

/** The `reason` slug of any data error, for per-reason skip counts; `'error'` otherwise. */
export function reasonOf(err: unknown): string {
  if (err instanceof ShardFormatError || err instanceof ShardReadError || err instanceof SampleError) return err.reason;
  if (err instanceof ShardWriteError) return err.reason;
  if (err instanceof ImageError || err instanceof TextError || err instanceof SourceDataError) return err.reason;
  if (err instanceof DeclipError) return err.code;
  return 'error';
}
