// Robustness of the bugreport scanner and the input layer: vendor sections routed by content,
// unreadable entries of a zip or folder recorded and skipped, no file descriptor left open,
// texts cut mid-line, dumpstate's end line glued to output or indented, failure lines after
// blank lines or glued to a command's cut output, long lines split over many chunks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { gzipSync } from 'node:zlib';
import { open, InputError, type Session } from '../src/index.js';
import { Db } from '../src/db/database.js';
import { SourceContext } from '../src/importers/context.js';
import { bugreport } from '../src/importers/bugreport.js';
import { makeEnv } from '../src/input/load.js';
import { openTexts, importChunked, diagnostics, tempDir, asSession, assertRows, csv, csvLines } from './helpers.js';
import { smallScenario } from './fixtures/scenario.js';
import { renderBufinfo, renderBpfIter } from './fixtures/kernel.js';
import { minimalBugreport } from './fixtures/bugreport.js';
import { renderDmabufDump } from './fixtures/dmabuf-dump.js';
import { zipSync, type ZipEntryOptions } from './fixtures/zip.js';

const MAIN = 'bugreport-oriole-UQ1A.240205.004-2026-11-02-14-03-27.txt';
const BUFINFO = renderBufinfo(smallScenario(), '6x');
const OBS = 'SELECT inode, size, exporter FROM dmabuf_observation ORDER BY line';
/** The observation rows the scenario's bufinfo gives (inode, size, exporter). */
const EXPECTED_OBS = csvLines(['inode', 'size', 'exporter'], smallScenario().buffers.map((b) => [b.inode, b.size, b.exporter]));

// ---- 1. routing -----------------------------------------------------------------------

test('a vendor `dmabuf info` section holding debugfs bufinfo is read by the bufinfo importer', async () => {
  const s = await openTexts({ 'r.txt': minimalBugreport([['dmabuf info', '/d/dma_buf/bufinfo', BUFINFO]]) });
  assert.deepEqual(csv(s, 'SELECT path, importer FROM source WHERE parent_id IS NOT NULL'), ['path,importer', 'r.txt#dmabuf info,bufinfo']);
  assert.deepEqual(csv(s, OBS), EXPECTED_OBS);
  assert.deepEqual(diagnostics(s), []);
  s.close();
});

test('the dmabuf_dump sections are still routed by their titles and commands', async () => {
  const s = await openTexts({
    'r.txt': minimalBugreport([
      ['Dmabuf dump', '/vendor/bin/dmabuf_dump', 'dmabuf info not found ¯\\_(ツ)_/¯\n'],
      ['Dmabuf per-buffer/per-exporter/per-device stats', 'dmabuf_dump -b', 'Unable to read DMA-BUF sysfs stats from device\n'],
    ]),
  });
  assert.deepEqual(csv(s, 'SELECT importer FROM source WHERE parent_id IS NOT NULL ORDER BY id'), ['importer', 'dmabuf_dump', 'dmabuf_dump_b']);
  s.close();
});

// ---- 2. unreadable entries ------------------------------------------------------------

/** Offset of the central directory header of entry `name` in a zip written by fixtures/zip.ts. */
function centralHeaderOf(zip: Buffer, name: string): number {
  for (let at = zip.length - 46; at >= 0; at--) {
    if (zip.readUInt32LE(at) !== 0x02014b50) continue;
    const len = zip.readUInt16LE(at + 28);
    if (zip.toString('utf8', at + 46, at + 46 + len) === name) return at;
  }
  throw new Error(`no central header for ${name}`);
}

/** A copy of `zip` whose entry `name` claims compression method `method` (e.g. 12, bzip2). */
function withMethod(zip: Uint8Array, name: string, method: number): Uint8Array {
  const b = Buffer.from(zip);
  b.writeUInt16LE(method, centralHeaderOf(b, name) + 10);
  return b;
}

/** A copy of `zip` whose entry `name` is flagged encrypted. */
function encrypted(zip: Uint8Array, name: string): Uint8Array {
  const b = Buffer.from(zip);
  const at = centralHeaderOf(b, name) + 8;
  b.writeUInt16LE(b.readUInt16LE(at) | 1, at);
  return b;
}

