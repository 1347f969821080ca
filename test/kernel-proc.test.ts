// /proc captures (formats.md §3a, §3b): fdinfo in its capture shapes, fd link listings and
// maps, golden tables from the scenario through the real `open()`, tolerance, a pulled
// /proc + /sys tree opened as a folder, and several captures saved in one text.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openTexts, openFolder, assertRows, csv, csvLines, diagnostics, OBS_BY_INODE, HOLDERS } from './helpers.js';
import { smallScenario, type Scenario } from './fixtures/scenario.js';
import {
  renderFdinfo,
  renderFdinfoFile,
  renderFdLinks,
  renderMaps,
  renderMapsOf,
  renderProcFiles,
  renderSysfsFiles,
  renderSysfsGrep,
  renderBufinfo,
  renderDmabufDumpA,
  fdTable,
  fileCountOf,
  holdsOf,
  expandTabs,
  type FdinfoStyle,
} from './fixtures/kernel.js';


function fdObs(s: Scenario): string[] {
  const inodes = [...new Set(fdTable(s).map((e) => e.inode))].sort((a, b) => a - b);
  return csvLines(
    ['inode', 'size', 'size_exact', 'exporter', 'name', 'file_count', 'global_list'],
    inodes.map((i) => {
      const b = s.buffers.find((x) => x.inode === i)!;
      return [i, b.size, 1, b.exporter, b.name ?? null, fileCountOf(s, i), 0];
    }),
  );
}

function fdHolders(s: Scenario): string[] {
  return csvLines(['pid', 'inode', 'fd_refs', 'map_refs'], holdsOf(s).filter((h) => h.fds > 0).map((h) => [h.pid, h.inode, h.fds, null]));
}

function fdRows(s: Scenario, withInode: boolean): string[] {
  return csvLines(
    ['pid', 'fd', 'inode', 'name'],
    fdTable(s).map((e) => [e.pid, e.fd, withInode ? e.inode : null, s.buffers.find((b) => b.inode === e.inode)!.name ?? null]),
  );
}

const STYLES: FdinfoStyle[] = ['head', 'path-colon', 'loop', 'dashes', 'equals', 'hash'];

for (const style of STYLES) {
  test(`fdinfo ${style}: golden tables from the scenario`, async () => {
    const s = smallScenario();
    const session = await openTexts({ 'capture.txt': renderFdinfo(s, style) });
    assert.deepEqual(csv(session, 'SELECT importer FROM source'), ['importer', 'fdinfo']);
    assertRows(session, OBS_BY_INODE, fdObs(s));
    assertRows(session, HOLDERS, fdHolders(s));
    assertRows(session, 'SELECT pid, fd, inode, name FROM dmabuf_fd ORDER BY rowid', fdRows(s, true));
    assert.deepEqual(diagnostics(session), []);
    // Merged holders: the same counts.
    assertRows(session, 'SELECT pid, inode, fd_refs, map_refs FROM dmabuf_holder ORDER BY inode, pid', fdHolders(s));
  });

  test(`fdinfo ${style}: CRLF and spaces for tabs read the same`, async () => {
    const s = smallScenario();
    const session = await openTexts({ 'capture.txt': expandTabs(renderFdinfo(s, style)).replace(/\n/g, '\r\n') });
    assertRows(session, OBS_BY_INODE, fdObs(s));
    assertRows(session, HOLDERS, fdHolders(s));
  });
}

test('fdinfo: grep -r . /proc/<pid>/fdinfo output (path prefix on every line)', async () => {
  const s = smallScenario();
  let text = '';
  for (const e of fdTable(s)) {
    for (const l of renderFdinfoFile(s, e.inode).trimEnd().split('\n')) text += `/proc/${e.pid}/fdinfo/${e.fd}:${l}\n`;
  }
  const session = await openTexts({ 'grep.txt': text });
  assertRows(session, OBS_BY_INODE, fdObs(s));
  assertRows(session, HOLDERS, fdHolders(s));
});

