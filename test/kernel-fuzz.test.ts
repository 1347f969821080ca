// Mutation tests for every kernel/graphics parser: rendered captures with random line
// deletions, duplications and swaps, truncations, byte flips and junk insertions. No
// exception may escape `sniff` or `importText`, and none may be swallowed either: the
// `importer_failed` diagnostic (an exception caught by the importer's guard) must never appear.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Db } from '../src/db/database.js';
import { SourceContext } from '../src/importers/context.js';
import type { TextImporter } from '../src/importers/types.js';
import { bufinfoImporter } from '../src/importers/kernel/bufinfo.js';
import { fdinfoImporter } from '../src/importers/kernel/fdinfo.js';
import { fdLinksImporter } from '../src/importers/kernel/fd-links.js';
import { mapsImporter } from '../src/importers/kernel/maps.js';
import { sysfsImporter } from '../src/importers/kernel/sysfs.js';
import { bpfIterImporter } from '../src/importers/kernel/bpf-iter.js';
import { dmabufDumpAImporter } from '../src/importers/kernel/dmabuf-dump-a.js';
import { dumpsysGpuImporter } from '../src/importers/kernel/dumpsys-gpu.js';
import { grallocImporter } from '../src/importers/kernel/gralloc.js';
import { dmaprocsImporter } from '../src/importers/kernel/dmaprocs.js';
import { mtkHeapDebugImporter } from '../src/importers/kernel/mtk-heap-debug.js';
import { processDmabufInfoImporter } from '../src/importers/kernel/process-dmabuf-info.js';
import { ionHeapImporter } from '../src/importers/kernel/ion-heap.js';
import { kernelLogImporter } from '../src/importers/kernel/kernel-log.js';
import { rng, openTexts } from './helpers.js';
import { fuzzImporter, mutate } from './fuzz.js';
import { InputError } from '../src/errors.js';
import { smallScenario } from './fixtures/scenario.js';
import * as k from './fixtures/kernel.js';

const s = smallScenario();
s.buffers.push({ inode: 98765432101, size: 1000000, exporter: 'qcom,system', name: 'a name, with | odd: chars' });
s.processes[2].holds.push({ inode: 98765432101, fds: 2, maps: 3 });