function zipWithBadEntries(): Uint8Array {
  const text = minimalBugreport([['UPTIME', 'uptime', ' up 2:05\n']]);
  let zip = zipSync([
    { name: MAIN, data: text },
    { name: 'FS/a/corrupt', data: BUFINFO, corruptAt: 0 },
    { name: 'FS/b/bzip2', data: BUFINFO },
    { name: 'FS/c/encrypted', data: BUFINFO },
    { name: 'FS/d/dma_buf/bufinfo', data: BUFINFO },
  ]);
  zip = withMethod(zip, 'FS/b/bzip2', 12);
  zip = encrypted(zip, 'FS/c/encrypted');
  return zip;
}

function assertBadEntriesRecorded(s: Session, zipName: string): void {
  // The good entry is read whole.
  assert.deepEqual(csv(s, OBS), EXPECTED_OBS);
  assert.equal(s.query('SELECT kind FROM snapshot')[0].kind, 'bugreport');
  const bad = diagnostics(s).filter((d) => d.code === 'entry_unreadable');
  assert.deepEqual(
    bad.map((d) => d.severity),
    ['error', 'error', 'error'],
  );
  for (const [entry, reason] of [
    ['FS/a/corrupt', /invalid block type/],
    ['FS/b/bzip2', /compression method 12/],
    ['FS/c/encrypted', /encrypted/],
  ] as const) {
    const d = bad.find((x) => x.message.startsWith(`${zipName}!/${entry}: `));
    assert.ok(d, `a diagnostic names ${entry}: ${JSON.stringify(bad)}`);
    assert.match(d.message, reason);
    assert.ok(!d.message.includes('\n'));
  }
}

test('a zip whose bugreport text has another name (a vendor `dumpState_*.log`, a renamed file) is a bugreport: the text is found by its content and read first', async () => {
  const text = minimalBugreport([['UPTIME', 'uptime', ' up 2:05\n']]);
  const board = "------ dmabuf info (/d/dma_buf/bufinfo) ------\n" + BUFINFO;
  for (const mainName of ['dumpState_G991BXXU5.log', 'report.txt']) {
    // Zip order puts a capture and dumpstate_board.txt (sections only, no dumpstate header) before the text.
    const zip = zipSync({ 'a-bufinfo.txt': BUFINFO, 'dumpstate_board.txt': board, [mainName]: text, 'version.txt': '2.0' });
    const s = await open({ name: 'r.zip', bytes: zip });
    assert.deepEqual(csv(s, 'SELECT kind, build_id, android_sdk FROM snapshot'), ['kind,build_id,android_sdk', 'bugreport,UQ1A.240205.004,34'], mainName);
    assert.deepEqual(
      csv(s, 'SELECT path, importer FROM source ORDER BY id'),
      ['path,importer', 'r.zip,zip', `r.zip!/${mainName},bugreport`, 'r.zip!/a-bufinfo.txt,bufinfo', 'r.zip!/dumpstate_board.txt,bugreport', 'r.zip!/dumpstate_board.txt#dmabuf info,bufinfo'],
      mainName,
    );
    s.close();
  }
  // Without a dumpstate text the zip stays a capture, whatever its files are named.
  const s = await open({ name: 'c.zip', bytes: zipSync({ 'a-bufinfo.txt': BUFINFO, 'dumpstate_board.txt': board, 'notes.log': 'x'.repeat(300) }) });
  assert.deepEqual(csv(s, 'SELECT kind FROM snapshot'), ['kind', 'capture']);
  s.close();
});

test('unreadable zip entries (corrupt deflate, unknown compression, encrypted) are diagnostics; the rest is read', async () => {
  const zip = zipWithBadEntries();
  const mem = await open({ name: 'r.zip', bytes: zip });
  assertBadEntriesRecorded(mem, 'r.zip');
  mem.close();
  const file = path.join(tempDir(), 'r.zip');
  fs.writeFileSync(file, zip);
  const disk = await open(file);
  assertBadEntriesRecorded(disk, file);
  disk.close();
});

