// A text holding several captures one after another: a capture script's log
// (`dmabuf_dump; dmabuf_dump -b; cat /sys/kernel/debug/dma_buf/bufinfo; dumpsys meminfo; ls -l
// /proc/*/fd; …`), a terminal session saved whole, a vendor dump of several files. Each importer
// reads one format and ignores (or reports as malformed) the lines of the others, so such a text
// is cut into runs of one format each, and every run is read by its own importer as a child
// source (`<path>#lines A-B`, with line_start and line_end).
//
// The runs are found line by line (../../../shared/formats.md §2, §3, §4, §5):
//   - blocks with a start and an end line: dmabuf_dump's default output (a table header `Name
//     Rss Pss nr_procs …` or its CSV form, with the process line just before it … the final
//     `dmabuf total: …` line, the CSV `TOTALS` values, or Android 10's `TOTAL … kB … kB`),
//     `dmabuf_dump -b` (a `DMA-BUF … stats` title or its per-buffer header … the `Total DMA-BUF
//     count:` line or the CSV total values), debugfs bufinfo (`Dma-buf Objects:` or its column
//     header … `Total N objects, M bytes`) and `dmabuf_dump -a` (its `Dmabuf Inode |` or CSV
//     header … its TOTALS line or CSV totals), SurfaceFlinger's `GraphicBufferAllocator
//     buffers:` table (… `Total allocated …`); a block cut short ends where a line of another
//     format or a prompt appears;
//   - blocks with a start line only, ended by a line of another format or a prompt: `dumpsys
//     meminfo` (`Applications Memory Usage`, `Total RAM:`, `Low on memory:`, or the `DMA-BUF:` /
//     `ION:` line a `grep -A6 DMA-BUF` keeps), `dumpsys gpu` (`Memory snapshot for GPU N:` or its
//     failure message), the vendor per-process listings (./dmaprocs.ts: `<comm> (PID <pid>)
//     size: …` blocks), OpenHarmony's /proc/process_dmabuf_info (./process-dmabuf-info.ts:
//     `Dma-buf objects usage of processes:` or its column header), ION heap files (./ion-heap.ts:
//     the `client pid size` header; the heap's own lines after the table go with it) and
//     Samsung's `Dma-buf Info` dump in a kernel log (./kernel-log.ts: its title line,
//     with the log's prefix or not; the log's lines after it go with it);
//   - line formats, by the shape of a line: fdinfo (`/proc/<pid>/fdinfo/<fd>` headers and grep
//     prefixes, `exp_name:`), fd links (`… -> /dmabuf:…`, `/proc/<pid>/fd:` headers), maps
//     (`/dmabuf:` vmas, `/proc/<pid>/maps` headers), sysfs (`…/buffers/<inode>/<attribute>:`),
//     the BPF iterator's first one-line format (`ino:… size:… name:… exp_name:…`), lsof (./lsof.ts:
//     its `COMMAND PID USER FD …` header and its rows naming `/dmabuf:`, only lines holding
//     `dmabuf` parsed; its rows of other files start or continue nothing).
//     Lines that only fit a format already being read continue it (an fdinfo key of another
//     kind of fd, a vma of another file) but do not start one;
//   - the BPF iterator's records (./bpf-iter.ts: four lines each, inode, size, name, exporter):
//     a line of digits alone where whole records start (`bpfRecordsAt`: distinct inodes, an
//     exporter line that is a name) starts a run of them, and its records are taken whole, the
//     name lines whatever they hold; a line of digits is no line of any other format, so the
//     records also end a block without an end line (meminfo, …) before them.
// Blank lines, prompts and other text go with the run that follows them (a prompt and its
// command come before the output), or with the last run at the end; the importers skip prompts.
// dmabuf_dump's default output and its `-b` output next to each other are one run, read by the
// dmabuf_dump importer as it reads a text holding only those two; a text holding only `-b` then
// `-a` output is read whole by the dmabuf_dump_b importer, as before.
import type { ImportContext, TextImporter } from '../types.js';
import { guarded, isShellNoise, LineReader } from '../common.js';
import { headerPath, procPath } from './common.js';
import { dmabufDumpImporter } from '../dmabuf-dump.js';
import { dmabufDumpBImporter } from '../dmabuf-dump-b.js';
import { meminfoImporter } from '../meminfo.js';
import { bufinfoImporter } from './bufinfo.js';
import { dmabufDumpAImporter } from './dmabuf-dump-a.js';
import { dumpsysGpuImporter } from './dumpsys-gpu.js';
import { fdinfoImporter } from './fdinfo.js';
import { fdLinksImporter } from './fd-links.js';
import { mapsImporter } from './maps.js';
import { isLsofHeader, lsofDmabufRow, lsofImporter } from './lsof.js';
import { sysfsImporter } from './sysfs.js';
import { dmaprocsHead, dmaprocsImporter } from './dmaprocs.js';
import { grallocImporter } from './gralloc.js';
import { processDmabufInfoImporter } from './process-dmabuf-info.js';
import { ionHeapImporter, isIonHeapHeader } from './ion-heap.js';
import { bpfIterImporter, bpfRecordsAt, isBpfInodeLine, isBpfOneLine } from './bpf-iter.js';
import { isSamsungDmabufInfoTitle, kernelLogImporter } from './kernel-log.js';

