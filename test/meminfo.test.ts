// dumpsys meminfo DMA-BUF block (formats.md §4): golden tables per variant through the real
// `open()`, `%,9dK` numbers, the block found anywhere in a whole dump, tolerance, sniffing,
// mutation.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openTexts, csv, diagnostics, asSession, importDirect } from './helpers.js';
import { fuzzImporter } from './fuzz.js';
import { smallScenario, type Scenario } from './fixtures/scenario.js';
import { renderMeminfo, meminfoOf, fmtK, type MeminfoVariant } from './fixtures/meminfo.js';
import { minimalBugreport, serviceBlock } from './fixtures/bugreport.js';
import { Rng } from './fixtures/generate-scenario.js';
import { dmabufDumpImporter } from '../src/importers/dmabuf-dump.js';
import { dmabufDumpBImporter } from '../src/importers/dmabuf-dump-b.js';
import { meminfoImporter } from '../src/importers/meminfo.js';

/** Import one text straight through the importer (no sniffing): for inputs no sniffer would accept. */
const importText = (text: string) => importDirect(meminfoImporter, text, 'meminfo.txt');

const VARIANTS: MeminfoVariant[] = ['dmabuf', 'dmabuf_gpu_breakdown', 'ion', 'lowmem'];

const ROW_SQL = `SELECT total_bytes, mapped_bytes, unmapped_bytes, heaps_bytes, pool_bytes, gpu_total_bytes,
  gpu_dmabuf_bytes, gpu_private_bytes, kernel_cma_bytes, ion_total_bytes, ion_mapped_bytes, ion_unmapped_bytes, ion_pool_bytes
  FROM meminfo_dmabuf ORDER BY rowid`;
const HEADER =
  'total_bytes,mapped_bytes,unmapped_bytes,heaps_bytes,pool_bytes,gpu_total_bytes,gpu_dmabuf_bytes,gpu_private_bytes,kernel_cma_bytes,ion_total_bytes,ion_mapped_bytes,ion_unmapped_bytes,ion_pool_bytes';
const TOTAL_SQL = "SELECT total_bytes, in_kb FROM dmabuf_reported_total WHERE origin = 'meminfo'";

// Golden rows, by hand from smallScenario(): total 46,064K (all six buffers), mapped 12,208K
// (1001, 1002, 1006), heaps 45,040K (all but the mali buffer), pool 1,536K, GPU 15,360K =
// 5,120K dmabuf (mali 1003 + 1002 attached to the gpu) + 10,240K private, Kernel CMA 16,384K.
const GOLDEN: Record<MeminfoVariant, string> = {
  dmabuf: '47169536,12500992,34668544,46120960,1572864,15728640,,,,,,,',
  dmabuf_gpu_breakdown: '47169536,12500992,34668544,46120960,1572864,15728640,5242880,10485760,16777216,,,,',
  ion: ',,,,,15728640,,,,48742400,12500992,34668544,1572864',
  lowmem: '47169536,,,46120960,1572864,15728640,5242880,10485760,,,,,',
};

