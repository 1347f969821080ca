// Bugreport inputs end to end: every container form (zip, zip64, .txt, .txt.gz, in memory
// and on disk, under neutral names), the main entry found by main_entry.txt or by name,
// section failures as diagnostics, and bad input refused with one typed, one-line error
// (exit 2 from the CLI). Fixtures come from test/fixtures/bugreport.ts and zip.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import yauzl from 'yauzl';
import { open, InputError, type Session } from '../src/index.js';
import { packagePath } from '../src/paths.js';
import { cli, diagnostics, tempDir } from './helpers.js';
import { randomScenario } from './fixtures/generate-scenario.js';
import { holdersOf, type Scenario } from './fixtures/scenario.js';
import {
  bugreportTextGz,
  bugreportZipBytes,
  mainEntryName,
  renderBugreportText,
  writeBugreportText,
  writeBugreportZip,
} from './fixtures/bugreport.js';
import { listZip, truncateZip, ZipFileWriter, zipSync } from './fixtures/zip.js';

const dir = tempDir('dmabuf-triage-input-');
const scenario = randomScenario({ seed: 11, processes: 40, buffers: 300, leak: 'camera', sdk: 35 });

function put(name: string, bytes: Uint8Array | string): string {
  const p = path.join(dir, name);
  fs.writeFileSync(p, bytes);
  return p;
}

/** Every table with imported data, rows sorted, without ids that depend on the container (source ids, row ids, the label). */
function tables(s: Session): Record<string, string[]> {
  const skip = new Set(['source', 'schema_doc', 'analysis_param', 'diagnostic']);
  const drop = new Set(['id', 'source_id', 'parent_id', 'dmabuf_id', 'label']);
  const out: Record<string, string[]> = {};
  const names = s.query("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name");
  for (const { name } of names) {
    if (skip.has(String(name))) continue;
    out[String(name)] = s
      .query(`SELECT * FROM "${name}"`)
      .map((r) => JSON.stringify(Object.entries(r).filter(([k]) => !drop.has(k))))
      .sort();
  }
  return out;
}

async function load(input: string | { name: string; bytes: Uint8Array }): Promise<{ tables: Record<string, string[]>; diags: string[]; session: Session }> {
  const session = await open([input]);
  // Diagnostics as sorted `severity code message` lines: inputs read in another order may record them in another order.
  const diags = diagnostics(session).map((d) => `${d.severity} ${d.code} ${d.message}`).sort();
  return { tables: tables(session), diags, session };
}

/** What any correct import of `s` must contain. */
function assertScenarioLoaded(session: Session, s: Scenario): void {
  const snap = session.query('SELECT kind, captured_at, build_fingerprint, build_id, kernel_release, android_sdk FROM snapshot');
  assert.equal(snap.length, 1);
  assert.deepEqual(snap[0], {
    kind: 'bugreport',
    captured_at: s.device.capturedAt.replace(' ', 'T'),
    build_fingerprint: s.device.fingerprint,
    build_id: s.device.buildId,
    kernel_release: s.device.kernel,
    android_sdk: s.device.sdk,
  });
  const bufs = session.query('SELECT inode, size, exporter FROM dmabuf ORDER BY inode');
  assert.deepEqual(
    bufs,
    [...s.buffers].sort((a, b) => a.inode - b.inode).map((b) => ({ inode: b.inode, size: b.size, exporter: b.exporter })),
  );
  const holders = session.query('SELECT inode, pid FROM dmabuf_holder ORDER BY inode, pid');
  const expected = s.buffers
    .flatMap((b) => holdersOf(s, b.inode).map((p) => ({ inode: b.inode, pid: p.pid })))
    .sort((a, b) => a.inode - b.inode || a.pid - b.pid);
  assert.deepEqual(holders, expected);
}