/** The formats runs are made of, by the name of the importer that reads them. */
const IMPORTERS: Record<string, TextImporter> = Object.fromEntries(
  [
    dmabufDumpImporter,
    dmabufDumpBImporter,
    meminfoImporter,
    bufinfoImporter,
    dmabufDumpAImporter,
    dumpsysGpuImporter,
    fdinfoImporter,
    fdLinksImporter,
    mapsImporter,
    lsofImporter,
    sysfsImporter,
    dmaprocsImporter,
    grallocImporter,
    processDmabufInfoImporter,
    ionHeapImporter,
    bpfIterImporter,
    kernelLogImporter,
  ].map((i) => [i.name, i]),
);

const BUFINFO_START = /^\s*(?:Dma-buf Objects:|size\s+flags\s+mode\s+count\s+exp_name\b.*|exp_name\s+size\s+flags\s+mode\s+count)\s*$/;
const BUFINFO_END = /^\s*Total\s+\d+\s+objects,\s*\d+\s+bytes\s*$/;
const DUMP_A_START = /^\s*(?:Dmabuf Inode\s*\|\s*Size\s*\||"Dmabuf Inode","Size\(kB\)")|^-+ DMA-BUF Table buffer x process -+$/;
const DUMP_A_END = /^\s*TOTALS\s+\d+\s*kB\s*\|/;
const DUMP_A_CSV_TOTALS = /^\s*"Total Size\(kB\)"/;
// dmabuf_dump (formats.md §2a): the table header (raw, CSV), a PROCESS TOTAL line, the lines the
// tool prints instead of tables; its end: the final totals (raw line, CSV header then values, Android 10).
const DUMP_HEADER = /^Name\s+Rss\s+Pss\s+nr_procs\b|^"Name","Rss\(kB\)","Pss\(kB\)","nr_procs"/;
const DUMP_PROCESS_TOTAL = /^PROCESS TOTAL\s+\d+\s*kB\s+\d+\s*kB\s*$/;
const DUMP_OTHER = /^(?:dmabuf total:\s*\d+\s*kB\s+kernel_rss:|dmabuf info not found|debugfs entry for dmabuf not available)/;
const DUMP_END = /^\s*(?:dmabuf total:\s*\d+\s*kB\s+kernel_rss:.*|dmabuf info not found.*|TOTAL\s+\d+\s*kB\s+\d+\s*kB\s*)$/;
const DUMP_CSV_TOTALS = /^\s*"dmabuf total \(kB\)"/;
/** dmabuf_dump's process line (`%16s:%-5d`, CSV `\t%s:%d`): the line before a table header. */
const DUMP_PROCESS = /^\s*\S.*:\s*\d+\s*$/;
// dmabuf_dump -b (formats.md §2b): a section title, the per-buffer header (raw, CSV), the total
// line, the failure message; its end: the total line, or the CSV total header then values.
const B_START = /^-{5,}\s*DMA-BUF (?:per-buffer|exporter|total|attachment|per-device) stats|^Dmabuf Inode\s*\|\s*Size\(bytes\)\s*\||^"Dmabuf Inode","Size\(bytes\)"/;
const B_TOTAL = /^\s*Total DMA-BUF count:\s*\d+\s*,\s*Total DMA-BUF size\(bytes\):\s*\d+/;
const B_FAILURE = /^\s*Unable to read DMA-BUF .*stats/;
const B_CSV_TOTALS = /^\s*"Total DMA-BUF count"/;
// dumpsys meminfo (formats.md §4): its first line, the summary's first line, the low-memory
// report's, and the DMA-BUF / ION lines a `grep -A6 DMA-BUF` keeps.
const MEMINFO_START = /^(?:Applications Memory Usage \(in Kilobytes\):|Total RAM:\s*[\d,]+K|Low on memory:\s*$|(?:DMA-BUF(?: Heaps?)?|ION):\s*-?[\d,]+K)/;
// dumpsys gpu (formats.md §5): the memory snapshot, or the messages printed instead.
const GPU_START = /^(?:Memory snapshot for GPU\s+\d+:\s*$|Failed to initialize GPU (?:memory|imported mem) eBPF|GPU memory (?:total )?usage maps? (?:are|is) empty)/;
// SurfaceFlinger's buffer table (./gralloc.ts): its title … its total line.
const GRALLOC_START = /^(?:GraphicBufferAllocator buffers|Allocated buffers):$/;
// OpenHarmony's /proc/process_dmabuf_info (./process-dmabuf-info.ts): its first line, its column header.
const PDI_START = /^Dma-buf objects usage of processes:$/;
const PDI_HEADER = /^Process\s+pid\s+fd\s+size_bytes\s+ino\s+exp_pid\s+exp_task_comm\s+buf_name\s+exp_name$/;
const GRALLOC_END = /^\s*Total allocated (?:by GraphicBufferAllocator )?\(estimated?\):/;
const FDINFO_GREP = /^\S*\/fdinfo\/\d+:[a-z_][\w-]*:/i;
const KEY = /^[a-z_][\w-]*:(?:\s|$)/;
const SMAPS_FIELD = /^[A-Z][A-Za-z_]*:\s/;
const LINK = /^\s*(?:\d+\s+)?l[-rwxsStT]{9}[.+@]?\s+\d+\s+.*\s->\s+(.*?)\s*$|^\s*\d+\s+->\s+(\/dmabuf:.*|anon_inode:dmabuf)\s*$/;
const VMA = /^(?:\S*?\/\d+\/(?:task\/\d+\/)?s?maps:)?[0-9a-fA-F]+-[0-9a-fA-F]+\s+[-rwxsp]{4}\s+[0-9a-fA-F]+\s+[0-9a-fA-F]+:[0-9a-fA-F]+\s+\d+(?:\s+(.*?))?\s*$/;
const SYSFS = /^(?:[^:\s]*\/)?buffers\/\d+\/(?:exporter_name|size|attachments\/[^/:]+\/(?:device|map_counter))[^:]*:/;

