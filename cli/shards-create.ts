import type { Command } from 'commander';

/** `declip shards create` (not written yet: this file's owner replaces this body). */
export function registerShardsCreate(_parent: Command): void {}
