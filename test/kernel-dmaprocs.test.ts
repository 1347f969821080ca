// Vendor per-process listings (src/importers/kernel/dmaprocs.ts): golden tables for the Qualcomm
// dmaprocs, Oplus procinfo and Nothing show_all_task_dma layouts rendered from the kernels'
// printf strings; tabs turned to spaces, CRLF, a neutral file name, captures cut short, a
// dmaprocs section of a Pixel dumpstate_board.txt, Oplus's concatenated dmaprocs.txt (read
// by kernel_captures) and the Oplus 4.14 bufinfo layout (`buf name` then `ino`).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openTexts, assertRows, csv, csvLines, diagnostics, OBS_BY_INODE, HOLDERS, TOTALS_BY_PID } from './helpers.js';
import { smallScenarioWithNamedBuffer, type Scenario } from './fixtures/scenario.js';
import {
  renderDmaprocs,
  dmaprocsProcesses,
  renderBufinfoOplus414,
  renderBufinfo,
  expandTabs,
  fileCountOf,
  type DmaprocsVariant,
} from './fixtures/kernel.js';
import { bugreportZipBytes, renderSection } from './fixtures/bugreport.js';

const kbBytes = (n: number) => Math.floor(n / 1024) * 1024;

function expectedObs(s: Scenario): string[] {
  const held = new Set(s.processes.flatMap((p) => p.holds.filter((h) => h.fds > 0).map((h) => h.inode)));
  return csvLines(
    ['inode', 'size', 'size_exact', 'exporter', 'name', 'file_count', 'global_list'],
    s.buffers
      .filter((b) => held.has(b.inode))
      .sort((a, b) => a.inode - b.inode)
      .map((b) => [b.inode, kbBytes(b.size), 0, b.exporter, b.name ?? null, fileCountOf(s, b.inode), 0]),
  );
}

function expectedHolders(s: Scenario): string[] {
  const rows = s.processes.flatMap((p) => p.holds.filter((h) => h.fds > 0).map((h) => [p.pid, h.inode, null, null] as unknown[]));
  rows.sort((a, b) => (a[1] as number) - (b[1] as number) || (a[0] as number) - (b[0] as number));
  return csvLines(['pid', 'inode', 'fd_refs', 'map_refs'], rows);
}

function expectedTotals(s: Scenario, v: DmaprocsVariant): string[] {
  const rows = dmaprocsProcesses(s, v)
    .map((p) => ['dmaprocs_process', p.pid, 1024 * (v === 'qcom' ? p.kbSum : Math.floor(p.bytes / 1024)), p.inodes.length, 1])
    .sort((a, b) => (a[1] as number) - (b[1] as number));
  return csvLines(['origin', 'pid', 'total_bytes', 'buffer_count', 'in_kb'], rows);
}

const INODE_VARIANTS: DmaprocsVariant[] = ['oplus', 'nothing'];

for (const v of INODE_VARIANTS) {
  test(`dmaprocs ${v}: golden tables, under a neutral name, with tabs turned to spaces and CRLF`, async () => {
    const s = smallScenarioWithNamedBuffer(1);
    const text = renderDmaprocs(s, v);
    for (const t of [text, expandTabs(text), text.replace(/\n/g, '\r\n')]) {
      const session = await openTexts({ 'capture.txt': t });
      assert.deepEqual(csv(session, 'SELECT importer FROM source'), ['importer', 'dmaprocs']);
      assertRows(session, OBS_BY_INODE, expectedObs(s));
      assertRows(session, HOLDERS, expectedHolders(s));
      assertRows(session, TOTALS_BY_PID, expectedTotals(s, v));
      assert.deepEqual(diagnostics(session), []);
      // The comm names the processes; merged holders and the per-process view see them.
      assertRows(session, 'SELECT pid, name FROM process WHERE pid = 987', ['pid,name', '987,surfaceflinger']);
      const procs = session.query('SELECT pid, buffers FROM dmabuf_processes ORDER BY pid');
      assert.deepEqual(
        procs.map((r) => `${r.pid}:${r.buffers}`),
        ['987:3', '1234:3', '2345:1'],
      );
      // Every process total agrees with its rows within the kB rounding.
      const bad = session.query("SELECT * FROM dmabuf_consistency WHERE check_name = 'process_rss' AND status <> 'ok'");
      assert.deepEqual(bad, []);
      assert.equal(session.query("SELECT count(*) AS n FROM dmabuf_consistency WHERE check_name = 'process_rss'")[0].n, 3);
    }
  });
}

