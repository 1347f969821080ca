// Every importer of the package. Detection is by content: the input layer asks each
// importer's sniff in this order and takes the first that accepts.
import type { StreamImporter, TextImporter } from './types.js';
import { bugreport } from './bugreport.js';
import { dmabufDumpImporter } from './dmabuf-dump.js';
import { dmabufDumpBImporter } from './dmabuf-dump-b.js';
import { meminfoImporter } from './meminfo.js';
import { bufinfoImporter } from './kernel/bufinfo.js';
import { dmabufDumpAImporter } from './kernel/dmabuf-dump-a.js';
import { sysfsImporter } from './kernel/sysfs.js';
import { fdinfoImporter } from './kernel/fdinfo.js';
import { fdLinksImporter } from './kernel/fd-links.js';
import { mapsImporter } from './kernel/maps.js';
import { lsofImporter } from './kernel/lsof.js';
import { dumpsysGpuImporter } from './kernel/dumpsys-gpu.js';
import { grallocImporter } from './kernel/gralloc.js';
import { bpfIterImporter } from './kernel/bpf-iter.js';
import { dmaprocsImporter } from './kernel/dmaprocs.js';
import { mtkHeapDebugImporter } from './kernel/mtk-heap-debug.js';
import { processDmabufInfoImporter } from './kernel/process-dmabuf-info.js';
import { ionHeapImporter } from './kernel/ion-heap.js';
import { kernelLogImporter } from './kernel/kernel-log.js';
import { kernelCapturesImporter } from './kernel/captures.js';
import { perfetto } from './perfetto/index.js';
import { systraceText } from './systrace-text.js';

/** Importers for inputs that can be hundreds of megabytes, streamed: tried first. */
export const streamImporters: StreamImporter[] = [
  bugreport,
  perfetto,
  systraceText,
];

/** Importers for text small enough to hold whole: captures, bugreport sections. */
export const textImporters: TextImporter[] = [
  // First: a text holding several kernel captures, each then read by its own importer below.
  kernelCapturesImporter,
  dmabufDumpImporter,
  dmabufDumpBImporter,
  meminfoImporter,
  bufinfoImporter,
  dmabufDumpAImporter,
  sysfsImporter,
  fdinfoImporter,
  fdLinksImporter,
  mapsImporter,
  lsofImporter,
  dumpsysGpuImporter,
  grallocImporter,
  dmaprocsImporter,
  mtkHeapDebugImporter,
  processDmabufInfoImporter,
  ionHeapImporter,
  // A kernel log: its dump may lie past the sniffed head, so any text of kernel log lines.
  kernelLogImporter,
  // Last: four lines of numbers and names is the loosest shape.
  bpfIterImporter,
];
