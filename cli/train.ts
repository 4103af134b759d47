import type { Command } from 'commander';

/** `declip train` (not written yet: this file's owner replaces this body). */
export function registerTrain(_parent: Command): void {}
