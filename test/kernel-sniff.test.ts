// Detection by content for the kernel and graphics importers: every rendered variant, under a
// neutral file name, is taken by its own importer (first match in registry order, as the
// input layer does) and refused by every other importer of this family; the other
// importers' outputs and ordinary text are refused by all of them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { textImporters } from '../src/importers/registry.js';
import { bufinfoImporter } from '../src/importers/kernel/bufinfo.js';
import { fdinfoImporter } from '../src/importers/kernel/fdinfo.js';
import { fdLinksImporter } from '../src/importers/kernel/fd-links.js';
import { mapsImporter } from '../src/importers/kernel/maps.js';
import { lsofImporter } from '../src/importers/kernel/lsof.js';
import { sysfsImporter } from '../src/importers/kernel/sysfs.js';
import { bpfIterImporter } from '../src/importers/kernel/bpf-iter.js';
import { dmabufDumpAImporter } from '../src/importers/kernel/dmabuf-dump-a.js';
import { dumpsysGpuImporter } from '../src/importers/kernel/dumpsys-gpu.js';
import { grallocImporter } from '../src/importers/kernel/gralloc.js';
import { kernelCapturesImporter } from '../src/importers/kernel/captures.js';
import { dmaprocsImporter } from '../src/importers/kernel/dmaprocs.js';
import { mtkHeapDebugImporter } from '../src/importers/kernel/mtk-heap-debug.js';
import { processDmabufInfoImporter } from '../src/importers/kernel/process-dmabuf-info.js';
import { ionHeapImporter } from '../src/importers/kernel/ion-heap.js';
import { kernelLogImporter } from '../src/importers/kernel/kernel-log.js';
import { smallScenario } from './fixtures/scenario.js';
import * as k from './fixtures/kernel.js';
import { renderDmabufDump, renderDmabufDumpB } from './fixtures/dmabuf-dump.js';
import { renderMeminfo } from './fixtures/meminfo.js';

const MINE = [
  bufinfoImporter,
  fdinfoImporter,
  fdLinksImporter,
  mapsImporter,
  lsofImporter,
  sysfsImporter,
  bpfIterImporter,
  dmabufDumpAImporter,
  dumpsysGpuImporter,
  grallocImporter,
  dmaprocsImporter,
  mtkHeapDebugImporter,
  processDmabufInfoImporter,
  ionHeapImporter,
  kernelLogImporter,
  // Takes only texts holding two kernel formats or more: never one of these alone.
  kernelCapturesImporter,
];

const s = smallScenario();