/** What one line says of the format it belongs to: `strong` lines can start a run, the others only continue one. */
interface LineKind {
  kind: string;
  strong: boolean;
}

const DUMP: LineKind = { kind: 'dmabuf_dump', strong: true };
const DUMP_B: LineKind = { kind: 'dmabuf_dump_b', strong: true };
const MEMINFO: LineKind = { kind: 'meminfo', strong: true };
const GPU: LineKind = { kind: 'dumpsys_gpu', strong: true };
const GRALLOC: LineKind = { kind: 'gralloc_allocator', strong: true };
const PDI: LineKind = { kind: 'process_dmabuf_info', strong: true };
/** A prompt or a command's complaint (`isShellNoise`): part of no format, and the end of a block. */
const NOISE: LineKind = { kind: '', strong: false };

/**
 * The start lines of the tools' outputs (dmabuf_dump, -b, meminfo, gpu, process_dmabuf_info), told apart first by
 * their first character: nearly every line of a large kernel capture is looked at only that far.
 */
function toolStart(t: string): LineKind | undefined {
  switch (t.charCodeAt(0)) {
    case 0x4e /* N */:
      return DUMP_HEADER.test(t) ? DUMP : undefined;
    case 0x22 /* " */:
      return DUMP_HEADER.test(t) ? DUMP : B_START.test(t) ? DUMP_B : undefined;
    case 0x50 /* P */:
      return DUMP_PROCESS_TOTAL.test(t) ? DUMP : PDI_HEADER.test(t) ? PDI : undefined;
    case 0x64 /* d */:
      return DUMP_OTHER.test(t) ? DUMP : undefined;
    case 0x2d /* - */:
      return B_START.test(t) ? DUMP_B : undefined;
    case 0x44 /* D */:
      return B_START.test(t) ? DUMP_B : MEMINFO_START.test(t) ? MEMINFO : PDI_START.test(t) ? PDI : undefined;
    case 0x54 /* T */:
      return B_TOTAL.test(t) ? DUMP_B : MEMINFO_START.test(t) ? MEMINFO : undefined;
    case 0x55 /* U */:
      return B_FAILURE.test(t) ? DUMP_B : undefined;
    case 0x41 /* A */:
      return MEMINFO_START.test(t) ? MEMINFO : GRALLOC_START.test(t) ? GRALLOC : undefined;
    case 0x4c /* L */:
    case 0x49 /* I */:
      return MEMINFO_START.test(t) ? MEMINFO : undefined;
    case 0x4d /* M */:
    case 0x46 /* F */:
      return GPU_START.test(t) ? GPU : undefined;
    case 0x47 /* G */:
      return GPU_START.test(t) ? GPU : GRALLOC_START.test(t) ? GRALLOC : undefined;
  }
  return undefined;
}

