// dmabuf_dump -b (formats.md §2b): golden tables per Android variant through the real
// `open()`, the failure line, tolerance, sniffing, mutation, and the merge with the
// per-process table (exact byte sizes win over kB).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openTexts, csv, diagnostics, asSession, importDirect } from './helpers.js';
import { fuzzImporter } from './fuzz.js';
import { smallScenario, type Scenario } from './fixtures/scenario.js';
import { renderDmabufDump, renderDmabufDumpB, type DmabufDumpBVariant } from './fixtures/dmabuf-dump.js';
import { dmabufDumpImporter } from '../src/importers/dmabuf-dump.js';
import { dmabufDumpBImporter } from '../src/importers/dmabuf-dump-b.js';
import { meminfoImporter } from '../src/importers/meminfo.js';
import { minimalBugreport } from './fixtures/bugreport.js';
import { renderDmabufDumpA, dmabufDumpAExpected } from './fixtures/kernel.js';

/** Import one text straight through the importer (no sniffing): for inputs no sniffer would accept. */
const importText = (text: string) => importDirect(dmabufDumpBImporter, text, 'capture.txt');

const VARIANTS: DmabufDumpBVariant[] = ['a12', 'a13', 'a14', 'a15', 'csv'];

/** smallScenario plus a buffer whose size is not a whole kB. */
function scenario(): Scenario {
  const s = smallScenario();
  s.buffers.push({ inode: 1007, size: 1000000, exporter: 'system', name: 'frame buffer, cam0' });
  s.processes.find((p) => p.pid === 987)!.holds.push({ inode: 1007, fds: 1, maps: 1 });
  return s;
}

const OBS_SQL = 'SELECT inode, size, size_exact, exporter, name FROM dmabuf_observation ORDER BY inode';
const EXPORTER_SQL =
  "SELECT exporter, buffer_count, total_bytes, in_kb FROM dmabuf_reported_total WHERE origin = 'dmabuf_dump_b_exporter' ORDER BY exporter";
const TOTAL_SQL = "SELECT buffer_count, total_bytes, in_kb FROM dmabuf_reported_total WHERE origin = 'dmabuf_dump_b'";

// Golden tables, by hand from scenario(): exact bytes, exporter, no names (-b does not print them).
const GOLDEN_OBS = [
  'inode,size,size_exact,exporter,name',
  '1001,8294400,1,system,',
  '1002,4194304,1,"qcom,system",',
  '1003,1048576,1,mali,',
  '1004,65536,1,system,',
  '1005,33554432,1,system,',
  '1006,12288,1,"qcom,system",',
  '1007,1000000,1,system,',
];
const GOLDEN_EXPORTERS = [
  'exporter,buffer_count,total_bytes,in_kb',
  'mali,1,1048576,0',
  '"qcom,system",2,4206592,0',
  'system,4,42914368,0',
];
const GOLDEN_TOTAL = ['buffer_count,total_bytes,in_kb', '7,48169536,0'];

for (const v of VARIANTS) {
  test(`dmabuf_dump -b ${v}: golden tables`, async () => {
    const s = await openTexts({ 'capture.txt': renderDmabufDumpB(scenario(), v) });
    assert.deepEqual(csv(s, OBS_SQL), GOLDEN_OBS);
    assert.deepEqual(csv(s, EXPORTER_SQL), GOLDEN_EXPORTERS);
    assert.deepEqual(csv(s, TOTAL_SQL), GOLDEN_TOTAL);
    assert.deepEqual(diagnostics(s), []);
    assert.deepEqual(s.query('SELECT DISTINCT importer FROM source'), [{ importer: 'dmabuf_dump_b' }]);
    s.close();
  });

  test(`dmabuf_dump -b ${v}: rows agree with the scenario's truth`, async () => {
    const sc = scenario();
    const s = await openTexts({ 'capture.txt': renderDmabufDumpB(sc, v) });
    const got = s.query('SELECT inode, size, exporter FROM dmabuf ORDER BY inode');
    assert.deepEqual(
      got,
      [...sc.buffers].sort((a, b) => a.inode - b.inode).map((b) => ({ inode: b.inode, size: b.size, exporter: b.exporter })),
    );
    const sum = sc.buffers.reduce((a, b) => a + b.size, 0);
    assert.equal(s.query("SELECT total_bytes FROM dmabuf_reported_total WHERE origin = 'dmabuf_dump_b'")[0].total_bytes, sum);
    s.close();
  });

  test(`dmabuf_dump -b ${v}: recognized by content under a neutral name, and by no other importer`, () => {
    const head = renderDmabufDumpB(scenario(), v);
    assert.equal(dmabufDumpBImporter.sniff(head, 'x.txt'), true);
    assert.equal(dmabufDumpImporter.sniff(head, 'x.txt'), false);
    assert.equal(meminfoImporter.sniff(head, 'x.txt'), false);
  });
}

