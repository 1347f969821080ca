// The command line as a user runs it: a child process, its stdout, stderr and exit code.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import initSqlJs from 'sql.js';
import { spawn, spawnSync } from 'node:child_process';
import { cli, tempDir } from './helpers.js';
import { packagePath } from '../src/paths.js';
import { smallScenario } from './fixtures/scenario.js';
import { renderMeminfo } from './fixtures/meminfo.js';
import { zipSync } from './fixtures/zip.js';
import { bugreportTextGz, bugreportZipBytes, renderBugreportText } from './fixtures/bugreport.js';

const dir = tempDir();
const zip = path.join(dir, 'report.zip');
fs.writeFileSync(zip, bugreportZipBytes(smallScenario(34)));

test('analyze prints the summary a person reads: device, total, exporters, processes, leaks, consistency, diagnostics', () => {
  const r = cli(['analyze', zip]);
  assert.equal(r.code, 0, r.err);
  for (const want of ['google/oriole/oriole:14', 'SDK 34', '2026-11-02T14:03:27', 'DMA-BUF', '45.0 MiB in 6 buffers', 'dmabuf_exporters', 'dmabuf_processes', 'surfaceflinger', 'dmabuf_leak_suspects', 'HIGH', 'kernel_held', 'dmabuf_consistency', 'Import diagnostics']) {
    assert.ok(r.out.includes(want), `summary lacks '${want}':\n${r.out}`);
  }
  assert.match(r.err, /reading .*report\.zip/);
});

test('analyze --format json carries the same content as data; --quiet silences progress', () => {
  const r = cli(['analyze', zip, '--format', 'json', '--quiet']);
  assert.equal(r.code, 0, r.err);
  assert.equal(r.err, '');
  const j = JSON.parse(r.out);
  assert.equal(j.snapshots.length, 1);
  assert.equal(j.snapshots[0].total_bytes, 47169536);
  assert.equal(j.snapshots[0].exporters[0].exporter, 'system');
  assert.equal(j.snapshots[0].leak_suspects[0].kind, 'kernel_held');
  // Holders are known: the totals dmabuf_dump printed per process are not repeated.
  assert.ok(j.snapshots[0].processes.length > 0);
  assert.deepEqual(j.snapshots[0].process_totals, []);
  assert.equal(typeof j.diagnostics.total, 'number');
});

test('analyze --format markdown and --html write the same summary in those forms', () => {
  const html = path.join(dir, 'summary.html');
  const r = cli(['analyze', zip, '--format', 'markdown', '--html', html, '-q']);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /^# dmabuf-triage/m);
  assert.match(r.out, /^\| exporter \| buffers/m);
  const page = fs.readFileSync(html, 'utf8');
  assert.match(page, /<h2>dmabuf_leak_suspects<\/h2>/);
  assert.match(page, /kernel_held/);
});

test('analyze --fail-on: exit 1 when a leak suspect at or above the severity exists, 0 when none is', () => {
  // The report's one suspect: 33554432 bytes of CAMERA buffer no process holds, high.
  assert.equal(cli(['analyze', zip, '-q', '--fail-on', 'high']).code, 1);
  assert.equal(cli(['analyze', zip, '-q', '--fail-on', 'leaks']).code, 1);
  // Every buffer held by an fd: no suspect at all.
  const clean = smallScenario(34);
  clean.processes.find((p) => p.pid === 1234)!.holds.push({ inode: 1005, fds: 1, maps: 0 });
  clean.processes.find((p) => p.pid === 2345)!.holds.find((h) => h.inode === 1006)!.fds = 1;
  const cleanZip = path.join(dir, 'clean.zip');
  fs.writeFileSync(cleanZip, bugreportZipBytes(clean));
  const none = cli(['analyze', cleanZip, '-q', '--fail-on', 'leaks', '--format', 'json']);
  assert.equal(none.code, 0, none.err);
  assert.deepEqual(JSON.parse(none.out).snapshots[0].leak_suspects, []);
  // The unheld buffer shrunk to 1 MiB (7% of the total): a low suspect, below medium.
  const small = smallScenario(34);
  small.buffers.find((b) => b.inode === 1005)!.size = 1048576;
  small.processes.find((p) => p.pid === 2345)!.holds.find((h) => h.inode === 1006)!.fds = 1;
  const lowZip = path.join(dir, 'low.zip');
  fs.writeFileSync(lowZip, bugreportZipBytes(small));
  const below = cli(['analyze', lowZip, '-q', '--fail-on', 'medium', '--format', 'json']);
  assert.equal(below.code, 0, below.err);
  assert.deepEqual(
    JSON.parse(below.out).snapshots[0].leak_suspects.map((r: { kind: string; bytes: number; severity: string }) => [r.kind, r.bytes, r.severity]),
    [['kernel_held', 1048576, 'low']],
  );
  assert.equal(cli(['analyze', lowZip, '-q', '--fail-on', 'low']).code, 1);
  const bad = cli(['analyze', zip, '-q', '--fail-on', 'purple']);
  assert.equal(bad.code, 2);
  assert.equal(bad.err.trim().split('\n').length, 1);
});