/** [label, text, importer that must take it]. */
const OWN: [string, string, string][] = [
  ['bufinfo 6x', k.renderBufinfo(s, '6x'), 'bufinfo'],
  ['bufinfo 5.10', k.renderBufinfo(s, '5.10'), 'bufinfo'],
  ['bufinfo pre5.3', k.renderBufinfo(s, 'pre5.3'), 'bufinfo'],
  ['bufinfo 6x spaces', k.expandTabs(k.renderBufinfo(s, '6x')), 'bufinfo'],
  ['bufinfo unpadded', k.renderBufinfo(s, 'unpadded'), 'bufinfo'],
  ['bufinfo exynos 4.9', k.renderBufinfo(s, 'exynos4.9'), 'bufinfo'],
  ['bufinfo 3.10', k.renderBufinfo(s, '3.10'), 'bufinfo'],
  ['bufinfo 3.10 spaces', k.expandTabs(k.renderBufinfo(s, '3.10')), 'bufinfo'],
  ['bufinfo 3.10 from its header on', k.renderBufinfo(s, '3.10').split('\n').slice(2).join('\n'), 'bufinfo'],
  ['fdinfo head', k.renderFdinfo(s, 'head'), 'fdinfo'],
  ['fdinfo path-colon', k.renderFdinfo(s, 'path-colon'), 'fdinfo'],
  ['fdinfo loop', k.renderFdinfo(s, 'loop'), 'fdinfo'],
  ['fdinfo single file', k.renderFdinfoFile(s, 1001), 'fdinfo'],
  ['fd links', k.renderFdLinks(s), 'fd_links'],
  ['maps', k.renderMaps(s), 'maps'],
  ['maps of one process', k.renderMapsOf(s, 2345), 'maps'],
  ['lsof toybox', k.renderLsof(s), 'lsof'],
  ['lsof | grep dmabuf', k.renderLsof(s, 'toybox', true), 'lsof'],
  ['lsof old toybox | grep dmabuf, spaces', k.renderLsof(s, 'toybox-old', true), 'lsof'],
  ['sysfs grep', k.renderSysfsGrep(s, 'current'), 'sysfs_dmabuf'],
  ['sysfs grep early', k.renderSysfsGrep(s, 'early'), 'sysfs_dmabuf'],
  ['bpf iterator', k.renderBpfIter(s), 'bpf_dmabuf_iter'],
  ['dmabuf_dump -a a11', k.renderDmabufDumpA(s, 'a11'), 'dmabuf_dump_a'],
  ['dmabuf_dump -a a15', k.renderDmabufDumpA(s, 'a15'), 'dmabuf_dump_a'],
  ['dmabuf_dump -a csv', k.renderDmabufDumpA(s, 'csv'), 'dmabuf_dump_a'],
  ['dumpsys gpu', k.renderDumpsysGpu(k.gpuSnapshotOf(s)), 'dumpsys_gpu'],
  ['dumpsys gpu imported', k.renderDumpsysGpu({ ...k.gpuSnapshotOf(s), imported: true }), 'dumpsys_gpu'],
  ['SurfaceFlinger', k.renderGralloc(k.grallocRowsOf(s)), 'gralloc_allocator'],
  ['SurfaceFlinger legacy', k.renderGralloc(k.grallocRowsOf(s), 'legacy'), 'gralloc_allocator'],
  ['bufinfo oplus 4.14', k.renderBufinfoOplus414(s), 'bufinfo'],
  ['dmaprocs qcom', k.renderDmaprocs(s, 'qcom'), 'dmaprocs'],
  ['dmaprocs oplus', k.renderDmaprocs(s, 'oplus'), 'dmaprocs'],
  ['dmaprocs nothing spaces', k.expandTabs(k.renderDmaprocs(s, 'nothing')), 'dmaprocs'],
  ['mtk all_heaps 6x', k.renderMtkHeap(s, '6x', 'all_heaps'), 'mtk_heap_debug'],
  ['mtk all_heaps 5.10 spaces', k.expandTabs(k.renderMtkHeap(s, '5.10', 'all_heaps')), 'mtk_heap_debug'],
  ['mtk heaps/system', k.renderMtkHeap(s, '6x', 'heap'), 'mtk_heap_debug'],
  ['mtk stats', k.renderMtkHeap(s, '5.10', 'stats'), 'mtk_heap_debug'],
  ['process_dmabuf_info', k.renderProcessDmabufInfo(s), 'process_dmabuf_info'],
  ['process_dmabuf_info spaces', k.expandTabs(k.renderProcessDmabufInfo(s)), 'process_dmabuf_info'],
  ['process_dmabuf_info without its title line', k.renderProcessDmabufInfo(s).split('\n').slice(1).join('\n'), 'process_dmabuf_info'],
  ['ion heaps msm44', k.renderIonHeaps(s, 'msm44'), 'ion_heap'],
  ['ion heaps aosp310 (blank header)', k.renderIonHeaps(s, 'aosp310', false), 'ion_heap'],
  ['ion heap, one file', k.renderIonHeap(k.ionHeapsOf(s)[0], 'msm44'), 'ion_heap'],
  ['samsung Dma-buf Info v3 in dmesg', k.asKernelLog(k.KERNEL_LOG_BEFORE + k.renderSamsungDmabufInfo(s, 'v3'), 'dmesg'), 'kernel_log'],
  ['samsung Dma-buf Info v1 in /proc/kmsg', k.asKernelLog(k.renderSamsungDmabufInfo(s, 'v1', { bufferList: true }), 'kmsg'), 'kernel_log'],
  ['samsung Dma-buf Info without the log prefix', k.renderSamsungDmabufInfo(s, 'v3'), 'kernel_log'],
  ['a kernel log without the dump', k.asKernelLog(k.KERNEL_LOG_BEFORE + k.KERNEL_LOG_AFTER, 'caller'), 'kernel_log'],
];

/** Texts none of this family may take. */
const FOREIGN: [string, string][] = [
  ['dmabuf_dump a11', renderDmabufDump(s, 'a11')],
  ['dmabuf_dump a16', renderDmabufDump(s, 'a16')],
  ['dmabuf_dump csv16', renderDmabufDump(s, 'csv16')],
  ['dmabuf_dump -b a15', renderDmabufDumpB(s, 'a15')],
  ['dmabuf_dump -b csv', renderDmabufDumpB(s, 'csv')],
  ['meminfo', renderMeminfo(s, 'dmabuf_gpu_breakdown')],
  ['numbers, one per line', '1\n2\n3\n4\n5\n6\n7\n8\n'],
  ['pairs of numbers', '4096\n8192\n4096\n8192\n'],
  ['a sysfs value without its path', '8294400\n'],
  ['logcat', '11-02 14:03:27.123  1000  1234  1250 I ActivityManager: Start proc 2345:com.android.systemui/u0a123\n11-02 14:03:27.456  1000  1234  1250 W ion: exp_name: system\n'],
  ['a CSV', 'inode,size,exporter\n1001,8294400,system\n'],
  ['free text', 'Attached Devices are listed by bufinfo.\nTotal 3 objects were seen.\n'],
  ['/proc/meminfo', 'MemTotal:        7698860 kB\nMemFree:          299556 kB\n'],
  ['an empty file', ''],
  ['a process line without its DMA Buffers table', 'surfaceflinger (PID 987) size: 4096\nsomething else\n'],
  ['process_dmabuf_info rows and Total lines without the title or the header',
    k.renderProcessDmabufInfo(s).split('\n').slice(2).join('\n')],
  ['a ps-like table', 'USER           PID  PPID     VSZ    RSS WCHAN            ADDR S NAME\nroot             1     0 12936448 9772 do_epoll_wait       0 S init\n'],
  ['a PSS table header without its end line', 'PID     PSS(KB)   RSS(KB)\n987     1024      2048\n'],
  ['a client/pid/size table that is not ION\'s', '  client   pid   size\n  surfaceflinger   987   4096\n  total   4096\n'],
  ['text about orphaned allocations', 'ion: orphaned allocations found, see the heap file\n'],
];