test('dmabuf_dump -b: the renderer prints the exact printf layout of each version', () => {
  const row = (v: DmabufDumpBVariant) => renderDmabufDumpB(scenario(), v).split('\n').find((l) => /\b1001\b/.test(l));
  assert.equal(row('a13'), '            1001 |         8294400 |           system ');
  assert.equal(row('a14'), '            1001 |8294400 |           system ');
  assert.equal(row('csv'), '1001,8294400,"system"');
  const a14 = renderDmabufDumpB(scenario(), 'a14');
  const a15 = renderDmabufDumpB(scenario(), 'a15');
  assert.ok(a14.includes('\n----------------------- DMA-BUF total stats --------------------------\n'));
  assert.ok(a15.includes('\n----------------------- DMA-BUF total stats -----------------------\n'));
  assert.ok(a14.includes('    Dmabuf Inode |     Size(bytes) |             Exporter Name             |\n'));
  assert.ok(a15.includes('    Dmabuf Inode |     Size(bytes) |    Exporter Name                    |\n'));
  assert.ok(a15.includes('                     qcom,system |            2| 4206592\n'));
});

test('dmabuf_dump -b: the sysfs failure line becomes a diagnostic', async () => {
  const text = renderDmabufDumpB(scenario(), 'a13', { fail: true });
  const s = await openTexts({ 'capture.txt': text });
  assert.deepEqual(
    diagnostics(s).map((d) => `${d.severity} ${d.code} ${d.line}`),
    ['warning section_failed 1'],
  );
  assert.equal(s.query('SELECT count(*) AS n FROM dmabuf_observation')[0].n, 0);
  s.close();
  // Android 16 words it differently.
  const db = await importText('Unable to read DMA-BUF per-buffer stats from device\n');
  assert.deepEqual(db.query('SELECT code FROM diagnostic'), [{ code: 'section_failed' }]);
  db.close();
});

test('dmabuf_dump -b: tabs, CRLF and stripped trailing spaces change nothing', async () => {
  for (const v of ['a13', 'a14', 'a15', 'csv'] as const) {
    const text = renderDmabufDumpB(scenario(), v);
    for (const t of [text.replace(/ {2,}/g, '\t'), text.replace(/\n/g, '\r\n'), text.replace(/[ \t]+$/gm, '')]) {
      const db = await importText(t);
      assert.deepEqual(csv(asSession(db), OBS_SQL), GOLDEN_OBS, v);
      assert.deepEqual(csv(asSession(db), EXPORTER_SQL), GOLDEN_EXPORTERS, v);
      assert.deepEqual(csv(asSession(db), TOTAL_SQL), GOLDEN_TOTAL, v);
      assert.deepEqual(db.query('SELECT code FROM diagnostic'), []);
      db.close();
    }
  }
});

test('dmabuf_dump -b: a list cut short is kept and flagged', async () => {
  const lines = renderDmabufDumpB(scenario(), 'a15').split('\n');
  const cut = lines.findIndex((l) => /\b1004\b/.test(l));
  const db = await importText(lines.slice(0, cut).join('\n'));
  assert.deepEqual(
    db.query('SELECT inode FROM dmabuf_observation ORDER BY inode').map((r) => r.inode),
    [1001, 1002, 1003],
  );
  assert.deepEqual(db.query('SELECT severity, code FROM diagnostic'), [{ severity: 'warning', code: 'truncated' }]);
  db.close();
});

