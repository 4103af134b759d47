/**
 * Captions arrive as raw bytes (a WebDataset sample's `txt` member). They must be
 * valid UTF-8: anything else is a {@link TextError} with reason `caption-not-utf8`, which
 * the pipeline's error policy counts or throws.
 */
import { TextError } from '../../core/errors.js';

// One decoder per thread: `fatal` makes invalid sequences throw instead of becoming U+FFFD.
const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });

/**
 * Decode a caption's bytes as strict UTF-8 (a leading byte-order mark is dropped).
 *
 * @throws {TextError} `reason: 'caption-not-utf8'` when the bytes are not valid UTF-8.
 * @example
 * ```ts
 * const caption = decodeCaption(sample.files.txt);
 * ```
 */
export function decodeCaption(bytes: Uint8Array): string {
  try {
    return strictUtf8.decode(bytes);
  } catch (err) {
    throw new TextError('caption-not-utf8', `Caption is not valid UTF-8 (${bytes.byteLength} bytes)`, { cause: err });
  }
}
