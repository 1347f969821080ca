// Samsung's `Dma-buf Info` kernel log dump (src/importers/kernel/kernel-log.ts): golden
// rows rendered from dma-buf-trace.c's printf strings in a kernel log (dmesg, /proc/kmsg, caller
// ids) between other kernel messages, CRLF, the first version with its buffer list, processes
// the kernel skipped, several dumps in one log, a dump in interrupt context or without rows,
// totals that disagree, captures cut short, a log without the dump, a dump past the sniffed
// head, and the dump next to other captures.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openTexts, assertRows, csv, csvLines, diagnostics, OBS_BY_INODE } from './helpers.js';
import { smallScenario, type Scenario } from './fixtures/scenario.js';
import {
  renderSamsungDmabufInfo,
  samsungHeapBuffers,
  asKernelLog,
  KERNEL_LOG_BEFORE,
  KERNEL_LOG_AFTER,
  fileCountOf,
  renderBufinfo,
  kernelComm,
} from './fixtures/kernel.js';
import { renderDmabufDumpB } from './fixtures/dmabuf-dump.js';
import { minimalBugreport } from './fixtures/bugreport.js';

const TOTALS = 'SELECT origin, pid, total_bytes, buffer_count, in_kb FROM dmabuf_reported_total ORDER BY origin, pid';
const DIAGS = (session: Parameters<typeof diagnostics>[0]) => diagnostics(session).map((d) => `${d.severity} ${d.code}`);

/**
 * The totals a dump of the scenario must give, worked out from the scenario: per process holding
 * a Samsung heap buffer (every buffer but mali's), its fds (any exporter; each size >> 10) and
 * the heap buffers it maps (each once, bytes / 1024); the heaps' total and buffer count (v3).
 */
function expectedTotals(s: Scenario, v: 'v1' | 'v3', skipPid?: number): string[] {
  const heap = samsungHeapBuffers(s);
  const inHeap = new Set(heap.map((b) => b.inode));
  const size = (inode: number) => s.buffers.find((b) => b.inode === inode)!.size;
  const rows: unknown[][] = [];
  if (v === 'v3') rows.push(['samsung_dmabuf_trace', null, heap.reduce((a, b) => a + b.size, 0), heap.length, 0]);
  const procs = s.processes.filter((p) => p.holds.some((h) => inHeap.has(h.inode))).sort((a, b) => a.pid - b.pid);
  for (const p of procs) {
    if (p.pid === skipPid) continue;
    const fds = p.holds.reduce((a, h) => a + h.fds, 0);
    const kb = p.holds.reduce((a, h) => a + h.fds * Math.floor(size(h.inode) / 1024), 0);
    rows.push(['samsung_dmabuf_trace_fd', p.pid, kb * 1024, fds, 1]);
  }
  for (const p of procs) {
    const mapped = p.holds.filter((h) => inHeap.has(h.inode) && h.maps > 0);
    rows.push(['samsung_dmabuf_trace_mmap', p.pid, Math.floor(mapped.reduce((a, h) => a + size(h.inode), 0) / 1024) * 1024, mapped.length, 1]);
  }
  return csvLines(['origin', 'pid', 'total_bytes', 'buffer_count', 'in_kb'], rows);
}

function expectedProcesses(s: Scenario): string[] {
  const inHeap = new Set(samsungHeapBuffers(s).map((b) => b.inode));
  return csvLines(
    ['pid', 'name'],
    s.processes
      .filter((p) => p.holds.some((h) => inHeap.has(h.inode)))
      .sort((a, b) => a.pid - b.pid)
      .map((p) => [p.pid, kernelComm(p.name)]),
  );
}

/** A kernel log: other messages, the dump, other messages. */
function kernelLog(s: Scenario, style: 'dmesg' | 'kmsg' | 'caller', dump = renderSamsungDmabufInfo(s, 'v3')): string {
  return asKernelLog(KERNEL_LOG_BEFORE + dump + KERNEL_LOG_AFTER, style);
}

