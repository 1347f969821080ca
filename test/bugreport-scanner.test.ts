import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openTexts, diagnostics, importChunked } from './helpers.js';

const HEADER = [
  '========================================================',
  '== dumpstate: 2026-11-02 14:03:27',
  '========================================================',
  '',
  'Build: UQ1A.240205.004',
  "Build fingerprint: 'google/oriole/oriole:14/UQ1A.240205.004/11269751:user/release-keys'",
  'Bootloader: slider-1.2-9152140',
  'Radio: g5123b-116954-230511-B-10112789',
  'Network: (unknown)',
  'Android SDK version: 34',
  'Kernel: Linux version 5.10.198-android13-4-00050-g12f3388846c3-ab11135868 (build-user@build-host) (Android (8508608) clang) #1 SMP PREEMPT Mon Dec 4 2023',
  'Command line: console=ttynull',
  'Uptime: up 0 weeks, 0 days, 2 hours, 5 minutes',
  'Bugreport format version: 2.0',
  'Dumpstate info: id=1 pid=4242 dry_run=0 parallel_run=1 args=bugreportd extra_options=',
  '',
].join('\n');

test('the dumpstate header fills the snapshot', async () => {
  const s = await openTexts({ 'x.txt': HEADER + '------ UPTIME (uptime) ------\n up 2:05\n------ 0.002s was the duration of \'UPTIME\' ------\n' });
  const snap = s.query('SELECT kind, captured_at, build_fingerprint, build_id, kernel_release, android_sdk FROM snapshot')[0];
  assert.deepEqual(snap, {
    kind: 'bugreport',
    captured_at: '2026-11-02T14:03:27',
    build_fingerprint: 'google/oriole/oriole:14/UQ1A.240205.004/11269751:user/release-keys',
    build_id: 'UQ1A.240205.004',
    kernel_release: '5.10.198-android13-4-00050-g12f3388846c3-ab11135868',
    android_sdk: 34,
  });
  s.close();
});

test('a failed section becomes a diagnostic, not a crash', async () => {
  const text = HEADER + "------ Dmabuf dump (dmabuf_dump) ------\n*** command 'dmabuf_dump' failed: exit code 1\n ------ 0.010s was the duration of 'Dmabuf dump' ------\n";
  const s = await openTexts({ 'x.txt': text });
  const d = diagnostics(s).filter((x) => x.code === 'section_failed');
  assert.equal(d.length, 1);
  assert.match(d[0].message, /dmabuf_dump' failed: exit code 1/);
  s.close();
});

test('a text that is nothing known is refused with one line', async () => {
  await assert.rejects(openTexts({ 'x.txt': 'hello world\n' }), (e: Error) => e.name === 'InputError' && !e.message.includes('\n'));
});

test('a capture saved as UTF-16 with a byte order mark reads like the UTF-8 one', async () => {
  const text = HEADER + "------ Dmabuf dump (dmabuf_dump) ------\n*** command 'dmabuf_dump' failed: exit code 1\n";
  const utf16 = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(text, 'utf16le')]);
  const s = await openTexts({ 'x.txt': utf16 });
  assert.equal(s.query('SELECT android_sdk FROM snapshot')[0].android_sdk, 34);
  assert.equal(diagnostics(s).filter((d) => d.code === 'section_failed').length, 1);
  s.close();
});

test('each parsed section is a source with the line range it came from, whatever the chunking', async () => {
  const body = ['a', 'b', 'c'].join('\n');
  const text = HEADER + `------ Dmabuf dump (dmabuf_dump) ------\n${body}\n ------ 0.010s was the duration of 'Dmabuf dump' ------\n------ DUMPSYS (/system/bin/dumpsys) ------\n` +
    '-'.repeat(79) + '\nDUMP OF SERVICE meminfo:\nTotal RAM: 1,000K\n--------- 0.012s was the duration of dumpsys meminfo, ending at: 2026-11-02 14:03:30\n';
  const headerLines = HEADER.split('\n').length - 1;
  const expected = [
    // a, b, c: the indented end line that follows them ends the section.
    { path: 'x.txt#Dmabuf dump', importer: 'dmabuf_dump', line_start: headerLines + 2, line_end: headerLines + 4 },
    { path: 'x.txt#DUMPSYS/meminfo', importer: 'meminfo', line_start: headerLines + 9, line_end: headerLines + 10 },
  ];
  const s = await openTexts({ 'x.txt': text });
  assert.deepEqual(s.query('SELECT path, importer, line_start, line_end FROM source WHERE parent_id IS NOT NULL ORDER BY id'), expected);
  s.close();
  // The same text fed in 7-byte chunks gives the same sources.
  const { bugreport } = await import('../src/importers/bugreport.js');
  const db = await importChunked(bugreport, new TextEncoder().encode(text), 7, 'x.txt');
  assert.deepEqual(db.query('SELECT path, importer, line_start, line_end FROM source WHERE parent_id IS NOT NULL ORDER BY id'), expected);
  db.close();
});

