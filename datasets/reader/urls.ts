/**
 * Shard URL lists: brace expansion (`name-{000000..000099}.tar`, zero padding kept) and
 * lists joined with `::`, as webdataset writes them.
 */
import braces from 'braces';
import { ConfigError } from '../../core/errors.js';
import { invalidOption } from '../../core/validate.js';

/** The kind of byte source a shard URL names. */
export type ShardUrlKind = 'file' | 'http' | 'pipe' | 'stdin';

/** Upper bound on the number of shard URLs one brace range may expand to. */
export const MAX_EXPANDED_URLS = 1_000_000;

/**
 * Expand one or more URL specs into the flat list of shard URLs, in order.
 *
 * Each spec is split on `::`, then each part is brace-expanded (`{a,b}`, `{000..099}`).
 * Empty parts are an error.
 *
 * @example
 * ```ts
 * expandShardUrls('d/s-{000..002}.tar::extra.tar');
 * // ['d/s-000.tar', 'd/s-001.tar', 'd/s-002.tar', 'extra.tar']
 * ```
 */
export function expandShardUrls(specs: string | readonly string[]): string[] {
  const list = typeof specs === 'string' ? [specs] : specs;
  const out: string[] = [];
  for (const spec of list) {
    if (typeof spec !== 'string') throw invalidOption('urls', 'string or array of strings', spec);
    for (const part of spec.split('::')) {
      const trimmed = part.trim();
      if (trimmed.length === 0) throw invalidOption('urls', 'non-empty shard URLs (between "::")', spec);
      // `-` and pipe commands without braces pass through braces unchanged.
      let expanded: string[];
      try {
        // Quotes and backslashes are kept: they belong to pipe: commands.
        expanded = trimmed.includes('{')
          ? braces(trimmed, { expand: true, keepQuotes: true, keepEscaping: true, rangeLimit: MAX_EXPANDED_URLS })
          : [trimmed];
      } catch {
        throw invalidOption('urls', `brace pattern expanding to at most ${MAX_EXPANDED_URLS} URLs`, spec);
      }
      for (const url of expanded) out.push(url);
    }
  }
  return out;
}

/**
 * What kind of source a shard URL names.
 *
 * @example
 * ```ts
 * shardUrlKind('pipe:curl -s http://h/s.tar'); // 'pipe'
 * shardUrlKind('-'); // 'stdin'
 * ```
 */
export function shardUrlKind(url: string): ShardUrlKind {
  if (url === '-') return 'stdin';
  if (url.startsWith('pipe:')) return 'pipe';
  if (/^https?:\/\//i.test(url)) return 'http';
  return 'file';
}

/**
 * Shard URLs read from a file (a config's `data.shards`) may not run commands: a `pipe:`
 * URL runs `/bin/sh -c` with whatever the file says, so it is accepted only where the user
 * typed it (command line, API call) unless `allow` (`--allow-pipe-from-files`, config
 * `data.allowPipeFromFiles`). Throws a ConfigError naming the field and the file.
 *
 * @example
 * ```ts
 * assertNoPipeFromFile(config.data.shards, 'data.shards', 'run.json', false);
 * ```
 */
export function assertNoPipeFromFile(specs: readonly string[], field: string, file: string, allow: boolean): void {
  if (allow) return;
  for (const [i, spec] of specs.entries()) {
    const part = spec.split('::').find((p) => shardUrlKind(p.trim()) === 'pipe');
    if (part !== undefined) {
      throw new ConfigError(
        `Invalid config ${file}: ${field}[${i}] is a pipe: command (${part.trim()}); commands read from a file run only with --allow-pipe-from-files (config data.allowPipeFromFiles: true)`,
        { path: `${field}[${i}]`, file },
      );
    }
  }
}
