// dmabuf_dump default mode (formats.md §2a): golden tables per Android variant, rendered
// from a scenario and read back through the real `open()`, plus tolerance, sniffing and
// mutation tests.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openTexts, csv, diagnostics, rng, importDirect, asSession } from './helpers.js';
import { fuzzImporter } from './fuzz.js';
import { smallScenario, commOf, type Scenario } from './fixtures/scenario.js';
import { renderDmabufDump, type DmabufDumpVariant } from './fixtures/dmabuf-dump.js';
import { dmabufDumpImporter } from '../src/importers/dmabuf-dump.js';
import { dmabufDumpBImporter } from '../src/importers/dmabuf-dump-b.js';
import { meminfoImporter } from '../src/importers/meminfo.js';
import { minimalBugreport } from './fixtures/bugreport.js';

/** Import one text straight through the importer (no sniffing): for inputs no sniffer would accept. */
const importText = (text: string) => importDirect(dmabufDumpImporter, text, 'capture.txt');

const VARIANTS: DmabufDumpVariant[] = ['a11', 'a12', 'a14', 'a16', 'csv15', 'csv16'];

/**
 * smallScenario plus what it lacks for this format: a buffer whose size is not a whole kB
 * (dmabuf_dump truncates), a name with a space and a comma, and a process whose comm is
 * unknown (`N/A`).
 */
function scenario(): Scenario {
  const s = smallScenario();
  s.buffers.push(
    { inode: 1007, size: 1000000, exporter: 'system', name: 'frame buffer, cam0' },
    { inode: 1008, size: 3000, exporter: 'qcom,system' },
  );
  s.processes.find((p) => p.pid === 987)!.holds.push({ inode: 1007, fds: 1, maps: 0 });
  s.processes.push({
    pid: 31337,
    name: '',
    holds: [
      { inode: 1007, fds: 1, maps: 1 },
      { inode: 1008, fds: 1, maps: 0 },
    ],
  });
  return s;
}

const OBS_SQL = 'SELECT inode, size, size_exact, exporter, name FROM dmabuf_observation ORDER BY inode';
const HOLDER_SQL = 'SELECT inode, pid, fd_refs, map_refs, reported_pss FROM dmabuf_holder_observation ORDER BY inode, pid';
const PROC_TOTAL_SQL =
  "SELECT pid, userspace_rss_bytes, userspace_pss_bytes, in_kb FROM dmabuf_reported_total WHERE origin = 'dmabuf_dump_process' ORDER BY pid";
const TOTAL_SQL =
  "SELECT total_bytes, kernel_bytes, userspace_rss_bytes, userspace_pss_bytes, in_kb FROM dmabuf_reported_total WHERE origin = 'dmabuf_dump'";
const PROCESS_SQL = 'SELECT pid, name FROM process ORDER BY pid';

