import t from 'tap';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { runDemo } from '../../cli/demo.js';
import { MICRO_MODEL } from './micro-model.js';

function capture(): { stream: PassThrough; text: () => string } {
  const stream = new PassThrough();
  let text = '';
  stream.on('data', (d: Buffer) => (text += d.toString()));
  return { stream, text: () => text };
}

t.test('the demo trains both modes on the same pairs, evaluates them and writes a report', async (t) => {
  const out = join(t.testdir(), 'demo');
  const stdout = capture();
  const stderr = capture();
  const code = await runDemo(
    {
      out,
      train: 32,
      heldout: 16,
      maxCount: 16,
      seed: 1,
      imageSize: 32,
      steps: 2,
      batch: 8,
      trainConfig: {
        model: MICRO_MODEL,
        loss: { queueSize: 32 },
        data: { workers: 1, shuffleBuffer: 16 },
      },
    },
    { stdout: stdout.stream, stderr: stderr.stream },
  );
  t.equal(code, 0, stderr.text());
  const report = await readFile(join(out, 'report.md'), 'utf8');
  t.match(report, /\| CLIP baseline \| 2 \|/);
  t.match(report, /\| DeCLIP \| 2 \|/);
  t.match(report, /zero-shot top-1/);
  const files = await readdir(out);
  t.ok(files.includes('compare-loss.svg') && files.includes('compare-clip-term.svg'));
  t.same((await readdir(join(out, 'runs'))).sort(), ['clip', 'declip']);
  t.match(stdout.text(), /report: .*report\.md/);
  const rows = report.split('\n').filter((l) => l.startsWith('| CLIP') || l.startsWith('| DeCLIP'));
  for (const row of rows) {
    const cells = row.split('|').map((c) => c.trim());
    t.ok(cells.slice(5, 12).every((c) => /^\d+\.\d%$/.test(c)), `every metric is a percentage: ${row}`);
  }
});
