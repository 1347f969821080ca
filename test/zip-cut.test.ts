// A bugreport zip cut short (an interrupted `adb bugreport` pull, an upload cut at a size limit,
// a partial download) has no central directory: it is read from its local headers. What a user
// checks: the DMA-BUF rows of the sections before the cut are there, one `zip_truncated`
// warning says what was recovered and where the file ends, the text cut short is `truncated`,
// the CLI exits 0; a file that merely starts with a local header signature is still refused
// (exit 2). Streamed entries (bit 3, sizes in a data descriptor after the data, as
// libziparchive's ZipWriter writes them to a pipe) are read to their end by inflating them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { open, InputError, type Session } from '../src/index.js';
import { packagePath } from '../src/paths.js';
import { cli, diagnostics, tempDir } from './helpers.js';
import { randomScenario } from './fixtures/generate-scenario.js';
import { holdersOf, type Scenario } from './fixtures/scenario.js';
import { bugreportZipBytes, DMABUF_B_TITLE, mainEntryName, renderBugreportText, writeBugreportZip } from './fixtures/bugreport.js';
import { centralDirectoryOffset, listZip, zipSync, type ZipEntryInfo } from './fixtures/zip.js';

const dir = tempDir('dmabuf-triage-zipcut-');
const scenario = randomScenario({ seed: 23, processes: 30, buffers: 200, leak: 'camera', sdk: 35 });
const MAIN = mainEntryName(scenario);
const example = fs.readFileSync(packagePath('examples', 'bugreport-example.zip'));

function put(name: string, bytes: Uint8Array): string {
  const p = path.join(dir, name);
  fs.writeFileSync(p, bytes);
  return p;
}

type Input = string | { name: string; bytes: Uint8Array };

/** The zip cut to its first `n` bytes, in memory and on disk. */
function cuts(zip: Uint8Array, n: number, label: string): Array<[string, Input]> {
  const bytes = zip.slice(0, n);
  return [
    [`${label}, in memory`, { name: 'cut.zip', bytes }],
    [`${label}, on disk`, put(`cut-${n}.zip`, bytes)],
  ];
}

function entry(zip: Uint8Array, name: string): ZipEntryInfo {
  const e = listZip(zip).find((x) => x.name === name);
  if (!e) throw new Error(`no entry ${name}`);
  return e;
}

/**
 * Is `got` part of `full`: each holder, each buffer with its size (the exporter of a buffer comes
 * from `-b`, after the per-process tables: a cut before it leaves it unknown).
 */
function partOf(got: { buffers: string[]; holders: string[] }, full: { buffers: string[]; holders: string[] }): boolean {
  const sizes = new Set(full.buffers.map((b) => b.split(' ').slice(0, 2).join(' ')));
  return got.holders.every((h) => full.holders.includes(h)) && got.buffers.every((b) => sizes.has(b.split(' ').slice(0, 2).join(' ')));
}

/** The buffers and holders a session holds, as comparable strings. */
function rows(s: Session): { buffers: string[]; holders: string[] } {
  return {
    buffers: s.query('SELECT inode, size, exporter FROM dmabuf ORDER BY inode').map((r) => `${r.inode} ${r.size} ${r.exporter}`),
    holders: s.query('SELECT inode, pid FROM dmabuf_holder ORDER BY inode, pid').map((r) => `${r.inode}:${r.pid}`),
  };
}

function scenarioRows(s: Scenario): { buffers: string[]; holders: string[] } {
  return {
    buffers: [...s.buffers].sort((a, b) => a.inode - b.inode).map((b) => `${b.inode} ${b.size} ${b.exporter}`),
    holders: s.buffers
      .flatMap((b) => holdersOf(s, b.inode).map((p) => ({ inode: b.inode, pid: p.pid })))
      .sort((a, b) => a.inode - b.inode || a.pid - b.pid)
      .map((h) => `${h.inode}:${h.pid}`),
  };
}

/** `severity code` of every diagnostic, and the one zip_truncated message. */
function diags(s: Session): { codes: string[]; zip: string } {
  const d = diagnostics(s);
  const zip = d.filter((x) => x.code === 'zip_truncated');
  assert.equal(zip.length, 1, JSON.stringify(d));
  assert.equal(zip[0].severity, 'warning');
  return { codes: d.map((x) => `${x.severity} ${x.code}`), zip: zip[0].message };
}

