// lsof output (toybox's `adb shell lsof`, whole and through `grep dmabuf`; util lsof's columns):
// golden tables from the scenario through the real `open()`, tolerance, detection, and lsof
// after a bufinfo in one capture.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openTexts, assertRows, csv, csvLines, diagnostics, OBS_BY_INODE, HOLDERS } from './helpers.js';
import { smallScenario, type Scenario } from './fixtures/scenario.js';
import { renderLsof, renderBufinfo, renderFdLinks, renderMaps, fdTable, holdsOf, kernelComm } from './fixtures/kernel.js';
import { lsofImporter, lsofDmabufRow } from '../src/importers/kernel/lsof.js';
import { fuzzImporter } from './fuzz.js';

function lsofObs(s: Scenario): string[] {
  const inodes = [...new Set(fdTable(s).map((e) => e.inode))].sort((a, b) => a - b);
  return csvLines(
    ['inode', 'size', 'size_exact', 'exporter', 'name', 'file_count', 'global_list'],
    inodes.map((i) => [i, null, 1, null, s.buffers.find((b) => b.inode === i)!.name ?? null, null, 0]),
  );
}

function lsofHolders(s: Scenario): string[] {
  return csvLines(['pid', 'inode', 'fd_refs', 'map_refs'], holdsOf(s).filter((h) => h.fds > 0).map((h) => [h.pid, h.inode, h.fds, null]));
}

function lsofFds(s: Scenario): string[] {
  return csvLines(['pid', 'fd', 'inode', 'name'], fdTable(s).map((e) => [e.pid, e.fd, e.inode, s.buffers.find((b) => b.inode === e.inode)!.name ?? null]));
}

function memRows(s: Scenario): number {
  return holdsOf(s).reduce((n, h) => n + h.maps, 0);
}

const VARIANTS: ['toybox' | 'toybox-old', boolean][] = [
  ['toybox', false],
  ['toybox', true],
  ['toybox-old', false],
  ['toybox-old', true],
];

for (const [variant, grep] of VARIANTS) {
  const label = `${variant}${grep ? ' | grep dmabuf' : ''}`;
  test(`lsof ${label}: golden holders, fds and buffers from the scenario`, async () => {
    const s = smallScenario();
    const session = await openTexts({ 'lsof.txt': renderLsof(s, variant, grep) });
    assert.deepEqual(csv(session, 'SELECT importer FROM source'), ['importer', 'lsof']);
    assertRows(session, OBS_BY_INODE, lsofObs(s));
    assertRows(session, HOLDERS, lsofHolders(s));
    assertRows(session, 'SELECT pid, fd, inode, name FROM dmabuf_fd ORDER BY rowid', lsofFds(s));
    assertRows(session, 'SELECT count(*) AS n FROM dmabuf_mapping', ['n', '0']);
    // Process names from COMMAND (older toybox cuts the comm to 9 characters).
    const names = s.processes.filter((p) => p.holds.some((h) => h.fds > 0 || h.maps > 0)).map((p) => [p.pid, kernelComm(p.name).slice(0, variant === 'toybox-old' ? 9 : 15)] as [number, string]);
    assertRows(session, 'SELECT pid, name FROM process ORDER BY pid', csvLines(['pid', 'name'], names.sort((a, b) => a[0] - b[0])));
    const d = diagnostics(session);
    assert.deepEqual(d.map((x) => `${x.severity} ${x.code}`), ['info lsof_mem_without_inode']);
    assert.match(d[0].message, new RegExp(`^${memRows(s)} DMA-BUF mapping rows`));
    assertRows(session, 'SELECT pid, inode, fd_refs, map_refs FROM dmabuf_holder ORDER BY inode, pid', lsofHolders(s));
  });

  test(`lsof ${label}: CRLF, tabs for spaces and a cut last line read the same`, async () => {
    const s = smallScenario();
    const text = renderLsof(s, variant, grep);
    const crlf = await openTexts({ 'lsof.txt': text.replace(/ +/g, '\t').replace(/\n/g, '\r\n') });
    assertRows(crlf, HOLDERS, lsofHolders(s));
    assertRows(crlf, 'SELECT pid, fd, inode, name FROM dmabuf_fd ORDER BY rowid', lsofFds(s));
    // The last DMA-BUF row cut after `/dmabuf:` (its name lost): the fd row stays; cut before its NAME: the row is lost, nothing else.
    const lines = text.trimEnd().split('\n');
    const last = lines.map((l, i) => [l, i] as const).filter(([l]) => l.includes('/dmabuf:') && !/\smem\s/.test(l)).pop()![1];
    const upTo = lines.slice(0, last + 1).join('\n');
    const inName = await openTexts({ 'lsof.txt': upTo.slice(0, upTo.lastIndexOf('/dmabuf:') + '/dmabuf:'.length) });
    assert.equal(csv(inName, 'SELECT count(*) AS n FROM dmabuf_fd')[1], String(fdTable(s).length));
    const beforeName = await openTexts({ 'lsof.txt': upTo.slice(0, upTo.lastIndexOf('/dmabuf:') - 3) });
    assert.equal(csv(beforeName, 'SELECT count(*) AS n FROM dmabuf_fd')[1], String(fdTable(s).length - 1));
    assert.ok(!diagnostics(beforeName).some((x) => x.code === 'importer_failed'));
  });
}

