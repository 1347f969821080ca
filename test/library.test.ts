// The library as a triage bot uses it: several sessions at once, inputs as bytes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { open, InputError, UsageError } from '../src/index.js';
import { tempDir } from './helpers.js';
import { packagePath } from '../src/paths.js';
import { smallScenario } from './fixtures/scenario.js';
import { bugreportZipBytes, renderBugreportText } from './fixtures/bugreport.js';

test('two sessions coexist and do not see each other', async () => {
  const a = smallScenario(34);
  const b = smallScenario(34);
  b.buffers = b.buffers.slice(0, 2);
  b.processes.forEach((p) => (p.holds = p.holds.filter((h) => h.inode <= 1002)));
  const [s1, s2] = await Promise.all([
    open({ name: 'a.zip', bytes: bugreportZipBytes(a) }),
    open({ name: 'b.txt', bytes: new TextEncoder().encode(renderBugreportText(b)) }),
  ]);
  assert.equal(s1.query('SELECT count(*) AS n FROM dmabuf')[0].n, 6);
  assert.equal(s2.query('SELECT count(*) AS n FROM dmabuf')[0].n, 2);
  s1.close();
  assert.equal(s2.run('dmabuf_exporters').length, 2);
  s2.close();
});

test('exportSqlite returns the database; summary() is the data analyze prints', async () => {
  const s = await open({ name: 'a.zip', bytes: bugreportZipBytes(smallScenario(34)) });
  const bytes = s.exportSqlite();
  assert.equal(Buffer.from(bytes.subarray(0, 15)).toString(), 'SQLite format 3');
  const sum = s.summary({ top: 2 });
  // The two largest exporters (as dmabuf_exporters has them: analyses.test.ts), and the one suspect.
  assert.deepEqual(sum.snapshots[0].exporters, [
    { snapshot_id: 1, exporter: 'system', buffers: 3, bytes: 41914368, share_pct: 88.86, largest_bytes: 33554432, processes: 2, unheld_buffers: 1, unheld_bytes: 33554432 },
    { snapshot_id: 1, exporter: 'qcom,system', buffers: 2, bytes: 4206592, share_pct: 8.92, largest_bytes: 4194304, processes: 2, unheld_buffers: 0, unheld_bytes: 0 },
  ]);
  assert.deepEqual(sum.snapshots[0].leak_suspects, [
    {
      snapshot_id: 1,
      kind: 'kernel_held',
      subject: 'system',
      bytes: 33554432,
      severity: 'high',
      evidence: '1 buffer(s) of exporter system listed by the kernel (dmabuf_dump_b) but held by no process; largest 33554432 bytes',
    },
  ]);
  assert.deepEqual(sum.errors, []);
  s.close();
});

test('a bad input rejects with a typed error', async () => {
  await assert.rejects(open({ name: 'x.zip', bytes: new Uint8Array([0x50, 0x4b, 3, 4, 1, 2, 3]) }), InputError);
});

test('what is not an input (null, a number, bytes that are not a Uint8Array) rejects with a UsageError naming it', async () => {
  const bad: [unknown, string][] = [
    [null, 'got null'],
    [[undefined], 'got undefined'],
    [42, 'got 42'],
    [{ name: 'x.txt' }, 'got { name: string }'],
    [{ name: 'x.txt', bytes: 'text' }, 'got { name: string, bytes: string }'],
  ];
  for (const [input, says] of bad) {
    await assert.rejects(open(input as string), (e: Error) => e instanceof UsageError && e.message === `an input is a path or { name, bytes } with bytes a Uint8Array, ${says}`);
  }
});

test("a user's SQL: one statement, named in the UsageError when there is none or several; wrong parameters say what is wrong", async () => {
  const s = await open({ name: 'a.zip', bytes: bugreportZipBytes(smallScenario(34)) });
  const fails = (f: () => unknown, message: string) => assert.throws(f, (e: Error) => e instanceof UsageError && e.message === message);
  fails(() => s.query(''), 'no SQL statement to run');
  fails(() => s.query(' ; -- nothing'), 'no SQL statement to run');
  // sql.js would run the first and drop the second without a word.
  fails(() => s.query('SELECT 1; DELETE FROM dmabuf'), "one SQL statement at a time: 'DELETE FROM dmabuf' follows the first");
  fails(() => s.columns('SELECT 1; SELECT 2'), "one SQL statement at a time: 'SELECT 2' follows the first");
  assert.deepEqual(s.query('SELECT 1 AS one; -- done\n'), [{ one: 1 }]);
  fails(() => s.query('SELECT :a', 5 as unknown as unknown[]), 'query parameters are an object ({ name: value } for :name) or an array (for ?), got 5');
  fails(() => s.query('SELECT :a', { a: { b: 1 } }), 'SQL error: Wrong API use : tried to bind a value of an unknown type ([object Object]).');
  assert.equal(s.query('SELECT count(*) AS n FROM dmabuf')[0].n, 6);
  s.close();
});