test('Samsung Dma-buf Info (v3) in a kernel log: golden totals in dmesg, /proc/kmsg and caller-id prefixes, CRLF, and the dump without a prefix', async () => {
  const s = smallScenario();
  const dump = renderSamsungDmabufInfo(s, 'v3');
  // The camera provider's comm is cut to 15 characters; rows end with the "%s" of an empty note.
  assert.match(dump, /^ {5}android\.hardwar  1234 +3 +1 +8228 +8100 $/m);
  const texts = [kernelLog(s, 'dmesg'), kernelLog(s, 'kmsg'), kernelLog(s, 'caller'), kernelLog(s, 'dmesg').replace(/\n/g, '\r\n'), dump];
  for (const text of texts) {
    const session = await openTexts({ 'capture.txt': text });
    assert.deepEqual(csv(session, 'SELECT importer FROM source'), ['importer', 'kernel_log']);
    assertRows(session, TOTALS, expectedTotals(s, 'v3'));
    assertRows(session, 'SELECT pid, name FROM process ORDER BY pid', expectedProcesses(s));
    assert.deepEqual(DIAGS(session), []);
    // No buffer is listed: the totals are what the analysis shows, and nothing is checked against missing rows.
    assert.equal(session.query('SELECT count(*) AS n FROM dmabuf')[0].n, 0);
    assertRows(
      session,
      "SELECT origin, pid, process_name, bytes, buffers FROM dmabuf_process_totals WHERE origin = 'samsung_dmabuf_trace_mmap' AND pid = 987",
      ['origin,pid,process_name,bytes,buffers', 'samsung_dmabuf_trace_mmap,987,surfaceflinger,4194304,1'],
    );
    assertRows(session, "SELECT count(*) AS n FROM dmabuf_consistency WHERE status <> 'ok'", ['n', '0']);
  }
  // The title's leading newline escaped by the log reader (`\x0a`), and `dmesg -T` times.
  const escaped = kernelLog(s, 'dmesg')
    .replace(/(\[[^\]]*\] )\n\[[^\]]*\] Dma-buf Info/, '$1\\x0aDma-buf Info')
    .replace(/^\[ *\d+\.\d+\]/gm, '[Mon Nov  2 14:03:27 2026]');
  assert.ok(escaped.includes('\\x0aDma-buf Info'));
  const session = await openTexts({ 'dmesg.txt': escaped });
  assertRows(session, TOTALS, expectedTotals(s, 'v3'));
  assert.deepEqual(DIAGS(session), []);
});

test('Samsung Dma-buf Info, first version: no total, and its buffer list (inode, exporter, size, file count, devices with map counts)', async () => {
  const s = smallScenario();
  const session = await openTexts({ 'dmesg.txt': kernelLog(s, 'dmesg', renderSamsungDmabufInfo(s, 'v1', { bufferList: true })) });
  assertRows(session, TOTALS, expectedTotals(s, 'v1'));
  assertRows(
    session,
    OBS_BY_INODE,
    csvLines(
      ['inode', 'size', 'size_exact', 'exporter', 'name', 'file_count', 'global_list'],
      samsungHeapBuffers(s).map((b) => [b.inode, b.size, 1, b.exporter, null, fileCountOf(s, b.inode), 0]),
    ),
  );
  assertRows(
    session,
    'SELECT inode, device, map_count FROM dmabuf_attachment ORDER BY inode, device',
    csvLines(['inode', 'device', 'map_count'], samsungHeapBuffers(s).flatMap((b) => (b.attachments ?? []).map((d) => [b.inode, d, 1]))),
  );
  assert.deepEqual(DIAGS(session), []);
  // Without its buffer list: the process totals only.
  const plain = await openTexts({ 'dmesg.txt': kernelLog(s, 'kmsg', renderSamsungDmabufInfo(s, 'v1')) });
  assertRows(plain, TOTALS, expectedTotals(s, 'v1'));
  assert.equal(plain.query('SELECT count(*) AS n FROM dmabuf_observation')[0].n, 0);
  assert.deepEqual(DIAGS(plain), []);
});

test('Samsung Dma-buf Info: a process the kernel skipped (lock contention) has no fd total and is flagged; the other rows are read', async () => {
  const s = smallScenario();
  const session = await openTexts({ 'dmesg.txt': kernelLog(s, 'dmesg', renderSamsungDmabufInfo(s, 'v3', { skipPid: 987 })) });
  assertRows(session, TOTALS, expectedTotals(s, 'v3', 987));
  const d = diagnostics(session);
  assert.deepEqual(d.map((x) => `${x.severity} ${x.code}`), ['warning tool_error']);
  assert.match(d[0].message, /surfaceflinger \(987\)/);
});