const BUFINFO: LineKind = { kind: 'bufinfo', strong: true };
const DMAPROCS: LineKind = { kind: 'dmaprocs', strong: true };
const FDINFO: LineKind = { kind: 'fdinfo', strong: true };
const ION_HEAP: LineKind = { kind: 'ion_heap', strong: true };
const FDINFO_KEY: LineKind = { kind: 'fdinfo', strong: false };
const BPF: LineKind = { kind: 'bpf_dmabuf_iter', strong: true };
const SAMSUNG: LineKind = { kind: 'kernel_log', strong: true };
const DUMP_A: LineKind = { kind: 'dmabuf_dump_a', strong: true };
const SYSFS_LINE: LineKind = { kind: 'sysfs_dmabuf', strong: true };
const FD_LINKS: LineKind = { kind: 'fd_links', strong: true };
const FD_LINK_OTHER: LineKind = { kind: 'fd_links', strong: false };
const MAPS: LineKind = { kind: 'maps', strong: true };
const MAPS_OTHER: LineKind = { kind: 'maps', strong: false };
const LSOF: LineKind = { kind: 'lsof', strong: true };
/** What a link or a vma points at when it is a DMA-BUF. */
const DMABUF_FILE = /^\/dmabuf:|^anon_inode:dmabuf$/;

/**
 * The format `line` belongs to. The regular expressions are tried in a fixed order (the first
 * that matches decides); those that need a character or a word are tried only when the line
 * holds it, since this runs over every line of texts of hundreds of megabytes.
 */
function classify(line: string): LineKind | undefined {
  const t = line.trim();
  if (t === '') return undefined;
  if (isShellNoise(t)) return NOISE;
  if (t.includes('Dma-buf Info:') && isSamsungDmabufInfoTitle(t)) return SAMSUNG;
  // An fdinfo key (`pos:`, `ino:`, …): no format tried before it below has a line of this shape but dmaprocs'.
  if (KEY.test(t)) return /^exp_name:/.test(t) ? FDINFO : dmaprocsHead(t) ? DMAPROCS : FDINFO_KEY;
  if (t.startsWith('ino:') && isBpfOneLine(t)) return BPF;
  const tool = toolStart(t);
  if (tool) return tool;
  if (BUFINFO_START.test(t)) return BUFINFO;
  if (dmaprocsHead(t)) return DMAPROCS;
  if (isIonHeapHeader(t)) return ION_HEAP;
  if (DUMP_A_START.test(t)) return DUMP_A;
  const slash = t.includes('/');
  if (slash && t.includes('buffers/') && SYSFS.test(t)) return SYSFS_LINE;
  if (slash && FDINFO_GREP.test(t)) return FDINFO;
  // A header names a path: without a slash, it names no /proc file.
  const hp = slash ? headerPath(t) : undefined;
  if (hp !== undefined) {
    const p = procPath(hp);
    if (!p) return undefined;
    return p.kind === 'fdinfo' ? FDINFO : p.kind === 'fd' ? FD_LINKS : MAPS;
  }
  const link = t.includes('->') ? LINK.exec(t) : null;
  if (link) return DMABUF_FILE.test(link[1] ?? link[2]) ? FD_LINKS : FD_LINK_OTHER;
  const vma = VMA.exec(t);
  if (vma) return DMABUF_FILE.test(vma[1] ?? '') ? MAPS : MAPS_OTHER;
  if (SMAPS_FIELD.test(t)) return MAPS_OTHER;
  // lsof: its header, and its rows naming a DMA-BUF (rows of other files go with the run around them).
  if (t.startsWith('COMMAND') && isLsofHeader(t)) return LSOF;
  if (t.includes('dmabuf') && lsofDmabufRow(t)) return LSOF;
  return undefined;
}

