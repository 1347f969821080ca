// OpenHarmony / Huawei /proc/process_dmabuf_info (src/importers/kernel/process-dmabuf-info.ts):
// golden rows rendered from dma-buf-process-info.c's printf strings; a neutral file name, the
// tab before the exporter turned to spaces, CRLF, columns that lost their widths, captures cut
// short, Total lines that disagree, the file inside a bugreport section and next to bufinfo.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openTexts, assertRows, csv, csvLines, diagnostics, OBS_BY_INODE, HOLDERS, TOTALS_BY_PID } from './helpers.js';
import { smallScenarioWithNamedBuffer, type Scenario } from './fixtures/scenario.js';
import { renderProcessDmabufInfo, processDmabufInfoProcesses, renderBufinfo, expandTabs, fileCountOf } from './fixtures/kernel.js';
import { bugreportZipBytes, minimalBugreport, renderSection } from './fixtures/bugreport.js';

function expectedObs(s: Scenario): string[] {
  const held = new Set(s.processes.flatMap((p) => p.holds.filter((h) => h.fds > 0).map((h) => h.inode)));
  return csvLines(
    ['inode', 'size', 'size_exact', 'exporter', 'name', 'file_count', 'global_list'],
    s.buffers
      .filter((b) => held.has(b.inode))
      .sort((a, b) => a.inode - b.inode)
      .map((b) => [b.inode, b.size, 1, b.exporter, b.name ?? null, null, 0]),
  );
}

function expectedHolders(s: Scenario): string[] {
  const rows = s.processes.flatMap((p) => p.holds.filter((h) => h.fds > 0).map((h) => [p.pid, h.inode, h.fds, null] as unknown[]));
  rows.sort((a, b) => (a[1] as number) - (b[1] as number) || (a[0] as number) - (b[0] as number));
  return csvLines(['pid', 'inode', 'fd_refs', 'map_refs'], rows);
}

function expectedTotals(s: Scenario): string[] {
  const rows = processDmabufInfoProcesses(s)
    .map((p) => ['process_dmabuf_info_process', p.pid, p.bytes, null, 0])
    .sort((a, b) => (a[1] as number) - (b[1] as number));
  return csvLines(['origin', 'pid', 'total_bytes', 'buffer_count', 'in_kb'], rows);
}

test('process_dmabuf_info: golden rows under a neutral name, with the tab turned to spaces, CRLF, and columns that lost their widths', async () => {
  const s = smallScenarioWithNamedBuffer(2);
  const text = renderProcessDmabufInfo(s);
  // The exporting comm `[kernel task]` holds a space; the camera provider's comm is cut to 15 characters.
  assert.match(text, /\[kernel task\] {4}/);
  assert.match(text, /^android\.hardwar  987|^android\.hardwar  1234 /m);
  const squeezed = text.replace(/ {2,}/g, ' ');
  for (const t of [text, expandTabs(text), text.replace(/\n/g, '\r\n'), squeezed, expandTabs(text).replace(/ {2,}/g, ' ')]) {
    const session = await openTexts({ 'capture.txt': t });
    assert.deepEqual(csv(session, 'SELECT importer FROM source'), ['importer', 'process_dmabuf_info']);
    assertRows(session, OBS_BY_INODE, expectedObs(s));
    assertRows(session, HOLDERS, expectedHolders(s));
    assertRows(session, TOTALS_BY_PID, expectedTotals(s));
    assert.deepEqual(diagnostics(session), []);
    assertRows(session, 'SELECT pid, name FROM process ORDER BY pid', ['pid,name', '987,surfaceflinger', '1234,android.hardwar', '2345,com.android.sys']);
    // Every total (two fds of one buffer counted twice) agrees with the holder rows.
    const bad = session.query("SELECT * FROM dmabuf_consistency WHERE check_name = 'process_rss' AND status <> 'ok'");
    assert.deepEqual(bad, []);
    assert.equal(session.query("SELECT count(*) AS n FROM dmabuf_consistency WHERE check_name = 'process_rss'")[0].n, 3);
  }
});

