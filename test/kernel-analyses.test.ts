// The kernel captures through the analyses and the merge: `dmabuf_devices` from bufinfo and
// sysfs attachments, `mapped_only` leak suspects from fdinfo + maps, `truncated_capture`
// from a BPF iterator cut at a page, and merges of deliberately conflicting sources.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openTexts, openFolder, assertRows, csvLines } from './helpers.js';
import { smallScenario, commOf, type Scenario } from './fixtures/scenario.js';
import * as k from './fixtures/kernel.js';
import { renderDmabufDumpB } from './fixtures/dmabuf-dump.js';

function devicesExpected(s: Scenario): string[] {
  const byDev = new Map<string, { n: number; bytes: number; exporters: string[] }>();
  for (const b of s.buffers) {
    for (const d of b.attachments ?? []) {
      const e = byDev.get(d) ?? { n: 0, bytes: 0, exporters: [] };
      e.n++;
      e.bytes += b.size;
      if (!e.exporters.includes(b.exporter)) e.exporters.push(b.exporter);
      byDev.set(d, e);
    }
  }
  const rows = [...byDev.entries()].sort((a, b) => b[1].bytes - a[1].bytes || (a[0] < b[0] ? -1 : 1));
  return csvLines(['device', 'buffers', 'bytes', 'exporters'], rows.map(([d, e]) => [d, e.n, e.bytes, e.exporters.join(',')]));
}

for (const v of ['6x', 'pre5.3'] as k.BufinfoVariant[]) {
  test(`dmabuf_devices from bufinfo ${v}`, async () => {
    const s = smallScenario();
    s.buffers[3].attachments = ['1e00000.gpu'];
    const session = await openTexts({ 'bufinfo.txt': k.renderBufinfo(s, v) });
    assertRows(session, 'SELECT device, buffers, bytes, exporters FROM dmabuf_devices', devicesExpected(s));
  });
}

test('dmabuf_devices from the early sysfs layout', async () => {
  const s = smallScenario();
  const session = await openTexts({ 'sysfs.txt': k.renderSysfsGrep(s, 'early') });
  assertRows(session, 'SELECT device, buffers, bytes, exporters FROM dmabuf_devices', devicesExpected(s));
});

test('mapped_only: fdinfo + maps of a pulled /proc tree find the buffer held only by a mapping', async () => {
  const s = smallScenario();
  const session = await openFolder({ ...k.renderProcFiles(s), ...k.renderSysfsFiles(s) });
  const mappedOnly = k.holdsOf(s).filter((h) => h.fds === 0 && h.maps > 0);
  assert.ok(mappedOnly.length > 0);
  const rows = session.query("SELECT subject, bytes FROM dmabuf_leak_suspects WHERE kind = 'mapped_only' ORDER BY subject");
  assert.deepEqual(
    rows,
    mappedOnly.map((h) => ({ subject: `? (${h.pid})`, bytes: s.buffers.find((b) => b.inode === h.inode)!.size })),
  );
});

test('mapped_only from dmabuf_dump -a (fd and map refs per cell), with comm names', async () => {
  const s = smallScenario();
  const session = await openTexts({ 'a.txt': k.renderDmabufDumpA(s, 'a15') });
  const mappedOnly = k.holdsOf(s).filter((h) => h.fds === 0 && h.maps > 0);
  const rows = session.query("SELECT subject FROM dmabuf_leak_suspects WHERE kind = 'mapped_only'");
  assert.deepEqual(
    rows.map((r) => r.subject),
    mappedOnly.map((h) => `${commOf(s.processes.find((p) => p.pid === h.pid)!.name)} (${h.pid})`),
  );
});

test('truncated_capture: a BPF iterator cut after two buffers beside bufinfo and the dmabuf_dump -b total', async () => {
  const s = smallScenario();
  const bpf = k.renderBpfIter(s).split('\n').slice(0, 8).join('\n') + '\n';
  const session = await openFolder({ 'iter.txt': bpf, 'bufinfo.txt': k.renderBufinfo(s, '6x'), 'b.txt': renderDmabufDumpB(s, 'a15') });
  const rows = session.query("SELECT subject, status FROM dmabuf_consistency WHERE check_name = 'truncated_capture'");
  assert.ok(rows.length > 0);
  assert.ok(rows.every((r) => r.subject === 'bpf_dmabuf_iter' && r.status === 'truncated'));
  // The complete listings agree with their own totals.
  const own = session.query("SELECT subject, status FROM dmabuf_consistency WHERE check_name IN ('total_bytes', 'buffer_count') AND subject = 'bufinfo'");
  assert.deepEqual(own.map((r) => r.status), ['ok', 'ok']);
});

test('merge: conflicting sources keep the most exact value and record merge_conflict', async () => {
  const s = smallScenario();
  // sysfs says 1003 is exported by `system` and 4096 bytes bigger; bufinfo has the truth.
  const sysfs = k.renderSysfsGrep(s, 'current').replace('/1003/exporter_name:mali', '/1003/exporter_name:system').replace('/1003/size:1048576', '/1003/size:1052672');
  // dmabuf_dump -a (kB) says 1001 is 8104 kB; bufinfo says 8294400 bytes (8100 kB).
  const table = k.renderDmabufDumpA(s, 'a15').replace(/(\s1001 \|\s+)8100 kB/, '$18104 kB');
  const session = await openFolder({ 'bufinfo.txt': k.renderBufinfo(s, '6x'), 'sysfs.txt': sysfs, 'a.txt': table });
  assertRows(session, 'SELECT inode, size, exporter FROM dmabuf WHERE inode IN (1001, 1003) ORDER BY inode', [
    'inode,size,exporter',
    '1001,8294400,system',
    '1003,1048576,mali',
  ]);
  const conflicts = session.query("SELECT message FROM diagnostic WHERE code = 'merge_conflict' ORDER BY message").map((r) => String(r.message));
  assert.equal(conflicts.filter((m) => m.startsWith('buffer 1001: sources disagree on size')).length, 1);
  assert.equal(conflicts.filter((m) => m.startsWith('buffer 1003: sources disagree on size')).length, 1);
  assert.equal(conflicts.filter((m) => m.startsWith('buffer 1003: sources disagree on exporter')).length, 1);
  assert.equal(conflicts.length, 3);
  // Which sources saw each buffer is queryable.
  assertRows(session, 'SELECT seen_by FROM dmabuf WHERE inode = 1005', ['seen_by', '"bufinfo,sysfs_dmabuf"']);
});

test('merge: names from fdinfo and bufinfo agree; a different name is a conflict', async () => {
  const s = smallScenario();
  const fd = k.renderFdinfo(s, 'head').replace('name:\tCAMERA', 'name:\tCAMERA-preview');
  const session = await openFolder({ 'bufinfo.txt': k.renderBufinfo(s, '5.10'), 'fdinfo.txt': fd });
  const conflicts = session.query("SELECT message FROM diagnostic WHERE code = 'merge_conflict'").map((r) => String(r.message));
  assert.equal(conflicts.length, 1);
  assert.match(conflicts[0], /^buffer 1001: sources disagree on name/);
  assertRows(session, 'SELECT count(*) AS n FROM dmabuf', ['n', String(s.buffers.length)]);
});
