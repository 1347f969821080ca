// ION heap debug files (src/importers/kernel/ion-heap.ts): golden totals for the msm-4.4 / AOSP
// 4.x `%16s` layout and the 3.x `%16.s` one (blank labels), heap names from `==> path <==`
// lines or the input's path, a neutral name, tabs turned to spaces, CRLF, captures cut short,
// ION sections of a bugreport, a text mixing ION heap files with meminfo (kernel_captures).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openTexts, assertRows, csv, diagnostics } from './helpers.js';
import { smallScenario } from './fixtures/scenario.js';
import { renderIonHeaps, renderIonHeap, ionHeapsOf, ionExpectedTotals, expandTabs, type IonVariant } from './fixtures/kernel.js';
import { bugreportZipBytes, minimalBugreport, renderSection } from './fixtures/bugreport.js';

const TOTAL = 'SELECT origin, pid, exporter, total_bytes, buffer_count FROM dmabuf_reported_total ORDER BY rowid';

for (const v of ['msm44', 'aosp310'] as IonVariant[]) {
  test(`ion heaps ${v}: golden totals under a neutral name, heaps named by the headers; tabs, CRLF`, async () => {
    const s = smallScenario();
    const text = renderIonHeaps(s, v);
    for (const t of [text, expandTabs(text).replace(/ {2,}/g, '\t'), text.replace(/\n/g, '\r\n')]) {
      const session = await openTexts({ 'capture.txt': t });
      assert.deepEqual(csv(session, 'SELECT importer FROM source'), ['importer', 'ion_heap']);
      assertRows(session, TOTAL, ionExpectedTotals(s, true));
      assert.deepEqual(diagnostics(session), []);
      // No buffer or holder rows: the file lists neither.
      assert.equal(session.query('SELECT count(*) AS n FROM dmabuf_observation')[0].n, 0);
      // Client names are comms (blank in the 3.x layout); a kernel client's longer name names no process.
      const names = session.query('SELECT pid, name FROM process ORDER BY pid').map((r) => `${r.pid}:${r.name}`);
      assert.deepEqual(names, v === 'msm44' ? ['987:surfaceflinger', '1234:android.hardwar', '2345:com.android.sys'] : []);
      // Nothing to check the totals against: no consistency finding about them.
      assert.deepEqual(session.query("SELECT * FROM dmabuf_consistency WHERE subject LIKE 'ion%' OR check_name IN ('process_rss', 'exporter_bytes')"), []);
    }
  });
}

test('ion heap: one file without a header line, named by its path or not at all', async () => {
  const s = smallScenario();
  const h = ionHeapsOf(s)[0];
  const [head, ...rows] = ionExpectedTotals(s, true);
  const mine = rows.filter((r) => r.split(',')[2] === h.heap);
  // Pulled as sys/kernel/debug/ion/heaps/system: the heap is named by the path.
  let session = await openTexts({ 'sys/kernel/debug/ion/heaps/system': renderIonHeap(h, 'msm44') });
  assertRows(session, TOTAL, [head, ...mine]);
  assert.deepEqual(diagnostics(session), []);
  // A neutral name: the heap is unknown.
  session = await openTexts({ 'notes.txt': renderIonHeap(h, 'msm44') });
  assertRows(session, TOTAL, [head, ...mine.map((r) => r.replace(`,${h.heap},`, ',,'))]);
  // The heap total (no heap name) is a snapshot-level total: it shows in no consistency check either.
  assert.deepEqual(session.query("SELECT * FROM dmabuf_consistency WHERE subject LIKE 'ion%'"), []);
});

test('ion heap: a capture cut inside a row keeps the whole rows and says truncated; one cut before its totals writes none', async () => {
  const s = smallScenario();
  const h = ionHeapsOf(s)[0];
  const full = renderIonHeap(h, 'msm44');
  // Cut inside the second client row's size.
  const rows = full.split('\n');
  const cut = rows.slice(0, 3).join('\n') + '\n' + rows[3].slice(0, 40);
  const session = await openTexts({ 'capture.txt': cut });
  const d = diagnostics(session);
  assert.deepEqual(d.map((x) => `${x.severity} ${x.code}`), ['warning truncated']);
  assert.equal(d[0].line, 4);
  assertRows(session, TOTAL, ['origin,pid,exporter,total_bytes,buffer_count', `ion_client,${h.clients[0].pid},,${h.clients[0].size},`]);
  // Cut after the orphaned allocations, before the totals.
  const at = full.indexOf('total orphaned');
  const session2 = await openTexts({ 'capture.txt': full.slice(0, full.lastIndexOf('\n', at) + 1) });
  assert.deepEqual(diagnostics(session2).map((x) => `${x.severity} ${x.code}`), ['warning truncated']);
  assert.equal(session2.query("SELECT count(*) AS n FROM dmabuf_reported_total WHERE origin <> 'ion_client'")[0].n, 0);
});