test('fdinfo: one pulled file takes pid and fd from its path; with no path, no holder', async () => {
  const s = smallScenario();
  const session = await openTexts({ '/tmp/pull/proc/1234/fdinfo/12': renderFdinfoFile(s, 1004) });
  assertRows(session, HOLDERS, ['pid,inode,fd_refs,map_refs', '1234,1004,1,']);
  assertRows(session, 'SELECT pid, fd, inode FROM dmabuf_fd', ['pid,fd,inode', '1234,12,1004']);
  const anon = await openTexts({ 'fdinfo.txt': renderFdinfoFile(s, 1004) });
  assertRows(anon, 'SELECT inode, size FROM dmabuf_observation', ['inode,size', '1004,65536']);
  assertRows(anon, HOLDERS, ['pid,inode,fd_refs,map_refs']);
  assert.deepEqual(diagnostics(anon).map((d) => d.code), ['no_pid']);
});

test('fdinfo: entries without ino (old kernels) are skipped with a warning; non-DMA-BUF fds silently', async () => {
  const text = '==> /proc/5/fdinfo/7 <==\npos:\t0\nflags:\t02\nmnt_id:\t9\nsize:\t4096\ncount:\t1\nexp_name:\tion\n\n==> /proc/5/fdinfo/8 <==\npos:\t0\nflags:\t02\nmnt_id:\t9\nino:\t55\n';
  const session = await openTexts({ 'x.txt': text });
  assert.equal(session.query('SELECT count(*) AS n FROM dmabuf_observation')[0].n, 0);
  assert.deepEqual(diagnostics(session).map((d) => d.code), ['no_inode']);
});

test('fd links: ls -l /proc/*/fd → dmabuf_fd rows without inode, no holders, one info', async () => {
  const s = smallScenario();
  const session = await openTexts({ 'links.txt': renderFdLinks(s) });
  assert.deepEqual(csv(session, 'SELECT importer FROM source'), ['importer', 'fd_links']);
  assertRows(session, 'SELECT pid, fd, inode, name FROM dmabuf_fd ORDER BY rowid', fdRows(s, false));
  assertRows(session, HOLDERS, ['pid,inode,fd_refs,map_refs']);
  const d = diagnostics(session);
  assert.deepEqual(d.map((x) => `${x.severity} ${x.code}`), ['info fd_links_without_inode']);
  assert.match(d[0].message, new RegExp(`^${fdTable(s).length} DMA-BUF fd links of ${new Set(fdTable(s).map((e) => e.pid)).size} processes`));
});

test('fd links: -i inode column, full paths, GNU date and anon_inode:dmabuf', async () => {
  const text = [
    '  48213 lrwx------ 1 root root 64 Nov  2 14:03 /proc/77/fd/5 -> /dmabuf:',
    '  48214 lrwx------ 1 root root 64 Nov  2 14:03 /proc/77/fd/6 -> /dmabuf:qcom,system',
    '  48215 lrwx------ 1 root root 64 Nov  2 14:03 /proc/77/fd/7 -> anon_inode:dmabuf',
    '  48216 lrwx------ 1 root root 64 Nov  2 14:03 /proc/77/fd/8 -> socket:[1234]',
  ].join('\n');
  const session = await openTexts({ 'l.txt': text });
  assertRows(session, 'SELECT pid, fd, inode, name FROM dmabuf_fd ORDER BY fd', ['pid,fd,inode,name', '77,5,,', '77,6,,"qcom,system"', '77,7,,']);
});