test('lsof: prompts, lsof warnings, Permission denied rows and other files → diagnostics, never rows', async () => {
  const text = [
    'console:/ # lsof | grep dmabuf',
    "lsof: WARNING: can't stat() fuse file system /mnt/runtime",
    '      Output information may be incomplete.',
    'COMMAND     PID       USER   FD      TYPE             DEVICE  SIZE/OFF       NODE NAME',
    'init          1       root NOFD                                                   /proc/1/fd (opendir: Permission denied)',
    'Binder:12    77     system   12u     0000               0,12       0t0      48213 /dmabuf:qcom,system',
    'Binder:12    77     system   13u     0000               0,12       0t0      48213 /dmabuf:qcom,system',
    'Binder:12    77     system   14u     0000               0,12       0t0      48214 /dmabuf:',
    'Binder:12    77     system   15u     0000               0,12       0t0          5 /dev/null',
    'Binder:12    77     system   16u     0000               0,12       0t0            /dmabuf:nostat',
    'Binder:12    77     system   17u     0000               0,12       0t0      48215 anon_inode:dmabuf',
    'cat: /proc/88/maps: Permission denied',
    'console:/ # ',
  ].join('\n');
  const session = await openTexts({ 'lsof.txt': text });
  assert.deepEqual(csv(session, 'SELECT importer FROM source'), ['importer', 'lsof']);
  assertRows(session, HOLDERS, ['pid,inode,fd_refs,map_refs', '77,48213,2,', '77,48214,1,']);
  assertRows(session, 'SELECT pid, fd, inode, name FROM dmabuf_fd ORDER BY fd', [
    'pid,fd,inode,name',
    '77,12,48213,"qcom,system"',
    '77,13,48213,"qcom,system"',
    '77,14,48214,',
    '77,16,,nostat',
    '77,17,,',
  ]);
  assertRows(session, 'SELECT pid, name FROM process', ['pid,name', '77,Binder:12']);
  assert.deepEqual(diagnostics(session).map((x) => `${x.severity} ${x.code}`).sort(), [
    'info anon_inode_dmabuf',
    'warning entry_unreadable',
    'warning lsof_warning',
    'warning no_inode',
  ]);
});

test('lsof: a COMMAND with spaces, util lsof TID/TASKCMD columns and mem rows with a NODE', async () => {
  const text = [
    'COMMAND     PID   TID TASKCMD     USER   FD      TYPE DEVICE SIZE/OFF  NODE NAME',
    'Xorg       1500                   root   41u   DMABUF    0,9        0 9001 /dmabuf:',
    'Xorg       1500  1503 Xorg:gdrv0  root   42u  a_inode   0,14        0 9002 /dmabuf:gbm bo',
    'Xorg       1500                   root  mem      REG    0,9          9001 /dmabuf:',
    'GPU comp   2200                  user1   5r   0000      0,12      0t0  9003 /dmabuf:frame 1',
  ].join('\n');
  const session = await openTexts({ 'lsof.txt': text });
  assertRows(session, HOLDERS, ['pid,inode,fd_refs,map_refs', '1500,9001,1,1', '1500,9002,1,', '2200,9003,1,']);
  assertRows(session, 'SELECT pid, inode, name FROM dmabuf_mapping', ['pid,inode,name', '1500,9001,']);
  assertRows(session, 'SELECT inode, name FROM dmabuf_observation ORDER BY inode', ['inode,name', '9001,', '9002,gbm bo', '9003,frame 1']);
  assertRows(session, 'SELECT pid, name FROM process ORDER BY pid', ['pid,name', '1500,Xorg', '2200,GPU comp']);
  assert.deepEqual(diagnostics(session), []);
});