test('dmabuf_dump -b: a malformed row becomes a diagnostic and the rest is kept', async () => {
  const lines = renderDmabufDumpB(scenario(), 'a15').split('\n');
  const bad = lines.findIndex((l) => /\b1003\b/.test(l));
  lines[bad] = '            1003 |         1O48576 |             mali ';
  const s = await openTexts({ 'capture.txt': lines.join('\n') });
  assert.deepEqual(
    diagnostics(s).map((d) => `${d.severity} ${d.code} ${d.line}`),
    [`warning malformed_row ${bad + 1}`],
  );
  assert.deepEqual(csv(s, OBS_SQL), GOLDEN_OBS.filter((r) => !r.startsWith('1003,')));
  assert.deepEqual(csv(s, EXPORTER_SQL), GOLDEN_EXPORTERS);
  assert.deepEqual(csv(s, TOTAL_SQL), GOLDEN_TOTAL);
  s.close();
});

test('dmabuf_dump -b: early Android 12 attachment and per-device sections are skipped with a note', async () => {
  const text =
    renderDmabufDumpB(scenario(), 'a12') +
    '\n\n----------------------- DMA-BUF attachment stats -----------------------\n' +
    '    Dmabuf Inode |        Device Name |  Map Count |\n' +
    '            1001 |   soc:qcom,cam-isp |          1 |\n' +
    '\n\n----------------------- DMA-BUF per-device stats -----------------------\n' +
    '         Device Name | Total Size(bytes) |\n' +
    '    soc:qcom,cam-isp |           8294400 |\n';
  const db = await importText(text);
  assert.deepEqual(csv(asSession(db), OBS_SQL), GOLDEN_OBS);
  assert.deepEqual(
    db.query('SELECT severity, code FROM diagnostic ORDER BY id'),
    [
      { severity: 'info', code: 'section_skipped' },
      { severity: 'info', code: 'section_skipped' },
    ],
  );
  db.close();
});

test('dmabuf_dump -b and the per-process table merge: exact bytes and exporters win', async () => {
  const sc = scenario();
  const text = minimalBugreport([
    ['Dmabuf dump', 'dmabuf_dump', renderDmabufDump(sc, 'a14')],
    ['Dmabuf per-buffer/per-exporter/per-device stats', 'dmabuf_dump -b', renderDmabufDumpB(sc, 'a14')],
  ]);
  const s = await openTexts({ 'bugreport.txt': text });
  assert.deepEqual(csv(s, 'SELECT inode, size, size_exact, exporter, name, seen_by FROM dmabuf ORDER BY inode'), [
    'inode,size,size_exact,exporter,name,seen_by',
    '1001,8294400,1,system,CAMERA,"dmabuf_dump,dmabuf_dump_b"',
    '1002,4194304,1,"qcom,system",,"dmabuf_dump,dmabuf_dump_b"',
    '1003,1048576,1,mali,,"dmabuf_dump,dmabuf_dump_b"',
    '1004,65536,1,system,,"dmabuf_dump,dmabuf_dump_b"',
    '1005,33554432,1,system,,dmabuf_dump_b',
    '1006,12288,1,"qcom,system",,"dmabuf_dump,dmabuf_dump_b"',
    '1007,1000000,1,system,"frame buffer, cam0","dmabuf_dump,dmabuf_dump_b"',
  ]);
  assert.deepEqual(diagnostics(s).filter((d) => d.severity !== 'info'), []);
  s.close();
});

test('dmabuf_dump: a capture holding both the per-process tables and -b output reads both', async () => {
  const sc = scenario();
  const s = await openTexts({ 'both.txt': renderDmabufDump(sc, 'a16') + '\n' + renderDmabufDumpB(sc, 'a15') });
  assert.deepEqual(s.query('SELECT DISTINCT importer FROM source'), [{ importer: 'dmabuf_dump' }]);
  assert.deepEqual(csv(s, EXPORTER_SQL), GOLDEN_EXPORTERS);
  assert.deepEqual(csv(s, TOTAL_SQL), GOLDEN_TOTAL);
  // Exact sizes and every buffer from -b; names from the per-process tables, which list only held buffers (not 1005).
  assert.deepEqual(csv(s, 'SELECT inode, size, size_exact, exporter, name FROM dmabuf ORDER BY inode'), [
    'inode,size,size_exact,exporter,name',
    '1001,8294400,1,system,CAMERA',
    '1002,4194304,1,"qcom,system",',
    '1003,1048576,1,mali,',
    '1004,65536,1,system,',
    '1005,33554432,1,system,',
    '1006,12288,1,"qcom,system",',
    '1007,1000000,1,system,"frame buffer, cam0"',
  ]);
  assert.deepEqual(diagnostics(s), []);
  s.close();
});