test('ion heap: orphaned allocations that do not add up and a foreign line in the table are flagged', async () => {
  const s = smallScenario();
  const h = ionHeapsOf(s).find((x) => x.orphans.length > 0)!;
  const text = renderIonHeap(h, 'msm44')
    .replace(/(total orphaned\s+)\d+/, '$1999')
    .replace('orphaned allocations (info is from last known client):\n', 'orphaned allocations (info is from last known client):\nsomething else entirely\n');
  const session = await openTexts({ 'capture.txt': text });
  const d = diagnostics(session);
  assert.deepEqual(d.map((x) => `${x.severity} ${x.code}`).sort(), ['warning count_mismatch', 'warning malformed_row']);
  const sum = h.orphans.reduce((a, o) => a + o.size, 0);
  assert.match(d.find((x) => x.code === 'count_mismatch')!.message, new RegExp(`says 999 bytes orphaned but its ${h.orphans.length} orphaned allocations add up to ${sum}$`));
});

test('ion heaps in bugreport sections (dumpstate_board `/d/ion/heaps/…`), and sections whose names only contain `ion` are not read', async () => {
  const s = smallScenario();
  const heaps = ionHeapsOf(s);
  const board =
    renderSection('VERSION INFO', 'cat /proc/version', 'Linux version 4.4.210\n') +
    renderSection('REGION', 'getprop ro.region', 'EU\n') +
    heaps.map((h) => renderSection(`ION HEAP ${h.heap}`, `/d/ion/heaps/${h.heap}`, renderIonHeap(h, 'msm44'))).join('');
  const zip = bugreportZipBytes(s, { fsEntries: false, extraEntries: { 'dumpstate_board.txt': board } });
  const session = await openTexts({ 'bugreport.zip': zip });
  const rows = session.query("SELECT r.origin, r.pid, r.total_bytes FROM dmabuf_reported_total r JOIN source s ON s.id = r.source_id WHERE s.importer = 'ion_heap' ORDER BY r.rowid");
  const expected = ionExpectedTotals(s, false).slice(1).map((l) => l.split(',')).map((c) => ({ origin: c[0], pid: c[1] === '' ? null : Number(c[1]), total_bytes: Number(c[3]) }));
  assert.deepEqual(rows, expected);
  // Only the ION sections were read (version and region sections were not routed).
  assert.equal(session.query("SELECT count(*) AS n FROM diagnostic WHERE code = 'unrecognized_section'")[0].n, 0);
  assert.equal(session.query("SELECT count(*) AS n FROM source WHERE importer = 'ion_heap'")[0].n, heaps.length);
  // In a plain text report too, the section named by its command `cat /sys/kernel/debug/ion/heaps/system`.
  const text = minimalBugreport([['ION', `cat /sys/kernel/debug/ion/heaps/${heaps[0].heap}`, renderIonHeap(heaps[0], 'aosp310')]]);
  const session2 = await openTexts({ 'bugreport.txt': text });
  assert.equal(session2.query("SELECT count(*) AS n FROM dmabuf_reported_total WHERE origin = 'ion_heap'")[0].n, 1);
});

test('ion heap files next to dumpsys meminfo in one text are cut into runs, each read by its importer', async () => {
  const s = smallScenario();
  const meminfo = '      ION:    41,240K (   20,000K mapped +    17,144K unmapped +     4,096K pools)\n';
  const text = '$ cat /d/ion/heaps/system\n' + renderIonHeap(ionHeapsOf(s)[0], 'msm44') + '$ dumpsys meminfo | grep -A6 DMA-BUF\n' + meminfo;
  const session = await openTexts({ 'capture.txt': text });
  assert.deepEqual(csv(session, 'SELECT importer FROM source ORDER BY id'), ['importer', 'kernel_captures', 'ion_heap', 'meminfo']);
  assert.deepEqual(diagnostics(session), []);
  assert.equal(session.query("SELECT count(*) AS n FROM dmabuf_reported_total WHERE origin = 'ion_heap'")[0].n, 1);
});

test('who holds it, from sources that list no buffers: dmabuf_process_totals, and the summary shows it with the heap totals', async () => {
  const s = smallScenario();
  const session = await openTexts({ 'capture.txt': renderIonHeaps(s, 'msm44') });
  // Per pid and heap, largest first, with the comm the client rows gave.
  const perPid = ionHeapsOf(s)
    .flatMap((h) => [...new Set(h.clients.map((c) => c.pid))].map((pid) => ({ pid, heap: h.heap, bytes: h.clients.filter((c) => c.pid === pid).reduce((a, c) => a + c.size, 0) })))
    .sort((a, b) => b.bytes - a.bytes || a.pid - b.pid || (a.heap < b.heap ? -1 : 1));
  const rows = session.run('dmabuf_process_totals');
  assert.deepEqual(
    rows.map((r) => ({ pid: r.pid, heap: r.heap, bytes: r.bytes })),
    perPid,
  );
  assert.ok(rows.every((r) => r.origin === 'ion_client' && r.pss_bytes === null));
  assert.equal(rows.find((r) => r.pid === 987)!.process_name, 'surfaceflinger');
  const snap = session.summary().snapshots[0];
  assert.equal(snap.processes.length, 0);
  assert.deepEqual(snap.process_totals.map((r) => r.pid), perPid.slice(0, 10).map((r) => r.pid));
  // Each heap's total and orphaned total, named by the heap.
  assert.deepEqual(
    snap.reported_totals.map((r) => `${r.origin} ${r.heap} ${r.total_bytes}`),
    ionHeapsOf(s).flatMap((h) => [`ion_heap ${h.heap} ${h.total}`, `ion_heap_orphaned ${h.heap} ${h.orphans.reduce((a, o) => a + o.size, 0)}`]),
  );
  session.close();
});
