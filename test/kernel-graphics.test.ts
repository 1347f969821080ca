// `dumpsys gpu` memory snapshot and SurfaceFlinger's GraphicBufferAllocator table (formats.md
// §5): golden tables through the real `open()`, both as capture files and as the dumpsys
// service blocks of a bugreport the bugreport importer routes by service name.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openTexts, assertRows, csv, csvLines, diagnostics } from './helpers.js';
import { smallScenario } from './fixtures/scenario.js';
import { renderDumpsysGpu, gpuSnapshotOf, renderGralloc, grallocRowsOf, type GpuSnapshot, type GrallocRow } from './fixtures/kernel.js';
import { renderBugreportText, serviceBlock } from './fixtures/bugreport.js';
import { Rng } from './fixtures/generate-scenario.js';

const GPU = 'SELECT gpu_id, pid, total_bytes, imported_bytes FROM gpu_memory_total ORDER BY gpu_id, pid IS NOT NULL, pid';
const GRALLOC = 'SELECT handle, size, width, stride, height, layer_count, format, usage, requestor FROM gralloc_buffer ORDER BY line';
const GTOTAL = 'SELECT total_bytes, buffer_count FROM gralloc_allocator_total';

function gpuExpected(snap: GpuSnapshot): string[] {
  return csvLines(
    ['gpu_id', 'pid', 'total_bytes', 'imported_bytes'],
    snap.gpus.flatMap((g) => [
      [g.gpuId, null, g.global, snap.imported && g.global !== null ? (g.globalImported ?? null) : null],
      ...g.procs.map((p) => [g.gpuId, p.pid, p.total, snap.imported ? (p.imported ?? 0) : null]),
    ]),
  );
}

function grallocExpected(rows: GrallocRow[]): string[] {
  return csvLines(
    ['handle', 'size', 'width', 'stride', 'height', 'layer_count', 'format', 'usage', 'requestor'],
    rows.map((r) => [r.handle, r.size, r.width, r.stride, r.height, r.layers, r.format, r.usage, r.requestor]),
  );
}

for (const imported of [false, true]) {
  test(`dumpsys gpu${imported ? ' with imported memory' : ''}: golden table`, async () => {
    const snap = { ...gpuSnapshotOf(smallScenario()), imported };
    const session = await openTexts({ 'gpu.txt': renderDumpsysGpu(snap) });
    assert.deepEqual(csv(session, 'SELECT importer FROM source'), ['importer', 'dumpsys_gpu']);
    assertRows(session, GPU, gpuExpected(snap));
    assert.deepEqual(diagnostics(session), []);
  });
}

test('dumpsys gpu: two GPUs, a global total printed N/A', async () => {
  const snap: GpuSnapshot = {
    imported: true,
    gpus: [
      { gpuId: 0, global: null, procs: [{ pid: 10, total: 4096, imported: 0 }] },
      { gpuId: 1, global: 8192, globalImported: 4096, procs: [{ pid: 10, total: 8192, imported: 4096 }, { pid: 11, total: 0, imported: 0 }] },
    ],
  };
  const session = await openTexts({ 'gpu.txt': renderDumpsysGpu(snap).replace(/\n/g, '\r\n') });
  assertRows(session, GPU, gpuExpected(snap));
});

test('dumpsys gpu: eBPF unavailable is an info', async () => {
  const session = await openTexts({ 'gpu.txt': 'Stable Game Driver: unsupported\n\nFailed to initialize GPU memory eBPF\n\n' });
  assert.equal(session.query('SELECT count(*) AS n FROM gpu_memory_total')[0].n, 0);
  assert.deepEqual(diagnostics(session).map((d) => `${d.severity} ${d.code}`), ['info no_data']);
});

for (const style of ['current', 'legacy'] as const) {
  test(`GraphicBufferAllocator ${style}: golden tables inside a SurfaceFlinger dump`, async () => {
    const rows = grallocRowsOf(smallScenario());
    rows.push({ handle: '0xb400007800ffff00', size: 10444800 + 512, width: 1080, stride: 1088, height: 2400, layers: 1, format: 0x7fa30c04, usage: 0x10000b00, requestor: 'VRI[Settings]#3(BLAST Consumer)3 | x' });
    rows.push({ handle: '0xb400007800ffff10', size: null, width: 1, stride: 1, height: 1, layers: 2, format: 0x23, usage: 0x303, requestor: 'RegionSamplingThread' });
    const session = await openTexts({ 'sf.txt': renderGralloc(rows, style) });
    assert.deepEqual(csv(session, 'SELECT importer FROM source'), ['importer', 'gralloc_allocator']);
    assertRows(session, GRALLOC, grallocExpected(rows));
    const total = rows.reduce((a, r) => a + (r.size ?? 0), 0);
    assertRows(session, GTOTAL, csvLines(['total_bytes', 'buffer_count'], [[total, rows.length]]));
    assert.deepEqual(diagnostics(session), []);
  });
}

test('GraphicBufferAllocator: a dump cut inside the table keeps the whole rows and says truncated', async () => {
  const rows = grallocRowsOf(smallScenario());
  const text = renderGralloc(rows);
  const cut = text.slice(0, text.indexOf('Layer#1003') - 20);
  const session = await openTexts({ 'sf.txt': cut });
  assertRows(session, 'SELECT requestor FROM gralloc_buffer', ['requestor', 'CAMERA', 'Layer#1002']);
  // Both on the last (cut) line: the cut row, and the table without its total line.
  const last = cut.split('\n').length;
  assert.deepEqual(diagnostics(session).map((d) => `${d.severity} ${d.code} ${d.line}`), [`warning truncated ${last}`, `warning truncated ${last}`]);
});

test('bugreport: dumpsys gpu and SurfaceFlinger service blocks are routed to their importers', async () => {
  const s = smallScenario();
  const snap = { ...gpuSnapshotOf(s), imported: true };
  const rows = grallocRowsOf(s);
  const rng = new Rng(1);
  const body = serviceBlock(s, rng, 'SurfaceFlinger', undefined, renderGralloc(rows)) + serviceBlock(s, rng, 'gpu', undefined, renderDumpsysGpu(snap));
  const text = renderBugreportText(s, { extraSections: [{ title: 'DUMPSYS', command: '/system/bin/dumpsys', body }] });
  const session = await openTexts({ 'bugreport.txt': text });
  const importers = session.query("SELECT importer FROM source WHERE importer IN ('dumpsys_gpu', 'gralloc_allocator') ORDER BY importer").map((r) => r.importer);
  assert.deepEqual(importers, ['dumpsys_gpu', 'gralloc_allocator']);
  assertRows(session, GPU, gpuExpected(snap));
  assertRows(session, GRALLOC, grallocExpected(rows));
});