test('lsof: sniff takes lsof texts only; fd links, maps and bufinfo are not lsof rows', () => {
  const s = smallScenario();
  assert.ok(lsofImporter.sniff(renderLsof(s, 'toybox', true), 'x.txt'));
  assert.ok(lsofImporter.sniff(renderLsof(s), 'x.txt'));
  for (const t of [renderFdLinks(s), renderMaps(s), renderBufinfo(s, '6x'), 'COMMAND PID USER FD TYPE DEVICE SIZE/OFF NODE NAME\ninit 1 root cwd DIR 253,0 4096 2 /\n', 'the dmabuf is leaking\n']) {
    assert.equal(lsofImporter.sniff(t, 'x.txt'), false, t.slice(0, 80));
  }
  assert.equal(lsofDmabufRow('7a3c000000-7a3c7e9000 rw-s 00000000 00:0f 1001   /dmabuf:CAMERA'), undefined);
  assert.equal(lsofDmabufRow('lrwx------ 1 system graphics 64 2024-11-02 14:03 10 -> /dmabuf:CAMERA'), undefined);
});

test('lsof after a bufinfo in one capture: each read by its own importer', async () => {
  const s = smallScenario();
  const bufinfo = renderBufinfo(s, '6x');
  const lsof = renderLsof(s, 'toybox', true);
  for (const sep of ['', 'console:/ # lsof | grep dmabuf\n']) {
    const session = await openTexts({ 'capture.txt': `console:/ # cat /d/dma_buf/bufinfo\n${bufinfo}${sep}${lsof}` });
    assert.deepEqual(csv(session, 'SELECT importer, parent_id IS NOT NULL AS child FROM source ORDER BY id'), ['importer,child', 'kernel_captures,0', 'bufinfo,1', 'lsof,1']);
    assertRows(session, "SELECT h.pid, h.inode, h.fd_refs, h.map_refs FROM dmabuf_holder_observation h JOIN source s ON s.id = h.source_id WHERE s.importer = 'lsof' ORDER BY h.inode, h.pid", lsofHolders(s));
    assert.ok(!diagnostics(session).some((d) => d.code === 'importer_failed' || d.code === 'malformed_row'));
  }
  // The header form too: the header starts the lsof run.
  const whole = await openTexts({ 'capture.txt': `${bufinfo}${renderLsof(s, 'toybox-old')}` });
  assert.deepEqual(csv(whole, 'SELECT importer FROM source ORDER BY id'), ['importer', 'kernel_captures', 'bufinfo', 'lsof']);
  assertRows(whole, "SELECT h.pid, h.inode, h.fd_refs FROM dmabuf_holder_observation h JOIN source s ON s.id = h.source_id WHERE s.importer = 'lsof' ORDER BY h.inode, h.pid", csvLines(['pid', 'inode', 'fd_refs'], holdsOf(s).filter((h) => h.fds > 0).map((h) => [h.pid, h.inode, h.fds])));
});

test('fuzz lsof: no exception escapes or is swallowed', async () => {
  const s = smallScenario();
  await fuzzImporter(lsofImporter, [renderLsof(s), renderLsof(s, 'toybox-old', true)], { seed: 4242, iterations: 150, path: 'lsof.txt' });
});

test('lsof: a whole lsof whose DMA-BUF rows lie past the sniffed head is read; one without any says so', async () => {
  const s = smallScenario();
  const whole = renderLsof(s, 'toybox');
  const header = whole.slice(0, whole.indexOf('\n') + 1);
  // 2,000 rows of other files (about 250 KB) before the scenario's processes.
  const other = Array.from({ length: 2000 }, (_, i) => `${'init'.padEnd(9)} ${'1'.padStart(5)} ${'root'.padStart(10)} ${String(i).padStart(4)}u  ${'REG'.padStart(7)} ${'253,4'.padStart(18)} ${'0t0'.padStart(9)} ${String(50000 + i).padStart(10)} /data/misc/file${i}`).join('\n') + '\n';
  const session = await openTexts({ 'lsof.txt': header + other + whole.slice(header.length) });
  assert.deepEqual(csv(session, 'SELECT importer FROM source'), ['importer', 'lsof']);
  const expected = csv(await openTexts({ 'lsof.txt': whole }), HOLDERS);
  assert.ok(expected.length > 3);
  assertRows(session, HOLDERS, expected);
  session.close();
  const none = await openTexts({ 'lsof.txt': header + other });
  assert.deepEqual(diagnostics(none).map((d) => `${d.severity} ${d.code}`), ['info no_data']);
  none.close();
});