function assertOneLineInputError(e: unknown): true {
  assert.ok(e instanceof InputError, `expected an InputError, got ${(e as Error)?.name}: ${(e as Error)?.message}`);
  assert.ok(e.message.length > 0 && !e.message.includes('\n'), `message must be one line: ${JSON.stringify(e.message)}`);
  return true;
}

// ---- the fixture builders themselves --------------------------------------------------

function unzipAll(bytes: Uint8Array): Promise<Record<string, Buffer>> {
  return new Promise((resolve, reject) => {
    yauzl.fromBuffer(Buffer.from(bytes), { lazyEntries: true, validateEntrySizes: true }, (err, zip) => {
      if (err || !zip) return reject(err);
      const out: Record<string, Buffer> = {};
      zip.on('entry', (e: yauzl.Entry) =>
        zip.openReadStream(e, (err2, s) => {
          if (err2 || !s) return reject(err2);
          const parts: Buffer[] = [];
          s.on('data', (c: Buffer) => parts.push(c));
          s.on('error', reject);
          s.on('end', () => {
            out[e.fileName] = Buffer.concat(parts);
            zip.readEntry();
          });
        }),
      );
      zip.on('end', () => resolve(out));
      zip.on('error', reject);
      zip.readEntry();
    });
  });
}

test('fixture zip writer: stored, deflated, streamed and zip64 entries read back intact', async () => {
  const big = Array.from({ length: 40000 }, (_, i) => `line ${i} ${(i * 7919) % 104729}`).join('\n');
  for (const zip64 of [false, true]) {
    const mem = zipSync(
      [
        { name: 'a.txt', data: 'hello' },
        { name: 'stored.txt', data: big, method: 'store' },
        { name: 'deflated.txt', data: big },
        { name: 'FS/proc/ünïcode', data: new Uint8Array([0, 1, 2, 255]) },
      ],
      { zip64 },
    );
    const got = await unzipAll(mem);
    assert.equal(got['a.txt'].toString(), 'hello');
    assert.equal(got['stored.txt'].toString(), big);
    assert.equal(got['deflated.txt'].toString(), big);
    assert.deepEqual([...got['FS/proc/ünïcode']], [0, 1, 2, 255]);
    assert.equal(listZip(mem).find((e) => e.name === 'deflated.txt')?.size, Buffer.byteLength(big));
    // zip64 records are there exactly when asked for.
    const hasLocator = Buffer.from(mem).includes(Buffer.from([0x50, 0x4b, 0x06, 0x07]));
    assert.equal(hasLocator, zip64);

    const file = path.join(dir, `streamed-${zip64}.zip`);
    const w = new ZipFileWriter(file, { zip64 });
    w.add('x.txt', 'x');
    await w.addStream('big.txt', (function* () {
      for (let i = 0; i < big.length; i += 7777) yield big.slice(i, i + 7777);
    })());
    await w.addStream('big-stored.txt', [big], { method: 'store' });
    w.close();
    const got2 = await unzipAll(fs.readFileSync(file));
    assert.equal(got2['big.txt'].toString(), big);
    assert.equal(got2['big-stored.txt'].toString(), big);
    assert.equal(got2['x.txt'].toString(), 'x');
  }
});

test('fixture bugreport text: every section that starts also ends, with the same title', () => {
  const text = renderBugreportText(scenario, { fillerBytes: 50_000, failures: { dmabufDumpB: 'timeout' } });
  const lines = text.split('\n');
  assert.match(lines[0], /^={56}$/);
  assert.equal(lines[1], `== dumpstate: ${scenario.device.capturedAt}`);
  const open: string[] = [];
  let sections = 0;
  for (const l of lines) {
    const end = /^ ?------ \d+\.\d{3}s was the duration of '(.*)' ------$/.exec(l);
    if (end) {
      assert.equal(end[1], open.pop(), `end line for '${end[1]}'`);
      continue;
    }
    const start = /^------ (.*) \((.*)\) ------$/.exec(l);
    if (start) {
      assert.equal(open.length, 0, `section '${start[1]}' starts inside '${open[0]}'`);
      open.push(start[1]);
      sections++;
    }
  }
  assert.deepEqual(open, []);
  assert.ok(sections >= 12, `${sections} sections`);
  assert.ok(text.includes("\n ------ "), 'the Dmabuf dump end line starts with a space');
  assert.ok(text.includes("*** command 'dmabuf_dump -b' timed out after "), 'the timeout line');
});