/** The smallest prefix of an entry's deflated data that inflates to at least `textBytes` bytes. */
function deflatedPrefixFor(zip: Uint8Array, e: ZipEntryInfo, textBytes: number): number {
  const data = Buffer.from(zip.buffer, zip.byteOffset + e.dataOffset, e.compressedSize);
  let lo = 0;
  let hi = e.compressedSize;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    const got = zlib.inflateRawSync(data.subarray(0, mid), { finishFlush: zlib.constants.Z_SYNC_FLUSH }).length;
    if (got >= textBytes) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

const count = (s: Session, sql: string) => Number(s.query(sql)[0].n);

// ---- the main text cut ----------------------------------------------------------------

test('a zip cut inside its main text keeps every DMA-BUF section before the cut (stored text: exact offsets)', async () => {
  const text = Buffer.from(renderBugreportText(scenario), 'utf8');
  const zip = bugreportZipBytes(scenario, { method: 'store' });
  const main = entry(zip, MAIN);
  const full = scenarioRows(scenario);
  // After the -b section: every buffer (-b) and every holder (Dmabuf dump).
  const afterB = text.indexOf(`------ KERNEL LOG`);
  assert.ok(afterB > text.indexOf(DMABUF_B_TITLE));
  for (const [what, input] of cuts(zip, main.dataOffset + afterB + 10, 'after the -b section')) {
    const s = await open([input]);
    assert.deepEqual(rows(s), full, what);
    assert.equal(s.query('SELECT kind FROM snapshot')[0].kind, 'bugreport');
    const d = diags(s);
    assert.match(d.zip, new RegExp(`^the zip is cut short or damaged \\(it has no end of central directory record\\): 7 entries recovered whole from their local headers; ${MAIN.replace(/\./g, '\\.')} is cut: the file ends ${afterB + 10} bytes into its data \\(of ${text.length}\\), at byte ${main.dataOffset + afterB + 10}; what it holds is read$`), what);
    const cut = s.query("SELECT d.message FROM diagnostic d JOIN source x ON x.id = d.source_id WHERE d.code = 'truncated' AND x.path LIKE '%.txt'");
    assert.deepEqual(cut.map((r) => r.message), ['the entry is cut short by the end of the zip (zip_truncated): every whole line before the cut was read'], what);
    s.close();
  }
  // Inside the Dmabuf dump: the processes before the cut, and nothing that is not in the scenario.
  const dumpStart = text.indexOf('------ Dmabuf dump');
  const mid = dumpStart + Math.floor((text.indexOf(DMABUF_B_TITLE) - dumpStart) / 2);
  for (const [what, input] of cuts(zip, main.dataOffset + mid, 'inside the Dmabuf dump')) {
    const s = await open([input]);
    const got = rows(s);
    assert.ok(got.holders.length > 10 && got.holders.length < full.holders.length, `${what}: ${got.holders.length} holders of ${full.holders.length}`);
    assert.ok(partOf(got, full), what);
    // The text's last line, cut, is not read as a row; the section is said to end early.
    const d = diags(s);
    assert.ok(d.codes.includes('warning truncated'), what);
    assert.ok(
      s.query("SELECT message FROM diagnostic WHERE code = 'truncated'").some((r) => r.message === "the text ends inside section 'Dmabuf dump'"),
      what,
    );
    s.close();
  }
});

test('the example bugreport zip cut at several points, from a path and from bytes', async () => {
  const whole = await open([packagePath('examples', 'bugreport-example.zip')]);
  const full = rows(whole);
  const fullTrace = count(whole, 'SELECT count(*) AS n FROM dma_heap_event');
  whole.close();
  const entries = listZip(example);
  const mainE = entries.find((e) => /^bugreport-.*\.txt$/.test(e.name))!;
  const text = zlib.inflateRawSync(example.subarray(mainE.dataOffset, mainE.dataOffset + mainE.compressedSize)).toString('latin1');
  const afterB = deflatedPrefixFor(example, mainE, text.indexOf('------ KERNEL LOG'));
  const inDump = deflatedPrefixFor(example, mainE, text.indexOf('------ Dmabuf dump') + 50_000);
  const next = entries[entries.indexOf(mainE) + 1];
  const small = entries[entries.length - 1];
  const cd = centralDirectoryOffset(example);
  const cases: Array<{ at: number; what: string; zip: RegExp; all: boolean }> = [
    { at: Math.floor(example.length * 0.6), what: '60% of the file', zip: /8 entries recovered whole .* bugreport-.*\.txt is cut: the file ends \d+ bytes into its data \(streamed: its size was to follow its data\)/, all: false },
    { at: mainE.dataOffset + inDump, what: 'inside the Dmabuf dump', zip: /bugreport-.*\.txt is cut/, all: false },
    { at: mainE.dataOffset + afterB, what: 'after the -b section', zip: /bugreport-.*\.txt is cut/, all: true },
    { at: next.localHeaderOffset + 30 + next.name.length, what: 'right after the local header of main_entry.txt', zip: /9 entries .*main_entry\.txt is cut: the file ends right after its local header/, all: true },
    { at: small.dataOffset + 10, what: 'inside a small entry', zip: /10 entries .*dumpstate_log\.txt is cut: the file ends 10 bytes into its data \(of \d+\)/, all: true },
    { at: cd + 100, what: 'inside the central directory', zip: /11 entries .*the central directory starts at byte \d+ of \d+: it is cut short or damaged/, all: true },
    { at: example.length - 1, what: 'the last byte missing', zip: /11 entries .*the central directory starts at byte/, all: true },
  ];
  for (const c of cases) {
    for (const [what, input] of cuts(example, c.at, c.what)) {
      const s = await open([input]);
      const got = rows(s);
      if (c.all) assert.deepEqual(got, full, what);
      else {
        assert.ok(got.holders.length > 0 && got.holders.length < full.holders.length, `${what}: ${got.holders.length} holders`);
        assert.ok(partOf(got, full), what);
      }
      // The trace, whole before the main text, is read in every case.
      assert.equal(count(s, 'SELECT count(*) AS n FROM dma_heap_event'), fullTrace, what);
      assert.match(diags(s).zip, c.zip, what);
      s.close();
    }
  }
});

test('a zip cut right after the main text\'s local header, or inside it, names what it lost', async () => {
  const zip = bugreportZipBytes(scenario);
  const main = entry(zip, MAIN);
  for (const [what, input] of cuts(zip, main.dataOffset, 'right after the local header')) {
    const s = await open([input]);
    const d = diags(s);
    assert.match(d.zip, new RegExp(`${MAIN.replace(/\./g, '\\.')} is cut: the file ends right after its local header, at byte ${main.dataOffset}; nothing of it is left`), what);
    assert.equal(count(s, 'SELECT count(*) AS n FROM dmabuf'), 0, what);
    s.close();
  }
  // Cut inside the main text's local header: no bugreport text, the zip is read as a capture (dumpstate_board.txt).
  for (const [what, input] of cuts(zip, main.localHeaderOffset + 12, 'inside the main local header')) {
    const s = await open([input]);
    assert.equal(s.query('SELECT kind FROM snapshot')[0].kind, 'capture', what);
    assert.match(diags(s).zip, new RegExp(`7 entries recovered whole from their local headers; the file ends inside the local header that starts at byte ${main.localHeaderOffset}: that entry is lost$`), what);
    s.close();
  }
  // Cut inside the first entries: nothing this tool reads is left, refused with one line that says why.
  const board = entry(zip, 'dumpstate_board.txt');
  for (const [what, input] of cuts(zip, board.dataOffset - 3, 'inside the local header of dumpstate_board.txt')) {
    await assert.rejects(
      open([input]),
      (e: unknown) =>
        e instanceof InputError &&
        !e.message.includes('\n') &&
        new RegExp(`holds no bugreport and no DMA-BUF capture this tool reads; the zip is cut short or damaged \\(it has no end of central directory record\\): 6 entries recovered whole from their local headers; the file ends inside the local header that starts at byte ${board.localHeaderOffset}: that entry is lost$`).test(e.message),
      what,
    );
  }
});

// ---- refused ---------------------------------------------------------------------------

test('a file that only starts like a zip is still refused with one line', async () => {
  const zip = bugreportZipBytes(scenario);
  const bad: Array<[string, Uint8Array]> = [
    ['PK\\3\\4 then text', Buffer.concat([Buffer.from('PK\x03\x04'), Buffer.alloc(100_000, 0x41)])],
    ['PK\\3\\4 then random bytes', Buffer.concat([Buffer.from('PK\x03\x04'), Uint8Array.from({ length: 100_000 }, (_, i) => (i * 7919 + 13) % 251)])],
    ['a zip cut inside its first local header', zip.slice(0, 29)],
    ['a zip cut inside its first entry name', zip.slice(0, 32)],
  ];
  for (const [what, bytes] of bad) {
    for (const input of [{ name: 'bad.zip', bytes }, put('bad.zip', bytes)]) {
      await assert.rejects(
        open([input]),
        (e: unknown) => e instanceof InputError && !e.message.includes('\n') && /not a readable zip archive \(End of central directory record signature not found/.test(e.message),
        what,
      );
    }
  }
});

test('the CLI: a cut zip exits 0 with the warning, a PK\\3\\4 file of garbage exits 2 with one line', () => {
  const cut = put('cli-cut.zip', example.subarray(0, Math.floor(example.length * 0.6)));
  const ok = cli(['analyze', '--quiet', cut]);
  assert.equal(ok.code, 0, ok.err);
  assert.match(ok.out, /warning\s+zip_truncated\s+1/);
  assert.match(ok.out, /DMA-BUF\s+\S+ \S+ in [\d,]+ buffers/);
  const garbage = put('cli-garbage.zip', Buffer.concat([Buffer.from('PK\x03\x04'), Buffer.alloc(5000, 0x41)]));
  const bad = cli(['analyze', '--quiet', garbage]);
  assert.equal(bad.code, 2);
  assert.equal(bad.err.trim().split('\n').length, 1, bad.err);
  assert.match(bad.err, /not a readable zip archive/);
  assert.equal(bad.out, '');
});

// ---- streamed entries (data descriptors) ----------------------------------------------------

test('streamed entries (bit 3, sizes in a data descriptor): whole, cut, with and without the descriptor signature, zip64, stored', async () => {
  const full = scenarioRows(scenario);
  const variants: Array<[string, Uint8Array]> = [
    ['streamed', bugreportZipBytes(scenario, { streamed: true })],
    ['streamed, descriptors without signature', bugreportZipBytes(scenario, { streamed: 'no-signature' })],
    ['streamed zip64', bugreportZipBytes(scenario, { streamed: true, zip64: true })],
    ['streamed, stored text', bugreportZipBytes(scenario, { streamed: true, method: 'store' })],
    ['streamed, stored text, descriptors without signature', bugreportZipBytes(scenario, { streamed: 'no-signature', method: 'store' })],
  ];
  for (const [what, zip] of variants) {
    const entries = listZip(zip);
    assert.ok(entries.length >= 9);
    // Intact: yauzl reads it, as any zip.
    const s0 = await open([{ name: 'whole.zip', bytes: zip }]);
    assert.deepEqual(rows(s0), full, what);
    assert.equal(count(s0, "SELECT count(*) AS n FROM diagnostic WHERE code = 'zip_truncated'"), 0, what);
    s0.close();
    // Cut inside the central directory: every entry read to its end from its local header, the
    // descriptor skipped, the next header found.
    for (const [w, input] of cuts(zip, centralDirectoryOffset(zip) + 10, `${what}, cut in the directory`)) {
      const s = await open([input]);
      assert.deepEqual(rows(s), full, w);
      assert.match(diags(s).zip, new RegExp(`: ${entries.length} entries recovered whole from their local headers; the central directory starts at byte ${centralDirectoryOffset(zip)} of`), w);
      s.close();
    }
    // Cut inside the main text's data: the entries before it whole, the text up to the cut.
    const main = entry(zip, MAIN);
    for (const [w, input] of cuts(zip, main.dataOffset + Math.floor(main.compressedSize * 0.9), `${what}, cut in the text`)) {
      const s = await open([input]);
      const got = rows(s);
      assert.ok(got.holders.length > 0 && partOf(got, full), w);
      assert.match(diags(s).zip, /: 7 entries recovered whole from their local headers; bugreport-.*\.txt is cut: the file ends \d+ bytes into its data \(streamed: its size was to follow its data\)/, w);
      s.close();
    }
    // Cut inside the main text's data descriptor: its data is whole. (A stored entry's end is
    // only known from its descriptor: without it, the entry is cut, and its last line, the
    // descriptor's first bytes, is not read.)
    const descriptorAt = main.dataOffset + main.compressedSize;
    const stored = main.method === 0;
    for (const [w, input] of cuts(zip, descriptorAt + 5, `${what}, cut in the descriptor`)) {
      const s = await open([input]);
      assert.deepEqual(rows(s), full, w);
      assert.match(
        diags(s).zip,
        stored
          ? /: 7 entries recovered whole from their local headers; bugreport-.*\.txt is cut: the file ends \d+ bytes into its data/
          : /: 8 entries recovered whole from their local headers; the file ends in the data descriptor of bugreport-.*\.txt, whose data is whole$/,
        w,
      );
      assert.equal(count(s, "SELECT count(*) AS n FROM diagnostic WHERE code = 'truncated'"), stored ? 1 : 0, w);
      s.close();
    }
  }
});

test('a streamed zip written to disk (ZipFileWriter.addStream) cut at 70%, from its path', async () => {
  const file = path.join(dir, 'streamed-disk.zip');
  await writeBugreportZip(file, scenario, { textBytes: 1_500_000, streamed: true });
  const bytes = fs.readFileSync(file);
  const cut = put('streamed-disk-cut.zip', bytes.subarray(0, Math.floor(bytes.length * 0.7)));
  const s = await open([cut]);
  assert.equal(s.query('SELECT android_sdk FROM snapshot')[0].android_sdk, scenario.device.sdk);
  assert.match(diags(s).zip, /7 entries recovered whole from their local headers; bugreport-.*\.txt is cut/);
  s.close();
});

// ---- nested -------------------------------------------------------------------------------

test('a bugreport zip inside an attachments zip, the outer zip cut inside the inner one', async () => {
  const inner = bugreportZipBytes(scenario, { method: 'store' });
  const outer = zipSync([
    { name: 'steps.txt', data: 'open the camera, wait 5 minutes\n' },
    { name: 'logs/bugreport-oriole.zip', data: inner, method: 'store' },
    { name: 'logs/screen.png', data: new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0, 0, 0, 0]) },
  ]);
  const at = entry(outer, 'logs/bugreport-oriole.zip').dataOffset;
  const text = Buffer.from(renderBugreportText(scenario), 'utf8');
  const afterB = entry(inner, MAIN).dataOffset + text.indexOf('------ KERNEL LOG') + 10;
  for (const [what, input] of cuts(outer, at + afterB, 'the outer zip cut after the inner -b section')) {
    const s = await open([input]);
    assert.deepEqual(rows(s), scenarioRows(scenario), what);
    const d = diagnostics(s).filter((x) => x.code === 'zip_truncated').map((x) => x.message);
    assert.equal(d.length, 2, what);
    assert.match(d[0], /^(?:\S*\/)?cut(?:-\d+)?\.zip, the zip around this bugreport zip: the zip is cut short or damaged .*1 entry recovered whole from its local header; logs\/bugreport-oriole\.zip is cut/, what);
    assert.match(d[1], /7 entries recovered whole from their local headers; bugreport-.*\.txt is cut/, what);
    s.close();
  }
  // Cut right after the inner zip: the file then ends with the inner zip's end record, which
  // points at a directory that is not there in the outer zip's offsets; the inner zip is whole.
  const innerEnd = at + inner.length;
  for (const [what, input] of cuts(outer, innerEnd, 'the outer zip cut right after the inner zip')) {
    const s = await open([input]);
    assert.deepEqual(rows(s), scenarioRows(scenario), what);
    const d = diagnostics(s).filter((x) => x.code === 'zip_truncated').map((x) => x.message);
    assert.equal(d.length, 1, what);
    assert.match(d[0], /the zip around this bugreport zip: the zip is cut short or damaged \(its central directory cannot be read: invalid central directory file header signature: 0x[0-9a-f]+\): 2 entries recovered whole from their local headers; the file ends after logs\/bugreport-oriole\.zip, where the next local header or the central directory would start$/, what);
    s.close();
  }
});