test('a zip of many entries: each is read in its turn, an unreadable one among them is reported in its place', async () => {
  const filler = Array.from({ length: 30_000 }, (_, i) => `11-02 14:03:00.000  1000  1234  1234 I Tag: line ${i}\n`).join('');
  const entries: Array<{ name: string; data: string } & ZipEntryOptions> = [{ name: MAIN, data: minimalBugreport([['UPTIME', 'uptime', ' up 2:05\n']]) }];
  for (let i = 0; i < 30; i++) {
    const dir = `FS/e${String(i).padStart(2, '0')}`;
    if (i % 3 === 2) entries.push({ name: `${dir}/logcat`, data: i === 14 ? filler : 'nothing this tool reads\n' });
    else entries.push({ name: `${dir}/bufinfo`, data: BUFINFO, corruptAt: i === 7 ? 0 : undefined });
  }
  let zip = zipSync(entries);
  zip = encrypted(zip, 'FS/e19/bufinfo');
  const file = path.join(tempDir(), 'many.zip');
  fs.writeFileSync(file, zip);
  for (const [label, input] of [['memory', { name: file, bytes: zip }], ['disk', file]] as const) {
    const s = await open(input);
    // Sources in the zip's order; every bufinfo read whole but the two unreadable ones.
    const read = s.query("SELECT path FROM source WHERE importer = 'bufinfo' ORDER BY id").map((r) => String(r.path).slice(file.length + 2));
    const expected: string[] = entries.map((e) => e.name).filter((n) => n.endsWith('bufinfo') && n !== 'FS/e07/bufinfo' && n !== 'FS/e19/bufinfo');
    assert.deepEqual(read, expected, label);
    assert.equal(s.query('SELECT count(*) AS n FROM dmabuf_observation')[0].n, expected.length * EXPECTED_OBS.length - expected.length, label);
    const d = diagnostics(s);
    assert.deepEqual(
      d.filter((x) => x.code === 'entry_unreadable').map((x) => x.message.slice(file.length + 2, x.message.indexOf(':', file.length + 2))),
      ['FS/e07/bufinfo', 'FS/e19/bufinfo'],
      label,
    );
    assert.ok(d.some((x) => x.code === 'entries_skipped' && x.message.startsWith('10 files')), JSON.stringify(d));
    s.close();
  }
});

test('a zip whose only capture cannot be read is refused, saying why', async () => {
  const zip = zipSync([{ name: 'FS/a/bufinfo', data: BUFINFO, corruptAt: 0 }]);
  await assert.rejects(
    open({ name: 'only.zip', bytes: zip }),
    (e: Error) => e instanceof InputError && /could not be read/.test(e.message) && /FS\/a\/bufinfo/.test(e.message) && !e.message.includes('\n'),
  );
});

test('a folder file that cannot be read is a diagnostic; the other files are read', async () => {
  const dir = tempDir();
  fs.mkdirSync(path.join(dir, 'FS', 'a'), { recursive: true });
  fs.mkdirSync(path.join(dir, 'FS', 'b'), { recursive: true });
  fs.writeFileSync(path.join(dir, MAIN), minimalBugreport([['UPTIME', 'uptime', ' up 2:05\n']]));
  const gone = path.join(dir, 'FS', 'a', 'bpf_iter');
  fs.writeFileSync(gone, renderBpfIter(smallScenario()));
  fs.writeFileSync(path.join(dir, 'FS', 'b', 'bufinfo'), BUFINFO);
  // The file disappears after the folder was listed, while the bugreport text is read.
  const s = await open(dir, { progress: (m) => m.includes(MAIN) && fs.rmSync(gone, { force: true }) });
  assert.deepEqual(csv(s, OBS), EXPECTED_OBS);
  const bad = diagnostics(s).filter((d) => d.code === 'entry_unreadable');
  assert.equal(bad.length, 1);
  assert.equal(bad[0].severity, 'error');
  assert.match(bad[0].message, /FS\/a\/bpf_iter/);
  assert.match(bad[0].message, /no such file|ENOENT/i);
  s.close();
});