test('maps: golden tables from the scenario (head-style headers)', async () => {
  const s = smallScenario();
  const session = await openTexts({ 'maps.txt': renderMaps(s) });
  assert.deepEqual(csv(session, 'SELECT importer FROM source'), ['importer', 'maps']);
  const mapped = holdsOf(s).filter((h) => h.maps > 0);
  const inodes = [...new Set(mapped.map((h) => h.inode))].sort((a, b) => a - b);
  assertRows(
    session,
    OBS_BY_INODE,
    csvLines(
      ['inode', 'size', 'size_exact', 'exporter', 'name', 'file_count', 'global_list'],
      inodes.map((i) => [i, null, 1, null, s.buffers.find((b) => b.inode === i)!.name ?? null, null, 0]),
    ),
  );
  assertRows(session, HOLDERS, csvLines(['pid', 'inode', 'fd_refs', 'map_refs'], mapped.map((h) => [h.pid, h.inode, null, h.maps])));
  assertRows(
    session,
    'SELECT pid, inode, vma_bytes, page_offset, perms FROM dmabuf_mapping ORDER BY inode, pid',
    csvLines(
      ['pid', 'inode', 'vma_bytes', 'page_offset', 'perms'],
      mapped.flatMap((h) => Array.from({ length: h.maps }, () => [h.pid, h.inode, Math.ceil(s.buffers.find((b) => b.inode === h.inode)!.size / 4096) * 4096, 0, 'rw-s'])),
    ),
  );
  assert.deepEqual(diagnostics(session), []);
});

test('maps: grep /dmabuf /proc/*/maps prefixes, a pulled file, anon_inode:dmabuf', async () => {
  const s = smallScenario();
  const grep = renderMapsOf(s, 2345)
    .split('\n')
    .filter((l) => l.includes('/dmabuf:'))
    .map((l) => `/proc/2345/maps:${l}`)
    .join('\n');
  const mappedBy = (pid: number) =>
    csvLines(['pid', 'inode', 'fd_refs', 'map_refs'], holdsOf(s).filter((h) => h.pid === pid && h.maps > 0).map((h) => [pid, h.inode, null, h.maps]));
  let session = await openTexts({ 'g.txt': grep + '\n' });
  assertRows(session, HOLDERS, mappedBy(2345));
  assert.equal(mappedBy(2345).length, 2);
  session = await openTexts({ 'pulled/proc/987/maps': renderMapsOf(s, 987) });
  assertRows(session, HOLDERS, mappedBy(987));
  const old = '7f0a000000-7f0a100000 rw-s 00000000 00:0a 7261   anon_inode:dmabuf\n7f0b000000-7f0b100000 rw-s 00000000 00:0a 7261   anon_inode:dmabuf\n';
  session = await openTexts({ 'proc/44/maps': old });
  assert.equal(session.query('SELECT count(*) AS n FROM dmabuf_holder_observation')[0].n, 0);
  const d = diagnostics(session);
  assert.deepEqual(d.map((x) => `${x.severity} ${x.code}`), ['info anon_inode_dmabuf']);
  assert.match(d[0].message, /^2 anon_inode:dmabuf mappings/);
});

test('a capture not run as root: `Permission denied` lines are one entry_unreadable warning; the rest is read', async () => {
  const s = smallScenario();
  const links = `ls: /proc/1/fd: Permission denied\nls: cannot open directory '/proc/2/fd': Permission denied\n${renderFdLinks(s)}`;
  let session = await openTexts({ 'links.txt': links });
  assertRows(session, 'SELECT pid, fd, inode, name FROM dmabuf_fd ORDER BY rowid', fdRows(s, false));
  let d = diagnostics(session).filter((x) => x.code === 'entry_unreadable');
  assert.deepEqual(d.map((x) => `${x.severity} ${x.line}`), ['warning 1']);
  assert.match(d[0].message, /^2 files could not be read .*first \/proc\/1\/fd/);

  const fdinfo = `${renderFdinfo(s, 'loop')}/proc/1/fdinfo/3\ncat: /proc/1/fdinfo/3: Permission denied\n`;
  session = await openTexts({ 'fdinfo.txt': fdinfo });
  assertRows(session, OBS_BY_INODE, fdObs(s));
  assertRows(session, HOLDERS, fdHolders(s));
  assert.deepEqual(diagnostics(session).map((x) => `${x.code} ${x.message.slice(0, 6)}`), ['entry_unreadable 1 file']);

  // Prompts and errors around a small maps capture: still recognized as maps.
  const maps = `console:/ # head -n 500 /proc/987/maps /proc/1/maps\n==> /proc/987/maps <==\n${renderMapsOf(s, 987)}head: /proc/1/maps: Permission denied\nconsole:/ # \n`;
  session = await openTexts({ 'maps.txt': maps });
  assert.deepEqual(csv(session, 'SELECT importer FROM source'), ['importer', 'maps']);
  assertRows(
    session,
    HOLDERS,
    csvLines(['pid', 'inode', 'fd_refs', 'map_refs'], holdsOf(s).filter((h) => h.pid === 987 && h.maps > 0).map((h) => [987, h.inode, null, h.maps])),
  );
  assert.deepEqual(diagnostics(session).map((x) => x.code), ['entry_unreadable']);
});