test('Samsung Dma-buf Info: several dumps in one log, the last with rows is read; a dump in interrupt context or while the lock is held', async () => {
  const s = smallScenario();
  const earlier = smallScenario();
  earlier.processes[1].holds.pop();
  earlier.processes.pop();
  const log = asKernelLog(renderSamsungDmabufInfo(earlier, 'v3') + KERNEL_LOG_AFTER + renderSamsungDmabufInfo(s, 'v3') + KERNEL_LOG_AFTER, 'dmesg');
  let session = await openTexts({ 'dmesg.txt': log });
  assertRows(session, TOTALS, expectedTotals(s, 'v3'));
  let d = diagnostics(session);
  assert.deepEqual(d.map((x) => `${x.severity} ${x.code}`), ['info repeated_block']);
  assert.match(d[0].message, /2 Dma-buf Info dumps/);
  // A later dump stopped after its header (trace lock held): the one before it is read.
  const locked = 'Dma-buf Info: total allocated size 123\n' + renderSamsungDmabufInfo(s, 'v3').split('\n')[2] + '\n';
  session = await openTexts({ 'dmesg.txt': asKernelLog(renderSamsungDmabufInfo(s, 'v3') + KERNEL_LOG_AFTER + locked + KERNEL_LOG_AFTER, 'dmesg') });
  assertRows(session, TOTALS, expectedTotals(s, 'v3'));
  assert.deepEqual(DIAGS(session), ['info repeated_block']);
  // Alone, such a dump gives its total and says why no process is listed.
  session = await openTexts({ 'dmesg.txt': asKernelLog(KERNEL_LOG_BEFORE + locked + KERNEL_LOG_AFTER, 'dmesg') });
  assertRows(session, TOTALS, ['origin,pid,total_bytes,buffer_count,in_kb', 'samsung_dmabuf_trace,,123,,0']);
  d = diagnostics(session);
  assert.deepEqual(d.map((x) => `${x.severity} ${x.code}`), ['info no_data']);
  assert.match(d[0].message, /trace lock/);
  // In interrupt context.
  session = await openTexts({ 'dmesg.txt': asKernelLog(locked + 'log is skipped in interrupt context\n', 'dmesg') });
  assert.deepEqual(DIAGS(session), ['info no_data']);
  assert.match(diagnostics(session)[0].message, /interrupt context/);
});

test('Samsung Dma-buf Info: a total that disagrees with the size statistics, a process listed twice', async () => {
  const s = smallScenario();
  const dump = renderSamsungDmabufInfo(s, 'v3');
  const total = samsungHeapBuffers(s).reduce((a, b) => a + b.size, 0);
  let session = await openTexts({ 'dmesg.txt': asKernelLog(dump.replace(`size ${total}`, `size ${total + 4096 * 6}`), 'dmesg') });
  assert.deepEqual(DIAGS(session), ['warning count_mismatch']);
  // Each size rounded down to kB: a total up to 1 kB per buffer above the printed sizes is no mismatch.
  session = await openTexts({ 'dmesg.txt': asKernelLog(dump.replace(`size ${total}`, `size ${total + 1023}`), 'dmesg') });
  assert.deepEqual(DIAGS(session), []);
  const lines = dump.split('\n');
  const row = lines.findIndex((l) => / 987 /.test(l));
  session = await openTexts({ 'dmesg.txt': asKernelLog([...lines.slice(0, row + 1), lines[row].replace(/ 3 /, ' 9 '), ...lines.slice(row + 1)].join('\n'), 'dmesg') });
  assertRows(session, TOTALS, expectedTotals(s, 'v3'));
  assert.deepEqual(DIAGS(session), ['warning duplicate_row']);
});

test('Samsung Dma-buf Info: a kernel log cut inside a process row, or after the process rows', async () => {
  const s = smallScenario();
  const log = kernelLog(s, 'dmesg');
  // Cut inside the last process row (systemui): that row is dropped, the others kept.
  const at = log.indexOf('com.android.sys');
  let session = await openTexts({ 'dmesg.txt': log.slice(0, log.indexOf('\n', at) - 4) });
  // The size statistics never came: the heaps' buffer count is unknown.
  const noStats = (l: string) => l.replace(/^samsung_dmabuf_trace,,(\d+),\d+,0$/, 'samsung_dmabuf_trace,,$1,,0');
  assertRows(session, TOTALS, expectedTotals(s, 'v3').filter((l) => !/,2345,/.test(l)).map(noStats));
  assert.deepEqual(DIAGS(session), ['warning truncated']);
  // Cut right after it: every row read, the missing lists reported.
  session = await openTexts({ 'dmesg.txt': log.slice(0, log.indexOf('\n', at) + 1) });
  assertRows(session, TOTALS, expectedTotals(s, 'v3').map(noStats));
  const d = diagnostics(session);
  assert.deepEqual(d.map((x) => `${x.severity} ${x.code}`), ['warning truncated']);
  assert.match(d[0].message, /device list and size statistics are missing/);
});

