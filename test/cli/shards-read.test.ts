import { spawn } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import t from 'tap';
import { packageRoot } from '../../core/package-info.js';
import { type ShardsReadIO, runShardsCat, runShardsStats } from '../../cli/shards-read.js';
import { memberDataOffset, sha256, simpleMembers, tarBuffer, writeTar } from '../datasets/fixtures-tar.js';

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Run `declip ARGS` as a child process (through tsx), optionally feeding a file to stdin. */
function declip(args: readonly string[], stdinFile?: string): Promise<Run> {
  const root = packageRoot();
  const child = spawn(process.execPath, ['--import', 'tsx', join(root, 'cli', 'bin.ts'), ...args], {
    cwd: root,
    stdio: [stdinFile === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
  });
  if (stdinFile !== undefined && child.stdin !== null) createReadStream(stdinFile).pipe(child.stdin);
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Run the command's function in this process with captured output (what `declip shards cat|stats` calls). */
async function inProcess(fn: (io: ShardsReadIO) => Promise<number>): Promise<Run> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
  const code = await fn({ stdout, stderr });
  return { code, stdout: out, stderr: err };
}

const lastLine = (text: string): string => text.trimEnd().split('\n').at(-1) ?? '';
const jsonLines = (text: string): Array<Record<string, unknown>> =>
  text
    .trim()
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => JSON.parse(l) as Record<string, unknown>);

t.test('cat --jsonl prints one object per sample with size and sha256 of each member, in tar order', async (t) => {
  const dir = t.testdir();
  const a = join(dir, 'a-0.tar');
  const b = join(dir, 'a-1.tar');
  const membersA = simpleMembers(3, 'a');
  const membersB = [{ name: 'x/y.seg.png', data: 'png' }, { name: 'x/y.json', data: '{}' }];
  await writeTar(a, membersA);
  await writeTar(b, membersB, true);
  const run = await inProcess((io) => runShardsCat([`${dir}/a-{0..1}.tar`], { jsonl: true }, io));
  t.equal(run.code, 0);
  const lines = jsonLines(run.stdout);
  const expected = [
    ...[0, 1, 2].map((i) => {
      const jpg = membersA[2 * i]?.data ?? '';
      const txt = membersA[2 * i + 1]?.data ?? '';
      return {
        __key__: `a${String(i).padStart(6, '0')}`,
        __url__: a,
        files: {
          jpg: { size: Buffer.byteLength(jpg), sha256: sha256(jpg) },
          txt: { size: Buffer.byteLength(txt), sha256: sha256(txt) },
        },
      };
    }),
    { __key__: 'x/y', __url__: b, files: { 'seg.png': { size: 3, sha256: sha256('png') }, json: { size: 2, sha256: sha256('{}') } } },
  ];
  t.same(lines, expected);
  t.same(Object.keys(lines[3]?.['files'] as object), ['seg.png', 'json'], 'tar order');
  t.equal(lastLine(run.stderr), '{"errors":[]}', 'the last stderr line is the (empty) error summary');
});

