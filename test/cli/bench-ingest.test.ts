/**
 * `declip bench ingest` end to end against a server on 127.0.0.1: our side builds real shards
 * from real JPEGs; the side-by-side path runs a small stdlib Python stand-in for the reference
 * (the real one, ../shared/bench/anchor_ingest_py.py, needs Pillow and lives outside the repo)
 * that downloads every row and prints the reference's summary line, so the spawn, the CPU
 * wrapper, the parsing and the ratio are exercised for real.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { runBenchIngest } from '../../cli/bench-ingest.js';
import { startFaultServer } from '../pipeline/ingest-server.js';
import { capture } from '../capture.js';


const STAND_IN = `import sys, time, urllib.request
rows = [l.split(',')[0] for l in open(sys.argv[1]).read().splitlines()[1:] if l]
t0 = time.time(); ok = bad = 0
for url in rows:
    try:
        urllib.request.urlopen(url, timeout=10).read(); ok += 1
    except Exception:
        bad += 1
print(f"python ingest: {ok} written, {bad} failed, {time.time() - t0:.3f} s")
`;

t.test('bench ingest: our side writes every good row, counts the bad one, and runs beside a Python side', async (t) => {
  const server = await startFaultServer();
  t.teardown(() => server.close());
  const dir = t.testdir();
  const list = join(dir, 'list.csv');
  const urls = [...Array.from({ length: 12 }, (_, i) => `${server.base}/ok/${i}.jpg`), `${server.base}/404`];
  await writeFile(list, 'url,caption\n' + urls.map((u, i) => `${u},photo ${i}`).join('\n') + '\n');
  const anchor = join(dir, 'stand_in.py');
  await writeFile(anchor, STAND_IN);

  const out = capture();
  const err = capture();
  const sides = await runBenchIngest(
    { input: list, imageSize: '64', maxCount: '5', concurrency: '4', workers: '1', pythonAnchor: anchor, python: 'python3', json: true },
    { stdout: out, stderr: err },
  );
  const [ours, py] = sides;
  t.equal(ours?.written, 12, 'our side wrote every good row');
  t.equal(ours?.failed, 1, 'and counted the 404');
  t.ok((ours?.imagesPerSecond ?? 0) > 0 && (ours?.cpuMsPerImage ?? 0) > 0, 'rate and CPU per image measured');
  t.equal(py?.written, 12, 'the Python side ran on the same list');
  t.equal(py?.failed, 1);
  t.match(out.text(), /declip-ts .* images\/s .* ms CPU\/image/);
  t.match(out.text(), /ratio: [\d.]+x images\/s, [\d.]+x less CPU per image/);
  const json = JSON.parse(out.text().trim().split('\n').at(-1) ?? '{}') as { rows: number; sides: unknown[] };
  t.equal(json.rows, 13);
  t.equal(json.sides.length, 2);
  t.match(err.text(), /13 rows from/);

  const broken = join(dir, 'broken.py');
  await writeFile(broken, 'import sys\nsys.exit(3)\n');
  await t.rejects(
    runBenchIngest({ input: list, imageSize: '64', workers: '1', pythonAnchor: broken, python: 'python3' }, { stdout: capture(), stderr: capture() }),
    { name: 'InvalidOptionError', field: '--python-anchor', message: /exited with 3/ },
  );
  await t.rejects(runBenchIngest({ input: list, imageSize: '0' }, { stdout: capture(), stderr: capture() }), { name: 'InvalidOptionError' });
});