for (const v of VARIANTS) {
  test(`meminfo ${v}: golden table`, async () => {
    const text = renderMeminfo(smallScenario(), v);
    const s = await openTexts({ 'capture.txt': text });
    assert.deepEqual(csv(s, ROW_SQL), [HEADER, GOLDEN[v]]);
    const first = text.split('\n').findIndex((l) => /^\s*(DMA-BUF|ION):/.test(l)) + 1;
    assert.equal(s.query('SELECT line FROM meminfo_dmabuf')[0].line, first);
    assert.deepEqual(csv(s, TOTAL_SQL), v === 'ion' ? ['total_bytes,in_kb'] : ['total_bytes,in_kb', '47169536,1']);
    assert.deepEqual(diagnostics(s), []);
    s.close();
  });

  test(`meminfo ${v}: values agree with the scenario's truth`, async () => {
    const sc: Scenario = smallScenario();
    sc.meminfo = { dmabufTotalKb: 12345678, mappedKb: 152, unmappedKb: 12345526, heapsKb: 1024844, poolKb: 0, gpuDmabufKb: 258796, gpuPrivateKb: 7, kernelCmaKb: 0 };
    const m = meminfoOf(sc);
    const s = await openTexts({ 'capture.txt': renderMeminfo(sc, v) });
    const row = s.query(ROW_SQL)[0];
    const k = (n: number) => n * 1024;
    if (v === 'ion') {
      assert.equal(row.ion_total_bytes, k(m.dmabufTotalKb + m.poolKb));
      assert.equal(row.ion_mapped_bytes, k(m.mappedKb));
      assert.equal(row.ion_unmapped_bytes, k(m.unmappedKb));
      assert.equal(row.ion_pool_bytes, k(m.poolKb));
      assert.equal(row.total_bytes, null);
    } else {
      assert.equal(row.total_bytes, k(m.dmabufTotalKb));
      assert.equal(row.heaps_bytes, k(m.heapsKb));
      assert.equal(row.pool_bytes, k(m.poolKb));
      assert.equal(row.mapped_bytes, v === 'lowmem' ? null : k(m.mappedKb));
    }
    assert.equal(row.gpu_total_bytes, k(m.gpuTotalKb));
    if (v === 'dmabuf_gpu_breakdown' || v === 'lowmem') {
      assert.equal(row.gpu_dmabuf_bytes, k(m.gpuDmabufKb));
      assert.equal(row.gpu_private_bytes, k(m.gpuPrivateKb));
    }
    if (v === 'dmabuf_gpu_breakdown') assert.equal(row.kernel_cma_bytes, 0);
    s.close();
  });

  test(`meminfo ${v}: recognized by content under a neutral name, and by no other importer`, () => {
    const head = renderMeminfo(smallScenario(), v);
    assert.equal(meminfoImporter.sniff(head, 'x.txt'), true);
    assert.equal(dmabufDumpImporter.sniff(head, 'x.txt'), false);
    assert.equal(dmabufDumpBImporter.sniff(head, 'x.txt'), false);
  });
}

test('meminfo: %,9dK numbers', () => {
  assert.equal(fmtK(0), '        0K');
  assert.equal(fmtK(455268), '  455,268K');
  assert.equal(fmtK(12345678), '12,345,678K');
  const text = renderMeminfo(smallScenario(), 'dmabuf_gpu_breakdown');
  assert.ok(text.includes('\nDMA-BUF:    46,064K (   12,208K mapped +    33,856K unmapped)\n'));
  assert.ok(text.includes('\n      GPU:    15,360K (    5,120K dmabuf +    10,240K private)\n'));
  assert.ok(text.includes('\n      Kernel CMA:    16,384K\n'));
});

// Typed after the shape of public `dumpsys meminfo` samples: the summary part only, ION
// numbers with irregular widths, GPU without the breakdown.
test('meminfo: summary blocks in the shape of public samples', async () => {
  const dmabuf = [
    '          0K: GL mtrack',
    '          0K: Other mtrack',
    '',
    'Total RAM: 7,654,321K (status normal)',
    ' Free RAM: 2,345,678K (  345,678K cached pss + 1,900,000K cached kernel +   100,000K free)',
    'DMA-BUF:   812,345K (      160K mapped +   812,185K unmapped)',
    'DMA-BUF Heaps:    24,800K',
    'DMA-BUF Heaps pool:         0K',
    '      GPU:   250,000K (  250,000K dmabuf +         0K private)',
    '      Kernel CMA:         0K',
    ' Used RAM: 3,500,000K (1,700,000K used pss + 1,800,000K kernel)',
    ' Lost RAM:   360,000K',
  ].join('\n');
  const a = await importText(dmabuf);
  assert.deepEqual(csv(asSession(a), ROW_SQL), [
    HEADER,
    [812345, 160, 812185, 24800, 0, 250000, 250000, 0, 0].map((k) => k * 1024).join(',') + ',,,,',
  ]);
  assert.deepEqual(a.query('SELECT code FROM diagnostic'), []);
  a.close();

  const ion = [
    'Total RAM: 3,456,789K (status moderate)',
    ' Free RAM: 1,234K (2,345K cached pss + 3,456K cached kernel + 4,567K free)',
    '      ION:   132,000K (  6,900K mapped +   125,100K unmapped +   0K pools)',
    '      GPU:   194,700K',
    ' Used RAM: 2,835,979K (2,170,795K used pss +   665,184K kernel)',
  ].join('\n');
  const b = await importText(ion);
  assert.deepEqual(csv(asSession(b), ROW_SQL), [HEADER, `,,,,,${194700 * 1024},,,,${132000 * 1024},${6900 * 1024},${125100 * 1024},0`]);
  b.close();
});

