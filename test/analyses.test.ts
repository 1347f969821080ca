// Diff tests of the catalogue analyses: a bugreport rendered from a known scenario goes in,
// each analysis's rows must equal what the scenario says is true.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openTexts, assertRows, csv } from './helpers.js';
import { smallScenario } from './fixtures/scenario.js';
import { bugreportZipBytes, renderBugreportText } from './fixtures/bugreport.js';
import type { Session } from '../src/index.js';

async function small(): Promise<Session> {
  return openTexts({ 'report.zip': bugreportZipBytes(smallScenario(34)) });
}

test('dmabuf_exporters: buffers, bytes, share, largest, holders and unheld bytes per exporter', async () => {
  const s = await small();
  assertRows(s, 'SELECT exporter, buffers, bytes, share_pct, largest_bytes, processes, unheld_buffers, unheld_bytes FROM dmabuf_exporters', [
    'exporter,buffers,bytes,share_pct,largest_bytes,processes,unheld_buffers,unheld_bytes',
    'system,3,41914368,88.86,33554432,2,1,33554432',
    '"qcom,system",2,4206592,8.92,4194304,2,0,0',
    'mali,1,1048576,2.22,1048576,1,0,0',
  ]);
  s.close();
});

test('dmabuf_processes: RSS, PSS split equally among holders, private bytes', async () => {
  const s = await small();
  assertRows(s, 'SELECT pid, process_name, buffers, rss_bytes, pss_bytes, private_bytes FROM dmabuf_processes', [
    'pid,process_name,buffers,rss_bytes,pss_bytes,private_bytes',
    '987,surfaceflinger,3,13537280,7292928,1048576',
    '1234,-service-google,2,8359936,4212736,65536',
    '2345,ndroid.systemui,2,4206592,2109440,12288',
  ]);
  s.close();
});

test('dmabuf_buffers: largest first with holders, limited by the top parameter', async () => {
  const s = await small();
  const rows = s.run('dmabuf_buffers', { top: 2 });
  assert.deepEqual(
    rows.map((r) => [r.inode, r.size, r.holder_count, r.holders]),
    [
      [1005, 33554432, 0, ''],
      [1001, 8294400, 2, 'surfaceflinger(987), -service-google(1234)'],
    ],
  );
  assert.equal(s.run('dmabuf_buffers').length, 6);
  s.close();
});

test('dmabuf_leak_suspects: the unheld CAMERA buffer is a high kernel_held finding', async () => {
  const s = await small();
  const rows = s.run('dmabuf_leak_suspects');
  assert.equal(rows.length, 1);
  assert.equal(rows[0].kind, 'kernel_held');
  assert.equal(rows[0].subject, 'system');
  assert.equal(rows[0].bytes, 33554432);
  assert.equal(rows[0].severity, 'high');
  assert.match(String(rows[0].evidence), /^1 buffer\(s\) of exporter system listed by the kernel \(dmabuf_dump_b\) but held by no process; largest 33554432 bytes$/);
  // The thresholds are parameters: with a huge `high_bytes` and share, the same finding is medium.
  const graded = s.run('dmabuf_leak_suspects', { high_bytes: 1e12, high_share_pct: 100 });
  assert.equal(graded[0].severity, 'medium');
  // ...and run() restores the defaults afterwards.
  assert.equal(s.run('dmabuf_leak_suspects')[0].severity, 'high');
  s.close();
});

test('dmabuf_leak_suspects: without a per-buffer list the reported kernel_rss is the finding', async () => {
  const sc = smallScenario(30); // Android 11: only the per-process dmabuf_dump table
  const s = await openTexts({ 'r.txt': renderBugreportText(sc, { dmabufDumpB: 'omit' }) });
  const rows = s.run('dmabuf_leak_suspects');
  assert.equal(rows.length, 1);
  assert.equal(rows[0].kind, 'kernel_held');
  assert.equal(rows[0].subject, '<all exporters>');
  assert.equal(rows[0].bytes, 32768 * 1024);
  s.close();
});

