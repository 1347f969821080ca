// sysfs DMA-BUF stats (formats.md §3c) and the BPF dmabuf iterator (§3e): golden tables from
// the scenario through the real `open()`, the early attachments layout, pulled files,
// captures cut short, an empty exporter, and a BPF capture cut at a page (found only by
// comparing with another source's total).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { open } from '../src/index.js';
import { openTexts, openFolder, tempDir, assertRows, csv, csvLines, diagnostics, OBS_BY_INODE } from './helpers.js';
import { smallScenario, type Scenario } from './fixtures/scenario.js';
import { renderSysfsGrep, renderSysfsFiles, renderBpfIter, type SysfsLayout } from './fixtures/kernel.js';
import { renderDmabufDumpB } from './fixtures/dmabuf-dump.js';

const ATT = 'SELECT inode, device, map_count FROM dmabuf_attachment ORDER BY inode, device';

function sysObs(s: Scenario): string[] {
  return csvLines(
    ['inode', 'size', 'size_exact', 'exporter', 'name', 'file_count', 'global_list'],
    [...s.buffers].sort((a, b) => a.inode - b.inode).map((b) => [b.inode, b.size, 1, b.exporter, null, null, 1]),
  );
}

function attRows(s: Scenario, layout: SysfsLayout): [number, string][] {
  const rows = layout === 'early' ? s.buffers.flatMap((b) => (b.attachments ?? []).map((d): [number, string] => [b.inode, d])) : [];
  return rows.sort((a, b) => a[0] - b[0] || (a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0));
}

function sysAtt(s: Scenario, layout: SysfsLayout): string[] {
  return csvLines(['inode', 'device', 'map_count'], attRows(s, layout).map(([i, d]) => [i, d, 1]));
}

for (const layout of ['current', 'early'] as SysfsLayout[]) {
  test(`sysfs grep -r (${layout} layout): golden tables`, async () => {
    const s = smallScenario();
    const session = await openTexts({ 'sysfs.txt': renderSysfsGrep(s, layout) });
    assert.deepEqual(csv(session, 'SELECT importer FROM source'), ['importer', 'sysfs_dmabuf']);
    assertRows(session, OBS_BY_INODE, sysObs(s));
    assertRows(session, ATT, sysAtt(s, layout));
    assert.deepEqual(diagnostics(session), []);
  });

  test(`sysfs pulled folder (${layout} layout): golden tables`, async () => {
    const s = smallScenario();
    const session = await openFolder(renderSysfsFiles(s, layout));
    assertRows(
      session,
      'SELECT inode, size, size_exact, exporter, in_global_list, seen_by FROM dmabuf ORDER BY inode',
      csvLines(
        ['inode', 'size', 'size_exact', 'exporter', 'in_global_list', 'seen_by'],
        [...s.buffers].sort((a, b) => a.inode - b.inode).map((b) => [b.inode, b.size, 1, b.exporter, 1, 'sysfs_dmabuf']),
      ),
    );
    // Early layout: the device file names the attachment; map_counter, a file of its own, cannot be joined to it.
    assertRows(
      session,
      'SELECT inode, device FROM dmabuf_attachment ORDER BY inode, device',
      csvLines(['inode', 'device'], attRows(s, layout)),
    );
    assert.deepEqual(diagnostics(session).filter((d) => d.severity !== 'info'), []);
  });
}

test('sysfs folder copied with its links (tar, cp -a): a `device` symlink names the attachment by its target; other links are not followed', async () => {
  const s = smallScenario();
  const files = renderSysfsFiles(s, 'early');
  for (const root of ['sys/kernel/dmabuf/buffers', 'buffers']) {
    const dir = tempDir();
    const at = (rel: string) => path.join(dir, rel.replace('sys/kernel/dmabuf/buffers', root));
    for (const [rel, content] of Object.entries(files)) {
      fs.mkdirSync(path.dirname(at(rel)), { recursive: true });
      if (rel.endsWith('/device')) fs.symlinkSync(content.trim(), at(rel));
      else fs.writeFileSync(at(rel), content);
    }
    // A link back up the tree (a cycle) and a link to a file: neither is read.
    fs.symlinkSync('..', at('sys/kernel/dmabuf/buffers/1001/attachments/0/subsystem'));
    fs.symlinkSync('size', at('sys/kernel/dmabuf/buffers/1001/size_link'));
    assert.ok(fs.lstatSync(at('sys/kernel/dmabuf/buffers/1001/attachments/0/device')).isSymbolicLink());
    const session = await open(root === 'buffers' ? at('buffers') : dir);
    assertRows(session, ATT, sysAtt(s, 'early').map((l, i) => (i === 0 ? l : l.replace(/,1$/, ','))));
    assertRows(
      session,
      "SELECT count(*) AS n FROM source WHERE importer = 'sysfs_dmabuf' AND path LIKE '%/device'",
      ['n', String(attRows(s, 'early').length)],
    );
    assert.deepEqual(diagnostics(session).filter((d) => d.severity !== 'info'), []);
  }
});