test('meminfo: tabs, CRLF and stripped spaces change nothing', async () => {
  for (const v of VARIANTS) {
    const text = renderMeminfo(smallScenario(), v);
    for (const t of [text.replace(/ {2,}/g, '\t'), text.replace(/\n/g, '\r\n'), text.replace(/[ \t]+$/gm, '').replace(/\( +/g, '(')]) {
      const db = await importText(t);
      assert.deepEqual(csv(asSession(db), ROW_SQL), [HEADER, GOLDEN[v]], v);
      assert.deepEqual(db.query('SELECT code FROM diagnostic'), []);
      db.close();
    }
  }
});

test('meminfo: a dump cut before its summary has no row and an info diagnostic; a bad number is a warning', async () => {
  const text = renderMeminfo(smallScenario(), 'dmabuf');
  const cut = await importText(text.slice(0, text.indexOf('Total RAM:')));
  assert.deepEqual(cut.query('SELECT count(*) AS n FROM meminfo_dmabuf')[0].n, 0);
  assert.deepEqual(cut.query('SELECT severity, code FROM diagnostic'), [{ severity: 'info', code: 'no_dmabuf_block' }]);
  cut.close();

  const lines = text.split('\n');
  const bad = lines.findIndex((l) => l.startsWith('DMA-BUF Heaps:'));
  lines[bad] = 'DMA-BUF Heaps:    45,O40K';
  const s = await openTexts({ 'capture.txt': lines.join('\n') });
  assert.deepEqual(diagnostics(s).map((d) => `${d.severity} ${d.code} ${d.line}`), [`warning malformed_row ${bad + 1}`]);
  assert.deepEqual(csv(s, ROW_SQL), [HEADER, '47169536,12500992,34668544,,1572864,15728640,,,,,,,']);
  s.close();
});

test('meminfo: two summaries in one text make two rows', async () => {
  const one = renderMeminfo(smallScenario(), 'dmabuf_gpu_breakdown');
  const db = await importText(one + '\n' + one);
  assert.deepEqual(csv(asSession(db), ROW_SQL), [HEADER, GOLDEN.dmabuf_gpu_breakdown, GOLDEN.dmabuf_gpu_breakdown]);
  assert.equal(db.query("SELECT count(*) AS n FROM dmabuf_reported_total WHERE origin = 'meminfo'")[0].n, 2);
  db.close();
});

test('meminfo: read from the meminfo service of a bugreport DUMPSYS section', async () => {
  const sc = smallScenario();
  const rng = new Rng(1);
  const text = minimalBugreport([
    [
      'DUMPSYS HIGH',
      '/system/bin/dumpsys -T 30000 --priority HIGH',
      serviceBlock(sc, rng, 'meminfo', 'HIGH', renderMeminfo(sc, 'dmabuf_gpu_breakdown')) +
        serviceBlock(sc, rng, 'network_stack', 'HIGH', 'DMA-BUF:   999,999K (not meminfo: must not be read)\n'),
    ],
  ]);
  assert.ok(text.includes('\nDUMP OF SERVICE HIGH network_stack:\nDMA-BUF:   999,999K'));
  const s = await openTexts({ 'bugreport.txt': text });
  assert.deepEqual(csv(s, ROW_SQL), [HEADER, GOLDEN.dmabuf_gpu_breakdown]);
  assert.deepEqual(s.query("SELECT importer FROM source WHERE importer = 'meminfo'"), [{ importer: 'meminfo' }]);
  s.close();
});

test('meminfo: random line deletions and byte flips never throw', async () => {
  await fuzzImporter(meminfoImporter, VARIANTS.map((v) => renderMeminfo(smallScenario(), v)), { seed: 777, iterations: 200 });
});