test('a subfolder that cannot be listed is a diagnostic; the other files are read', { skip: (process.getuid?.() ?? 0) === 0 && 'root reads every folder' }, async () => {
  const dir = tempDir();
  fs.mkdirSync(path.join(dir, 'FS', 'locked'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'FS', 'locked', 'bufinfo'), BUFINFO);
  fs.writeFileSync(path.join(dir, 'FS', 'bufinfo'), BUFINFO);
  fs.chmodSync(path.join(dir, 'FS', 'locked'), 0);
  try {
    const s = await open(dir);
    assert.deepEqual(csv(s, OBS), EXPECTED_OBS);
    assert.deepEqual(
      diagnostics(s).map((d) => `${d.severity} ${d.code} ${/FS\/locked: cannot read \(EACCES/.test(d.message)}`),
      ['error entry_unreadable true'],
    );
    s.close();
  } finally {
    fs.chmodSync(path.join(dir, 'FS', 'locked'), 0o755);
  }
});

// ---- 3. no file descriptor left open ---------------------------------------------------

test('opening and closing a zip leaves no file descriptor on it (sniffed deflated and stored gzip entries included)', { skip: !fs.existsSync('/proc/self/fd') && 'no /proc/self/fd' }, async () => {
  const filler = Array.from({ length: 40_000 }, (_, i) => `11-02 14:03:${String(i % 60).padStart(2, '0')}.000  1000  1234  1234 I Tag: message number ${i}\n`).join('');
  const file = path.join(tempDir(), 'fd.zip');
  fs.writeFileSync(
    file,
    zipSync([
      { name: MAIN, data: minimalBugreport([['UPTIME', 'uptime', ' up 2:05\n']]) },
      // Neither is recognized: reading each stops after the sniff, with bytes of the entry left.
      { name: 'FS/data/misc/logd/logcat', data: filler },
      // Stored, and not compressed inside (gzip level 0): 32 MB to read, more than is read ahead.
      { name: 'FS/data/misc/logd/logcat.1.gz', data: gzipSync(Buffer.alloc(32 << 20, filler), { level: 0 }), method: 'store' },
      { name: 'FS/proc/bufinfo', data: BUFINFO },
    ]),
  );
  const onZip = () =>
    fs.readdirSync('/proc/self/fd').filter((fd) => {
      try {
        return fs.readlinkSync(`/proc/self/fd/${fd}`) === file;
      } catch {
        return false; // the fd of the listing itself, closed by now
      }
    }).length;
  for (let i = 0; i < 3; i++) {
    const s = await open(file);
    assert.deepEqual(csv(s, OBS), EXPECTED_OBS);
    s.close();
  }
  await sleep(100); // closing is asynchronous
  assert.equal(onZip(), 0);
});

// ---- 4. a text cut mid-line -----------------------------------------------------------

test('a bugreport cut inside a bufinfo row keeps the whole rows and stores no cut row', async () => {
  const lines = BUFINFO.split('\n');
  const rowAt = lines.findIndex((l) => l.includes('\t00001004\t'));
  // `…\tsystem\t000010`: the inode 1004 lost its last two digits.
  const cut = lines.slice(0, rowAt).join('\n') + '\n' + lines[rowAt].slice(0, lines[rowAt].indexOf('\t00001004') + 7);
  assert.match(cut, /\tsystem\t000010$/);
  const text = minimalBugreport([]) + `------ BUFINFO (/d/dma_buf/bufinfo) ------\n${cut}`;
  const s = await openTexts({ 'r.txt': text });
  assert.deepEqual(
    s.query('SELECT inode FROM dmabuf_observation ORDER BY line').map((r) => r.inode),
    [1001, 1002, 1003],
  );
  const d = diagnostics(s);
  assert.ok(d.some((x) => x.severity === 'warning' && x.code === 'truncated' && /ends inside a row/.test(x.message)), JSON.stringify(d));
  s.close();
});

// ---- 5. failure lines after blank lines -----------------------------------------------

test('a failure line after blank lines does not remove them: line numbers stay those of the section', async () => {
  const body = `\n\n\n*** Error dumping /d/dma_buf/bufinfo.old (old): No such file or directory\n${BUFINFO}`;
  const s = await openTexts({ 'r.txt': minimalBugreport([['BUFINFO', 'cat /d/dma_buf/bufinfo.old /d/dma_buf/bufinfo', body]]) });
  // Lines 1–3 blank, 4 the failure, then bufinfo: 5 blank, 6 `Dma-buf Objects:`, 7 the header, 8 the first row.
  assert.equal(s.query('SELECT min(line) AS l FROM dmabuf_observation')[0].l, 8);
  assert.deepEqual(
    diagnostics(s).map((d) => `${d.severity} ${d.code}`),
    ['error section_failed'],
  );
  s.close();
});

