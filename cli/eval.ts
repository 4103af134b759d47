import type { Command } from 'commander';

/** `declip eval zeroshot|retrieval|linear-probe` (not written yet: this file's owner replaces this body). */
export function registerEval(_parent: Command): void {}
