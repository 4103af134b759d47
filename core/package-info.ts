/**
 * Where the installed package lives, the same whether code runs from the TypeScript
 * sources (tests, via tsx) or from the compiled dist/ tree.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let cachedRoot: string | undefined;

/** Absolute path of the folder holding declip-ts's package.json. */
export function packageRoot(): string {
  if (cachedRoot !== undefined) return cachedRoot;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = join(dir, 'package.json');
    if (existsSync(candidate)) {
      const pkg = JSON.parse(readFileSync(candidate, 'utf8')) as { name?: string };
      if (pkg.name === 'declip-ts') return (cachedRoot = dir);
    }
    const parent = dirname(dir);
    if (parent === dir) throw new Error('declip-ts: cannot find the package root from ' + import.meta.url);
    dir = parent;
  }
}

/** The package version from package.json. */
export function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version: string };
  return pkg.version;
}

/** True when this module was loaded from the TypeScript sources rather than dist/. */
export function runningFromSources(): boolean {
  return import.meta.url.endsWith('.ts');
}
