// debugfs bufinfo (formats.md §3d): golden tables for the 6.x, 5.10, pre-5.3, unpadded (before
// fence lines), Samsung Exynos 4.9 and first (3.10-era, exporter first) layouts through the real
// `open()`, tabs turned to spaces, CRLF, captures cut short, a bufinfo inside dumpstate_board.txt
// of a bugreport zip, and hand-typed excerpts of public captures.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openTexts, assertRows, csv, csvLines, diagnostics } from './helpers.js';
import { smallScenario, type Scenario } from './fixtures/scenario.js';
import { renderBufinfo, expandTabs, fileCountOf, type BufinfoVariant } from './fixtures/kernel.js';
import { bugreportZipBytes, renderSection } from './fixtures/bugreport.js';

const OBS = 'SELECT inode, size, size_exact, exporter, name, file_count, global_list FROM dmabuf_observation ORDER BY line';
const ATT = 'SELECT inode, device, buffer_line IS NOT NULL AS has_line FROM dmabuf_attachment ORDER BY rowid';
const TOTAL = "SELECT origin, total_bytes, buffer_count, in_kb FROM dmabuf_reported_total";

/** smallScenario plus a buffer whose name holds spaces and a comma. */
function scenario(): Scenario {
  const s = smallScenario();
  s.buffers.push({ inode: 123456789, size: 1000000, exporter: 'system', name: 'frame buffer, cam0', attachments: ['soc:qcom,cam-ife'] });
  s.processes[0].holds.push({ inode: 123456789, fds: 1, maps: 1 });
  return s;
}

/** Layouts without an inode (and without a name) column. */
const noInode = (v: BufinfoVariant) => v === 'pre5.3' || v === 'unpadded' || v === '3.10';

function expectedObs(s: Scenario, variant: BufinfoVariant): string[] {
  return csvLines(
    ['inode', 'size', 'size_exact', 'exporter', 'name', 'file_count', 'global_list'],
    s.buffers.map((b) => [noInode(variant) ? null : b.inode, b.size, 1, b.exporter, noInode(variant) ? null : (b.name ?? null), fileCountOf(s, b.inode), 1]),
  );
}

/** The first layout prints every device as `(null)`: none is recorded. */
function expectedAtt(s: Scenario, variant: BufinfoVariant): string[] {
  return csvLines(
    ['inode', 'device', 'has_line'],
    variant === '3.10' ? [] : s.buffers.flatMap((b) => (b.attachments ?? []).map((d) => [noInode(variant) ? null : b.inode, d, 1])),
  );
}

/** The diagnostics a whole capture of the layout gives: the first layout's `(null)` devices, counted once. */
function expectedDiags(s: Scenario, variant: BufinfoVariant): string[] {
  return variant === '3.10' ? ['info attachment_device_unknown'] : [];
}

function expectedTotal(s: Scenario): string[] {
  return csvLines(['origin', 'total_bytes', 'buffer_count', 'in_kb'], [['bufinfo', s.buffers.reduce((a, b) => a + b.size, 0), s.buffers.length, 0]]);
}

const VARIANTS: BufinfoVariant[] = ['6x', '5.10', 'pre5.3', 'unpadded', 'exynos4.9', '3.10'];