test('sysfs: relative paths (grep -r . . inside the folder), grep -R into the device, a cut last value', async () => {
  const text = [
    './1001/exporter_name:system',
    './1001/size:8294400',
    './1001/attachments/0/map_counter:2',
    './1001/attachments/0/device/uevent:OF_NAME=gpu',
    './1002/exporter_name:qcom,system',
    './1002/size:41943',
  ].join('\n');
  const session = await openTexts({ 'sysfs.txt': text });
  assertRows(session, OBS_BY_INODE, [
    'inode,size,size_exact,exporter,name,file_count,global_list',
    '1001,8294400,1,system,,,1',
    '1002,,1,"qcom,system",,,1',
  ]);
  assertRows(session, ATT, ['inode,device,map_count']);
  assert.deepEqual(diagnostics(session).map((d) => `${d.severity} ${d.code}`), ['warning truncated', 'info attachment_device_unknown']);
});

test('sysfs grep -r captured by hand: prompts and grep complaints around the lines', async () => {
  const s = smallScenario();
  const text =
    'sargo:/ # grep -r . /sys/kernel/dmabuf/buffers\n' +
    renderSysfsGrep(s, 'current') +
    'grep: /sys/kernel/dmabuf/buffers/1001/attachments: Permission denied\ngrep: /sys/kernel/dmabuf/buffers/1002/attachments/3/device: Is a directory\nsargo:/ # \n';
  const session = await openTexts({ 'sysfs.txt': text });
  assert.deepEqual(csv(session, 'SELECT importer FROM source'), ['importer', 'sysfs_dmabuf']);
  assertRows(session, OBS_BY_INODE, sysObs(s));
  assert.deepEqual(diagnostics(session), []);
});

test('BPF iterator: golden tables, then the same with CRLF', async () => {
  const s = smallScenario();
  s.buffers.push({ inode: 1007, size: 4096, exporter: 'system', name: 'name with spaces' });
  const expected = csvLines(
    ['inode', 'size', 'size_exact', 'exporter', 'name', 'file_count', 'global_list'],
    s.buffers.map((b) => [b.inode, b.size, 1, b.exporter, b.name ?? null, null, 1]),
  );
  for (const text of [renderBpfIter(s), renderBpfIter(s).replace(/\n/g, '\r\n')]) {
    const session = await openTexts({ 'iter.txt': text });
    assert.deepEqual(csv(session, 'SELECT importer FROM source'), ['importer', 'bpf_dmabuf_iter']);
    assertRows(session, OBS_BY_INODE, expected);
    assert.deepEqual(diagnostics(session), []);
  }
});

test('BPF iterator captured by hand: a prompt and the command before the records, a prompt after', async () => {
  const s = smallScenario();
  const expected = csvLines(
    ['inode', 'size', 'size_exact', 'exporter', 'name', 'file_count', 'global_list'],
    s.buffers.map((b) => [b.inode, b.size, 1, b.exporter, b.name ?? null, null, 1]),
  );
  const wrapped = [
    `console:/ # cat /sys/fs/bpf/dmabuf_iter\n${renderBpfIter(s)}console:/ # \n`,
    `\n${renderBpfIter(s)}`,
    `$ adb shell cat /sys/fs/bpf/dmabuf_iter\r\n${renderBpfIter(s).replace(/\n/g, '\r\n')}`,
  ];
  for (const text of wrapped) {
    const session = await openTexts({ 'iter.txt': text });
    assert.deepEqual(csv(session, 'SELECT importer FROM source'), ['importer', 'bpf_dmabuf_iter']);
    assertRows(session, OBS_BY_INODE, expected);
    assert.deepEqual(diagnostics(session), []);
  }
  // The first selftest's one-line format, after a prompt.
  const one = await openTexts({ 'iter.txt': '# cat /sys/fs/bpf/iter\nino:16 size:4096 name:cam 0 exp_name:udmabuf\n# \n' });
  assertRows(one, 'SELECT inode, size, exporter, name FROM dmabuf_observation', ['inode,size,exporter,name', '16,4096,udmabuf,cam 0']);
  assert.deepEqual(diagnostics(one), []);
});

