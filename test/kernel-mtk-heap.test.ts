// MediaTek /proc/dma_heap dumps (src/importers/kernel/mtk-heap-debug.ts): golden rows for
// all_heaps, a heap's own file and stats of the 6.x and 5.10 mtk_heap_debug.c, rendered from
// their printf strings; a neutral file name, tabs turned to spaces, CRLF, captures cut short,
// error lines the dump prints, and the file inside a dumpstate_board.txt section.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openTexts, assertRows, csv, csvLines, diagnostics, OBS_BY_INODE, HOLDERS } from './helpers.js';
import { smallScenario, holdersOf, type Scenario } from './fixtures/scenario.js';
import { renderMtkHeap, mtkHeapOf, expandTabs, fileCountOf, kernelComm, type MtkHeapVersion, type MtkHeapFile } from './fixtures/kernel.js';
import { bugreportZipBytes, renderSection } from './fixtures/bugreport.js';

const TOTAL =
  'SELECT origin, pid, total_bytes, kernel_bytes, userspace_rss_bytes, userspace_pss_bytes, in_kb FROM dmabuf_reported_total ORDER BY origin, pid';

function scenario(): Scenario {
  const s = smallScenario();
  s.buffers.push({ inode: 123456789, size: 1000000, exporter: 'system', name: 'frame buffer, cam0' });
  s.processes[0].holds.push({ inode: 123456789, fds: 1, maps: 1 });
  return s;
}

function expected(s: Scenario, v: MtkHeapVersion, file: MtkHeapFile): { obs: string[]; holders: string[]; totals: string[] } {
  const m = mtkHeapOf(s, v, file);
  const listed = file === 'stats' ? [] : m.buffers;
  const inodes = new Set(listed.map((b) => b.inode));
  const obs = csvLines(
    ['inode', 'size', 'size_exact', 'exporter', 'name', 'file_count', 'global_list'],
    listed.map((b) => [b.inode, b.size, 1, b.exporter, b.name ?? null, fileCountOf(s, b.inode), file === 'all_heaps' ? 1 : 0]),
  );
  const hold = s.processes
    .flatMap((p) => p.holds.filter((h) => inodes.has(h.inode)).map((h) => [p.pid, h.inode, h.fds, h.maps] as number[]))
    .sort((a, b) => a[1] - b[1] || a[0] - b[0]);
  const procs = [...m.processes].sort((a, b) => a.pid - b.pid);
  const all = s.buffers.reduce((a, b) => a + b.size, 0);
  const system = s.buffers.filter((b) => b.exporter === 'system').reduce((a, b) => a + b.size, 0);
  const total = file === 'all_heaps' ? Math.floor(all / 1024) * 1024 : file === 'heap' ? Math.floor(system / 1024) * 1024 : null;
  const totals = csvLines(
    ['origin', 'pid', 'total_bytes', 'kernel_bytes', 'userspace_rss_bytes', 'userspace_pss_bytes', 'in_kb'],
    [
      ['mtk_heap', null, total, m.kernelKb * 1024, procs.reduce((a, p) => a + p.rssKb, 0) * 1024, procs.reduce((a, p) => a + p.pssKb, 0) * 1024, 1],
      ...procs.map((p) => ['mtk_heap_process', p.pid, p.rssKb * 1024, null, null, p.pssKb * 1024, 1]),
    ],
  );
  return { obs, holders: csvLines(['pid', 'inode', 'fd_refs', 'map_refs'], hold), totals };
}

for (const v of ['6x', '5.10'] as MtkHeapVersion[]) {
  for (const file of ['all_heaps', 'heap', 'stats'] as MtkHeapFile[]) {
    test(`mtk_heap_debug ${v} ${file}: golden rows under a neutral name, with tabs turned to spaces and CRLF`, async () => {
      const s = scenario();
      const text = renderMtkHeap(s, v, file);
      const want = expected(s, v, file);
      for (const t of [text, expandTabs(text), text.replace(/\n/g, '\r\n')]) {
        const session = await openTexts({ 'capture.txt': t });
        assert.deepEqual(csv(session, 'SELECT importer FROM source'), ['importer', 'mtk_heap_debug']);
        assertRows(session, OBS_BY_INODE, want.obs);
        assertRows(session, HOLDERS, want.holders);
        assertRows(session, TOTAL, want.totals);
        assert.deepEqual(diagnostics(session), []);
        for (const p of mtkHeapOf(s, v, file).processes) {
          assertRows(session, `SELECT name FROM process WHERE pid = ${p.pid}`, ['name', p.comm]);
        }
        // Every per-process RSS and the buffer total agree with the rows; stats has no rows to check them with.
        const bad = session.query("SELECT check_name, subject, reported, computed FROM dmabuf_consistency WHERE status <> 'ok'");
        assert.deepEqual(bad, []);
        const n = (name: string) => session.query(`SELECT count(*) AS n FROM dmabuf_consistency WHERE check_name = '${name}'`)[0].n;
        assert.equal(n('process_rss'), file === 'stats' ? 0 : mtkHeapOf(s, v, file).processes.length);
        assert.equal(n('total_bytes'), file === 'stats' ? 0 : 1);
      }
    });
  }
}