/** Formats whose lines between a start line and an end are theirs whatever they look like. */
const BLOCK_KINDS = new Set(['bufinfo', 'dmabuf_dump_a', 'dmaprocs', 'dmabuf_dump', 'dmabuf_dump_b', 'meminfo', 'dumpsys_gpu', 'gralloc_allocator', 'process_dmabuf_info', 'ion_heap', 'kernel_log']);

/**
 * A run of lines of one format: 0-based first and last line, and where it starts and ends in
 * the text the lines were read from (`LineReader.text`: the line end after its last line included).
 */
export interface Run {
  kind: string;
  start: number;
  end: number;
  from: number;
  to: number;
}

/** Where a block format ends: does `line` end it (included), or the line after it (`next`: whether there is one)? */
function endsBlock(kind: string, line: string, next: boolean): 'here' | 'next' | false {
  /** A CSV totals header: the values line follows it. */
  const header = (re: RegExp) => (re.test(line) ? (next ? 'next' : 'here') : false);
  switch (kind) {
    case 'bufinfo':
      return BUFINFO_END.test(line) ? 'here' : false;
    case 'dmabuf_dump':
      return DUMP_END.test(line) ? 'here' : header(DUMP_CSV_TOTALS);
    case 'dmabuf_dump_b':
      return B_TOTAL.test(line) || B_FAILURE.test(line) ? 'here' : header(B_CSV_TOTALS);
    case 'dmabuf_dump_a':
      return DUMP_A_END.test(line) ? 'here' : header(DUMP_A_CSV_TOTALS);
    case 'gralloc_allocator':
      return GRALLOC_END.test(line) ? 'here' : false;
    default:
      // dmaprocs, ION heap files (their heap's own lines follow the table), meminfo, dumpsys gpu, process_dmabuf_info, Samsung's Dma-buf Info dump have no end line: the output goes on until another format or a prompt.
      return false;
  }
}

/**
 * The runs of formats in the lines `lines` gives (all of them are read), in order, when they
 * hold two formats or more that no one importer reads together; undefined when they hold one or
 * none, or only such a pair (the text is read whole, as before).
 */
export function captureRuns(lines: LineReader): Run[] | undefined {
  const runs = runsOf(lines);
  if (new Set(runs.map((r) => r.kind)).size < 2) return undefined;
  // `dmabuf_dump -a -b` prints the stats, then the table: the dmabuf_dump_b importer reads both.
  if (runs.length === 2 && runs[0].kind === 'dmabuf_dump_b' && runs[1].kind === 'dmabuf_dump_a') return undefined;
  return runs;
}