test('a kernel log without the dump is read as one (nothing found, said once); the dump past the sniffed head is found', async () => {
  const s = smallScenario();
  const plain = asKernelLog(KERNEL_LOG_BEFORE + KERNEL_LOG_AFTER + KERNEL_LOG_BEFORE, 'dmesg');
  let session = await openTexts({ 'dmesg.txt': plain });
  assert.deepEqual(csv(session, 'SELECT importer FROM source'), ['importer', 'kernel_log']);
  assert.deepEqual(DIAGS(session), ['info no_data']);
  // 100 KiB of other kernel messages before the dump.
  const filler = (KERNEL_LOG_BEFORE + KERNEL_LOG_AFTER).repeat(Math.ceil(100_000 / (KERNEL_LOG_BEFORE + KERNEL_LOG_AFTER).length));
  session = await openTexts({ 'last_kmsg': asKernelLog(filler + renderSamsungDmabufInfo(s, 'v3'), 'kmsg') });
  assertRows(session, TOTALS, expectedTotals(s, 'v3'));
  assert.deepEqual(DIAGS(session), []);
});

test('Samsung Dma-buf Info next to other captures: kernel_captures cuts it out, read as alone', async () => {
  const s = smallScenario();
  const log = kernelLog(s, 'dmesg');
  const b = renderDmabufDumpB(s, 'a15');
  const bufinfo = renderBufinfo(s, '5.10');
  for (const text of [b + log, bufinfo + log + b, `$ dmesg | tail -n 40\n${log}$ cat /d/dma_buf/bufinfo\n${bufinfo}`]) {
    const session = await openTexts({ 'capture.txt': text });
    const importers = csv(session, 'SELECT importer FROM source ORDER BY id');
    assert.equal(importers[1], 'kernel_captures');
    assert.ok(importers.includes('kernel_log'));
    assertRows(session, "SELECT t.origin, t.pid, t.total_bytes, t.buffer_count, t.in_kb FROM dmabuf_reported_total t JOIN source s ON s.id = t.source_id WHERE s.importer = 'kernel_log' ORDER BY t.origin, t.pid", expectedTotals(s, 'v3'));
    assert.deepEqual(diagnostics(session).filter((d) => d.severity !== 'info'), []);
  }
});

test("a bugreport's KERNEL LOG section is read when it holds the dump, and is no source when it does not", async () => {
  const s = smallScenario();
  const plain = asKernelLog(KERNEL_LOG_BEFORE + KERNEL_LOG_AFTER, 'dmesg');
  let session = await openTexts({ 'bugreport.txt': minimalBugreport([['KERNEL LOG', 'dmesg', plain]]) });
  assert.deepEqual(csv(session, 'SELECT importer FROM source ORDER BY id'), ['importer', 'bugreport']);
  assert.deepEqual(DIAGS(session), []);
  session.close();
  session = await openTexts({ 'bugreport.txt': minimalBugreport([['KERNEL LOG', 'dmesg', kernelLog(s, 'dmesg')], ['LAST KMSG', '/proc/last_kmsg', plain]]) });
  assert.deepEqual(csv(session, 'SELECT importer, path FROM source ORDER BY id'), ['importer,path', 'bugreport,bugreport.txt', 'kernel_log,bugreport.txt#KERNEL LOG']);
  // Kept from the dump's title line on: the source's first line is that line of the report.
  const text = minimalBugreport([['KERNEL LOG', 'dmesg', kernelLog(s, 'dmesg')]]);
  const titleLine = text.split('\n').findIndex((l) => l.includes('Dma-buf Info:')) + 1;
  assert.deepEqual(session.query("SELECT line_start FROM source WHERE importer = 'kernel_log'"), [{ line_start: titleLine }]);
  assertRows(session, TOTALS, expectedTotals(s, 'v3'));
  assert.deepEqual(DIAGS(session), []);
  session.close();
  // A report whose last line, without its newline, is the dump's title.
  const cut = minimalBugreport([['KERNEL LOG', 'dmesg', `${plain}[ 5433.000001] Dma-buf Info: total allocated size 4096`]]).replace(/\n[^\n]*was the duration of[^\n]*\n$/, '');
  session = await openTexts({ 'bugreport.txt': cut });
  const last = cut.split('\n').length;
  assert.deepEqual(session.query("SELECT line_start, line_end FROM source WHERE importer = 'kernel_log'"), [{ line_start: last, line_end: last }]);
  session.close();
});