test('BPF iterator: an empty exporter line is a diagnostic, the buffer is kept', async () => {
  const text = '1001\n8294400\nCAMERA\nsystem\n1002\n4096\n\n\n1003\n1048576\n\nmali\n';
  const session = await openTexts({ 'iter.txt': text });
  assertRows(session, 'SELECT inode, size, exporter FROM dmabuf_observation ORDER BY line', ['inode,size,exporter', '1001,8294400,system', '1002,4096,', '1003,1048576,mali']);
  assert.deepEqual(diagnostics(session).map((d) => `${d.code} ${d.line}`), ['empty_exporter 8']);
});

test('BPF iterator: a last record cut short is kept with what is whole and flagged', async () => {
  const s = smallScenario();
  const full = renderBpfIter(s);
  // Cut inside the size line of the last buffer: inode whole, size not.
  const cut = full.slice(0, full.lastIndexOf('12288') + 3);
  const session = await openTexts({ 'iter.txt': cut });
  const rows = session.query('SELECT inode, size, exporter FROM dmabuf_observation ORDER BY line');
  assert.equal(rows.length, s.buffers.length);
  assert.deepEqual(rows[rows.length - 1], { inode: 1006, size: null, exporter: null });
  // Four lines a record: the last record starts on this line.
  const lastRecord = 4 * (s.buffers.length - 1) + 1;
  assert.deepEqual(diagnostics(session).map((d) => `${d.severity} ${d.code} ${d.line}`), [`warning truncated ${lastRecord}`]);
  // Cut inside the last inode: that record is dropped.
  const cut2 = full.slice(0, full.lastIndexOf('1006') + 2);
  const s2 = await openTexts({ 'iter.txt': cut2 });
  assert.equal(s2.query('SELECT count(*) AS n FROM dmabuf_observation')[0].n, s.buffers.length - 1);
  assert.deepEqual(diagnostics(s2).map((d) => `${d.severity} ${d.code} ${d.line}`), [`warning truncated ${lastRecord}`]);
});

test('BPF iterator cut at a record boundary: visible only against the -b total of the same snapshot', async () => {
  const s = smallScenario();
  const records = renderBpfIter(s).split('\n');
  const firstTwo = records.slice(0, 8).join('\n') + '\n';
  const session = await openFolder({ 'iter.txt': firstTwo, 'dmabuf_dump_b.txt': renderDmabufDumpB(s, 'a15') });
  // Nothing in the iterator's own text says it was cut…
  assert.deepEqual(diagnostics(session), []);
  // …but the consistency analysis, comparing it with the -b output of the same snapshot, does.
  const kept = s.buffers.slice(0, 2);
  const keptBytes = kept.reduce((a, b) => a + b.size, 0);
  const allBytes = s.buffers.reduce((a, b) => a + b.size, 0);
  assertRows(
    session,
    "SELECT check_name, subject, reported, computed, status FROM dmabuf_consistency WHERE status != 'ok' ORDER BY check_name, subject",
    csvLines(
      ['check_name', 'subject', 'reported', 'computed', 'status'],
      [
        ['source_bytes', 'bpf_dmabuf_iter', keptBytes, allBytes, 'mismatch'],
        ['source_missing', 'bpf_dmabuf_iter', 0, s.buffers.length - kept.length, 'mismatch'],
        ['truncated_capture', 'bpf_dmabuf_iter', s.buffers.length, kept.length, 'truncated'],
      ],
    ),
  );
});