// Golden tables, computed by hand from scenario() (sizes in kB, truncated, × 1024).
const GOLDEN_OBS_NO_EXPORTER = [
  'inode,size,size_exact,exporter,name',
  '1001,8294400,0,,CAMERA',
  '1002,4194304,0,,',
  '1003,1048576,0,,',
  '1004,65536,0,,',
  '1006,12288,0,,',
  '1007,999424,0,,"frame buffer, cam0"',
  '1008,2048,0,,',
];
const GOLDEN_OBS_EXPORTER = [
  'inode,size,size_exact,exporter,name',
  '1001,8294400,0,system,CAMERA',
  '1002,4194304,0,"qcom,system",',
  '1003,1048576,0,mali,',
  '1004,65536,0,system,',
  '1006,12288,0,"qcom,system",',
  '1007,999424,0,system,"frame buffer, cam0"',
  '1008,2048,0,"qcom,system",',
];
// Android 14+: Pss = size / number of holder processes.
const GOLDEN_HOLDERS_14 = [
  'inode,pid,fd_refs,map_refs,reported_pss',
  '1001,987,,,4147200',
  '1001,1234,,,4147200',
  '1002,987,,,2097152',
  '1002,2345,,,2097152',
  '1003,987,,,1048576',
  '1004,1234,,,65536',
  '1006,2345,,,12288',
  '1007,987,,,499712',
  '1007,31337,,,499712',
  '1008,31337,,,2048',
];
// Android 11–13: Pss = size / number of mapping processes when this process maps it, else 0.
const GOLDEN_HOLDERS_12 = [
  'inode,pid,fd_refs,map_refs,reported_pss',
  '1001,987,,,0',
  '1001,1234,,,8294400',
  '1002,987,,,4194304',
  '1002,2345,,,0',
  '1003,987,,,0',
  '1004,1234,,,0',
  '1006,2345,,,12288',
  '1007,987,,,0',
  '1007,31337,,,999424',
  '1008,31337,,,0',
];
const GOLDEN_PROC_TOTALS_14 = [
  'pid,userspace_rss_bytes,userspace_pss_bytes,in_kb',
  `987,${14196 * 1024},${7610 * 1024},1`,
  `1234,${8164 * 1024},${4114 * 1024},1`,
  `2345,${4108 * 1024},${2060 * 1024},1`,
  `31337,${979 * 1024},${491 * 1024},1`,
];
const GOLDEN_PROC_TOTALS_12 = [
  'pid,userspace_rss_bytes,userspace_pss_bytes,in_kb',
  `987,${14196 * 1024},${4096 * 1024},1`,
  `1234,${8164 * 1024},${8100 * 1024},1`,
  `2345,${4108 * 1024},${12 * 1024},1`,
  `31337,${979 * 1024},${976 * 1024},1`,
];
const GOLDEN_TOTAL_14 = ['total_bytes,kernel_bytes,userspace_rss_bytes,userspace_pss_bytes,in_kb', `${47043 * 1024},${32768 * 1024},${27448 * 1024},${14275 * 1024},1`];
const GOLDEN_TOTAL_12 = ['total_bytes,kernel_bytes,userspace_rss_bytes,userspace_pss_bytes,in_kb', `${47043 * 1024},${32768 * 1024},${27448 * 1024},${13184 * 1024},1`];
const GOLDEN_PROCESSES = ['pid,name', '987,surfaceflinger', '1234,-service-google', '2345,ndroid.systemui', '31337,'];

const golden: Record<DmabufDumpVariant, { obs: string[]; holders: string[]; procTotals: string[]; total: string[] }> = {
  a11: { obs: GOLDEN_OBS_NO_EXPORTER, holders: GOLDEN_HOLDERS_12, procTotals: GOLDEN_PROC_TOTALS_12, total: GOLDEN_TOTAL_12 },
  a12: { obs: GOLDEN_OBS_NO_EXPORTER, holders: GOLDEN_HOLDERS_12, procTotals: GOLDEN_PROC_TOTALS_12, total: GOLDEN_TOTAL_12 },
  a14: { obs: GOLDEN_OBS_NO_EXPORTER, holders: GOLDEN_HOLDERS_14, procTotals: GOLDEN_PROC_TOTALS_14, total: GOLDEN_TOTAL_14 },
  a16: { obs: GOLDEN_OBS_EXPORTER, holders: GOLDEN_HOLDERS_14, procTotals: GOLDEN_PROC_TOTALS_14, total: GOLDEN_TOTAL_14 },
  csv15: { obs: GOLDEN_OBS_NO_EXPORTER, holders: GOLDEN_HOLDERS_14, procTotals: GOLDEN_PROC_TOTALS_14, total: GOLDEN_TOTAL_14 },
  csv16: { obs: GOLDEN_OBS_EXPORTER, holders: GOLDEN_HOLDERS_14, procTotals: GOLDEN_PROC_TOTALS_14, total: GOLDEN_TOTAL_14 },
};

/** A minimal bugreport holding one `Dmabuf dump` section (and another section after it). */
function bugreportWith(body: string): string {
  return minimalBugreport([['Dmabuf dump', 'dmabuf_dump', body], ['UPTIME', 'uptime', ' up 2:05']]);
}

