import type { Command } from 'commander';

/** `declip demo (npm start)` (not written yet: this file's owner replaces this body). */
export function registerDemo(_parent: Command): void {}
