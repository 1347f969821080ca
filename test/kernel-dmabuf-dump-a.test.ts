// dmabuf_dump -a (formats.md §2c): golden tables for Android 11, 15+ raw and CSV through the
// real `open()`, the Android 12–14 layout (no title line), a table cut short, a bugreport
// section routed by its command, and the merge with an exact-size source.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { open } from '../src/index.js';
import { openTexts, assertRows, csv, diagnostics, tempDir } from './helpers.js';
import { smallScenario, commOf, type Scenario } from './fixtures/scenario.js';
import { renderDmabufDumpA, renderBufinfo, holdsOf, csvLines, type DmabufDumpAVariant } from './fixtures/kernel.js';
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

const kb = (n: number) => Math.floor(n / 1024);

function listed(s: Scenario, v: DmabufDumpAVariant) {
  const held = new Set(holdsOf(s).filter((h) => h.fds + h.maps > 0).map((h) => h.inode));
  return s.buffers.filter((b) => v === 'a11' || held.has(b.inode));
}

function expected(s: Scenario, v: DmabufDumpAVariant) {
  const bufs = listed(s, v);
  const obs = csvLines(
    ['inode', 'size', 'size_exact', 'exporter', 'name', 'global_list'],
    bufs.map((b) => [b.inode, kb(b.size) * 1024, 0, null, null, v === 'a11' ? 1 : 0]),
  );
  const hs = holdsOf(s).filter((h) => (v === 'a11' ? h.fds > 0 : h.fds + h.maps > 0));
  const holders = csvLines(
    ['pid', 'inode', 'fd_refs', 'map_refs'],
    hs.map((h) => [h.pid, h.inode, v === 'a11' ? null : h.fds, v === 'a11' ? null : h.maps]),
  );
  const perPid = new Map<number, number>();
  for (const h of hs) perPid.set(h.pid, (perPid.get(h.pid) ?? 0) + kb(s.buffers.find((b) => b.inode === h.inode)!.size));
  const totals = csvLines(
    ['origin', 'pid', 'total_bytes', 'in_kb'],
    [
      ['dmabuf_dump_a', null, bufs.reduce((a, b) => a + kb(b.size), 0) * 1024, 1],
      ...[...perPid.entries()].sort((a, b) => a[0] - b[0]).map(([pid, k]) => ['dmabuf_dump_a_process', pid, k * 1024, 1]),
    ],
  );
  return { obs, holders, totals };
}

for (const v of ['a11', 'a15', 'csv'] as DmabufDumpAVariant[]) {
  test(`dmabuf_dump -a ${v}: golden tables`, async () => {
    const s = scenario();
    const session = await openTexts({ 'table.txt': renderDmabufDumpA(s, v) });
    assert.deepEqual(csv(session, 'SELECT importer FROM source'), ['importer', 'dmabuf_dump_a']);
    const e = expected(s, v);
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
    const e = expected(s, v);
    assertRows(session, OBS, e.obs);
    assertRows(session, HOLDERS, e.holders);
  });
}

test('dmabuf_dump -a Android 12–14 (no title line) reads like 15+', async () => {
  const s = scenario();
  const text = renderDmabufDumpA(s, 'a15').replace(/^\n-+ DMA-BUF Table buffer x process -+\n/, '');
  assert.ok(text.startsWith('    Dmabuf Inode'));
  const session = await openTexts({ 'table.txt': text });
  const e = expected(s, 'a15');
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
  assert.ok(diagnostics(session).length >= 1);
  assert.ok(diagnostics(session).every((d) => d.code === 'truncated'));
});

test('dmabuf_dump -a merges with bufinfo: exact sizes win, holders and exporters combine', async () => {
  const s = scenario();
  const dir = tempDir();
  fs.writeFileSync(path.join(dir, 'a.txt'), renderDmabufDumpA(s, 'a15'));
  fs.writeFileSync(path.join(dir, 'bufinfo.txt'), renderBufinfo(s, '6x'));
  const session = await open(dir);
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
    expected(s, 'a15').holders,
  );
});

test('dmabuf_dump -a: a header with no rows and no TOTALS line says truncated', async () => {
  const session = await openTexts({ 'x.txt': '    Dmabuf Inode |            Size |   Fd Ref Counts |  Map Ref Counts |\n' });
  assert.equal(session.query('SELECT count(*) AS n FROM dmabuf_observation')[0].n, 0);
  assert.deepEqual(diagnostics(session).map((d) => d.code), ['truncated']);
});