test('process_dmabuf_info: a capture cut inside a row keeps the whole rows; one cut before a Total line says so', async () => {
  const s = smallScenarioWithNamedBuffer(2);
  const full = renderProcessDmabufInfo(s);
  const lastTotal = full.lastIndexOf('Total dmabuf size of');
  // Cut inside the last row, before its exporter.
  const cut = full.slice(0, lastTotal - 10);
  const session = await openTexts({ 'capture.txt': cut });
  const d = diagnostics(session);
  assert.deepEqual(d.map((x) => `${x.severity} ${x.code}`), ['warning truncated']);
  assert.equal(d[0].line, cut.split('\n').length);
  assert.equal(session.query('SELECT count(*) AS n FROM dmabuf_holder_observation')[0].n, expectedHolders(s).length - 2);
  // The last process lost its Total line: its total is not reported, the others are.
  assert.equal(session.query('SELECT count(*) AS n FROM dmabuf_reported_total')[0].n, 2);

  // Cut after whole rows, before the last Total line.
  const session2 = await openTexts({ 'capture.txt': full.slice(0, lastTotal) });
  const d2 = diagnostics(session2);
  assert.deepEqual(d2.map((x) => `${x.severity} ${x.code}`), ['warning truncated']);
  assert.match(d2[0].message, /before the Total line of com\.android\.sys \(pid 2345\)/);
  assertRows(session2, HOLDERS, expectedHolders(s));
  assert.equal(session2.query('SELECT count(*) AS n FROM dmabuf_reported_total')[0].n, 2);
});

test('process_dmabuf_info: a Total line that disagrees, one naming another process and a foreign line are flagged', async () => {
  const s = smallScenarioWithNamedBuffer(2);
  const text = renderProcessDmabufInfo(s)
    .replace(/Total dmabuf size of surfaceflinger: \d+ bytes/, 'Total dmabuf size of surfaceflinger: 1 bytes')
    .replace('Dma-buf objects usage of processes:\n', 'Dma-buf objects usage of processes:\nTotal dmabuf size of init: 4096 bytes\nsomething else entirely\n');
  const session = await openTexts({ 'capture.txt': text });
  const d = diagnostics(session);
  assert.deepEqual(d.map((x) => `${x.severity} ${x.code}`).sort(), ['warning count_mismatch', 'warning malformed_row', 'warning malformed_row']);
  assert.match(d.find((x) => x.code === 'count_mismatch')!.message, /surfaceflinger \(pid 987\) says 1 bytes/);
  // The printed total is kept as printed: the consistency view flags it too.
  assert.equal(session.query("SELECT count(*) AS n FROM dmabuf_consistency WHERE check_name = 'process_rss' AND status = 'mismatch'")[0].n, 1);
});

test('process_dmabuf_info in a bugreport section and in a dumpstate_board.txt section', async () => {
  const s = smallScenarioWithNamedBuffer(2);
  const body = renderProcessDmabufInfo(s);
  const text = minimalBugreport([['PROCESS DMABUF INFO', 'cat /proc/process_dmabuf_info', body]]);
  const session = await openTexts({ 'bugreport.txt': text });
  assertRows(session, TOTALS_BY_PID, expectedTotals(s));
  assertRows(session, HOLDERS, expectedHolders(s));
  assert.deepEqual(diagnostics(session), []);

  const board = renderSection('dmabuf process bufinfo', '/sys/kernel/debug/dma_buf/process_bufinfo', body);
  const zip = bugreportZipBytes(s, { fsEntries: false, extraEntries: { 'dumpstate_board.txt': board } });
  const session2 = await openTexts({ 'bugreport.zip': zip });
  assertRows(
    session2,
    "SELECT r.origin, r.pid, r.total_bytes, r.buffer_count, r.in_kb FROM dmabuf_reported_total r JOIN source s ON s.id = r.source_id WHERE s.importer = 'process_dmabuf_info' ORDER BY r.pid",
    expectedTotals(s),
  );
});

test('process_dmabuf_info next to bufinfo in one capture: cut into runs, merged by inode', async () => {
  const s = smallScenarioWithNamedBuffer(2);
  const text = '# cat /proc/process_dmabuf_info\n' + renderProcessDmabufInfo(s) + '# cat /d/dma_buf/bufinfo\n' + renderBufinfo(s, '6x');
  const session = await openTexts({ 'capture.txt': text });
  assert.deepEqual(csv(session, 'SELECT importer FROM source ORDER BY id'), ['importer', 'kernel_captures', 'process_dmabuf_info', 'bufinfo']);
  assert.deepEqual(diagnostics(session), []);
  assert.equal(session.query("SELECT count(*) AS n FROM dmabuf WHERE seen_by = 'process_dmabuf_info,bufinfo'")[0].n, expectedObs(s).length - 1);
  assertRows(session, 'SELECT size, file_count FROM dmabuf WHERE inode = 123456789', ['size,file_count', `1000000,${fileCountOf(s, 123456789)}`]);
  assert.deepEqual(session.query("SELECT code FROM diagnostic WHERE code = 'merge_conflict'"), []);
});
