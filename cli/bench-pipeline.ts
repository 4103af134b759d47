import type { Command } from 'commander';

/** `declip bench pipeline` (not written yet: this file's owner replaces this body). */
export function registerBenchPipeline(_parent: Command): void {}