// ---- containers -----------------------------------------------------------------------

test('a bugreport zip loads every buffer and holder of its scenario; zip64, disk and neutral names give identical tables', async () => {
  const zip = bugreportZipBytes(scenario, { fillerBytes: 200_000 });
  const base = await load({ name: 'bugreport.zip', bytes: zip });
  assertScenarioLoaded(base.session, scenario);
  base.session.close();

  const variants: Array<[string, string | { name: string; bytes: Uint8Array }]> = [
    ['zip64 in memory', { name: 'bugreport.zip', bytes: bugreportZipBytes(scenario, { fillerBytes: 200_000, zip64: true }) }],
    ['zip on disk', put('bugreport.zip', zip)],
    ['zip on disk under a neutral name', put('capture-0001', zip)],
    ['zip in memory under a neutral name', { name: 'upload.bin', bytes: zip }],
  ];
  for (const [what, input] of variants) {
    const r = await load(input);
    assert.deepEqual(r.tables, base.tables, what);
    assert.deepEqual(r.diags, base.diags, what);
    r.session.close();
  }
});

test('a streamed zip64 bugreport on disk with megabytes of filler around the DMA-BUF sections', async () => {
  const file = path.join(dir, 'streamed-zip64.zip');
  const r = await writeBugreportZip(file, scenario, { zip64: true, textBytes: 6_000_000 });
  assert.ok(r.textBytes > 5_000_000);
  const entries = listZip(fs.readFileSync(file)).map((e) => e.name);
  assert.ok(entries.includes(mainEntryName(scenario)) && entries.includes('main_entry.txt') && entries.includes('version.txt'));
  const s = await open([file]);
  assertScenarioLoaded(s, scenario);
  s.close();
});

test('plain .txt and .txt.gz give the same tables as the zip, under their own and neutral names', async () => {
  const opts = { fillerBytes: 200_000 };
  const fromZip = await load({ name: 'bugreport.zip', bytes: bugreportZipBytes(scenario, opts) });
  fromZip.session.close();
  const txtFile = path.join(dir, 'bugreport.txt');
  await writeBugreportText(txtFile, scenario, opts);
  const gz = bugreportTextGz(scenario, opts);
  assert.equal(gunzipSync(gz).toString('utf8'), fs.readFileSync(txtFile, 'utf8'));
  const inputs: Array<[string, string | { name: string; bytes: Uint8Array }]> = [
    ['.txt on disk', txtFile],
    ['.txt under a neutral name', put('report.dat', fs.readFileSync(txtFile))],
    ['.txt.gz on disk', put('bugreport.txt.gz', gz)],
    ['.txt.gz under a neutral name', put('blob', gz)],
    ['.txt.gz in memory', { name: 'x', bytes: gz }],
  ];
  for (const [what, input] of inputs) {
    const r = await load(input);
    assertScenarioLoaded(r.session, scenario);
    assert.deepEqual(r.tables, fromZip.tables, what);
    r.session.close();
  }
});

test('the main entry is found through main_entry.txt when its name is unusual, and by its name without main_entry.txt', async () => {
  const viaPointer = bugreportZipBytes(scenario, { mainEntryName: 'dumps/device-capture-7.txt' });
  const viaName = bugreportZipBytes(scenario, { mainEntryTxt: false });
  assert.ok(!listZip(viaName).some((e) => e.name === 'main_entry.txt'));
  const a = await load({ name: 'a.zip', bytes: viaPointer });
  const b = await load({ name: 'b.zip', bytes: viaName });
  assertScenarioLoaded(a.session, scenario);
  assertScenarioLoaded(b.session, scenario);
  assert.deepEqual(a.tables, b.tables);
  a.session.close();
  b.session.close();
});

