import type { Command } from 'commander';
import { registerShardsCreate } from './shards-create.js';
import { registerShardsIndex } from './shards-index.js';
import { registerShardsRead } from './shards-read.js';

/** `declip shards create|cat|stats|index`. */
export function registerShardsCommands(program: Command): void {
  const shards = program.command('shards').description('create, list and summarise WebDataset shards');
  registerShardsCreate(shards);
  registerShardsRead(shards);
  registerShardsIndex(shards);
}