for (const [label, text, want] of OWN) {
  test(`sniff: ${label} → ${want}`, () => {
    const first = textImporters.find((t) => t.sniff(text.slice(0, 65536), 'capture.txt'));
    assert.equal(first?.name, want);
    for (const imp of MINE) assert.equal(imp.sniff(text, 'capture.txt'), imp.name === want, `${imp.name} on ${label}`);
  });
}

for (const [label, text] of FOREIGN) {
  test(`sniff: ${label} is refused by every kernel/graphics importer`, () => {
    for (const imp of MINE) assert.equal(imp.sniff(text, 'capture.txt'), false, `${imp.name} took ${label}`);
  });
}

test('sniff: pulled single files are recognized by their path, and only with it', () => {
  const cases: [string, string, string][] = [
    ['sys/kernel/dmabuf/buffers/1001/size', '8294400\n', 'sysfs_dmabuf'],
    ['sys/kernel/dmabuf/buffers/1001/exporter_name', 'system\n', 'sysfs_dmabuf'],
    ['sys/kernel/dmabuf/buffers/1001/attachments/0/device', '../../devices/platform/soc/1e00000.gpu\n', 'sysfs_dmabuf'],
    ['proc/1234/fdinfo/3', 'pos:\t0\nflags:\t02004002\nmnt_id:\t16\nino:\t9177\n', 'fdinfo'],
    ['proc/1234/maps', '5e1d2000-5e1d5000 r--p 00000000 fd:04 2771    /system/bin/app_process64\n', 'maps'],
  ];
  for (const [p, text, want] of cases) {
    const first = textImporters.find((t) => t.sniff(text, p));
    assert.equal(first?.name, want, p);
    // Without its path the bare value is nobody's.
    if (want !== 'maps') assert.equal(textImporters.find((t) => t.sniff(text, 'capture.txt'))?.name, undefined, `${p} without path`);
  }
});

test('sniff: a sysfs grep line mixed into other text is not a sysfs capture', () => {
  const text = 'some header\n/sys/kernel/dmabuf/buffers/1001/size:8294400\nmore text\nand more\nand more\n';
  assert.equal(sysfsImporter.sniff(text, 'capture.txt'), false);
});

test('sniff: the tools\' outputs next to another format are taken by kernel_captures; one alone, after its prompt, by its own importer', () => {
  const dump = renderDmabufDump(s, 'a16');
  const b = renderDmabufDumpB(s, 'a15');
  const meminfo = renderMeminfo(s, 'dmabuf');
  const gpu = k.renderDumpsysGpu(k.gpuSnapshotOf(s));
  const bufinfo = k.renderBufinfo(s, '6x');
  const first = (text: string) => textImporters.find((t) => t.sniff(text.slice(0, 65536), 'capture.txt'))?.name;
  const mixed: [string, string][] = [
    ['dmabuf_dump + bufinfo', dump + bufinfo],
    ['-b + bufinfo', b + bufinfo],
    ['bufinfo + dmabuf_dump', bufinfo + dump],
    ['meminfo + dmabuf_dump', meminfo + dump],
    ['dmabuf_dump + -b + dumpsys gpu', dump + b + gpu],
    ['dmabuf_dump + -a', dump + k.renderDmabufDumpA(s, 'a15')],
    ['SurfaceFlinger + fdinfo', k.renderGralloc(k.grallocRowsOf(s)) + k.renderFdinfo(s, 'head')],
  ];
  for (const [label, text] of mixed) assert.equal(first(text), 'kernel_captures', label);
  const alone: [string, string, string][] = [
    ['dmabuf_dump', dump, 'dmabuf_dump'],
    ['dmabuf_dump -b', b, 'dmabuf_dump_b'],
    ['dmabuf_dump; dmabuf_dump -b', dump + '$ dmabuf_dump -b\n' + b, 'dmabuf_dump'],
    ['dmabuf_dump -a -b', b + k.renderDmabufDumpA(s, 'a15'), 'dmabuf_dump_b'],
    ['dumpsys meminfo', meminfo, 'meminfo'],
    ['dumpsys gpu', gpu, 'dumpsys_gpu'],
  ];
  for (const [cmd, text, want] of alone) assert.equal(first(`console:/ # ${cmd}\n${text}console:/ # \n`), want, cmd);
});