for (const v of VARIANTS) {
  test(`dmabuf_dump ${v}: golden tables`, async () => {
    const s = await openTexts({ 'capture.txt': renderDmabufDump(scenario(), v) });
    const g = golden[v];
    assert.deepEqual(csv(s, OBS_SQL), g.obs);
    assert.deepEqual(csv(s, HOLDER_SQL), g.holders);
    assert.deepEqual(csv(s, PROC_TOTAL_SQL), g.procTotals);
    assert.deepEqual(csv(s, TOTAL_SQL), g.total);
    assert.deepEqual(csv(s, PROCESS_SQL), GOLDEN_PROCESSES);
    assert.deepEqual(diagnostics(s), []);
    // The merged tables: one buffer per inode, one holder per (inode, pid).
    assert.equal(s.query('SELECT count(*) AS n FROM dmabuf')[0].n, 7);
    assert.equal(s.query("SELECT count(*) AS n FROM dmabuf WHERE seen_by = 'dmabuf_dump' AND size_exact = 0")[0].n, 7);
    assert.equal(s.query('SELECT count(*) AS n FROM dmabuf_holder')[0].n, 10);
    s.close();
  });

  test(`dmabuf_dump ${v}: rows agree with the scenario's truth`, async () => {
    const sc = scenario();
    const s = await openTexts({ 'capture.txt': renderDmabufDump(sc, v) });
    // Every held buffer, with every holder; the kernel-only buffer (1005) is not in this table.
    const truth: string[] = [];
    for (const p of sc.processes) for (const h of p.holds) if (h.fds > 0 || h.maps > 0) truth.push(`${h.inode}/${p.pid}`);
    const got = s.query('SELECT inode, pid FROM dmabuf_holder').map((r) => `${r.inode}/${r.pid}`);
    assert.deepEqual(got.sort(), truth.sort());
    for (const b of sc.buffers.filter((b) => truth.some((t) => t.startsWith(`${b.inode}/`)))) {
      const row = s.query('SELECT size, name FROM dmabuf WHERE inode = ?', [b.inode])[0];
      assert.equal(row.size, Math.floor(b.size / 1024) * 1024, `size of ${b.inode}`);
      assert.equal(row.name, b.name ?? null, `name of ${b.inode}`);
    }
    for (const p of sc.processes) {
      const name = s.query('SELECT name FROM process WHERE pid = ?', [p.pid])[0]?.name;
      assert.equal(name, commOf(p.name) || null, `comm of ${p.pid}`);
    }
    s.close();
  });

  test(`dmabuf_dump ${v}: recognized by content under a neutral name, and by no other importer`, () => {
    const text = renderDmabufDump(scenario(), v);
    const head = text.slice(0, 64 * 1024);
    assert.equal(dmabufDumpImporter.sniff(head, 'x.txt'), true);
    assert.equal(dmabufDumpBImporter.sniff(head, 'x.txt'), false);
    assert.equal(meminfoImporter.sniff(head, 'x.txt'), false);
  });
}

test('dmabuf_dump: the renderer prints the exact printf layout', () => {
  const a14 = renderDmabufDump(scenario(), 'a14').split('\n');
  assert.equal(a14[0], ' -service-google:1234 ');
  assert.equal(a14[1], '                  Name              Rss              Pss         nr_procs            Inode');
  assert.equal(a14[2], '                CAMERA          8100 kB          4050 kB                2             1001');
  assert.equal(a14[4], '         PROCESS TOTAL          8164 kB          4114 kB                 ');
  assert.equal(a14[5], '----------------------');
  assert.equal(a14.at(-1), ' ');
  const a16 = renderDmabufDump(scenario(), 'a16').split('\n');
  assert.equal(a16[1], '                  Name              Rss              Pss         nr_procs            Inode               Exporter');
  assert.equal(a16[2], '                CAMERA          8100 kB          4050 kB                2             1001                  system');
  const csv16 = renderDmabufDump(scenario(), 'csv16').split('\n');
  assert.equal(csv16[0], '\t-service-google:1234');
  assert.ok(csv16.includes('"<unknown>",4096,2048,2,1002,qcom,system'));
});