for (const v of VARIANTS) {
  test(`bufinfo ${v}: golden tables from the scenario`, async () => {
    const s = scenario();
    const session = await openTexts({ 'capture.txt': renderBufinfo(s, v) });
    assert.deepEqual(csv(session, 'SELECT importer FROM source'), ['importer', 'bufinfo']);
    assertRows(session, OBS, expectedObs(s, v));
    assertRows(session, ATT, expectedAtt(s, v));
    assertRows(session, TOTAL, expectedTotal(s));
    assert.deepEqual(diagnostics(session).map((d) => `${d.severity} ${d.code}`), expectedDiags(s, v));
    // Merged: one buffer per row, attachments linked to their buffer (by inode, or by line before 5.3).
    assert.equal(session.query('SELECT count(*) AS n FROM dmabuf')[0].n, s.buffers.length);
    assert.equal(session.query('SELECT count(*) AS n FROM dmabuf_attachment WHERE dmabuf_id IS NULL')[0].n, 0);
    const dev = session.query(
      "SELECT d.size FROM dmabuf_attachment a JOIN dmabuf d ON d.id = a.dmabuf_id WHERE a.device = 'soc:qcom,cam-ife'",
    );
    assert.deepEqual(dev.map((r) => r.size), v === '3.10' ? [] : [1000000]);
  });

  test(`bufinfo ${v}: tabs turned to spaces read the same`, async () => {
    const s = scenario();
    const text = expandTabs(renderBufinfo(s, v));
    assert.ok(!text.includes('\t'));
    const session = await openTexts({ 'capture.txt': text });
    assertRows(session, OBS, expectedObs(s, v));
    assertRows(session, ATT, expectedAtt(s, v));
    assertRows(session, TOTAL, expectedTotal(s));
    assert.deepEqual(diagnostics(session).map((d) => `${d.severity} ${d.code}`), expectedDiags(s, v));
  });

  test(`bufinfo ${v}: CRLF line ends read the same`, async () => {
    const s = scenario();
    const session = await openTexts({ 'capture.txt': renderBufinfo(s, v).replace(/\n/g, '\r\n') });
    assertRows(session, OBS, expectedObs(s, v));
    assertRows(session, ATT, expectedAtt(s, v));
    assert.deepEqual(diagnostics(session).map((d) => `${d.severity} ${d.code}`), expectedDiags(s, v));
  });
}

test('bufinfo: a single space between columns (tabs squeezed) still finds exporter and inode', async () => {
  const s = scenario();
  const text = renderBufinfo(s, '6x').replace(/\t/g, ' ');
  const session = await openTexts({ 'capture.txt': text });
  assertRows(session, OBS, expectedObs(s, '6x'));
});

test('bufinfo: a capture cut after a row keeps the rows and says truncated', async () => {
  const s = scenario();
  const full = renderBufinfo(s, '6x');
  // Cut right after the third buffer's row line (inode 1003).
  const at = full.indexOf('\n', full.indexOf('\t00001003\t')) + 1;
  const session = await openTexts({ 'capture.txt': full.slice(0, at) });
  assertRows(session, 'SELECT inode FROM dmabuf_observation ORDER BY line', ['inode', '1001', '1002', '1003']);
  assert.equal(session.query('SELECT count(*) AS n FROM dmabuf_reported_total')[0].n, 0);
  const d = diagnostics(session);
  assert.deepEqual(d.map((x) => `${x.severity} ${x.code}`), ['warning truncated']);
  assert.match(d[0].message, /cut short after 3 buffers/);
});

test('bufinfo: a row cut inside its inode is dropped; one cut inside its name is kept', async () => {
  const s = scenario();
  const full = renderBufinfo(s, '6x');
  const row = full.indexOf('\t00001004\t');
  // Cut inside the inode digits of 1004: the row cannot be trusted.
  const cut = full.slice(0, row + 6);
  let session = await openTexts({ 'capture.txt': cut });
  assertRows(session, 'SELECT inode FROM dmabuf_observation ORDER BY line', ['inode', '1001', '1002', '1003']);
  // Both reported on the last (cut) line: the row, and the listing without its Total line.
  const lastLine = (text: string) => text.split('\n').length;
  const flagged = (line: number) => [`warning truncated ${line}`, `warning truncated ${line}`];
  assert.deepEqual(diagnostics(session).map((x) => `${x.severity} ${x.code} ${x.line}`), flagged(lastLine(cut)));
  // Cut inside the name of 1001 (`CAM`): kept, flagged.
  const r1 = full.indexOf('\tCAMERA\n');
  const cut2 = full.slice(0, r1 + 4);
  session = await openTexts({ 'capture.txt': cut2 });
  assertRows(session, 'SELECT inode, name FROM dmabuf_observation', ['inode,name', '1001,CAM']);
  assert.deepEqual(diagnostics(session).map((x) => `${x.severity} ${x.code} ${x.line}`), flagged(lastLine(cut2)));
});

