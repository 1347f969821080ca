// dmabuf_dump -a (formats.md §2c): golden tables for Android 11, 15+ raw and CSV through the
// real `open()`, the Android 12–14 layout (no title line), a table cut short, a bugreport
// section routed by its command, and the merge with an exact-size source.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openTexts, openFolder, assertRows, csv, csvLines, diagnostics } from './helpers.js';
import { smallScenario, commOf, type Scenario } from './fixtures/scenario.js';
import { renderDmabufDumpA, renderBufinfo, dmabufDumpAExpected, type DmabufDumpAVariant } from './fixtures/kernel.js';
import { renderBugreportText } from './fixtures/bugreport.js';

const OBS = 'SELECT inode, size, size_exact, exporter, name, global_list FROM dmabuf_observation ORDER BY line';
const HOLDERS = 'SELECT pid, inode, fd_refs, map_refs FROM dmabuf_holder_observation ORDER BY inode, pid';
const TOTALS = 'SELECT origin, pid, total_bytes, in_kb FROM dmabuf_reported_total ORDER BY origin, pid';

/** smallScenario plus a buffer whose size is not a whole kB (kB rounding shows). */
function scenario(): Scenario {
  const s = smallScenario();
  s.buffers.push({ inode: 1007, size: 1000000, exporter: 'system' });
  s.processes[1].holds.push({ inode: 1007, fds: 3, maps: 2 });
  return s;
}

for (const v of ['a11', 'a15', 'csv'] as DmabufDumpAVariant[]) {
  test(`dmabuf_dump -a ${v}: golden tables`, async () => {
    const s = scenario();
    const session = await openTexts({ 'table.txt': renderDmabufDumpA(s, v) });
    assert.deepEqual(csv(session, 'SELECT importer FROM source'), ['importer', 'dmabuf_dump_a']);
    const e = dmabufDumpAExpected(s, v);
    assertRows(session, OBS, e.obs);
    assertRows(session, HOLDERS, e.holders);
    assertRows(session, TOTALS, e.totals);
    assertRows(
      session,
      'SELECT pid, name FROM process ORDER BY pid',
      csvLines(['pid', 'name'], [...s.processes].sort((a, b) => a.pid - b.pid).map((p) => [p.pid, commOf(p.name)])),
    );
    assert.deepEqual(diagnostics(session), []);
  });

  test(`dmabuf_dump -a ${v}: CRLF reads the same`, async () => {
    const s = scenario();
    const session = await openTexts({ 'table.txt': renderDmabufDumpA(s, v).replace(/\n/g, '\r\n') });
    const e = dmabufDumpAExpected(s, v);
    assertRows(session, OBS, e.obs);
    assertRows(session, HOLDERS, e.holders);
  });
}

test('dmabuf_dump -a Android 12–14 (no title line) reads like 15+', async () => {
  const s = scenario();
  const text = renderDmabufDumpA(s, 'a15').replace(/^\n-+ DMA-BUF Table buffer x process -+\n/, '');
  assert.ok(text.startsWith('    Dmabuf Inode'));
  const session = await openTexts({ 'table.txt': text });
  const e = dmabufDumpAExpected(s, 'a15');
  assertRows(session, HOLDERS, e.holders);
  assertRows(session, TOTALS, e.totals);
});

test('dmabuf_dump -a: a table cut inside a row keeps the whole rows and says truncated', async () => {
  const s = scenario();
  const full = renderDmabufDumpA(s, 'a15');
  const lines = full.split('\n');
  const cut = lines.slice(0, 5).join('\n') + '\n' + lines[5].slice(0, 40);
  const session = await openTexts({ 'table.txt': cut });
  const rows = session.query('SELECT count(*) AS n FROM dmabuf_observation')[0].n;
  assert.equal(rows, 2); // title (2 lines), header, two rows; the third row is cut
  assert.equal(session.query('SELECT count(*) AS n FROM dmabuf_reported_total')[0].n, 0);
  // The cut row (line 6) is not a row, and the table has no TOTALS line after it.
  assert.deepEqual(diagnostics(session).map((d) => `${d.severity} ${d.code} ${d.line}`), ['warning truncated 6', 'warning truncated 6']);
});

test('dmabuf_dump -a merges with bufinfo: exact sizes win, holders and exporters combine', async () => {
  const s = scenario();
  const session = await openFolder({ 'a.txt': renderDmabufDumpA(s, 'a15'), 'bufinfo.txt': renderBufinfo(s, '6x') });
  assertRows(
    session,
    'SELECT inode, size, size_exact, exporter FROM dmabuf ORDER BY inode',
    csvLines(['inode', 'size', 'size_exact', 'exporter'], [...s.buffers].sort((a, b) => a.inode - b.inode).map((b) => [b.inode, b.size, 1, b.exporter])),
  );
  assert.equal(session.query("SELECT count(*) AS n FROM diagnostic WHERE code = 'merge_conflict'")[0].n, 0);
});

test('dmabuf_dump -a as a bugreport section, routed by its command', async () => {
  const s = scenario();
  const text = renderBugreportText(s, {
    extraSections: [{ title: 'DMABUF TABLE', command: 'dmabuf_dump -a', body: renderDmabufDumpA(s, 'a15') }],
  });
  const session = await openTexts({ 'bugreport.txt': text });
  const src = session.query("SELECT id FROM source WHERE importer = 'dmabuf_dump_a'");
  assert.equal(src.length, 1);
  assertRows(
    session,
    `SELECT pid, inode, fd_refs, map_refs FROM dmabuf_holder_observation WHERE source_id = ${src[0].id} ORDER BY inode, pid`,
    dmabufDumpAExpected(s, 'a15').holders,
  );
});

test('dmabuf_dump -a: a header with no rows and no TOTALS line says truncated', async () => {
  const session = await openTexts({ 'x.txt': '    Dmabuf Inode |            Size |   Fd Ref Counts |  Map Ref Counts |\n' });
  assert.equal(session.query('SELECT count(*) AS n FROM dmabuf_observation')[0].n, 0);
  assert.deepEqual(diagnostics(session).map((d) => d.code), ['truncated']);
});