test('fdinfo + maps of one capture: fd and mapping counts merge per holder', async () => {
  const s = smallScenario();
  // Two captures of the same moment are two snapshots; a folder makes them one.
  const folder = await openFolder({ 'fdinfo.txt': renderFdinfo(s, 'head'), 'maps.txt': renderMaps(s) });
  assertRows(
    folder,
    'SELECT pid, inode, fd_refs, map_refs, seen_by FROM dmabuf_holder ORDER BY inode, pid',
    csvLines(
      ['pid', 'inode', 'fd_refs', 'map_refs', 'seen_by'],
      holdsOf(s).map((h) => [h.pid, h.inode, h.fds || null, h.maps || null, [h.fds ? 'fdinfo' : '', h.maps ? 'maps' : ''].filter(Boolean).join(',')]),
    ),
  );
});

test('folder input: a pulled /proc and /sys tree', async () => {
  const s = smallScenario();
  const session = await openFolder({ ...renderProcFiles(s), ...renderSysfsFiles(s, 'current') });
  // Every file was read by the importer of its kind.
  const byImporter = session.query('SELECT importer, count(*) AS n FROM source WHERE parent_id IS NOT NULL GROUP BY importer ORDER BY importer');
  const fdFiles = fdTable(s).length + s.processes.length; // + one eventfd per process
  assert.deepEqual(byImporter, [
    { importer: 'fdinfo', n: fdFiles },
    { importer: 'maps', n: s.processes.length },
    { importer: 'sysfs_dmabuf', n: 2 * s.buffers.length },
  ]);
  // One buffer per inode, sizes and exporters from sysfs, names from fdinfo/maps.
  assertRows(
    session,
    'SELECT inode, size, size_exact, exporter, name, in_global_list FROM dmabuf ORDER BY inode',
    csvLines(
      ['inode', 'size', 'size_exact', 'exporter', 'name', 'in_global_list'],
      s.buffers.map((b) => {
        const named = holdsOf(s).some((h) => h.inode === b.inode && (h.fds > 0 || h.maps > 0));
        return [b.inode, b.size, 1, b.exporter, named ? (b.name ?? null) : null, 1];
      }),
    ),
  );
  // fds counted across one-file-per-fd sources (1234 holds 1004 twice).
  assertRows(
    session,
    'SELECT pid, inode, fd_refs, map_refs FROM dmabuf_holder ORDER BY inode, pid',
    csvLines(['pid', 'inode', 'fd_refs', 'map_refs'], holdsOf(s).map((h) => [h.pid, h.inode, h.fds || null, h.maps || null])),
  );
  assert.deepEqual(diagnostics(session).filter((d) => d.severity !== 'info'), []);
});