test('dmabuf_consistency: a consistent capture has no finding; a doctored total is a mismatch', async () => {
  const sc = smallScenario(34);
  const good = await openTexts({ 'r.txt': renderBugreportText(sc) });
  const checks = good.run('dmabuf_consistency');
  assert.ok(checks.length >= 10, `expected many checks, got ${checks.length}`);
  assert.deepEqual(checks.filter((c) => c.status !== 'ok'), []);
  const names = new Set(checks.map((c) => c.check_name));
  for (const n of ['total_bytes', 'buffer_count', 'exporter_bytes', 'process_rss', 'process_pss', 'userspace_rss', 'dmabuf_total', 'global_total']) {
    assert.ok(names.has(n), `check ${n} missing`);
  }
  good.close();

  const text = renderBugreportText(sc).replace(/Total DMA-BUF size\(bytes\): 47169536/, 'Total DMA-BUF size(bytes): 57169536');
  assert.ok(text.includes('57169536'), 'the fixture must carry the -b total line');
  const bad = await openTexts({ 'r.txt': text });
  assert.deepEqual(
    bad.run('dmabuf_consistency').filter((c) => c.status !== 'ok').map((c) => [c.check_name, c.subject, c.difference]),
    [['total_bytes', 'dmabuf_dump_b', 10000000]],
  );
  bad.close();
});

test('dmabuf_heaps: the meminfo DMA-BUF lines in bytes', async () => {
  const text = renderBugreportText(smallScenario(34));
  // The block as the fixture prints it, from the scenario: DMA-BUF = its six buffers
  // (47169536 bytes = 46,064K); mapped = the buffers a process maps (1001 + 1002 + 1006 =
  // 12500992 = 12,208K); Heaps = every buffer but the mali one (46120960 = 45,040K); GPU dmabuf =
  // the mali buffer and 1002, attached to 1e00000.gpu (5242880 = 5,120K); the pool, GPU private
  // and Kernel CMA are the fixture's fixed 1,536K, 10,240K and 16,384K.
  for (const line of [
    'DMA-BUF:    46,064K (   12,208K mapped +    33,856K unmapped)',
    'DMA-BUF Heaps:    45,040K',
    'DMA-BUF Heaps pool:     1,536K',
    '      GPU:    15,360K (    5,120K dmabuf +    10,240K private)',
    '      Kernel CMA:    16,384K',
  ]) {
    assert.ok(text.includes(`\n${line}\n`), line);
  }
  const s = await openTexts({ 'r.txt': text });
  assertRows(s, 'SELECT item, bytes FROM dmabuf_heaps', [
    'item,bytes',
    `DMA-BUF,${46064 * 1024}`,
    `DMA-BUF mapped,${12208 * 1024}`,
    `DMA-BUF unmapped,${33856 * 1024}`,
    `DMA-BUF Heaps,${45040 * 1024}`,
    `DMA-BUF Heaps pool,${1536 * 1024}`,
    `GPU,${15360 * 1024}`,
    `GPU dmabuf,${5120 * 1024}`,
    `GPU private,${10240 * 1024}`,
    `Kernel CMA,${16384 * 1024}`,
  ]);
  assert.equal(46064 * 1024, smallScenario(34).buffers.reduce((a, b) => a + b.size, 0));
  s.close();
});

test('dmabuf_growth: two captures of the same device, one exporter grew', async () => {
  const before = smallScenario(34);
  const after = smallScenario(34);
  after.buffers.push({ inode: 2001, size: 16777216, exporter: 'system', name: 'CAMERA' });
  after.processes[0].holds.push({ inode: 2001, fds: 1, maps: 0 });
  const s = await openTexts({ 'a.txt': renderBugreportText(before), 'b.txt': renderBugreportText(after) });
  const rows = s.run('dmabuf_growth');
  assert.deepEqual([rows[0].kind, rows[0].subject, rows[0].delta_bytes], ['exporter', 'system', 16777216]);
  assert.ok(rows.some((r) => r.kind === 'process' && r.subject === '-service-google' && r.delta_bytes === 16777216));
  s.close();
});