test('dmabuf_dump: a capture with -b output first and the per-process tables after reads both', async () => {
  const sc = scenario();
  const s = await openTexts({ 'both.txt': renderDmabufDumpB(sc, 'csv') + renderDmabufDump(sc, 'csv16') });
  assert.deepEqual(s.query('SELECT DISTINCT importer FROM source'), [{ importer: 'dmabuf_dump' }]);
  assert.deepEqual(csv(s, TOTAL_SQL), GOLDEN_TOTAL);
  // The per-process tables (Android 15+: Pss = size in kB / holder processes): each held buffer per holder.
  assert.deepEqual(csv(s, 'SELECT inode, pid, fd_refs, map_refs, reported_pss FROM dmabuf_holder_observation ORDER BY inode, pid'), [
    'inode,pid,fd_refs,map_refs,reported_pss',
    `1001,987,,,${4050 * 1024}`,
    `1001,1234,,,${4050 * 1024}`,
    `1002,987,,,${2048 * 1024}`,
    `1002,2345,,,${2048 * 1024}`,
    `1003,987,,,${1024 * 1024}`,
    `1004,1234,,,${64 * 1024}`,
    `1006,2345,,,${12 * 1024}`,
    `1007,987,,,${976 * 1024}`,
  ]);
  // Their totals, in kB: every buffer 47040, unheld 1005 32768, RSS 14196 + 8164 + 4108, PSS 8098 + 4114 + 2060.
  assert.deepEqual(
    csv(s, "SELECT total_bytes, kernel_bytes, userspace_rss_bytes, userspace_pss_bytes, in_kb FROM dmabuf_reported_total WHERE origin = 'dmabuf_dump'"),
    ['total_bytes,kernel_bytes,userspace_rss_bytes,userspace_pss_bytes,in_kb', `${47040 * 1024},${32768 * 1024},${26468 * 1024},${14272 * 1024},1`],
  );
  assert.deepEqual(diagnostics(s), []);
  s.close();
});

test('dmabuf_dump -a -b: the stats, then the buffer × process table, are both read', async () => {
  const sc = scenario();
  for (const [b, a] of [['a15', 'a15'], ['csv', 'csv'], ['a14', 'a11']] as const) {
    const s = await openTexts({ 'both.txt': renderDmabufDumpB(sc, b) + '\n\n' + renderDmabufDumpA(sc, a) });
    assert.deepEqual(s.query('SELECT importer, line_start IS NOT NULL AS section FROM source ORDER BY id'), [
      { importer: 'dmabuf_dump_b', section: 0 },
      { importer: 'dmabuf_dump_a', section: 1 },
    ]);
    assert.deepEqual(csv(s, TOTAL_SQL), GOLDEN_TOTAL, `${b} + ${a}`);
    // Exact sizes from -b; holders (fd and map counts per process) from -a.
    assert.deepEqual(csv(s, 'SELECT inode, size, size_exact, exporter, name FROM dmabuf ORDER BY inode'), GOLDEN_OBS, `${b} + ${a}`);
    assert.deepEqual(
      csv(s, 'SELECT pid, inode, fd_refs, map_refs FROM dmabuf_holder_observation ORDER BY inode, pid'),
      dmabufDumpAExpected(sc, a).holders,
      `${b} + ${a}`,
    );
    assert.deepEqual(diagnostics(s), [], `${b} + ${a}`);
    s.close();
  }
});

test('dmabuf_dump -b: random line deletions and byte flips never throw', async () => {
  await fuzzImporter(dmabufDumpBImporter, VARIANTS.map((v) => renderDmabufDumpB(scenario(), v)), { seed: 4242, iterations: 300 });
});