test("a command killed mid-line: dumpstate's failure line glued to the cut output is the section's outcome, and the cut row is not read", async () => {
  const dump = renderDmabufDump(smallScenario(), 'a14');
  // Block-buffered output killed on its timeout: the row of inode 1003 stops after `1024 kB   `,
  // and dumpstate's line follows on the same line.
  const cutAt = dump.indexOf('1024 kB') + 10;
  for (const [what, failure, rows] of [
    ['timed out', "*** command 'dmabuf_dump' timed out after 10.000s (killing pid 4321)", 'section_timeout'],
    ['killed', "*** command 'dmabuf_dump' failed: killed by signal 9", 'section_failed'],
  ] as const) {
    const s = await openTexts({ 'r.txt': minimalBugreport([['Dmabuf dump', 'dmabuf_dump', dump.slice(0, cutAt) + failure + '\n']]) });
    assert.deepEqual(
      s.query('SELECT inode FROM dmabuf_holder_observation ORDER BY line').map((r) => r.inode),
      [1001, 1004, 1001, 1002],
      what,
    );
    const d = diagnostics(s);
    assert.deepEqual(d.map((x) => `${x.severity} ${x.code}`), [`error ${rows}`, 'warning truncated', 'warning truncated'], what);
    assert.match(d[0].message, /^command 'dmabuf_dump' .*its output was cut inside a line, which was not read: "<unknown>\s+1024 kB"\)$/, what);
    s.close();
  }
  // A command that exited on its own flushed its last line whole: that line is kept.
  const exited = minimalBugreport([['Dmabuf dump', 'dmabuf_dump', dump.trimEnd() + "*** command 'dmabuf_dump' failed: exit code 1\n"]]);
  const s = await openTexts({ 'r.txt': exited });
  assert.deepEqual(csv(s, "SELECT origin, total_bytes FROM dmabuf_reported_total WHERE origin = 'dmabuf_dump'"), ['origin,total_bytes', `dmabuf_dump,${46064 * 1024}`]);
  assert.deepEqual(diagnostics(s).map((x) => `${x.severity} ${x.code} ${x.message}`), ["error section_failed command 'dmabuf_dump' failed: exit code 1"]);
  s.close();
});

test('a dumpsys service stopped at its timeout inside a line: the cut line is not read, the timeout is the service\'s', async () => {
  const dashes = '-'.repeat(79);
  const gpu = (tail: string) =>
    `${dashes}\nDUMP OF SERVICE gpu:\nMemory snapshot for GPU 0:\nGlobal total: 210763776\nProc 1234 total: 48365568\n${tail}` +
    "\n*** SERVICE 'gpu' DUMP TIMEOUT (10000ms) EXPIRED ***\n\n--------- 10.002s was the duration of dumpsys gpu, ending at: 2026-11-02 14:04:01\n";
  const rows = 'SELECT pid, total_bytes FROM gpu_memory_total ORDER BY line';
  const whole = ['pid,total_bytes', ',210763776', '1234,48365568'];
  const diags = (x: Session) =>
    x.query('SELECT s.path, d.severity, d.code, d.line FROM diagnostic d JOIN source s ON s.id = d.source_id ORDER BY d.id').map((r) => `${String(r.path).replace(/^.*#/, '')} ${r.severity} ${r.code} ${r.line}`);
  // dumpsys prints a newline before its timeout line: the last line (`Proc 5678 total: 12345678`) stopped after `12`.
  const cut = await openTexts({ 'r.txt': minimalBugreport([['DUMPSYS', '/system/bin/dumpsys', gpu('Proc 5678 total: 12')]]) });
  assertRows(cut, rows, whole);
  assert.deepEqual(diags(cut), ['DUMPSYS/gpu warning truncated 4', 'DUMPSYS/gpu error section_timeout null']);
  assert.match(diagnostics(cut)[0].message, /inside a line, which was not read: "Proc 5678 total: 12"$/);
  cut.close();
  // A last line printed whole leaves an empty line before the timeout line: it is read.
  const kept = await openTexts({ 'r.txt': minimalBugreport([['DUMPSYS', '/system/bin/dumpsys', gpu('Proc 5678 total: 12345678\n')]]) });
  assertRows(kept, rows, [...whole, '5678,12345678']);
  assert.deepEqual(diags(kept), ['DUMPSYS/gpu error section_timeout null']);
  kept.close();
});