/** Every row the kernel importers write, each tagged with the importer of its source, in importer then row order. */
const TAGGED = [
  'SELECT s.importer, o.inode, o.size, o.exporter, o.name, o.file_count, o.global_list FROM dmabuf_observation o JOIN source s ON s.id = o.source_id ORDER BY s.importer, o.rowid',
  'SELECT s.importer, h.pid, h.inode, h.fd_refs, h.map_refs FROM dmabuf_holder_observation h JOIN source s ON s.id = h.source_id ORDER BY s.importer, h.rowid',
  'SELECT s.importer, f.pid, f.fd, f.inode, f.name FROM dmabuf_fd f JOIN source s ON s.id = f.source_id ORDER BY s.importer, f.rowid',
  'SELECT s.importer, a.inode, a.device FROM dmabuf_attachment a JOIN source s ON s.id = a.source_id ORDER BY s.importer, a.rowid',
  'SELECT s.importer, t.origin, t.pid, t.total_bytes FROM dmabuf_reported_total t JOIN source s ON s.id = t.source_id ORDER BY s.importer, t.rowid',
  'SELECT s.importer, d.severity, d.code, d.line FROM diagnostic d JOIN source s ON s.id = d.source_id ORDER BY s.importer, d.rowid',
];

/** A capture script's parts: the command it ran, what it printed, the importer that reads it. */
function scriptParts(s: Scenario): [string, string, string][] {
  return [
    ['cat /sys/kernel/debug/dma_buf/bufinfo', renderBufinfo(s, '6x'), 'bufinfo'],
    ['ls -l /proc/*/fd', renderFdLinks(s), 'fd_links'],
    ['for f in /proc/*/fdinfo/*; do echo $f; cat $f; done', renderFdinfo(s, 'loop'), 'fdinfo'],
    ['head -n 9999 /proc/*/maps', renderMaps(s), 'maps'],
    ['grep -r . /sys/kernel/dmabuf/buffers', renderSysfsGrep(s, 'early'), 'sysfs_dmabuf'],
    ['dmabuf_dump -a', renderDmabufDumpA(s, 'a15'), 'dmabuf_dump_a'],
  ];
}

/** The TAGGED rows of the parts each read alone, one list per query, in importer order as TAGGED sorts them. */
async function aloneRows(parts: [string, string, string][]): Promise<string[][]> {
  const byImporter = [...parts].sort((a, b) => (a[2] < b[2] ? -1 : a[2] > b[2] ? 1 : 0));
  const perPart: string[][][] = [];
  for (const [, text] of byImporter) {
    const session = await openTexts({ 'part.txt': text });
    perPart.push(TAGGED.map((q) => csv(session, q)));
  }
  return TAGGED.map((_, q) => [perPart[0][q][0], ...perPart.flatMap((p) => p[q].slice(1))]);
}

test('several captures in one text (a capture script\'s log): each part is read by its own importer, as if alone', async () => {
  const s = smallScenario();
  const parts = scriptParts(s);
  const expected = await aloneRows(parts);
  const logs = [
    // With the prompts and commands a terminal shows, and a prompt at the end.
    parts.map(([cmd, t]) => `console:/ # ${cmd}\n${t}`).join('') + 'console:/ # \n',
    // Printed one after another, nothing in between, saved through a pty (CR LF).
    parts.map(([, t]) => t).join('').replace(/\n/g, '\r\n'),
  ];
  for (const log of logs) {
    const session = await openTexts({ 'log.txt': log });
    assertRows(session, 'SELECT importer, line_start IS NOT NULL AS lines FROM source ORDER BY id', [
      'importer,lines',
      'kernel_captures,0',
      ...parts.map(([, , importer]) => `${importer},1`),
    ]);
    TAGGED.forEach((q, i) => assert.deepEqual(csv(session, q), expected[i], q));
  }
});