test('dmabuf_dump: Android 11 without debugfs (fallback line, kernel_rss 0) is read with an info diagnostic', async () => {
  const s = await openTexts({ 'capture.txt': renderDmabufDump(scenario(), 'a11', { debugfsFallback: true }) });
  assert.deepEqual(csv(s, TOTAL_SQL), ['total_bytes,kernel_bytes,userspace_rss_bytes,userspace_pss_bytes,in_kb', `${14275 * 1024},0,${27448 * 1024},${13184 * 1024},1`]);
  assert.deepEqual(
    diagnostics(s).map((d) => `${d.severity} ${d.code} ${d.line}`),
    ['info debugfs_fallback 1'],
  );
  assert.deepEqual(csv(s, HOLDER_SQL), GOLDEN_HOLDERS_12);
  s.close();
});

test('dmabuf_dump: the "Could not get total exported" warning becomes a diagnostic', async () => {
  const text = renderDmabufDump(scenario(), 'a14', { noTotalExported: true });
  const s = await openTexts({ 'capture.txt': text });
  const d = diagnostics(s);
  assert.equal(d.length, 1);
  assert.equal(d[0].code, 'dmabuf_dump_warning');
  assert.equal(d[0].line, text.split('\n').findIndex((l) => l.startsWith('Warning:')) + 1);
  assert.equal(s.query("SELECT kernel_bytes FROM dmabuf_reported_total WHERE origin = 'dmabuf_dump'")[0].kernel_bytes, 0);
  s.close();
});

test('dmabuf_dump: "dmabuf info not found" gives no rows and an info diagnostic', async () => {
  const db = await importText('dmabuf info not found ¯\\_(ツ)_/¯\n');
  assert.equal(db.query('SELECT count(*) AS n FROM dmabuf_observation')[0].n, 0);
  assert.deepEqual(db.query('SELECT severity, code FROM diagnostic'), [{ severity: 'info', code: 'no_data' }]);
  db.close();
});

test('dmabuf_dump: tabs for padding, CRLF line ends and stripped trailing spaces change nothing', async () => {
  for (const v of ['a12', 'a16'] as const) {
    const text = renderDmabufDump(scenario(), v);
    const variants = [
      text.replace(/ {2,}/g, '\t'),
      text.replace(/\n/g, '\r\n'),
      text.replace(/[ \t]+$/gm, ''),
      text.replace(/ {2,}/g, ' \t '),
    ];
    for (const t of variants) {
      const db = await importText(t);
      const s = asSession(db);
      assert.deepEqual(csv(s, OBS_SQL), golden[v].obs, `observations of ${v} / ${JSON.stringify(t.slice(0, 30))}`);
      assert.deepEqual(csv(s, HOLDER_SQL), golden[v].holders);
      assert.deepEqual(csv(s, PROC_TOTAL_SQL), golden[v].procTotals);
      assert.deepEqual(csv(s, TOTAL_SQL), golden[v].total);
      assert.deepEqual(db.query('SELECT code FROM diagnostic'), []);
      db.close();
    }
  }
});

test('dmabuf_dump: a process table cut short is kept and flagged', async () => {
  const lines = renderDmabufDump(scenario(), 'a14').split('\n');
  // Cut inside surfaceflinger's table, after its second buffer row.
  const sf = lines.findIndex((l) => /surfaceflinger:987/.test(l));
  const text = lines.slice(0, sf + 4).join('\n') + '\n';
  const db = await importText(text);
  assert.deepEqual(
    db.query('SELECT inode, pid FROM dmabuf_holder_observation ORDER BY pid, inode').map((r) => `${r.inode}/${r.pid}`),
    ['1001/987', '1002/987', '1001/1234', '1004/1234'],
  );
  assert.deepEqual(
    db.query('SELECT severity, code, line FROM diagnostic ORDER BY id').map((r) => `${r.severity} ${r.code} ${r.line}`),
    [`warning truncated ${sf + 1}`, 'warning truncated null'],
  );
  assert.equal(db.query("SELECT count(*) AS n FROM dmabuf_reported_total WHERE origin = 'dmabuf_dump'")[0].n, 0);
  db.close();
});

