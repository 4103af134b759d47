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
 * Worker threads: tap records coverage through an inspector session of each test
 * process's main thread, so code that runs only in worker threads (pipeline/workers/*,
 * trainer/parallel/worker.ts) was counted as never run. `npm test` therefore also sets
 * NODE_V8_COVERAGE=.tap/coverage-threads: Node then writes one raw V8 file per thread of
 * every process (`coverage-PID-TIME-THREAD.json`, with the same source-map cache tap
 * writes; a thread stopped with terminate() writes its file too). The files of threads
 * other than 0 (main threads are already in tap's data) are added here, with tsx's
 * `?tsx-namespace=` query taken off their URLs so they merge with the same files' other
 * coverage.
 *
 * Floors: the global ones below, and {@link FILE_LINE_FLOOR} lines for every source
 * file (except {@link FILE_FLOOR_EXCEPTIONS}, each with its reason).
 *
 * Usage (`npm test` runs it after tap): `node --import=tsx test/coverage.ts [--details]`.
 * Writes `coverage/lcov.info` and `coverage/index.html`; exits 1 below a floor.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
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
/** Every source file must have at least this share of its lines covered (%). */
export const FILE_LINE_FLOOR = 60;
/** Files exempt from the per-file floor, each with the reason (keep this list short). */
const FILE_FLOOR_EXCEPTIONS: Readonly<Record<string, string>> = {
  'trainer/kernels/batch-matmul.ts':
    'the paths it runs (plain, broadcast and heap-kernel products) are tested against the cpu backend in test/trainer/kernels.test.ts; the rest are fallbacks for a wasm backend without the heap kernels (perItemXnn, batchedProduct), which the suite cannot reach without a switch to turn the heap kernels off',
};

const rawDir = join(root, '.tap', 'coverage');
if (!existsSync(rawDir)) {
  console.error(`coverage: no raw V8 coverage in ${rawDir}: run tap first`);
  process.exit(1);
}
const threadsDir = join(root, '.tap', 'coverage-threads');

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
const threadFiles = await workerThreadCoverage(threadsDir);
if (threadFiles === 0) console.error(`coverage: no worker-thread coverage in ${threadsDir} (run tap with NODE_V8_COVERAGE=${threadsDir}, as npm test does): code that runs only in threads counts as unrun`);
const results: CoverageResults | undefined = await report.generate();
if (results === undefined) {
  console.error('coverage: the report is empty');
  process.exit(1);
}

const failures = Object.entries(coverageFloors).flatMap(([metric, floor]) => {
  const pct = results.summary[metric as keyof typeof coverageFloors]?.pct;
  return typeof pct === 'number' && pct >= floor ? [] : [`${metric} ${String(pct)}% < ${floor}%`];
});
const lowFiles = results.files
  .filter((f) => !Object.hasOwn(FILE_FLOOR_EXCEPTIONS, f.sourcePath))
  .filter((f) => !(typeof f.summary.lines.pct === 'number' && f.summary.lines.pct >= FILE_LINE_FLOOR))
  .map((f) => `${f.sourcePath} ${String(f.summary.lines.pct)}%`);
if (lowFiles.length > 0) failures.push(`files under ${FILE_LINE_FLOOR}% of lines: ${lowFiles.join(', ')}`);
if (failures.length > 0) {
  console.error(`coverage below the floor: ${failures.join('; ')} (report: coverage/index.html)`);
  process.exit(1);
}
console.log(
  `coverage: ${Object.keys(coverageFloors).map((m) => `${m} ${String(results.summary[m as keyof typeof coverageFloors]?.pct)}%`).join(', ')} (floors ${JSON.stringify(coverageFloors)}; every file >= ${FILE_LINE_FLOOR}% of lines; ${threadFiles} worker-thread files)`,
);

/**
 * Add the V8 files of worker threads (thread id > 0) from a NODE_V8_COVERAGE folder, with
 * tsx's `?tsx-namespace=...` URL query removed. Resolves to the number of files added.
 */
async function workerThreadCoverage(dir: string): Promise<number> {
  if (!existsSync(dir)) return 0;
  const names = (await readdir(dir)).filter((n) => /^coverage-\d+-\d+-([1-9]\d*)\.json$/.test(n));
  const staged = await mkdtemp(join(tmpdir(), 'declip-thread-coverage-'));
  const clean = (url: string): string => url.replace(/\?tsx-namespace=[^#]*/, '');
  let added = 0;
  try {
    for (const name of names) {
      const data = JSON.parse(await readFile(join(dir, name), 'utf8')) as { result: { url: string }[]; 'source-map-cache'?: Record<string, { url?: string | null }> };
      data.result = data.result.filter((r) => r.url.startsWith(rootUrl) && !r.url.includes('/node_modules/'));
      if (data.result.length === 0) continue;
      for (const r of data.result) r.url = clean(r.url);
      const cache = data['source-map-cache'] ?? {};
      data['source-map-cache'] = Object.fromEntries(
        Object.entries(cache)
          .filter(([url]) => url.startsWith(rootUrl))
          .map(([url, entry]) => [clean(url), typeof entry.url === 'string' ? { ...entry, url: clean(entry.url) } : entry]),
      );
      await writeFile(join(staged, name), JSON.stringify(data));
      added++;
    }
    await report.addFromDir(staged);
  } finally {
    await rm(staged, { recursive: true, force: true });
  }
  return added;
}