test('an extracted bugreport zipped again, or the folder above it, is a bugreport: its text is found inside the one folder', async () => {
  const zip = bugreportZipBytes(scenario);
  const base = await load({ name: 'bugreport.zip', bytes: zip });
  base.session.close();
  const files = await unzipAll(zip);
  const folder = 'bugreport-oriole-2026-11-02';
  const rezipped = zipSync(Object.entries(files).map(([name, data]) => ({ name: `${folder}/${name}`, data })));
  const above = tempDir();
  for (const [name, data] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(above, folder, name)), { recursive: true });
    fs.writeFileSync(path.join(above, folder, name), data);
  }
  fs.writeFileSync(path.join(above, 'notes.txt'), 'seen on the second boot\n');
  for (const [what, input] of [
    ['zipped again', { name: 'bugreport-again.zip', bytes: rezipped }],
    ['the folder above', above],
  ] as const) {
    const r = await load(input);
    assertScenarioLoaded(r.session, scenario);
    assert.deepEqual(
      r.session.query('SELECT path FROM source WHERE parent_id = 1 ORDER BY id LIMIT 1').map((x) => String(x.path).replace(/^.*?(!\/|\/)(?=bugreport-oriole)/, '')),
      [`${folder}/${mainEntryName(scenario)}`],
      `${what}: the text is read first`,
    );
    assert.deepEqual(r.tables, base.tables, what);
    r.session.close();
  }
});

test('a bugreport zip sent inside another zip, or in a folder, with other files is read as the bugreport', async () => {
  const zip = bugreportZipBytes(scenario);
  const base = await load({ name: 'bugreport.zip', bytes: zip });
  base.session.close();
  const outer = zipSync([
    { name: 'logs/bugreport-oriole.zip', data: zip, method: 'store' },
    { name: 'logs/screen.png', data: new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0, 0, 0, 0]) },
    { name: 'steps.txt', data: 'open the camera, wait 5 minutes\n' },
  ]);
  const folder = tempDir();
  fs.writeFileSync(path.join(folder, 'bugreport-oriole.zip'), zip);
  fs.writeFileSync(path.join(folder, 'steps.txt'), 'open the camera, wait 5 minutes\n');
  for (const [what, input, others] of [
    ['inside a zip', { name: 'attachments.zip', bytes: outer }, '2 other files of attachments.zip'],
    ['in a folder', folder, `1 other file of ${folder}`],
  ] as const) {
    const r = await load(input);
    assertScenarioLoaded(r.session, scenario);
    assert.deepEqual(r.tables, base.tables, what);
    assert.ok(r.diags.includes(`info entries_skipped ${others}, beside this bugreport zip, not read`), `${what}: ${r.diags.join(' | ')}`);
    r.session.close();
  }
});

test('bugreports of every Android generation route their DMA-BUF sections (default variants per SDK)', async () => {
  for (const sdk of [30, 31, 33, 34, 35, 36]) {
    const s = randomScenario({ seed: 100 + sdk, processes: 25, buffers: 120, leak: 'camera', sdk });
    const text = renderBugreportText(s);
    assert.ok(text.includes(sdk <= 30 ? '------ Dmabuf dump (/product/bin/dmabuf_dump) ------' : '------ Dmabuf dump (dmabuf_dump) ------'), `sdk ${sdk}`);
    assert.equal(text.includes('(dmabuf_dump -b) ------'), sdk >= 31, `sdk ${sdk}: -b section`);
    const session = await open([{ name: `sdk${sdk}.zip`, bytes: bugreportZipBytes(s) }]);
    assert.equal(session.query('SELECT android_sdk FROM snapshot')[0].android_sdk, sdk);
    // Without -b (Android 11) only buffers some process holds are listed.
    const held = new Set(s.processes.flatMap((p) => p.holds.map((h) => h.inode)));
    const expected = s.buffers.map((b) => b.inode).filter((i) => sdk >= 31 || held.has(i)).sort((a, b) => a - b);
    assert.deepEqual(session.query('SELECT inode FROM dmabuf ORDER BY inode').map((r) => r.inode), expected, `sdk ${sdk}`);
    const holders = s.processes.flatMap((p) => p.holds.map((h) => `${h.inode}:${p.pid}`)).sort();
    assert.deepEqual(session.query('SELECT inode, pid FROM dmabuf_holder').map((r) => `${r.inode}:${r.pid}`).sort(), holders, `sdk ${sdk}`);
    assert.equal(session.query('SELECT count(*) AS n FROM meminfo_dmabuf')[0].n, 1, `sdk ${sdk}: meminfo block`);
    session.close();
  }
});

