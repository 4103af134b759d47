/**
 * Render a grid of synthetic samples for the docs:
 *
 * ```sh
 * node --import tsx scripts/synthetic-grid.ts [--seed 0] [--cols 8] [--rows 3] [--out docs/images/synthetic-grid.png]
 * ```
 *
 * Prints the captions of the grid (row by row) as a Markdown table on stdout.
 */
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { planSyntheticSample, renderSyntheticPlan } from '../datasets/convert/synthetic.js';

const { values } = parseArgs({
  options: {
    seed: { type: 'string', default: '0' },
    cols: { type: 'string', default: '8' },
    rows: { type: 'string', default: '3' },
    size: { type: 'string', default: '64' },
    out: { type: 'string', default: 'docs/images/synthetic-grid.png' },
  },
});
const seed = Number(values.seed);
const cols = Number(values.cols);
const rows = Number(values.rows);
const size = Number(values.size);
const pad = 4;
const plans = Array.from({ length: cols * rows }, (_, i) => planSyntheticSample(seed, i, size));
const tiles = await Promise.all(plans.map((p) => renderSyntheticPlan(p)));
const width = cols * (size + pad) + pad;
const height = rows * (size + pad) + pad;
await mkdir(dirname(values.out), { recursive: true });
await sharp({ create: { width, height, channels: 3, background: { r: 255, g: 255, b: 255 } } })
  .composite(tiles.map((input, i) => ({ input, left: pad + (i % cols) * (size + pad), top: pad + Math.floor(i / cols) * (size + pad) })))
  .png()
  .toFile(values.out);
const lines = ['| # | cls | caption |', '| --- | --- | --- |'];
plans.forEach((p, i) => lines.push(`| ${i} | ${p.attributes.shape} | ${p.caption} |`));
process.stdout.write(`wrote ${values.out} (${width}x${height})\n\n${lines.join('\n')}\n`);