const CASES: [TextImporter, string, string, string][] = [
  [bufinfoImporter, 'bufinfo 6x', k.renderBufinfo(s, '6x'), 'capture.txt'],
  [bufinfoImporter, 'bufinfo 5.10', k.renderBufinfo(s, '5.10'), 'capture.txt'],
  [bufinfoImporter, 'bufinfo pre5.3 spaces', k.expandTabs(k.renderBufinfo(s, 'pre5.3')), 'capture.txt'],
  [bufinfoImporter, 'bufinfo 3.10', k.renderBufinfo(s, '3.10'), 'capture.txt'],
  [bufinfoImporter, 'bufinfo 3.10 spaces', k.expandTabs(k.renderBufinfo(s, '3.10')), 'capture.txt'],
  [fdinfoImporter, 'fdinfo head', k.renderFdinfo(s, 'head'), 'capture.txt'],
  [fdinfoImporter, 'fdinfo loop', k.renderFdinfo(s, 'loop'), 'capture.txt'],
  [fdinfoImporter, 'fdinfo file', k.renderFdinfoFile(s, 1001), 'proc/1234/fdinfo/10'],
  [fdLinksImporter, 'fd links', k.renderFdLinks(s), 'capture.txt'],
  [mapsImporter, 'maps', k.renderMaps(s), 'capture.txt'],
  [mapsImporter, 'maps file', k.renderMapsOf(s, 987), 'proc/987/maps'],
  [sysfsImporter, 'sysfs early', k.renderSysfsGrep(s, 'early'), 'capture.txt'],
  [sysfsImporter, 'sysfs file', '8294400\n', 'sys/kernel/dmabuf/buffers/1001/size'],
  [bpfIterImporter, 'bpf iterator', k.renderBpfIter(s), 'capture.txt'],
  [dmabufDumpAImporter, 'dmabuf_dump -a a11', k.renderDmabufDumpA(s, 'a11'), 'capture.txt'],
  [dmabufDumpAImporter, 'dmabuf_dump -a a15', k.renderDmabufDumpA(s, 'a15'), 'capture.txt'],
  [dmabufDumpAImporter, 'dmabuf_dump -a csv', k.renderDmabufDumpA(s, 'csv'), 'capture.txt'],
  [dumpsysGpuImporter, 'dumpsys gpu', k.renderDumpsysGpu({ ...k.gpuSnapshotOf(s), imported: true }), 'capture.txt'],
  [grallocImporter, 'gralloc', k.renderGralloc(k.grallocRowsOf(s)), 'capture.txt'],
  [grallocImporter, 'gralloc legacy', k.renderGralloc(k.grallocRowsOf(s), 'legacy'), 'capture.txt'],
  [dmaprocsImporter, 'dmaprocs qcom', k.renderDmaprocs(s, 'qcom'), 'capture.txt'],
  [dmaprocsImporter, 'dmaprocs oplus', k.renderDmaprocs(s, 'oplus'), 'capture.txt'],
  [dmaprocsImporter, 'dmaprocs nothing spaces', k.expandTabs(k.renderDmaprocs(s, 'nothing')), 'capture.txt'],
  [bufinfoImporter, 'bufinfo oplus 4.14', k.renderBufinfoOplus414(s), 'capture.txt'],
  [mtkHeapDebugImporter, 'mtk all_heaps 6x', k.renderMtkHeap(s, '6x', 'all_heaps'), 'capture.txt'],
  [mtkHeapDebugImporter, 'mtk all_heaps 5.10 spaces', k.expandTabs(k.renderMtkHeap(s, '5.10', 'all_heaps')), 'capture.txt'],
  [mtkHeapDebugImporter, 'mtk stats', k.renderMtkHeap(s, '6x', 'stats'), 'capture.txt'],
  [processDmabufInfoImporter, 'process_dmabuf_info', k.renderProcessDmabufInfo(s), 'capture.txt'],
  [processDmabufInfoImporter, 'process_dmabuf_info spaces', k.expandTabs(k.renderProcessDmabufInfo(s)), 'capture.txt'],
  [ionHeapImporter, 'ion heaps msm44', k.renderIonHeaps(s, 'msm44'), 'capture.txt'],
  [ionHeapImporter, 'ion heaps aosp310', k.renderIonHeaps(s, 'aosp310', false), 'capture.txt'],
  [kernelLogImporter, 'samsung dma-buf info v3 dmesg', k.asKernelLog(k.KERNEL_LOG_BEFORE + k.renderSamsungDmabufInfo(s, 'v3', { skipPid: 987 }) + k.KERNEL_LOG_AFTER, 'dmesg'), 'capture.txt'],
  [kernelLogImporter, 'samsung dma-buf info v1 buffers', k.renderSamsungDmabufInfo(s, 'v1', { bufferList: true }), 'capture.txt'],
];

for (const [imp, label, text, path] of CASES) {
  test(`fuzz ${label}: no exception escapes or is swallowed`, async () => {
    await fuzzImporter(imp, [text], { seed: label.length * 7919 + text.length, iterations: 150, path });
  });
}

test('fuzz: the unmutated captures import without any importer_failed and every importer handles empty and binary input', async () => {
  const db = await Db.create();
  const seen = new Set<TextImporter>();
  for (const [imp, , text, path] of CASES) {
    const ctx = SourceContext.topLevel(db, path, imp.name, 'capture', path);
    imp.importText(text, ctx);
    if (seen.has(imp)) continue;
    seen.add(imp);
    for (const odd of ['', '\n', '\r\n\r\n', '\u0000\u0001\u0002binary\u00ff', 'x'.repeat(100000)]) {
      imp.importText(odd, SourceContext.topLevel(db, path, imp.name, 'capture', path));
      imp.sniff(odd, path);
    }
  }
  assert.deepEqual(db.query("SELECT message FROM diagnostic WHERE code = 'importer_failed'"), []);
  db.close();
});

test('fuzz through open(): mutated captures load and merge, or are refused as unrecognized', async () => {
  const r = rng(4242);
  let tried = 0;
  let loaded = 0;
  for (const [, label, text, path] of CASES) {
    for (let i = 0; i < 12; i++) {
      const m = mutate(text, r);
      tried++;
      try {
        const session = await openTexts({ [path]: m });
        loaded++;
        assert.deepEqual(session.query("SELECT message FROM diagnostic WHERE code = 'importer_failed'"), [], label);
        session.close();
      } catch (e) {
        assert.ok(e instanceof InputError, `${label} mutation ${i}: ${(e as Error).stack}`);
      }
    }
  }
  // Most mutations leave a capture still recognized: the checks above ran on loaded sessions, not only on refusals.
  assert.ok(loaded >= tried / 2, `${loaded} of ${tried} mutated captures loaded`);
});