test('dmaprocs qcom: per-process totals and names only (no inode), under a neutral name, tabs or spaces', async () => {
  const s = smallScenarioWithNamedBuffer(1);
  const text = renderDmaprocs(s, 'qcom');
  for (const t of [text, expandTabs(text), text.replace(/\n/g, '\r\n')]) {
    const session = await openTexts({ 'notes.txt': t });
    assert.deepEqual(csv(session, 'SELECT importer FROM source'), ['importer', 'dmaprocs']);
    assert.equal(session.query('SELECT count(*) AS n FROM dmabuf_observation')[0].n, 0);
    assert.equal(session.query('SELECT count(*) AS n FROM dmabuf_holder_observation')[0].n, 0);
    assertRows(session, TOTALS_BY_PID, expectedTotals(s, 'qcom'));
    assertRows(session, 'SELECT name FROM process WHERE pid = 1234', ['name', 'android.hardwar']);
    assert.deepEqual(diagnostics(session), []);
    // No holder rows to compare the totals with: no process_rss finding.
    assert.equal(session.query("SELECT count(*) AS n FROM dmabuf_consistency WHERE check_name = 'process_rss'")[0].n, 0);
  }
});

test('dmaprocs: a capture cut inside a row keeps the whole rows, says truncated, and gives no file count', async () => {
  const s = smallScenarioWithNamedBuffer(1);
  const full = renderDmaprocs(s, 'oplus');
  // Cut inside the last row's size column.
  const lastRow = full.lastIndexOf('\n', full.length - 2) + 1;
  const cut = full.slice(0, lastRow + 11);
  const session = await openTexts({ 'capture.txt': cut });
  const d = diagnostics(session);
  assert.deepEqual(d.map((x) => `${x.severity} ${x.code}`), ['warning truncated']);
  assert.equal(d[0].line, cut.split('\n').length);
  const total = session.query('SELECT count(*) AS n FROM dmabuf_holder_observation')[0].n as number;
  assert.equal(total, expectedHolders(s).length - 2);
  assert.deepEqual(
    session.query('SELECT DISTINCT file_count FROM dmabuf_observation').map((r) => r.file_count),
    [null],
  );
  // Cut right after the last block's header: the block is flagged, the earlier ones kept.
  const hdr = full.lastIndexOf('DMA Buffers:\n') + 'DMA Buffers:\n'.length;
  const session2 = await openTexts({ 'capture.txt': full.slice(0, hdr) });
  assert.deepEqual(diagnostics(session2).map((x) => `${x.severity} ${x.code}`), ['warning truncated']);
  assert.equal(session2.query('SELECT count(*) AS n FROM dmabuf_reported_total')[0].n, 3);
});

test('dmaprocs: a total that disagrees with the rows and a foreign line inside a block are flagged', async () => {
  const s = smallScenarioWithNamedBuffer(1);
  const text = renderDmaprocs(s, 'qcom').replace(/\(PID 987\) size: \d+/, '(PID 987) size: 1').replace('DMA Buffers:\n', 'DMA Buffers:\nsomething else entirely\n');
  const session = await openTexts({ 'capture.txt': text });
  const d = diagnostics(session);
  assert.deepEqual(d.map((x) => `${x.severity} ${x.code}`).sort(), ['warning count_mismatch', 'warning malformed_row']);
  assert.match(d.find((x) => x.code === 'count_mismatch')!.message, /surfaceflinger \(PID 987\) says 1 kB/);
});