test('dmabuf_dump: a malformed row becomes a diagnostic and the rest of the section is kept', async () => {
  const lines = renderDmabufDump(scenario(), 'a16').split('\n');
  const bad = lines.findIndex((l) => /\b1003\b/.test(l) && /mali/.test(l));
  lines[bad] = '             <unknown>          1024 kB            x1 kB                1             1003                    mali';
  const s = await openTexts({ 'capture.txt': lines.join('\n') });
  const d = diagnostics(s);
  assert.deepEqual(
    d.map((x) => `${x.severity} ${x.code} ${x.line}`),
    [`warning malformed_row ${bad + 1}`],
  );
  assert.match(d[0].message, /x1 kB/);
  // Everything but the bad row is there.
  assert.deepEqual(csv(s, OBS_SQL), GOLDEN_OBS_EXPORTER.filter((r) => !r.startsWith('1003,')));
  assert.deepEqual(csv(s, HOLDER_SQL), GOLDEN_HOLDERS_14.filter((r) => !r.startsWith('1003,')));
  assert.deepEqual(csv(s, PROC_TOTAL_SQL), GOLDEN_PROC_TOTALS_14);
  s.close();
});

test('dmabuf_dump: inside a bugreport (the end line begins with a space)', async () => {
  for (const v of ['a12', 'a16', 'csv16'] as const) {
    const s = await openTexts({ 'bugreport.txt': bugreportWith(renderDmabufDump(scenario(), v)) });
    assert.deepEqual(csv(s, OBS_SQL), golden[v].obs);
    assert.deepEqual(csv(s, HOLDER_SQL), golden[v].holders);
    assert.deepEqual(csv(s, TOTAL_SQL), golden[v].total);
    assert.deepEqual(diagnostics(s), []);
    assert.deepEqual(s.query("SELECT importer FROM source WHERE importer = 'dmabuf_dump'"), [{ importer: 'dmabuf_dump' }]);
    s.close();
  }
});

// A per-process capture typed after the shape of public samples (`dmabuf_dump <pid>` as
// collected by test harnesses): the pid is not padded, PROCESS TOTAL has no trailing
// spaces, its Pss disagrees with the rows (kept as printed), no "\n " after the totals.
test('dmabuf_dump: a per-pid capture in the shape of public samples', async () => {
  const text = [
    ' provider@2.7-se:4321',
    '                  Name              Rss              Pss         nr_procs            Inode',
    '             <unknown>           576 kB           576 kB                1           153387',
    '             <unknown>             8 kB             8 kB                1           153388',
    '             <unknown>           576 kB           576 kB                1           205579',
    '         PROCESS TOTAL          1160 kB          1000 kB',
    '----------------------',
    'dmabuf total: 1160 kB kernel_rss: 0 kB userspace_rss: 1160 kB userspace_pss: 1160 kB',
  ].join('\n');
  const s = await openTexts({ 'dmabuf.txt': text });
  assert.deepEqual(csv(s, HOLDER_SQL), [
    'inode,pid,fd_refs,map_refs,reported_pss',
    '153387,4321,,,589824',
    '153388,4321,,,8192',
    '205579,4321,,,589824',
  ]);
  assert.deepEqual(csv(s, PROC_TOTAL_SQL), ['pid,userspace_rss_bytes,userspace_pss_bytes,in_kb', `4321,${1160 * 1024},${1000 * 1024},1`]);
  assert.deepEqual(csv(s, PROCESS_SQL), ['pid,name', '4321,provider@2.7-se']);
  assert.deepEqual(diagnostics(s), []);
  s.close();
});

