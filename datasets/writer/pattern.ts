/**
 * Shard name patterns: one printf-style shard number (`%d`, `%06d`) in the file name,
 * as webdataset's `ShardWriter` takes them (`out/name-%06d.tar`).
 */
import { invalidOption } from '../../core/validate.js';

const PLACEHOLDER = /%(0?)(\d*)d/g;

/** A parsed shard pattern. */
export interface ShardPattern {
  readonly pattern: string;
  /** The name of shard `n`. */
  format(n: number): string;
  /** The shard number of a file name (base name only) this pattern would give, or undefined. */
  numberOf(fileName: string): number | undefined;
}

/**
 * Parse a pattern with exactly one `%d` / `%0Nd` in its file name.
 * Throws an `InvalidOptionError` naming `field` otherwise.
 *
 * @example
 * ```ts
 * parseShardPattern('out/syn-%06d.tar').format(3); // 'out/syn-000003.tar'
 * ```
 */
export function parseShardPattern(pattern: unknown, field = 'pattern'): ShardPattern {
  const expected = 'shard name pattern with one %d or %06d in the file name (e.g. out/name-%06d.tar)';
  if (typeof pattern !== 'string' || pattern.length === 0) throw invalidOption(field, expected, pattern);
  const matches = [...pattern.matchAll(PLACEHOLDER)];
  const slash = Math.max(pattern.lastIndexOf('/'), pattern.lastIndexOf('\\'));
  const [m] = matches;
  if (matches.length !== 1 || m === undefined || m.index < slash || pattern.replace(PLACEHOLDER, '').includes('%')) {
    throw invalidOption(field, expected, pattern);
  }
  const width = m[2] === undefined || m[2] === '' ? 0 : Number(m[2]);
  const pad = m[1] === '0' ? '0' : ' ';
  const before = pattern.slice(0, m.index);
  const after = pattern.slice(m.index + m[0].length);
  const escape = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const nameBefore = before.slice(slash + 1);
  const digits = pad === '0' ? `(\\d{${Math.max(width, 1)},})` : `\\s*(\\d+)`;
  const nameRe = new RegExp(`^${escape(nameBefore)}${digits}${escape(after)}$`);
  return {
    pattern,
    format: (n: number) => before + String(n).padStart(width, pad) + after,
    numberOf: (fileName: string) => {
      const m = nameRe.exec(fileName);
      if (m?.[1] === undefined) return undefined;
      const n = Number(m[1]);
      // Only names this pattern would produce: `%06d` gives 000012, never 0000012.
      return Number.isSafeInteger(n) && before.slice(slash + 1) + String(n).padStart(width, pad) + after === fileName ? n : undefined;
    },
  };
}