test('bufinfo: totals that disagree with the rows are flagged', async () => {
  const s = scenario();
  const text = renderBufinfo(s, '5.10').replace(/Total 7 objects, \d+ bytes/, 'Total 9 objects, 1 bytes');
  const session = await openTexts({ 'capture.txt': text });
  assertRows(session, TOTAL, ['origin,total_bytes,buffer_count,in_kb', 'bufinfo,1,9,0']);
  assert.deepEqual(diagnostics(session).map((x) => `${x.severity} ${x.code}`), ['warning count_mismatch']);
});

test('bufinfo in dumpstate_board.txt of a bugreport zip: bare, and as a section', async () => {
  const s = scenario();
  const byBufinfo =
    "SELECT o.inode, o.size FROM dmabuf_observation o JOIN source s ON s.id = o.source_id WHERE s.importer = 'bufinfo' ORDER BY o.line";
  const boards = [
    // Vendor text around a bare bufinfo dump: the file goes to the bufinfo importer whole.
    `vendor dump start\nsome vendor line | 0x1\n${renderBufinfo(s, '6x')}\nvendor dump end\n`,
    // dumpstate's section shape: the section whose title names dma_buf is sniffed.
    renderSection('INTERRUPTS', '/proc/interrupts', '  1:  0  0  GICv3  25 Level  vgic\n') +
      renderSection('DMA-BUF BUFINFO', 'cat /sys/kernel/debug/dma_buf/bufinfo', renderBufinfo(s, '6x')),
  ];
  for (const board of boards) {
    const zip = bugreportZipBytes(s, { fsEntries: false, extraEntries: { 'dumpstate_board.txt': board } });
    const session = await openTexts({ 'bugreport.zip': zip });
    assertRows(session, byBufinfo, csvLines(['inode', 'size'], s.buffers.map((b) => [b.inode, b.size])));
    // Every buffer is seen by bufinfo (and the report's own dmabuf_dump sections see the held ones).
    assert.equal(session.query("SELECT count(*) AS n FROM dmabuf WHERE seen_by LIKE '%bufinfo%'")[0].n, s.buffers.length);
    assert.equal(session.query('SELECT count(*) AS n FROM dmabuf')[0].n, s.buffers.length);
  }
});

// Hand-typed excerpts in the shape of public captures (kernel 4.14 and 5.4 devices; values changed).
test('bufinfo: excerpt of a 4.14 capture (no inode column, ion exporter, Exclusive fence)', async () => {
  const text = [
    '',
    'Dma-buf Objects:',
    'size    \tflags   \tmode    \tcount   \texp_name',
    '00004096\t00000002\t00000007\t00000003\tion',
    '\tExclusive fence: msm_gpu kgsl-3d0 signalled',
    '\tAttached Devices:',
    '\tkgsl-3d0',
    'Total 1 devices attached',
    '',
    '08355840\t00000002\t00000007\t00000002\tion',
    '\tAttached Devices:',
    'Total 0 devices attached',
    '',
    '',
    'Total 2 objects, 8359936 bytes',
    '',
  ].join('\n');
  const session = await openTexts({ 'bufinfo.txt': text });
  assertRows(session, 'SELECT inode, size, exporter, file_count FROM dmabuf_observation ORDER BY line', [
    'inode,size,exporter,file_count',
    ',4096,ion,3',
    ',8355840,ion,2',
  ]);
  assertRows(session, 'SELECT device FROM dmabuf_attachment', ['device', 'kgsl-3d0']);
  assert.equal(session.query('SELECT count(*) AS n FROM dmabuf')[0].n, 2);
});

test('bufinfo: excerpt of a 5.4 capture pasted from a terminal (spaces), with an empty name', async () => {
  const text = [
    'Dma-buf Objects:',
    'size            flags           mode            count           exp_name        ino',
    '00032768        00000002        00080005        00000002        qcom,system     00046881        ',
    '        Attached Devices:',
    '        ae00000.qcom,mdss_mdp',
    'Total 1 devices attached',
    '',
    '00131072        00000002        00080005        00000001        qcom,qseecom    00046002        qseecom',
    '        Attached Devices:',
    'Total 0 devices attached',
    '',
    'Total 2 objects, 163840 bytes',
  ].join('\n');
  const session = await openTexts({ 'paste.txt': text });
  assertRows(session, 'SELECT inode, size, exporter, name FROM dmabuf_observation ORDER BY line', [
    'inode,size,exporter,name',
    '46881,32768,"qcom,system",',
    '46002,131072,"qcom,qseecom",qseecom',
  ]);
  assertRows(session, 'SELECT inode, device FROM dmabuf_attachment', ['inode,device', '46881,"ae00000.qcom,mdss_mdp"']);
  assert.deepEqual(diagnostics(session), []); // no newline after the totals line: its numbers agree with the rows
});