// ---- section failures -----------------------------------------------------------------

test('section failures become diagnostics and the other sections still load', async () => {
  // `codes`: every diagnostic, in order: the failure, what its missing or cut output implies,
  // and the zip's filler files (the same for every case).
  const cases: Array<{ what: string; failures: NonNullable<Parameters<typeof renderBugreportText>[1]>['failures']; pattern: RegExp; codes: string[] }> = [
    {
      what: 'dmabuf_dump exit code',
      failures: { dmabufDump: 'exit_code' },
      pattern: /dmabuf_dump' failed: exit code 1/,
      codes: ['error section_failed', 'info empty_section', 'info entries_skipped'],
    },
    {
      what: 'dmabuf_dump killed',
      failures: { dmabufDump: 'killed' },
      pattern: /dmabuf_dump' failed: killed by signal 9/,
      codes: ['error section_failed', 'info empty_section', 'info entries_skipped'],
    },
    {
      what: 'dmabuf_dump -b timed out',
      failures: { dmabufDumpB: 'timeout' },
      pattern: /dmabuf_dump -b' timed out after 10\.000s/,
      codes: ['error section_timeout', 'warning truncated', 'info entries_skipped'],
    },
    {
      what: 'meminfo timed out',
      failures: { meminfo: 'timeout' },
      pattern: /meminfo.*TIMEOUT|TIMEOUT.*meminfo/,
      codes: ['error section_timeout', 'info no_dmabuf_block', 'info entries_skipped'],
    },
  ];
  for (const c of cases) {
    const s = await open([{ name: 'bugreport.zip', bytes: bugreportZipBytes(scenario, { failures: c.failures }) }]);
    const d = diagnostics(s);
    assert.deepEqual(d.map((x) => `${x.severity} ${x.code}`), c.codes, c.what);
    assert.match(d[0].message, c.pattern, c.what);
    // The failure line is not data: no process or buffer came from it.
    assert.equal(s.query("SELECT count(*) AS n FROM process WHERE name LIKE '%***%'")[0].n, 0);
    // What the other sections hold is still there.
    if (c.failures?.dmabufDumpB) {
      // Without -b the per-process table still names every held buffer.
      const held = new Set(scenario.processes.flatMap((p) => p.holds.map((h) => h.inode)));
      assert.deepEqual(
        s.query('SELECT inode FROM dmabuf WHERE inode IN (SELECT inode FROM dmabuf_holder) ORDER BY inode').map((r) => r.inode),
        [...held].sort((x, y) => x - y),
      );
    } else {
      // -b lists every buffer even when the per-process dump failed.
      assert.equal(s.query('SELECT count(*) AS n FROM dmabuf')[0].n, scenario.buffers.length, c.what);
    }
    s.close();
  }
});

// ---- bad input ------------------------------------------------------------------------

const goodZip = bugreportZipBytes(scenario, { fillerBytes: 300_000 });