/** The runs of formats in the lines `lines` gives (all of them are read), in order; the last ends with the text. */
function runsOf(lines: LineReader): Run[] {
  const runs: Run[] = [];
  let cur: Run | undefined;
  /** Inside a block: its kind, and whether the next line still belongs to it whatever it is. */
  let block: { kind: string; takeNext: boolean } | undefined;
  /** The last line of the BPF iterator records being read (their lines are taken whole). */
  let bpfEnd = -1;
  /** Lines before this one are inside records looked at and not taken: they start none. */
  let bpfRejectedEnd = 0;
  /** The line before, and where it starts. */
  let before = '';
  let beforeFrom = 0;
  let line = '';
  let from = 0;
  for (let i = 0; lines.more; i++) {
    before = line;
    beforeFrom = from;
    line = lines.next()!;
    from = lines.start;
    /** Where the line after this one starts. */
    const to = from + line.length + 1;
    if (i <= bpfEnd) {
      cur!.end = i;
      cur!.to = to;
      continue;
    }
    // A line a block takes whatever it is (a CSV totals line) starts no records.
    const records = !block?.takeNext && i >= bpfRejectedEnd && isBpfInodeLine(line) ? bpfRecordsAt(lines.text, from) : undefined;
    const bpf = records?.lines ?? 0;
    if (bpf > 0) bpfEnd = i + bpf - 1;
    else if (records) bpfRejectedEnd = i + records.examined;
    const c = bpf > 0 ? BPF : classify(line);
    if (block) {
      // A block cut short ends where a prompt or a line of another format appears.
      const foreign = c === NOISE || (c?.strong && c.kind !== block.kind);
      if (block.takeNext || !foreign) {
        cur!.end = i;
        cur!.to = to;
        const end = block.takeNext ? 'here' : endsBlock(block.kind, line, lines.more);
        if (end === 'here') block = undefined;
        else if (end === 'next') block.takeNext = true;
        continue;
      }
      block = undefined;
    }
    if (!c || (!c.strong && cur?.kind !== c.kind)) continue;
    if (cur && cur.kind === c.kind) {
      cur.end = i;
      cur.to = to;
    } else {
      cur = startRun(cur, c.kind, i, to, before, beforeFrom);
      runs.push(cur);
    }
    if (c.strong && BLOCK_KINDS.has(c.kind)) {
      block = { kind: c.kind, takeNext: false };
      const end = endsBlock(c.kind, line, lines.more);
      if (end === 'here') block = undefined;
      else if (end === 'next') block.takeNext = true;
    }
  }
  if (runs.length > 0) {
    const last = runs[runs.length - 1];
    last.end = lines.count - 1;
    last.to = lines.text.length;
  }
  // dmabuf_dump's default output and its -b output side by side: the dmabuf_dump importer reads both.
  const joined: Run[] = [];
  for (const r of runs) {
    const last = joined[joined.length - 1];
    const pair = last && new Set([last.kind, r.kind]);
    if (pair && pair.size === 2 && pair.has('dmabuf_dump') && pair.has('dmabuf_dump_b')) {
      joined[joined.length - 1] = { kind: 'dmabuf_dump', start: last.start, end: r.end, from: last.from, to: r.to };
    } else joined.push(r);
  }
  return joined;
}

/**
 * A run of `kind` starting at line `i` (`to`: where the line after it starts), after `prev`: it
 * takes the lines between them, and dmabuf_dump's process line before a table header (`before`,
 * starting at `beforeFrom`) even when a block without an end line (meminfo, dumpsys gpu) took it.
 */
function startRun(prev: Run | undefined, kind: string, i: number, to: number, before: string, beforeFrom: number): Run {
  let start = prev ? prev.end + 1 : 0;
  let from = prev ? prev.to : 0;
  if (kind === 'dmabuf_dump' && prev && start === i && i - 1 > prev.start && DUMP_PROCESS.test(before) && !/\bkB\b/.test(before)) {
    prev.end = i - 2;
    prev.to = beforeFrom;
    start = i - 1;
    from = beforeFrom;
  }
  return { kind, start, end: i, from, to };
}

export const kernelCapturesImporter: TextImporter = {
  name: 'kernel_captures',
  description:
    'several captures in one text (dmabuf_dump, -b, -a, dumpsys meminfo, gpu, SurfaceFlinger buffers, bufinfo, fdinfo, fd links, maps, lsof, sysfs, BPF iterator, vendor dmaprocs, process_dmabuf_info, ION heap files, Samsung Dma-buf Info dumps): each read by its own importer',

  sniff(head: string): boolean {
    return captureRuns(new LineReader(head)) !== undefined;
  },

  sniffWhole(text: string): ((ctx: ImportContext) => void) | undefined {
    const lines = new LineReader(text);
    const runs = captureRuns(lines);
    return runs && ((ctx) => guarded(ctx, 'kernel_captures', (c) => readRuns(lines.text, runs, c)));
  },

  importText(text: string, ctx: ImportContext): void {
    guarded(ctx, 'kernel_captures', (c) => {
      const lines = new LineReader(text);
      readRuns(lines.text, runsOf(lines), c);
    });
  },
};

/** Read each run of `text` (`LineReader.text`: the text the runs were found in) with its own importer, as a child source. */
function readRuns(text: string, runs: readonly Run[], ctx: ImportContext): void {
  if (runs.length === 0) ctx.diag('warning', 'no_data', 'no dmabuf_dump, dumpsys, bufinfo, fdinfo, fd link, maps, lsof, sysfs, BPF iterator, dmaprocs, process_dmabuf_info, ION heap or Samsung Dma-buf Info capture found');
  for (const r of runs) {
    const body = text.slice(r.from, r.to);
    const child = ctx.child(`${ctx.path}#lines ${r.start + 1}-${r.end + 1}`, r.kind, {
      bytes: Buffer.byteLength(body),
      lineStart: r.start + 1,
      lineEnd: r.end + 1,
    });
    IMPORTERS[r.kind].importText(body, child);
  }
}