test('bufinfo of a Qualcomm 4.14-era vendor kernel (`exp_name  buf name`): exporter and name apart, tabs or spaces', async () => {
  // Header "%-8s\t%-8s\t%-8s\t%-8s\t%-12s\t%-s", rows "%08zu\t%08x\t%08x\t%08ld\t%-12s\t%-s": no inode, `(null)` for no name.
  const text = [
    '',
    'Dma-buf Objects:',
    'size    \tflags   \tmode    \tcount   \texp_name    \tbuf name',
    '00004096\t00000002\t00080007\t00000003\tion         \tsurfaceflinger',
    '\tExclusive fence: kgsl-3d0 kgsl-3d0-ctx signalled',
    '\tAttached Devices:',
    '\tkgsl-3d0',
    'Total 1 devices attached',
    '',
    '00008192\t00000002\t00080007\t00000002\tqcom,system \t(null)',
    '\tAttached Devices:',
    'Total 0 devices attached',
    '',
    '00012288\t00000002\t00080007\t00000001\tion         \tcamera preview 0',
    '\tAttached Devices:',
    'Total 0 devices attached',
    '',
    '',
    'Total 3 objects, 24576 bytes',
    '',
  ].join('\n');
  const expected = ['inode,size,exporter,name,file_count', ',4096,ion,surfaceflinger,3', ',8192,"qcom,system",,2', ',12288,ion,camera preview 0,1'];
  for (const t of [text, expandTabs(text)]) {
    const session = await openTexts({ 'bufinfo.txt': t });
    assertRows(session, 'SELECT inode, size, exporter, name, file_count FROM dmabuf_observation ORDER BY line', expected);
    assertRows(session, 'SELECT d.size, a.device FROM dmabuf_attachment a JOIN dmabuf d ON d.id = a.dmabuf_id', ['size,device', '4096,kgsl-3d0']);
    assert.deepEqual(diagnostics(session), []);
  }
});

test('bufinfo: a buffer the kernel skipped (`ERROR locking buffer object`) is flagged, the others read', async () => {
  const s = scenario();
  // The kernel prints the line instead of the buffer and counts it in neither total.
  const text = renderBufinfo(s, '5.10').replace('Total 7 objects', '\tERROR locking buffer object: skipping\n\nTotal 7 objects');
  const session = await openTexts({ 'capture.txt': text });
  assertRows(session, OBS, expectedObs(s, '5.10'));
  assertRows(session, ATT, expectedAtt(s, '5.10'));
  const d = diagnostics(session);
  assert.deepEqual(d.map((x) => `${x.severity} ${x.code}`), ['warning tool_error']);
  assert.match(d[0].message, /missing from the listing/);
});