test('query with --param and every row format', () => {
  const sql = 'SELECT inode, size FROM dmabuf WHERE size >= :min ORDER BY inode';
  const json = cli(['query', zip, '-q', '--sql', sql, '--param', 'min=8000000', '--format', 'json']);
  assert.equal(json.code, 0, json.err);
  assert.deepEqual(JSON.parse(json.out), [{ inode: 1001, size: 8294400 }, { inode: 1005, size: 33554432 }]);
  const csv = cli(['query', zip, '-q', '--sql', sql, '--param', 'min=8000000', '--format', 'csv', '--no-headers']);
  assert.equal(csv.out, '1001,8294400\n1005,33554432\n');
  const nd = cli(['query', zip, '-q', '--sql', sql, '-p', 'min=8000000', '--format', 'ndjson']);
  assert.equal(nd.out, '{"inode":1001,"size":8294400}\n{"inode":1005,"size":33554432}\n');
  const table = cli(['query', zip, '-q', '--sql', sql, '-p', 'min=8000000']);
  assert.match(table.out, /^inode\s+size\n-----\s+----\n\s*1001\s+8294400\n\s*1005\s+33554432\n\(2 rows\)\n$/);
});

test('run an analysis with a parameter; an unknown analysis or parameter is one line and exit 2', () => {
  const r = cli(['run', 'dmabuf_buffers', zip, '-q', '--param', 'top=1', '--format', 'json']);
  assert.equal(r.code, 0, r.err);
  assert.deepEqual(JSON.parse(r.out).map((x: { inode: number }) => x.inode), [1005]);
  const u = cli(['run', 'dmabuf_nothing', zip, '-q']);
  assert.equal(u.code, 2);
  assert.match(u.err, /^dmabuf-triage: unknown analysis 'dmabuf_nothing'/);
  const p = cli(['run', 'dmabuf_buffers', zip, '-q', '--param', 'nope=1']);
  assert.equal(p.code, 2);
  assert.match(p.err, /has no parameter 'nope'/);
});

test('analyses and schema list the catalogue and the documentation', () => {
  const a = cli(['analyses', '--format', 'json']);
  const list = JSON.parse(a.out) as { name: string; params: { name: string }[] }[];
  assert.ok(list.find((x) => x.name === 'dmabuf_leak_suspects')?.params.some((p) => p.name === 'high_bytes'));
  const s = cli(['schema', 'dmabuf_holder']);
  assert.match(s.out, /^table dmabuf_holder\n/);
  assert.match(s.out, /fd_refs\s+Number of file descriptors/);
});

test('export writes a SQLite file other tools open', async () => {
  const out = path.join(dir, 'db.sqlite');
  const r = cli(['export', zip, '--out', out, '-q']);
  assert.equal(r.code, 0, r.err);
  const SQL = await initSqlJs();
  const db = new SQL.Database(fs.readFileSync(out));
  assert.deepEqual(db.exec('SELECT count(*) FROM dmabuf')[0].values, [[6]]);
  assert.deepEqual(db.exec("SELECT exporter FROM dmabuf_exporters LIMIT 1")[0].values, [['system']]);
  assert.ok(Number(db.exec('SELECT count(*) FROM schema_doc')[0].values[0][0]) > 100);
  db.close();
});

// The SQLite of the system's Python (what Datasette runs on; 3.40 on Debian 12), when there is one.
const python = spawnSync('python3', ['-c', 'import sqlite3; print(sqlite3.sqlite_version)'], { encoding: 'utf8' });