// ---- 6. end lines indented or glued to the output -------------------------------------

test("the indented end line after `Dmabuf dump` ends the section: its line range stops at the totals", async () => {
  const header = minimalBugreport([]);
  const headerLines = header.split('\n').length - 1;
  const text = header + "------ Dmabuf dump (dmabuf_dump) ------\na\nb\n ------ 0.010s was the duration of 'Dmabuf dump' ------\n";
  const s = await openTexts({ 'r.txt': text });
  assert.deepEqual(s.query('SELECT line_start, line_end FROM source WHERE parent_id IS NOT NULL'), [{ line_start: headerLines + 2, line_end: headerLines + 3 }]);
  s.close();
});

test('an end line glued to the last output line ends the section; the output line is kept whole', async () => {
  const glued = BUFINFO.replace(/\n$/, '') + "------ 0.012s was the duration of 'BUFINFO' ------\n";
  for (const [what, text] of [
    ['before another section', minimalBugreport([]) + `------ BUFINFO (/d/dma_buf/bufinfo) ------\n${glued}------ UPTIME (uptime) ------\n up 2:05\n`],
    ['at the end of the text', minimalBugreport([]) + `------ BUFINFO (/d/dma_buf/bufinfo) ------\n${glued}`],
    ['at the end of the text, no newline', minimalBugreport([]) + `------ BUFINFO (/d/dma_buf/bufinfo) ------\n${glued.trimEnd()}`],
  ]) {
    const s = await openTexts({ 'r.txt': text });
    assert.deepEqual(csv(s, OBS), EXPECTED_OBS, what);
    assert.deepEqual(csv(s, "SELECT origin, buffer_count FROM dmabuf_reported_total"), ['origin,buffer_count', 'bufinfo,6'], what);
    assert.deepEqual(diagnostics(s), [], what);
    s.close();
    // The same in 7-byte chunks: the glued line is seen whole whatever the chunking.
    const db = await importChunked(bugreport, Buffer.from(text), 7, 'r.txt');
    assert.deepEqual(csv(asSession(db), OBS), EXPECTED_OBS, `${what}, in chunks`);
    assert.deepEqual(diagnostics(asSession(db)), [], `${what}, in chunks`);
    db.close();
  }
});

// ---- 7. the size of a zip given as bytes ------------------------------------------------

test('a zip given as bytes has its own size, whatever file its display name names', async () => {
  const zip = zipSync({ [MAIN]: minimalBugreport([['UPTIME', 'uptime', ' up 2:05\n']]) });
  const other = path.join(tempDir(), 'same-name.zip');
  fs.writeFileSync(other, 'an unrelated file of another size');
  const s = await open({ name: other, bytes: zip });
  assert.deepEqual(s.query('SELECT bytes FROM source WHERE parent_id IS NULL'), [{ bytes: zip.byteLength }]);
  s.close();
});

// ---- 8. a long line over many chunks ----------------------------------------------------

test('a 4 MB line fed in 512-byte chunks does not disturb the sections after it', async () => {
  const longLine = 'x'.repeat(4 << 20);
  const text = minimalBugreport([['SYSTEM LOG', 'logcat', longLine + '\n'], ['BUFINFO', '/d/dma_buf/bufinfo', BUFINFO]]);
  const db = await Db.create();
  const ctx = SourceContext.topLevel(db, 'r.txt', 'bugreport', 'bugreport', 'r.txt');
  const bytes = Buffer.from(text);
  async function* chunks() {
    for (let i = 0; i < bytes.length; i += 512) yield bytes.subarray(i, i + 512);
  }
  await bugreport.importStream(chunks(), ctx, makeEnv(() => {}));
  assert.deepEqual(csv(asSession(db), OBS), EXPECTED_OBS);
  db.close();
});