test('a bugreport with CRLF line ends gives the same tables as with LF', async () => {
  const { renderBugreportText } = await import('./fixtures/bugreport.js');
  const { smallScenario } = await import('./fixtures/scenario.js');
  const sql = [
    'SELECT inode, size, exporter, name, seen_by FROM dmabuf ORDER BY inode',
    'SELECT inode, pid, reported_pss FROM dmabuf_holder ORDER BY inode, pid',
    'SELECT origin, pid, exporter, total_bytes, buffer_count FROM dmabuf_reported_total ORDER BY rowid',
    'SELECT * FROM meminfo_dmabuf',
    'SELECT captured_at, build_fingerprint, android_sdk, kernel_release FROM snapshot',
    'SELECT severity, code FROM diagnostic ORDER BY id',
  ];
  const lf = await openTexts({ 'r.txt': renderBugreportText(smallScenario(34)) });
  const crlf = await openTexts({ 'r.txt': renderBugreportText(smallScenario(34), { crlf: true }) });
  assert.equal(lf.query('SELECT count(*) AS n FROM dmabuf')[0].n, 6);
  for (const q of sql) assert.deepEqual(crlf.query(q), lf.query(q), q);
  lf.close();
  crlf.close();
});

test('a .txt.gz cut short keeps what came before the cut and says so; a corrupt one is refused', async () => {
  const zlib = await import('node:zlib');
  const text = HEADER + "------ UPTIME (uptime) ------\n up 2:05\n------ 0.002s was the duration of 'UPTIME' ------\n";
  const gz = zlib.gzipSync(Buffer.from(text));
  const s = await openTexts({ 'r.txt.gz': gz.subarray(0, gz.length - 6) });
  assert.equal(s.query('SELECT android_sdk FROM snapshot')[0].android_sdk, 34);
  assert.deepEqual(diagnostics(s).map((d) => d.code), ['truncated']);
  s.close();
  const bad = Buffer.from(gz);
  bad.fill(0x55, 20, 60);
  await assert.rejects(openTexts({ 'r.txt.gz': bad }), (e: Error) => e.name === 'InputError');
});

test('a section printed twice: each is read, and the second says it repeats', async () => {
  const { renderDmabufDump } = await import('./fixtures/dmabuf-dump.js');
  const { smallScenario } = await import('./fixtures/scenario.js');
  const section = `------ Dmabuf dump (dmabuf_dump) ------\n${renderDmabufDump(smallScenario(), 'a14')}------ 0.098s was the duration of 'Dmabuf dump' ------\n`;
  const s = await openTexts({ 'x.txt': HEADER + section + "------ UPTIME (uptime) ------\n up 2:05\n------ 0.002s was the duration of 'UPTIME' ------\n" + section });
  assert.deepEqual(
    s.query("SELECT s.path, count(o.rowid) AS rows FROM source s JOIN dmabuf_holder_observation o ON o.source_id = s.id GROUP BY s.id ORDER BY s.id"),
    [
      { path: 'x.txt#Dmabuf dump', rows: 7 },
      { path: 'x.txt#Dmabuf dump', rows: 7 },
    ],
  );
  assert.deepEqual(
    diagnostics(s).map((d) => `${d.severity} ${d.code} ${d.message}`),
    ["info repeated_block section 'Dmabuf dump' appears again in this text (an earlier one was read too): each is read"],
  );
  assert.deepEqual(s.query('SELECT source_id FROM diagnostic'), s.query("SELECT max(id) AS source_id FROM source WHERE path = 'x.txt#Dmabuf dump'"));
  s.close();
});
