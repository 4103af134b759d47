/**
 * The command-line options of the reliability contract, shared by every command that
 * reads shards (`train`, `eval`, `bench pipeline`, `shards cat|stats`, `experiment`):
 * `--on-shard-error throw|warn|skip` (a shard that cannot be opened: missing file, HTTP
 * error status, a `pipe:` command that fails before its first byte) and
 * `--allow-pipe-from-files` (shard URLs read from a config file or a shard index may be
 * `pipe:` commands or leave the index's folder; see docs/shard-format.md).
 *
 * @example
 * ```ts
 * program.command('x').addOption(onShardErrorOption()).addOption(allowPipeFromFilesOption());
 * ```
 */
import { Option } from 'commander';
import { ERROR_POLICIES } from '../datasets/reader/index.js';

/** `--on-shard-error <policy>`; no default here, so a config's `data.onShardError` can apply (the reader's default is `throw`). */
export function onShardErrorOption(): Option {
  return new Option('--on-shard-error <policy>', 'a shard that cannot be opened (missing, HTTP error, failing pipe:): throw (default), warn or skip').choices(ERROR_POLICIES);
}

/** `--allow-pipe-from-files`. */
export function allowPipeFromFilesOption(): Option {
  return new Option('--allow-pipe-from-files', 'let shard URLs read from files (config data.shards, shard index entries) be pipe: commands or leave the index folder');
}