t.test('cat: a truncated shard under throw, warn and skip', async (t) => {
  const dir = t.testdir();
  const full = await tarBuffer(simpleMembers(4));
  const cut = join(dir, 'cut.tar');
  await writeFile(cut, full.subarray(0, memberDataOffset(full, 's000002.txt') + 5));
  const good = join(dir, 'good.tar');
  await writeTar(good, [...simpleMembers(1, 'g'), { name: 'g000001.txt', data: 'a' }, { name: 'g000001.txt', data: 'b' }]);
  // The exit code of the real command (a child process), the other policies in this process.
  const thrown = await declip(['shards', 'cat', cut, good, '--jsonl']);
  const warned = await inProcess((io) => runShardsCat([cut, good], { jsonl: true, onError: 'warn' }, io));
  const skipped = await inProcess((io) => runShardsCat([cut, good], { jsonl: true, onError: 'skip' }, io));
  const errorsOf = (run: Run | undefined): unknown => JSON.parse(lastLine(run?.stderr ?? ''));

  t.equal(thrown.code, 1, 'throw (the default): exit 1');
  t.same(jsonLines(thrown?.stdout ?? '').map((l) => l['__key__']), ['s000000', 's000001'], 'throw: complete samples before the cut');
  t.match(thrown?.stderr, /ShardFormatError.*truncated.*shard .*cut\.tar, member s000002\.txt/, 'throw: the message names the shard and member');
  t.same(errorsOf(thrown), { errors: [{ url: cut, reason: 'truncated', member: 's000002.txt', count: 1 }] });

  for (const [name, run] of [
    ['warn', warned],
    ['skip', skipped],
  ] as const) {
    t.equal(run?.code, 0, `${name}: exit 0`);
    t.same(
      jsonLines(run?.stdout ?? '').map((l) => l['__key__']),
      ['s000000', 's000001', 'g000000', 'g000001'],
      `${name}: goes on with the next shard`,
    );
    t.same(errorsOf(run), {
      errors: [
        { url: cut, reason: 'truncated', member: 's000002.txt', count: 1 },
        { url: good, reason: 'duplicate-extension', member: 'g000001.txt', count: 1 },
      ],
    });
  }
  t.match(warned?.stderr, /warning: .*truncated/, 'warn prints warnings');
  t.equal(skipped?.stderr.trim().split('\n').length, 1, 'skip prints only the summary');
});

t.test('cat - reads a shard from standard input; stats counts samples, bytes, extensions and errors', async (t) => {
  const dir = t.testdir();
  const file = join(dir, 's.tar');
  await writeTar(file, [...simpleMembers(2), { name: 'README', data: 'r' }, { name: 'k.txt', data: '1' }, { name: 'k.txt', data: '2' }]);
  const piped = await declip(['shards', 'cat', '-', '--jsonl', '--on-error', 'skip'], file);
  const statsJson = await inProcess((io) => runShardsStats([file, join(dir, 'missing.tar')], { json: true }, io));
  const statsText = await inProcess((io) => runShardsStats([file], {}, io));
  t.equal(piped.code, 0);
  t.same(JSON.parse(lastLine(piped.stderr)), {
    errors: [{ url: '-', reason: 'duplicate-extension', member: 'k.txt', count: 1 }],
  });
  t.same(jsonLines(piped.stdout).map((l) => [l['__key__'], l['__url__']]), [
    ['s000000', '-'],
    ['s000001', '-'],
    ['k', '-'],
  ]);
  t.equal(statsJson.code, 0, 'stats reports errors without failing (default --on-error skip)');
  const report = JSON.parse(statsJson.stdout) as Record<string, unknown>;
  const bytes = 100 + 137 + 2 * 'caption s000000'.length + 1;
  t.match(report, {
    shards: 2,
    shardsCompleted: 1,
    samples: 3,
    bytes,
    extensions: { jpg: { count: 2, bytes: 237 }, txt: { count: 3, bytes: 31 } },
    ignored: { 'no-extension': 1 },
    errorsByReason: { 'duplicate-extension': 1, 'open-failed': 1 },
  });
  t.match(statsText.stdout, /samples\s+3/);
  t.match(statsText.stdout, /extensions\s+jpg 2 .*txt 3/);
  t.match(statsText.stdout, /errors\s+duplicate-extension 1/);
});

t.test('runShardsCat writes to the streams it is given and stops quietly on a closed stdout', async (t) => {
  const dir = t.testdir();
  const file = join(dir, 's.tar');
  await writeTar(file, simpleMembers(50));
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (d: Buffer) => {
    out += d.toString();
    if (out.split('\n').length > 3) stdout.destroy(Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }));
  });
  stderr.on('data', (d: Buffer) => (err += d.toString()));
  const code = await runShardsCat([file], { jsonl: true }, { stdout, stderr });
  t.equal(code, 0, 'a broken pipe is not an error');
  t.equal(err.trim(), '{"errors":[]}');
  const bad = await runShardsCat([join(dir, 'nope.tar')], { onError: 'throw' }, { stdout: new PassThrough(), stderr });
  t.equal(bad, 1);
  t.match(err, /ShardReadError.*nope\.tar/);
});