test('capture loops with banners (`--- $f`, `=== $f ===`, `# $f`): maps, fd links and fdinfo read as with plain headers, alone or in one log', async () => {
  const s = smallScenario();
  const plain = scriptParts(s).filter(([, , importer]) => ['fd_links', 'fdinfo', 'maps'].includes(importer));
  const expected = await aloneRows(plain);
  const bannered: [string, string, string][] = [
    ['for d in /proc/*/fd; do echo "--- $d"; ls -l $d; done', renderFdLinks(s).replace(/^(\/proc\/\d+\/fd):$/gm, '--- $1'), 'fd_links'],
    ['for f in /proc/*/fdinfo/*; do echo "# $f:"; cat $f; done', renderFdinfo(s, 'hash'), 'fdinfo'],
    ['for f in /proc/*/maps; do echo "=== $f ==="; cat $f; done', renderMaps(s).replace(/^==> (.*) <==$/gm, '=== $1 ==='), 'maps'],
  ];
  assert.notDeepEqual(bannered.map(([, t]) => t), plain.map(([, t]) => t));
  assert.deepEqual(await aloneRows(bannered), expected);
  // With the commands typed at a prompt, and printed one after another with nothing in between.
  for (const log of [bannered.map(([cmd, t]) => `console:/ # ${cmd}\n${t}`).join(''), bannered.map(([, t]) => t).join('')]) {
    const session = await openTexts({ 'log.txt': log });
    assertRows(session, 'SELECT importer FROM source ORDER BY id', ['importer', 'kernel_captures', 'fd_links', 'fdinfo', 'maps']);
    TAGGED.forEach((q, i) => assert.deepEqual(csv(session, q), expected[i], q));
  }
});

test('several captures in one text: maps after an fdinfo capture longer than the sniffed head, saved through a pty and cut without a newline, are read as alone', async () => {
  const s = smallScenario();
  // The fdinfo files of many processes (pids 5000…), then the maps of the scenario's.
  let fdinfo = '';
  for (let k = 0; fdinfo.length <= 65536; k++) fdinfo += renderFdinfo(s, 'dashes').replace(/\/proc\/(\d+)\//g, (_, pid: string) => `/proc/${5000 + k * 100 + (Number(pid) % 100)}/`);
  const maps = renderMaps(s);
  const parts: [string, string, string][] = [
    ['', fdinfo, 'fdinfo'],
    ['', maps.slice(0, -1), 'maps'],
  ];
  const expected = await aloneRows(parts);
  const log = (fdinfo + maps.slice(0, -1)).replace(/\n/g, '\r\n');
  const session = await openTexts({ 'log.txt': log });
  const fdinfoLines = fdinfo.split('\n').length - 1;
  const mapsLines = maps.split('\n').length - 1;
  assertRows(session, 'SELECT importer, line_start, line_end, bytes FROM source ORDER BY id', [
    'importer,line_start,line_end,bytes',
    `kernel_captures,,,${log.length}`,
    `fdinfo,1,${fdinfoLines},${fdinfo.length}`,
    `maps,${fdinfoLines + 1},${fdinfoLines + mapsLines},${maps.length - 1}`,
  ]);
  TAGGED.forEach((q, i) => assert.deepEqual(csv(session, q), expected[i], q));
});

test('several captures in one text: a bufinfo listing longer than the sniffed head does not hide what follows', async () => {
  const s = smallScenario();
  for (let k = 0; k < 700; k++) s.buffers.push({ inode: 5000 + k, size: 4096, exporter: 'system', attachments: ['1e00000.gpu'] });
  const bufinfo = renderBufinfo(s, '5.10');
  assert.ok(bufinfo.length > 65536);
  const fdinfo = renderFdinfo(s, 'head');
  const session = await openTexts({ 'log.txt': bufinfo + fdinfo });
  assert.deepEqual(csv(session, 'SELECT importer FROM source ORDER BY id'), ['importer', 'kernel_captures', 'bufinfo', 'fdinfo']);
  assertRows(session, 'SELECT pid, inode, fd_refs, map_refs FROM dmabuf_holder_observation ORDER BY inode, pid', fdHolders(s));
  assert.equal(session.query("SELECT count(*) AS n FROM dmabuf WHERE seen_by LIKE '%bufinfo%'")[0].n, s.buffers.length);
  assert.deepEqual(diagnostics(session), []);
});