const BAD: Array<[string, () => Uint8Array]> = [
  ['not a zip (random bytes)', () => Uint8Array.from({ length: 5000 }, (_, i) => (i * 7919 + 13) % 251)],
  ['not a zip (zip magic, then garbage)', () => Buffer.concat([Buffer.from('PK\x03\x04'), Buffer.alloc(3000, 0x41)])],
  ['not a bugreport (a zip of unrelated files)', () => zipSync({ 'README.md': '# hello\n', 'photo.jpg': new Uint8Array(4096).fill(7) })],
  ['not a bugreport (text)', () => Buffer.from('Dear diary,\nnothing to see here.\n'.repeat(200))],
  // A zip cut short is read from its local headers (zip-cut.test.ts); one cut inside its first local header holds nothing.
  ['truncated zip (inside its first local header)', () => truncateZip(goodZip, 20)],
  ['corrupt deflate at the start of the main entry', () => bugreportZipBytes(scenario, { fillerBytes: 300_000, corruptMainAt: 0 })],
  ['corrupt deflate in the middle of the main entry', () => bugreportZipBytes(scenario, { fillerBytes: 300_000, corruptMainAt: 150_000 })],
];

test('bad input is refused with one typed, one-line error', async () => {
  for (const [what, make] of BAD) {
    const bytes = make();
    await assert.rejects(open([{ name: 'input.zip', bytes }]), assertOneLineInputError, `${what} (in memory)`);
    await assert.rejects(open([put('input-bad', bytes)]), assertOneLineInputError, `${what} (on disk)`);
  }
  await assert.rejects(open([path.join(dir, 'does-not-exist.zip')]), assertOneLineInputError, 'missing file');
});

test('the CLI answers bad input with exit code 2 and one line on stderr; good input with 0', () => {
  const run = (file: string) => cli(['analyze', '--quiet', file]);
  // One case of each kind (each run starts a node process).
  for (const [what, make] of BAD.filter((_, i) => i % 2 === 0)) {
    const r = run(put('cli-bad', make()));
    assert.equal(r.code, 2, `${what}: exit ${r.code}, stderr ${r.err}`);
    const lines = r.err.trim().split('\n');
    assert.equal(lines.length, 1, `${what}: stderr must be one line: ${r.err}`);
    assert.ok(lines[0].length > 0);
    assert.equal(r.out, '', what);
  }
  const ok = run(put('cli-good.zip', goodZip));
  assert.equal(ok.code, 0, ok.err);
  assert.ok(ok.out.length > 0);
});

// ---- the shipped example ----------------------------------------------------------------

test('examples/bugreport-example.zip holds the scenario examples/generate.ts describes, and its camera leak is found', async () => {
  const { EXAMPLE } = await import('../examples/generate.js');
  const s = randomScenario(EXAMPLE);
  const file = packagePath('examples', 'bugreport-example.zip');
  assert.ok(fs.statSync(file).size < 2_000_000, 'the example stays small');
  const session = await open([file]);
  try {
    assertScenarioLoaded(session, s);
    assert.ok(s.processes.length >= 200 && s.buffers.length >= 2000);
    // Buffers no process holds: the leaked CAMERA pile (and a little driver memory).
    const held = new Set(s.processes.flatMap((p) => p.holds.map((h) => h.inode)));
    const unheld = s.buffers.filter((b) => !held.has(b.inode));
    const unheldBytes = unheld.reduce((a, b) => a + b.size, 0);
    assert.ok(unheld.filter((b) => b.name === 'CAMERA').length >= 12);
    const suspects = session.run('dmabuf_leak_suspects').filter((r) => r.kind === 'kernel_held');
    assert.ok(suspects.length > 0, 'a kernel_held suspect');
    const reported = suspects.reduce((a, r) => a + Number(r.bytes), 0);
    assert.ok(Math.abs(reported - unheldBytes) < 1024 * suspects.length, `kernel_held ${reported} vs ${unheldBytes} bytes held by no process`);
  } finally {
    session.close();
  }
});