test('an export opens in the SQLite of the system (python3\'s sqlite3, as Datasette): every table and view reads', { skip: python.status !== 0 && 'no python3 with sqlite3' }, () => {
  // The example holds a trace: its views look processes up per event.
  const out = path.join(dir, 'example.sqlite');
  const r = cli(['export', packagePath('examples', 'bugreport-example.zip'), '--out', out, '-q']);
  assert.equal(r.code, 0, r.err);
  const script = [
    'import sqlite3, sys',
    'c = sqlite3.connect(sys.argv[1])',
    "for (name,) in c.execute(\"SELECT name FROM sqlite_master WHERE type IN ('table', 'view') ORDER BY name\").fetchall():",
    '    try: c.execute(\'SELECT count(*) FROM "%s"\' % name).fetchone()',
    "    except Exception as e: print('%s: %s' % (name, e))",
  ].join('\n');
  const p = spawnSync('python3', ['-c', script, out], { encoding: 'utf8' });
  assert.equal(p.status, 0, p.stderr);
  assert.equal(p.stdout, '', `SQLite ${python.stdout.trim()} cannot read:\n${p.stdout}`);
});

test('bad inputs: one line on stderr, exit 2', () => {
  const notZip = path.join(dir, 'bad.zip');
  fs.writeFileSync(notZip, Buffer.concat([Buffer.from('PK\u0003\u0004'), Buffer.alloc(100, 7)]));
  const junk = path.join(dir, 'junk.bin');
  fs.writeFileSync(junk, 'just some words\n');
  for (const input of [notZip, junk, path.join(dir, 'missing.zip')]) {
    const r = cli(['analyze', input]);
    assert.equal(r.code, 2, input);
    const lines = r.err.trim().split('\n').filter((l) => !l.startsWith('reading '));
    assert.equal(lines.length, 1, r.err);
    assert.match(lines[0], /^dmabuf-triage: /);
  }
});

test('shell answers SQL typed on its standard input', () => {
  const r = cli(['shell', zip, '-q'], '.tables\nSELECT count(*) AS n\nFROM dmabuf;\n.quit\n');
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /table dmabuf_holder/);
  assert.match(r.out, /^n\n-\n6\n\(1 row\)$/m);
});

test('diff names what grew between two captures', () => {
  const after = smallScenario(34);
  after.buffers.push({ inode: 3001, size: 4194304, exporter: 'mali' });
  after.processes[1].holds.push({ inode: 3001, fds: 1, maps: 1 });
  const z2 = path.join(dir, 'after.zip');
  fs.writeFileSync(z2, bugreportZipBytes(after));
  const r = cli(['diff', zip, z2, '-q', '--format', 'csv']);
  assert.equal(r.code, 0, r.err);
  // surfaceflinger held 1001, 1002 and 1003 (8294400 + 4194304 + 1048576 bytes), then 3001 too.
  assert.equal(
    r.out,
    [
      'change,kind,subject,first_bytes,last_bytes,delta_bytes',
      'grew,exporter,mali,1048576,5242880,4194304',
      'grew,process,surfaceflinger,13537280,17731584,4194304',
      '',
    ].join('\n'),
  );
});

test('diff of a capture with itself lists nothing', () => {
  const r = cli(['diff', zip, zip, '-q', '--format', 'csv', '--no-headers']);
  assert.equal(r.code, 0, r.err);
  assert.equal(r.out, '');
});

