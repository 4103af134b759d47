import type { Command } from 'commander';

/** `declip bench train` (not written yet: this file's owner replaces this body). */
export function registerBenchTrain(_parent: Command): void {}