test('dmabuf_growth: a process named by its command line in one capture (a trace) and by its 15-character comm in the other (dmabuf_dump) is one process: an app by the end of its name, a program by the start of its file name', async () => {
  const dump = (procs: [string, number, number][]) =>
    procs
      .map(([name, pid, kb], i) =>
        [
          `${name}:${pid}`,
          '                  Name              Rss              Pss         nr_procs            Inode',
          `             <unknown>        ${kb} kB        ${kb} kB                1            ${9000 + i}`,
          `         PROCESS TOTAL        ${kb} kB        ${kb} kB`,
          '----------------------',
        ].join('\n'),
      )
      .join('\n') + '\n';
  const allocator = '/vendor/bin/hw/android.hardware.graphics.allocator@4.0-service';
  const before = dump([['/system/bin/surfaceflinger', 659, 1024], ['com.google.android.apps.maps', 10366, 2048], [allocator, 700, 512]]);
  const after = dump([['surfaceflinger', 659, 1024], ['droid.apps.maps', 10366, 4096], ['android.hardwar', 700, 768]]);
  const s = await openTexts({ 'before.txt': before, 'after.txt': after });
  const rows = s.run('dmabuf_growth').filter((r) => r.kind === 'process');
  assert.deepEqual(
    rows.map((r) => [r.subject, r.first_bytes, r.last_bytes]),
    [
      ['com.google.android.apps.maps', 2048 * 1024, 4096 * 1024],
      [allocator, 512 * 1024, 768 * 1024],
      ['/system/bin/surfaceflinger', 1024 * 1024, 1024 * 1024],
    ],
  );
  s.close();
});

test('every analysis runs on an empty session and names its columns', async () => {
  const s = await openTexts({});
  for (const a of s.analyses()) {
    assert.deepEqual(s.run(a.name), [], a.name);
    assert.deepEqual(s.columns(`SELECT * FROM ${a.name}`), a.columns.map((c) => c.name), `${a.name}: @column docs must list the view's columns in order`);
  }
  s.close();
});

test('the catalogue a caller gets is its own: changing it changes nothing for later calls or runs', async () => {
  const s = await openTexts({});
  const list = s.analyses();
  const want = JSON.stringify(list);
  const leaks = list.find((a) => a.name === 'dmabuf_leak_suspects')!;
  const columns = leaks.columns.map((c) => c.name);
  leaks.params.length = 0;
  leaks.columns.reverse();
  list.length = 0;
  assert.equal(JSON.stringify(s.analyses()), want);
  assert.deepEqual(s.run('dmabuf_leak_suspects'), []);
  assert.deepEqual(s.columns('SELECT * FROM dmabuf_leak_suspects'), columns);
  s.close();
});

test('csv helper renders what the golden tests compare', async () => {
  const s = await openTexts({});
  assert.deepEqual(csv(s, "SELECT 1 AS a, 'x,y' AS b, NULL AS c"), ['a,b,c', '1,"x,y",']);
  s.close();
});

test('dmabuf_consistency checks dmabuf_dump -a per-process totals too', async () => {
  const { renderDmabufDumpA } = await import('./fixtures/kernel.js');
  const text = renderDmabufDumpA(smallScenario(34), 'a15');
  const good = await openTexts({ 'a.txt': text });
  const rss = good.run('dmabuf_consistency').filter((r) => r.check_name === 'process_rss');
  assert.deepEqual(rss.map((r) => [r.subject, r.status]), [
    ['-service-google (1234)', 'ok'],
    ['ndroid.systemui (2345)', 'ok'],
    ['surfaceflinger (987)', 'ok'],
  ]);
  good.close();
});