test('output piped into a reader that stops early (| head) ends quietly, with exit 0', async () => {
  // A listing longer than a pipe holds (every buffer of the example), whose reader closes the pipe
  // after the first chunk.
  const args = ['query', packagePath('examples', 'bugreport-example.zip'), '-q', '--sql', 'SELECT * FROM dmabuf'];
  const child = spawn(process.execPath, [packagePath('bin', 'dmabuf-triage.js'), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr.on('data', (c: Buffer) => (err += c.toString()));
  child.stdout.once('data', () => child.stdout.destroy());
  const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
  assert.equal(err, '');
  assert.equal(code, 0);
});

test('a pipe or FIFO is read as it comes (analyze <(zcat …)): zip, text and gzip alike', () => {
  const fifo = path.join(dir, 'capture.fifo');
  const sql = 'SELECT count(*) AS n, sum(size) AS bytes FROM dmabuf';
  const want = cli(['query', zip, '-q', '--sql', sql, '--format', 'csv']);
  assert.equal(want.code, 0, want.err);
  const inputs = { zip: fs.readFileSync(zip), text: renderBugreportText(smallScenario(34)), gzip: bugreportTextGz(smallScenario(34)) };
  for (const [label, bytes] of Object.entries(inputs)) {
    fs.rmSync(fifo, { force: true });
    assert.equal(spawnSync('mkfifo', [fifo]).status, 0);
    const src = path.join(dir, `fifo-source.${label}`);
    fs.writeFileSync(src, bytes);
    // The writer runs beside the command, as a shell's process substitution does.
    const script = 'cat "$1" > "$2" & exec "$0" "$3" query "$2" -q --sql "$4" --format csv';
    const r = spawnSync('sh', ['-c', script, process.execPath, src, fifo, packagePath('bin', 'dmabuf-triage.js'), sql], { encoding: 'utf8' });
    assert.equal(r.status, 0, `${label}: ${r.stderr}`);
    assert.equal(r.stdout, want.out, label);
  }
});

test('a file that fails to read (an I/O error) is one line and exit 2, not a stack trace', { skip: !fs.existsSync('/proc/self/mem') }, () => {
  // Reading /proc/self/mem at offset 0 fails with EIO.
  const r = cli(['analyze', '/proc/self/mem', '-q']);
  assert.equal(r.code, 2);
  assert.equal(r.err, 'dmabuf-triage: /proc/self/mem: cannot read (EIO: i/o error, read)\n');
});

test('query: no statement or several is one line and exit 2; a statement that creates what it names runs', () => {
  for (const [sql, says] of [
    ['', 'no SQL statement to run'],
    ['-- a comment', 'no SQL statement to run'],
    ['SELECT 1; SELECT 2', "one SQL statement at a time: 'SELECT 2' follows the first"],
  ]) {
    const r = cli(['query', zip, '-q', '--sql', sql]);
    assert.equal(r.code, 2, sql);
    assert.equal(r.err, `dmabuf-triage: ${says}\n`, sql);
  }
  // Its columns were read after it had run: 'table t already exists'.
  const r = cli(['query', zip, '-q', '--sql', 'CREATE TABLE t AS SELECT inode FROM dmabuf']);
  assert.equal(r.code, 0, r.err);
  assert.equal(r.err, '');
});

test('shell fed through a pipe: errors on stderr and exit 2, a last statement without ";" still runs', () => {
  const ok = cli(['shell', zip, '-q'], 'CREATE TABLE t AS SELECT inode FROM dmabuf;\nSELECT count(*) AS n FROM t');
  assert.equal(ok.code, 0, ok.err);
  assert.equal(ok.err, '');
  assert.match(ok.out, /^n\n-\n6\n\(1 row\)\n$/m);
  const bad = cli(['shell', zip, '-q'], '.schema no_such_table\n.nope\nSELEC 1;\n;\nSELECT 1; SELECT 2;\nSELECT 7 AS seven;\n');
  assert.equal(bad.code, 2);
  assert.equal(
    bad.err,
    [
      "no table or view named 'no_such_table'",
      'unknown command .nope; try .tables, .schema NAME, .analyses, .quit',
      'SQL error: near "SELEC": syntax error',
      'no SQL statement to run',
      "one SQL statement at a time: 'SELECT 2' follows the first",
      '',
    ].join('\n'),
  );
  assert.equal(bad.out, 'seven\n-----\n    7\n(1 row)\n');
});

test('export --out or analyze --html naming a folder or nothing is refused before the inputs are read', () => {
  // Below a file, where a folder should be: one line (stat fails with ENOTDIR there).
  const underFile = path.join(zip, 'x.sqlite');
  for (const flag of ['--out', '--html']) {
    const r = cli([flag === '--out' ? 'export' : 'analyze', zip, flag, underFile]);
    assert.equal(r.code, 2, flag);
    assert.equal(r.err, `dmabuf-triage: cannot write ${underFile}: no folder ${zip}\n`, flag);
  }
  for (const args of [
    ['export', zip, '--out', dir],
    ['analyze', zip, '--html', dir],
    ['export', zip, '--out', ''],
    ['analyze', zip, '--html', ''],
  ]) {
    const r = cli(args);
    assert.equal(r.code, 2, args.join(' '));
    // Nothing was read (no 'reading …' line), nothing printed.
    const flag = args[2];
    assert.equal(r.err, args[3] === '' ? `dmabuf-triage: ${flag} takes a file name, got ''\n` : `dmabuf-triage: cannot write ${dir}: it is a folder\n`);
    assert.equal(r.out, '');
  }
});

test('diff with an input that lists no buffers (meminfo alone, a trace) says so: one line, exit 2, not an empty "nothing changed"', () => {
  const meminfo = path.join(dir, 'meminfo.txt');
  fs.writeFileSync(meminfo, renderMeminfo(smallScenario(34), 'dmabuf'));
  for (const [before, after] of [[zip, meminfo], [meminfo, zip]]) {
    const r = cli(['diff', before, after, '-q']);
    assert.equal(r.code, 2, r.err);
    assert.equal(r.err, `dmabuf-triage: ${meminfo}: lists no DMA-BUF buffers, so there is nothing to compare (diff compares buffer lists; \`analyze\` shows what it holds)\n`);
    assert.equal(r.out, '');
  }
});

test('export --help says that an existing file is replaced, and export does replace it', () => {
  assert.match(cli(['export', '--help']).out.replace(/\s+/g, ' '), /-o, --out <file> the \.sqlite file to write \(replaced when it exists; never an input\)/);
  const out = path.join(dir, 'replaced.sqlite');
  fs.writeFileSync(out, 'old');
  assert.equal(cli(['export', zip, '--out', out, '-q']).code, 0);
  assert.equal(fs.readFileSync(out).subarray(0, 15).toString(), 'SQLite format 3');
});

test('export --out or analyze --html naming one of the inputs is refused: the capture is not replaced by the output', () => {
  const input = path.join(dir, 'keep.zip');
  fs.copyFileSync(zip, input);
  for (const args of [['export', input, '--out', input], ['analyze', zip, input, '--html', path.join(dir, '.', 'keep.zip')]]) {
    const r = cli([...args, '-q']);
    assert.equal(r.code, 2, args.join(' '));
    assert.equal(r.err, `dmabuf-triage: cannot write ${args[args.length - 1]}: it is an input, which it would replace\n`);
  }
  assert.deepEqual(fs.readFileSync(input), fs.readFileSync(zip));
});

test('a zip of several bugreport zips says so (one line, exit 2), not that it holds no bugreport; a zip skipped inside a bugreport is named', () => {
  const report = bugreportZipBytes(smallScenario(34));
  const two = path.join(dir, 'two-reports.zip');
  fs.writeFileSync(two, zipSync({ 'a.zip': report, 'b.zip': report }));
  const r = cli(['analyze', two, '-q']);
  assert.equal(r.code, 2);
  assert.equal(r.err, `dmabuf-triage: ${two}: holds no bugreport text but 2 zip files (a.zip, b.zip), which are not opened: give each as an input of its own\n`);
  // A bugreport with a zip beside its text: read, and the zip named where the skipped files are counted.
  const beside = path.join(dir, 'report-and-zip.zip');
  fs.writeFileSync(beside, zipSync({ 'bugreport-x.txt': renderBugreportText(smallScenario(34)), 'older.zip': report }));
  const q = cli(['query', beside, '-q', '--format', 'csv', '--no-headers', '--sql', "SELECT message FROM diagnostic WHERE code = 'entries_skipped'"]);
  assert.equal(q.code, 0, q.err);
  assert.equal(q.out, '"1 files held nothing this tool reads, among them a zip file not opened (older.zip): give it as an input of its own"\n');
});

test('output that cannot be written (stdout on a full disk) is one line and exit 2, not a stack trace', { skip: !fs.existsSync('/dev/full') }, () => {
  const full = fs.openSync('/dev/full', 'w');
  try {
    for (const args of [['schema'], ['analyze', zip, '-q']]) {
      const r = spawnSync(process.execPath, [packagePath('bin', 'dmabuf-triage.js'), ...args], { encoding: 'utf8', stdio: ['ignore', full, 'pipe'] });
      assert.equal(r.status, 2, args[0]);
      assert.equal(r.stderr, 'dmabuf-triage: cannot write the output (ENOSPC: no space left on device, write)\n', args[0]);
    }
  } finally {
    fs.closeSync(full);
  }
});

test('a folder of symbolic links (never followed) is refused naming them, not as if it held nothing', () => {
  const links = path.join(dir, 'links');
  fs.mkdirSync(links);
  fs.symlinkSync(zip, path.join(links, 'report.zip'));
  const r = cli(['analyze', links, '-q']);
  assert.equal(r.code, 2);
  assert.equal(r.err, `dmabuf-triage: ${links}: holds no bugreport and no DMA-BUF capture this tool reads; its symbolic link is not followed (report.zip): give the file it points to\n`);
});
