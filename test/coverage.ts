/**
 * Coverage of the library's sources after a tap run, and the floor it must stay above.
 *
 * tap records V8 coverage for every test process and thread under `.tap/coverage/`, but
 * its report maps it back to the TypeScript sources line by line through source maps, and
 * tsx (our TypeScript loader) emits whitespace-minified code: a module becomes two or three
 * generated lines, so tap's report counted ~150 statements in all and showed 100%. This
 * script reads the same raw V8 data with monocart-coverage-reports, which maps byte ranges
 * (not lines) through the source maps and so gives the real figures. Sources that no test
 * loads are added with zero coverage (transpiled here with TypeScript), so an untested
 * file lowers the numbers instead of vanishing from them.
 *
 * Usage (`npm test` runs it after tap): `node --import=tsx test/coverage.ts [--details]`.
 * Writes `coverage/lcov.info` and `coverage/index.html`; exits 1 below a floor.
 */
import { existsSync } from 'node:fs';
import { basename, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { CoverageReport, type CoverageResults } from 'monocart-coverage-reports';
import ts from 'typescript';

const root = join(import.meta.dirname, '..');
/** The library's source folders (bench/, scripts/ and test/ are not measured). */
const sourceDirs = ['core', 'datasets', 'augment', 'pipeline', 'trainer', 'cli'];
/** AssemblyScript sources: compiled to WebAssembly, never run as JavaScript (their tests compare them with the JS operators). */
const notJavaScript = '/wasm/assembly/';
/**
 * Floors, some points under the figures measured when they were set (docs/testing.md),
 * so that a change which leaves much new code untested fails here.
 */
const coverageFloors = { lines: 85, bytes: 85, statements: 80, branches: 85, functions: 85 } as const;

const rawDir = join(root, '.tap', 'coverage');
if (!existsSync(rawDir)) {
  console.error(`coverage: no raw V8 coverage in ${rawDir}: run tap first`);
  process.exit(1);
}

const rootUrl = pathToFileURL(root).href + '/';
const isTypeScript = (path: string): boolean => path.endsWith('.ts') && !path.endsWith('.d.ts') && !path.includes(notJavaScript);
const isSource = (path: string): boolean => sourceDirs.some((d) => path.startsWith(`${d}/`)) && isTypeScript(path);

const report = new CoverageReport({
  name: 'declip-ts',
  outputDir: join(root, 'coverage'),
  baseDir: root,
  reports: [process.argv.includes('--details') ? 'console-details' : 'console-summary', 'v8', 'lcovonly'],
  entryFilter: (entry) => entry.url.startsWith(rootUrl) && !entry.url.includes('/node_modules/'),
  sourceFilter: isSource,
  all: {
    dir: sourceDirs.map((d) => join(root, d)),
    filter: (path: string) => isTypeScript(path.replaceAll('\\', '/')),
    transformer: async (entry: { url: string; source: string; sourceMap?: unknown }) => {
      const path = fileURLToPath(entry.url);
      const original = entry.source;
      const out = ts.transpileModule(entry.source, {
        fileName: basename(path),
        compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, sourceMap: true },
      });
      entry.source = out.outputText.replace(/\/\/# sourceMappingURL=.*$/m, '');
      // The map names the file by its base name; name it by its path so it lands in its folder.
      entry.sourceMap = { ...(JSON.parse(out.sourceMapText ?? '{}') as object), sources: [path], sourcesContent: [original] };
    },
  },
});
await report.addFromDir(rawDir);
const results: CoverageResults | undefined = await report.generate();
if (results === undefined) {
  console.error('coverage: the report is empty');
  process.exit(1);
}

const failures = Object.entries(coverageFloors).flatMap(([metric, floor]) => {
  const pct = results.summary[metric as keyof typeof coverageFloors]?.pct;
  return typeof pct === 'number' && pct >= floor ? [] : [`${metric} ${String(pct)}% < ${floor}%`];
});
if (failures.length > 0) {
  console.error(`coverage below the floor: ${failures.join(', ')} (report: coverage/index.html)`);
  process.exit(1);
}
console.log(`coverage: ${Object.keys(coverageFloors).map((m) => `${m} ${String(results.summary[m as keyof typeof coverageFloors]?.pct)}%`).join(', ')} (floors ${JSON.stringify(coverageFloors)})`);