test("summary's top is a positive whole number: a negative one is a UsageError, not every row but the last", async () => {
  const s = await open({ name: 'a.zip', bytes: bugreportZipBytes(smallScenario(34)) });
  for (const top of [0, -1, 1.5, NaN]) {
    assert.throws(() => s.summary({ top }), (e: Error) => e instanceof UsageError && e.message === `summary's top is a positive whole number, got ${top}`);
  }
  assert.equal(s.summary({ top: 1 }).snapshots[0].exporters.length, 1);
  s.close();
});

test('a result with two columns of one name (SELECT * over a join) keeps both, the second named as SQLite names it (name:1)', async () => {
  const s = await open({ name: 'a.zip', bytes: bugreportZipBytes(smallScenario(34)) });
  assert.deepEqual(s.query('SELECT 1 AS a, 2 AS a, 3 AS b'), [{ a: 1, 'a:1': 2, b: 3 }]);
  const join = 'SELECT * FROM dmabuf d JOIN dmabuf_holder h ON h.snapshot_id = d.snapshot_id AND h.inode = d.inode ORDER BY d.inode, h.pid LIMIT 1';
  const columns = s.columns(join);
  assert.deepEqual(columns.filter((c) => c.startsWith('seen_by')), ['seen_by', 'seen_by:1']);
  const [row] = s.query(join);
  assert.deepEqual(Object.keys(row), columns);
  const [d] = s.query('SELECT seen_by FROM dmabuf WHERE inode = :i', { i: row.inode });
  assert.equal(row.seen_by, d.seen_by);
  s.close();
});

test('a transaction the user opens and rolls back loses no rows (the trace tables written on first use)', async () => {
  const s = await open(packagePath('examples', 'bugreport-example.zip'));
  const count = (t: string) => s.query(`SELECT count(*) AS n FROM ${t}`)[0].n;
  s.query('-- by hand\nBEGIN');
  const events = count('dma_heap_event');
  assert.ok(Number(events) > 0);
  s.query('ROLLBACK');
  for (const t of ['dma_heap_event', 'dma_heap_charge']) assert.equal(count(t), events, t);
  assert.ok(Number(count('dmabuf_rss_sample')) > 0);
  s.close();
});

test('an analysis parameter set to undefined (an optional argument passed on) keeps its default', async () => {
  const s = await open({ name: 'a.zip', bytes: bugreportZipBytes(smallScenario(34)) });
  assert.deepEqual(s.run('dmabuf_buffers', { top: undefined }), s.run('dmabuf_buffers'));
  assert.deepEqual(s.run('dmabuf_leak_suspects', { low_bytes: undefined, high_bytes: 1 }), s.run('dmabuf_leak_suspects', { high_bytes: 1 }));
  s.close();
});

test('a closed session says so: every call but close() is a UsageError', async () => {
  const s = await open({ name: 'a.zip', bytes: bugreportZipBytes(smallScenario(34)) });
  s.close();
  for (const call of [() => s.query('SELECT 1'), () => s.columns('SELECT 1'), () => s.run('dmabuf_exporters'), () => s.schema(), () => s.summary(), () => s.exportSqlite()]) {
    assert.throws(call, (e: Error) => e instanceof UsageError && e.message === 'the session is closed');
  }
  s.close();
});

test('examples/library.ts runs as the README says and prints the exporters table and the largest buffers', () => {
  const zip = path.join(tempDir(), 'report.zip');
  fs.writeFileSync(zip, bugreportZipBytes(smallScenario(34)));
  // Compiled beside this file: dist/examples/library.js.
  const example = fileURLToPath(new URL('../examples/library.js', import.meta.url));
  const r = spawnSync(process.execPath, [example, zip], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stderr, '');
  const lines = r.stdout.split('\n');
  // console.table's rows as their cells (header row first).
  const cells = (table: string[]) => table.filter((l) => l.startsWith('│')).map((l) => l.split('│').slice(1, -1).map((c) => c.trim()));
  const split = lines.indexOf('Largest buffers:');
  assert.equal(lines[0], 'DMA-BUF by exporter:');
  assert.ok(split > 0, r.stdout);
  // The dmabuf_exporters rows of this report (as analyses.test.ts has them).
  assert.deepEqual(cells(lines.slice(0, split)), [
    ['(index)', 'snapshot_id', 'exporter', 'buffers', 'bytes', 'share_pct', 'largest_bytes', 'processes', 'unheld_buffers', 'unheld_bytes'],
    ['0', '1', "'system'", '3', '41914368', '88.86', '33554432', '2', '1', '33554432'],
    ['1', '1', "'qcom,system'", '2', '4206592', '8.92', '4194304', '2', '0', '0'],
    ['2', '1', "'mali'", '1', '1048576', '2.22', '1048576', '1', '0', '0'],
  ]);
  // Then its own query: buffers of 8 MiB or more — only 1005, kernel-held (1001 is 8294400 bytes, under 8 MiB).
  assert.deepEqual(cells(lines.slice(split)), [
    ['(index)', 'inode', 'size', 'exporter', 'name', 'holders'],
    ['0', '1005', '33554432', "'system'", "''", "'(none: kernel-held)'"],
  ]);
});
