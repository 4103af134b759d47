import type { Command } from 'commander';

/** `declip shards cat / shards stats` (not written yet: this file's owner replaces this body). */
export function registerShardsRead(_parent: Command): void {}