test('mtk_heap_debug: all_heaps merges with other listings by inode; holders carry fd and mapping counts', async () => {
  const s = scenario();
  const session = await openTexts({ 'all_heaps.txt': renderMtkHeap(s, '6x', 'all_heaps') });
  assert.equal(session.query('SELECT count(*) AS n FROM dmabuf WHERE in_global_list = 1')[0].n, s.buffers.length);
  // The mapping-only holder of 1006 (systemui).
  assertRows(session, 'SELECT pid, fd_refs, map_refs FROM dmabuf_holder WHERE inode = 1006', ['pid,fd_refs,map_refs', '2345,0,1']);
  // A buffer nobody holds is the kernel's.
  assert.equal(holdersOf(s, 1005).length, 0);
  assertRows(session, 'SELECT kernel_bytes FROM dmabuf_reported_total WHERE origin = \'mtk_heap\'', ['kernel_bytes', String(33554432)]);
});

test('mtk_heap_debug: a capture cut inside a line keeps the whole lines and says truncated', async () => {
  const s = scenario();
  const full = renderMtkHeap(s, '6x', 'all_heaps');
  // Cut inside the holder line of the last buffer.
  const at = full.lastIndexOf('\tpid:') + 12;
  const cut = full.slice(0, at);
  const session = await openTexts({ 'capture.txt': cut });
  const d = diagnostics(session);
  assert.deepEqual(d.map((x) => `${x.severity} ${x.code}`), ['warning truncated']);
  assert.equal(d[0].line, cut.split('\n').length);
  const want = expected(s, '6x', 'all_heaps');
  assertRows(session, OBS_BY_INODE, want.obs);
  assert.equal(session.query('SELECT count(*) AS n FROM dmabuf_holder_observation')[0].n, want.holders.length - 2);
  // Cut at a line's end, after some buffers: the missing end line says so.
  const at2 = full.indexOf('inode:1004');
  const session2 = await openTexts({ 'capture.txt': full.slice(0, at2) });
  assert.deepEqual(diagnostics(session2).map((x) => `${x.severity} ${x.code}`), ['warning truncated']);
  assert.equal(session2.query('SELECT count(*) AS n FROM dmabuf_observation')[0].n, 3);
  // stats cut inside its `--sum` line (a table without its end line is not recognized: the header alone is too loose).
  const stats = renderMtkHeap(s, '5.10', 'stats');
  const session3 = await openTexts({ 'capture.txt': stats.slice(0, stats.indexOf('--sum: userspace') + 12) });
  assert.deepEqual(diagnostics(session3).map((x) => `${x.severity} ${x.code}`), ['warning truncated']);
  assert.equal(session3.query("SELECT count(*) AS n FROM dmabuf_reported_total WHERE origin = 'mtk_heap_process'")[0].n, 3);
});

test('mtk_heap_debug: error lines the dump prints are tool_error, a foreign line is malformed_row, heap lines inside a buffer are skipped', async () => {
  const s = scenario();
  const text = renderMtkHeap(s, '6x', 'all_heaps')
    .replace('PID     PSS(KB)', 'dmabuf_rbtree_add_all_pid: add vma fail:16\n[E] dmabuf_rbtree_add_all_pid#1234 pid:987(surfaceflinger) err:2\nPID     PSS(KB)')
    .replace('freed for debug dump', 'something else entirely\nfreed for debug dump')
    .replace('\tbuf_priv: uncached:0', '\tbuf_priv: tab:0  dom:0  map:1 iova:0x200000000  attr:0x0    dir:0  dev:soc:disp\n\tbuf_priv: uncached:0');
  const session = await openTexts({ 'capture.txt': text });
  const d = diagnostics(session);
  assert.deepEqual(d.map((x) => `${x.severity} ${x.code}`), ['warning tool_error', 'warning tool_error', 'warning malformed_row']);
  assertRows(session, HOLDERS, expected(s, '6x', 'all_heaps').holders);
});

test('mtk_heap_debug inside a dumpstate_board.txt section, and a name with parentheses in a holder line', async () => {
  const s = scenario();
  s.processes[1].name = 'Binder(1)x';
  const board =
    renderSection('INTERRUPTS', '/proc/interrupts', '  1:  0  0  GICv3  25 Level  vgic\n') +
    renderSection('DMA HEAP', 'cat /proc/dma_heap/all_heaps', renderMtkHeap(s, '5.10', 'all_heaps'));
  const zip = bugreportZipBytes(s, { fsEntries: false, extraEntries: { 'dumpstate_board.txt': board } });
  const session = await openTexts({ 'bugreport.zip': zip });
  assertRows(
    session,
    "SELECT o.inode, o.size, o.size_exact, o.exporter, o.name, o.file_count, o.global_list FROM dmabuf_observation o JOIN source s ON s.id = o.source_id WHERE s.importer = 'mtk_heap_debug' ORDER BY o.inode",
    expected(s, '5.10', 'all_heaps').obs,
  );
  assertRows(session, "SELECT h.pid FROM dmabuf_holder_observation h JOIN source s ON s.id = h.source_id WHERE s.importer = 'mtk_heap_debug' AND h.inode = 1003", ['pid', '987']);
  assert.equal(kernelComm(s.processes[1].name), 'Binder(1)x');
  assert.deepEqual(session.query("SELECT d.code FROM diagnostic d JOIN source s ON s.id = d.source_id WHERE s.importer = 'mtk_heap_debug'"), []);
});