test('dmaprocs in a Pixel dumpstate_board.txt section (`dmabuf process info`) and in a section named after the file only', async () => {
  const s = smallScenarioWithNamedBuffer(1);
  const boards = [
    renderSection('INTERRUPTS', '/proc/interrupts', '  1:  0  0  GICv3  25 Level  vgic\n') +
      renderSection('dmabuf info', '/d/dma_buf/bufinfo', renderBufinfo(s, '5.10')) +
      renderSection('dmabuf process info', '/d/dma_buf/dmaprocs', renderDmaprocs(s, 'qcom')),
    renderSection('NT TASK DMA', 'cat /proc/nt_meminfo/show_all_task_dma', renderDmaprocs(s, 'nothing')),
  ];
  for (const [i, board] of boards.entries()) {
    const zip = bugreportZipBytes(s, { fsEntries: false, extraEntries: { 'dumpstate_board.txt': board } });
    const session = await openTexts({ 'bugreport.zip': zip });
    const v: DmaprocsVariant = i === 0 ? 'qcom' : 'nothing';
    assertRows(
      session,
      "SELECT r.origin, r.pid, r.total_bytes, r.buffer_count, r.in_kb FROM dmabuf_reported_total r JOIN source s ON s.id = r.source_id WHERE s.importer = 'dmaprocs' ORDER BY r.pid",
      expectedTotals(s, v),
    );
  }
});

test("Oplus's dmaprocs.txt (dmaprocs, then osvelte bufinfo, then procinfo) is cut into runs, each read by its importer", async () => {
  const s = smallScenarioWithNamedBuffer(1);
  const text = renderDmaprocs(s, 'qcom') + renderBufinfo(s, '5.10') + renderDmaprocs(s, 'oplus');
  const session = await openTexts({ 'dmaprocs.txt': text });
  assert.deepEqual(csv(session, 'SELECT importer FROM source ORDER BY id'), ['importer', 'kernel_captures', 'dmaprocs', 'bufinfo', 'dmaprocs']);
  assert.deepEqual(diagnostics(session), []);
  // The bufinfo and procinfo buffers merge by inode: bufinfo's exact sizes and counts win.
  assert.equal(session.query('SELECT count(*) AS n FROM dmabuf')[0].n, s.buffers.length);
  assert.equal(session.query("SELECT count(*) AS n FROM dmabuf WHERE seen_by = 'bufinfo,dmaprocs'")[0].n, expectedObs(s).length - 1);
  assertRows(session, 'SELECT size, size_exact, file_count FROM dmabuf WHERE inode = 123456789', ['size,size_exact,file_count', '1000000,1,2']);
  assert.deepEqual(session.query("SELECT code FROM diagnostic WHERE code = 'merge_conflict'"), []);
});

test('bufinfo of Oplus 4.14 builds (`exp_name  buf name  ino`, inode padded with spaces, reference stacks): inodes kept, tabs or spaces', async () => {
  const s = smallScenarioWithNamedBuffer(1);
  const text = renderBufinfoOplus414(s);
  const expected = csvLines(
    ['inode', 'size', 'exporter', 'name', 'file_count'],
    s.buffers.map((b, i) => [b.inode, b.size, b.exporter, b.name ?? `dmabuf${i + 1}`, fileCountOf(s, b.inode)]),
  );
  for (const t of [text, expandTabs(text)]) {
    const session = await openTexts({ 'bufinfo.txt': t });
    assertRows(session, 'SELECT inode, size, exporter, name, file_count FROM dmabuf_observation ORDER BY line', expected);
    assertRows(
      session,
      'SELECT inode, device FROM dmabuf_attachment ORDER BY rowid',
      csvLines(['inode', 'device'], [[1001, 'soc:qcom,cam-isp'], [1002, '1e00000.gpu'], [1002, 'ae00000.display']]),
    );
    assert.deepEqual(diagnostics(session), []);
  }
});