// A capture copied from a terminal narrower than the totals line: the line wraps in two, the
// second half indented (the shape of a published capture).
test('dmabuf_dump: a totals line wrapped in two is read as one', async () => {
  const text = [
    'surfaceflinger:1240',
    '        Name              Rss              Pss         nr_procs   Inode    Exporter',
    '   <unknown>             4 kB             4 kB              1        82   qcom_hgsl',
    '   qcom,system        32128 kB         32128 kB              1       176   qcom,system',
    ' PROCESS TOTAL        32132 kB        32132 kB',
    '',
    'dmabuf total: 4504628 kB  kernel_rss: 4116576 kB',
    '              userspace_rss: 388052 kB  userspace_pss: 388052 kB',
  ].join('\r\n');
  const s = await openTexts({ 'dmabuf.txt': text });
  assert.deepEqual(s.query("SELECT total_bytes, kernel_bytes, userspace_rss_bytes, userspace_pss_bytes FROM dmabuf_reported_total WHERE origin = 'dmabuf_dump'"), [
    { total_bytes: 4504628 * 1024, kernel_bytes: 4116576 * 1024, userspace_rss_bytes: 388052 * 1024, userspace_pss_bytes: 388052 * 1024 },
  ]);
  assert.deepEqual(diagnostics(s), []);
  s.close();
});

test('dmabuf_dump: the Android 10 table without an Inode column keeps its totals', async () => {
  const text = [
    '  surfaceflinger:612  ',
    '                  Name              Rss              Pss         nr_procs',
    '             <unknown>          8100 kB          8100 kB                1',
    '         PROCESS TOTAL          8100 kB          8100 kB                 ',
    '----------------------',
    '                 TOTAL          8100 kB          8100 kB                 ',
  ].join('\n');
  const db = await importText(text);
  assert.equal(db.query('SELECT count(*) AS n FROM dmabuf_observation')[0].n, 0);
  assert.deepEqual(db.query("SELECT origin, pid, userspace_rss_bytes FROM dmabuf_reported_total ORDER BY origin"), [
    { origin: 'dmabuf_dump', pid: null, userspace_rss_bytes: 8100 * 1024 },
    { origin: 'dmabuf_dump_process', pid: 612, userspace_rss_bytes: 8100 * 1024 },
  ]);
  assert.deepEqual(db.query('SELECT severity, code FROM diagnostic'), [{ severity: 'info', code: 'no_inode_column' }]);
  db.close();
});

test('dmabuf_dump: CSV rows whose name holds quotes and commas are read from the right', async () => {
  const text = [
    '\tcamera server:77',
    '"Name","Rss(kB)","Pss(kB)","nr_procs","Inode","Exporter"',
    '"a, "b", c",4,4,1,9001,qcom,secure,heap',
    '',
    'PROCESS TOTAL',
    '"Rss total(kB)","Pss total(kB)"',
    '4,4',
    '----------------------',
    '\tTOTALS',
    '"dmabuf total (kB)","kernel_rss (kB)","userspace_rss (kB)","userspace_pss (kB)"',
    '4,0,4,4',
  ].join('\n');
  const s = await openTexts({ 'x.csv': text });
  assert.deepEqual(csv(s, OBS_SQL), ['inode,size,size_exact,exporter,name', '9001,4096,0,"qcom,secure,heap","a, ""b"", c"']);
  assert.deepEqual(csv(s, PROCESS_SQL), ['pid,name', '77,camera server']);
  assert.deepEqual(diagnostics(s), []);
  s.close();
});

test('dmabuf_dump: random line deletions and byte flips never throw', async () => {
  const next = rng(20261102);
  const bases = VARIANTS.map((v) => renderDmabufDump(scenario(), v));
  await fuzzImporter(dmabufDumpImporter, bases, { seed: 20261102, iterations: 300 });
  // Through the real open(), inside a bugreport (routing by section title, whatever the content).
  for (let iter = 0; iter < 20; iter++) {
    const lines = bases[iter % bases.length].split('\n');
    lines.splice(Math.floor(next() * lines.length), 1);
    const at = Math.floor(next() * lines.length);
    lines[at] = lines[at].replace(/\d/, 'Z');
    const s = await openTexts({ 'bugreport.txt': bugreportWith(lines.join('\n')) });
    assert.equal(s.query("SELECT count(*) AS n FROM diagnostic WHERE code = 'importer_failed'")[0].n, 0);
    s.close();
  }
});