// The first layout (3.10-era dma_buf_describe): exporter first, every line indented, `(null)` devices.
test('bufinfo of a 3.10-era kernel (exporter first): hand-typed excerpt with __FILE__ exporters, tabs or spaces', async () => {
  const text = [
    '',
    'Dma-buf Objects:',
    '\texp_name\tsize\tflags\tmode\tcount',
    '\t\tdrivers/staging/android/ion/ion.c\t08355840\t00000002\t00000007\t00000004',
    '\t\tAttached Devices:',
    '\t\t(null)',
    '\t\t(null)',
    '',
    '\t\tTotal 2 devices attached',
    '\t\tdrivers/gpu/arm/t7xx/r5p0/mali_kbase_mem_linux.c\t00004096\t00000002\t0000000f\t00000001',
    '\t\tAttached Devices:',
    '',
    '\t\tTotal 0 devices attached',
    '',
    'Total 2 objects, 8359936 bytes',
    '',
  ].join('\n');
  for (const t of [text, expandTabs(text), text.replace(/\n/g, '\r\n')]) {
    const session = await openTexts({ 'bufinfo.txt': t });
    assert.deepEqual(csv(session, 'SELECT importer FROM source'), ['importer', 'bufinfo']);
    assertRows(session, 'SELECT inode, size, exporter, name, file_count FROM dmabuf_observation ORDER BY line', [
      'inode,size,exporter,name,file_count',
      ',8355840,drivers/staging/android/ion/ion.c,,4',
      ',4096,drivers/gpu/arm/t7xx/r5p0/mali_kbase_mem_linux.c,,1',
    ]);
    assertRows(session, TOTAL, ['origin,total_bytes,buffer_count,in_kb', 'bufinfo,8359936,2,0']);
    assertRows(session, 'SELECT count(*) AS n FROM dmabuf_attachment', ['n', '0']);
    const d = diagnostics(session);
    assert.deepEqual(d.map((x) => `${x.severity} ${x.code}`), ['info attachment_device_unknown']);
    assert.match(d[0].message, /^2 attached devices printed as `\(null\)`/);
  }
});

test('bufinfo, first layout: a device count that disagrees, a lost `Total N devices` line, a named device, a capture without its header', async () => {
  const s = scenario();
  const full = renderBufinfo(s, '3.10');
  // One (null) line fewer than the buffer says: the count check counts the (null) lines.
  const fewer = full.replace('\t\t(null)\n', '');
  let session = await openTexts({ 'capture.txt': fewer });
  assertRows(session, OBS, expectedObs(s, '3.10'));
  assert.deepEqual(diagnostics(session).map((d) => `${d.severity} ${d.code}`), ['warning count_mismatch', 'info attachment_device_unknown']);
  // The first buffer's `Total N devices attached` line lost: the next (indented) row is still a row, not a device.
  const lost = full.replace(/\n\t\tTotal \d+ devices attached\n/, '\n');
  session = await openTexts({ 'capture.txt': lost });
  assertRows(session, OBS, expectedObs(s, '3.10'));
  assert.deepEqual(diagnostics(session).map((d) => `${d.severity} ${d.code}`), ['warning malformed_row', 'info attachment_device_unknown']);
  // A device whose init_name was kept is recorded by that name.
  const named = full.replace('\t\t(null)\n', '\t\tsoc:qcom,cam-ife\n');
  session = await openTexts({ 'capture.txt': named });
  assertRows(session, 'SELECT d.size, a.device FROM dmabuf_attachment a JOIN dmabuf d ON d.id = a.dmabuf_id', ['size,device', `${s.buffers[0].size},"soc:qcom,cam-ife"`]);
  // Cut at its start (no `Dma-buf Objects:` nor header line): the rows are told by their shape.
  const headless = full.slice(full.indexOf('\t\t' + s.buffers[1].exporter));
  session = await openTexts({ 'capture.txt': 'Dma-buf Objects:\n' + headless });
  assertRows(session, 'SELECT size, exporter FROM dmabuf_observation ORDER BY line', csvLines(['size', 'exporter'], s.buffers.slice(1).map((b) => [b.size, b.exporter])));
  assert.deepEqual(diagnostics(session).map((d) => `${d.severity} ${d.code}`), ['warning count_mismatch', 'info attachment_device_unknown']);
});

test('bufinfo, first layout: a capture cut inside its last row keeps the whole rows and says truncated', async () => {
  const s = scenario();
  const full = renderBufinfo(s, '3.10');
  const last = s.buffers[s.buffers.length - 1];
  // Cut inside the count column of the last row: the size is whole, the count may not be.
  const at = full.indexOf(`\t\t${last.exporter}\t${String(last.size).padStart(8, '0')}`);
  const cut = full.slice(0, full.indexOf('\n', at) - 3);
  const session = await openTexts({ 'capture.txt': cut });
  const rows = session.query('SELECT size FROM dmabuf_observation ORDER BY line').map((r) => r.size);
  assert.deepEqual(rows, s.buffers.map((b) => b.size));
  assert.deepEqual(diagnostics(session).map((d) => `${d.severity} ${d.code}`), ['warning truncated', 'warning truncated', 'info attachment_device_unknown']);
});
