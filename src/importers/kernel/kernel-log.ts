// Samsung's `Dma-buf Info` dump in the kernel log: Exynos kernels with the Samsung DMA heaps
// (drivers/dma-buf/heaps/samsung/dma-buf-trace.c) print it with pr_info from the
// android_vh_show_mem vendor hook, so it follows the kernel's own low-memory report (at most
// once every 10 s), in `dmesg`, `/proc/last_kmsg`, pstore consoles. Read from source:
//   - pinned: Linux4/samsung_kernel 1671ae2f3ea1249bb67b55c025a4585c932ea5f0 (also
//     xfwdrev/android_kernel_samsung_ex2100 b0a4660011f968835af30918166f8844b0103b06),
//     __show_dmabuf_trace_info():
//       "\nDma-buf Info: total allocated size %lu\n"   bytes of every buffer the Samsung heaps
//                                                      allocated and have not freed
//       "%20s %5s %10s %10s %10s %10s\n"               comm pid fdrefcnt mmaprefcnt fdsize(kb) mmapsize(kb)
//       "log is skipped in interrupt context\n"        (in interrupt context: nothing follows)
//       per process dma-buf-trace knows (it allocated or mapped a Samsung heap buffer):
//       "%20s %5d %10d %10d %10zu %10zu %s\n"          comm, tgid, its DMA-BUF fds (iterate_fd:
//           every DMA-BUF fd, of any exporter, a buffer behind two fds twice), the Samsung heap
//           buffers it maps (one each), the fds' sizes (each size >> 10, summed), the mapped
//           buffers' bytes / 1024, then "" or "-> skip by lock contention" (its file table was
//           locked: fdrefcnt and fdsize print 0)
//       "Attached device list:\n", "%20s %20s %10s\n" (attached device, size(kb), mapcount),
//       "%20s %20zu %10lu\n" per device
//       "Dma-buf size statistics: (skipped bufcnt %d)\n", "%10s : %8s\n" (size(kb), count),
//       "%10zu : %8d\n" per buffer size (ascending; buffers past the kernel's sorting array are
//       counted in `skipped bufcnt`, not listed)
//     When its trace lock is held the dump stops after the column header.
//   - the first version, pinned: arthefaz/kernel-e850 1cc11d31e22547a76e30556914a2130e72ac84b3,
//     show_dmabuf_trace_info(): "\nDma-buf Info:\n" (no total), the same header and process
//     rows without the trailing "%s", no device list nor statistics; when the heaps' buffers
//     fill a quarter of RAM, one line per buffer: header "\n%8s %20s %10s %10s %10s %10s %s\n"
//     (inode exp size refcount mmaprefcnt devrefcnt attached device..), rows pr_cont
//     "%8lu %20s %10zu %10d %10d " "%10d " then "%s(%d) " per attached device, "\n" (inode,
//     exporter, bytes, file count, processes mapping it, device mappings, device(map count)).
//   - what mmaprefcnt counts: dma-buf-trace takes a reference per (buffer, process) when the
//     heap's mmap runs or a vma of it opens, and drops it when the last such vma closes
//     (Linux4/samsung_kernel drivers/dma-buf/heaps/samsung/heap_dma_buf.c
//     187b6c441622c3536753d73cd78d1e740d89655f: samsung_heap_mmap, samsung_dma_buf_vma_open/close).
// Another version (seen in the code index, its repository not identified) prints the first
// title and a device list with a devrefcnt column: device rows of a name and two or three
// numbers are taken, the title with or without its total.
// Every line may carry the kernel log's prefix: `[ 1234.567890] ` (dmesg), `<6>` (/proc/kmsg,
// dmesg -r), a caller id after the time (`[  T123]`, CONFIG_PRINTK_CALLER), `[Mon Nov  2
// 14:03:27 2026] ` (dmesg -T): the level and every bracketed group at the start of a line are
// taken off; the title's leading newline may show as `\x0a`. Other kernel
// messages around the dump are ignored; a section ends at the first line that is not one of
// its rows. A log may hold several dumps: the last one with process rows is read (the state
// nearest the capture), the others counted in a `repeated_block` info.
// Rows: `process` names from the comm; per process two `dmabuf_reported_total` rows, origin
// `samsung_dmabuf_trace_fd` (pid, fdsize × 1024, buffer_count = its fds, in_kb 1; not written
// for a process the kernel skipped, `tool_error`) and `samsung_dmabuf_trace_mmap` (pid, mmapsize ×
// 1024, buffer_count = the buffers it maps, in_kb 1); the dump's own total, origin
// `samsung_dmabuf_trace` (the total allocated size in bytes, in_kb 0, buffer_count = the
// statistics' counts plus the skipped ones; NULL where not printed): Samsung heap buffers only,
// not every exporter's, so it is no global total; the first version's buffer lines as
// `dmabuf_observation` rows (inode, exact size, exporter, file count, global_list 0) and their
// devices as `dmabuf_attachment` rows with map_count. The device list itself is not stored (no
// table holds per-device totals). A total that disagrees with the statistics' sizes is flagged
// `count_mismatch`; a capture cut inside the dump `truncated` (a last row cut is dropped).
import type { ImportContext, TextImporter } from '../types.js';
import { excerpt, guarded, LineReader, splitLines, toInt } from '../common.js';

/** The kernel log's line prefix: the level, then bracketed groups (time, caller id); and a title's `\x0a`. */
const KMSG_PREFIX = /^(?:<\d{1,3}>)?(?:\[[^\]\n]*\][ \t]*)*(?:\\x0a)?/;
/** A line of the kernel log: its level or time prefix. */
const KMSG_LINE = /^(?:<\d{1,3}>\[?|\[\s*\d+\.\d+\]|\[[A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \d{4}\])/;
const TITLE = /^\s*Dma-buf Info:(?:\s*total allocated size\s+(\d+))?\s*$/;
const HEADER = /^\s*comm\s+pid\s+fdrefcnt\s+mmaprefcnt\s+fdsize\(kb\)\s+mmapsize\(kb\)\s*$/;
const IRQ_SKIPPED = /^\s*log is skipped in interrupt context\s*$/;
const LOCK_SKIPPED = '-> skip by lock contention';
/** comm (may hold spaces or be empty), tgid, fds, mapped buffers, fd kB, mapped kB, the skip note. */
const PROC_ROW = /^(?:(.*?)\s+)?(\d+)\s+(-?\d+)\s+(-?\d+)\s+(\d+)\s+(\d+)(?:\s+(-> skip by lock contention))?\s*$/;
const DEV_TITLE = /^\s*Attached device list:\s*$/;
const DEV_HEADER = /^\s*attached device\s+(?:dev)?size\(kb\)\s+(?:devrefcnt\s+)?mapcount\s*$/;
const DEV_ROW = /^\s*\S.*?\s+\d+\s+\d+(?:\s+\d+)?\s*$/;
const STATS_TITLE = /^\s*Dma-buf size statistics:\s*\(skipped bufcnt\s+(-?\d+)\)\s*$/;
const STATS_HEADER = /^\s*size\(kb\)\s*:\s*count\s*$/;
const STATS_ROW = /^\s*(\d+)\s*:\s*(\d+)\s*$/;
const BUF_HEADER = /^\s*inode\s+exp\s+size\s+refcount\s+mmaprefcnt\s+devrefcnt\s+attached device\.\.\s*$/;
/** inode, exporter, bytes, file count, mapping processes, device mappings, then `device(maps)` words. */
const BUF_ROW = /^\s*(\d+)\s+(\S+)\s+(\d+)\s+(-?\d+)\s+(-?\d+)\s+(-?\d+)((?:\s+\S+\(-?\d+\))*)\s*$/;
const BUF_DEVICE = /(\S+)\((-?\d+)\)/g;

/** A line without its kernel log prefix. */
function body(line: string): string {
  return line.replace(KMSG_PREFIX, '');
}

/** Whether a line (with its kernel log prefix or not) is the dump's title. */
export function isSamsungDmabufInfoTitle(line: string): boolean {
  return line.includes('Dma-buf Info:') && TITLE.test(body(line));
}

type Section = 'head' | 'procs' | 'devices' | 'stats' | 'buffers' | 'none';

interface ProcRow {
  line: number;
  comm: string;
  pid: number;
  fds: number;
  maps: number;
  fdKb: number | bigint;
  mapKb: number | bigint;
  skipped: boolean;
}

interface BufRow {
  line: number;
  inode: number | bigint;
  exporter: string;
  size: number | bigint;
  count: number | bigint | undefined;
  devices: [string, number][];
}

interface Dump {
  line: number;
  total: number | bigint | undefined;
  header: boolean;
  irqSkipped: boolean;
  procs: ProcRow[];
  /** The pids of `procs`. */
  pids: Set<number>;
  /** `(size kB, count)` of the statistics, and the skipped count; undefined when not printed. */
  stats: [number | bigint, number][] | undefined;
  skippedBufs: number;
  buffers: BufRow[];
  devices: boolean;
  /** The text ends inside this dump, which may be cut. */
  cut: boolean;
}

export const kernelLogImporter: TextImporter = {
  name: 'kernel_log',
  description: "Kernel log (dmesg, last_kmsg, pstore console): Samsung's `Dma-buf Info` low-memory dumps (dma-buf-trace of Exynos DMA heaps): per-process fd and mapped totals; a log without one is read and says so",

  sniff(head: string): boolean {
    if (head.includes('Dma-buf Info:')) {
      const { lines } = splitLines(head);
      if (lines.some((l) => isSamsungDmabufInfoTitle(l))) return true;
    }
    // A kernel log whose dump lies past the sniffed head: most of its first lines carry the log's prefix.
    const first = head.split('\n', 41).slice(0, 40).filter((l) => l.trim() !== '');
    const kmsg = first.filter((l) => KMSG_LINE.test(l)).length;
    return kmsg >= 3 && kmsg * 5 >= first.length * 4;
  },

  importText(text: string, ctx: ImportContext): void {
    guarded(ctx, 'kernel_log', (c) => importDump(text, c));
  },
};

function importDump(text: string, ctx: ImportContext): void {
  const lines = new LineReader(text);
  const dumps: Dump[] = [];
  let cur: Dump | undefined;
  let section: Section = 'none';

  for (let line = lines.next(); line !== undefined; line = lines.next()) {
    const b = body(line);
    const lineNo = lines.count;
    const title = b.includes('Dma-buf Info:') ? TITLE.exec(b) : null;
    if (title) {
      cur = {
        line: lineNo,
        total: title[1] !== undefined ? toInt(title[1]) : undefined,
        header: false,
        irqSkipped: false,
        procs: [],
        pids: new Set(),
        stats: undefined,
        skippedBufs: 0,
        buffers: [],
        devices: false,
        cut: false,
      };
      dumps.push(cur);
      section = 'head';
      continue;
    }
    if (!cur || section === 'none' || b.trim() === '') continue;
    // The last line of a text without its final newline may be cut anywhere.
    const cutLine = !lines.more && !lines.complete;
    if (cutLine) cur.cut = true;
    if (HEADER.test(b)) {
      cur.header = true;
      section = 'procs';
    } else if (IRQ_SKIPPED.test(b)) {
      cur.irqSkipped = true;
      section = 'none';
    } else if (DEV_TITLE.test(b)) {
      cur.devices = true;
      section = 'devices';
    } else if (STATS_TITLE.test(b)) {
      cur.stats = [];
      cur.skippedBufs = Number(STATS_TITLE.exec(b)![1]);
      section = 'stats';
    } else if (BUF_HEADER.test(b)) {
      section = 'buffers';
    } else if (section === 'devices' && DEV_HEADER.test(b)) {
      // The device list's column header.
    } else if (section === 'stats' && STATS_HEADER.test(b)) {
      // The statistics' column header.
    } else if (cutLine) {
      ctx.diag('warning', 'truncated', `the kernel log ends inside a line of the Dma-buf Info dump (from line ${cur.line}), dropped: ${excerpt(b)}`, lineNo);
    } else if (!takeRow(cur, section, b, lineNo, ctx)) {
      // Another kernel message: the dump's section ended.
      section = 'none';
    }
    // The last line that is not blank (`b` is not: blank lines were passed over above).
    if (!cutLine && section === 'procs' && cur.procs.length > 0 && cur.total !== undefined && !cur.devices && lines.lookAhead((l) => l.trim() !== '') === undefined) {
      ctx.diag('warning', 'truncated', `the kernel log ends inside the Dma-buf Info dump of line ${cur.line}, after its process rows: its device list and size statistics are missing`, lineNo);
    }
  }

  if (dumps.length === 0) {
    ctx.diag('info', 'no_data', "no Samsung `Dma-buf Info` dump in this kernel log");
    return;
  }
  // The last dump with process rows: the state nearest the capture.
  let chosen = dumps.length - 1;
  while (chosen > 0 && dumps[chosen].procs.length === 0) chosen--;
  if (dumps[chosen].procs.length === 0) chosen = dumps.length - 1;
  const d = dumps[chosen];
  if (dumps.length > 1) {
    ctx.diag(
      'info',
      'repeated_block',
      `the kernel log holds ${dumps.length} Dma-buf Info dumps (lines ${dumps.map((x) => x.line).join(', ')}): the one of line ${d.line} is read, the others are not`,
      d.line,
    );
  }
  writeDump(d, ctx);
}

/** Take `b` as a row of the current section; false when it is not one (the section ended). */
function takeRow(d: Dump, section: Section, b: string, lineNo: number, ctx: ImportContext): boolean {
  if (section === 'procs') {
    const m = PROC_ROW.exec(b);
    if (!m) return false;
    const pid = Number(m[2]);
    if (d.pids.has(pid)) {
      ctx.diag('warning', 'duplicate_row', `process ${pid} is listed twice in the Dma-buf Info dump of line ${d.line}: its first row is read`, lineNo);
      return true;
    }
    d.pids.add(pid);
    d.procs.push({
      line: lineNo,
      comm: (m[1] ?? '').trim(),
      pid,
      fds: Number(m[3]),
      maps: Number(m[4]),
      fdKb: toInt(m[5])!,
      mapKb: toInt(m[6])!,
      skipped: m[7] === LOCK_SKIPPED,
    });
    return true;
  }
  if (section === 'devices') return DEV_ROW.test(b);
  if (section === 'stats') {
    const m = STATS_ROW.exec(b);
    if (!m) return false;
    d.stats!.push([toInt(m[1])!, Number(m[2])]);
    return true;
  }
  if (section === 'buffers') {
    const m = BUF_ROW.exec(b);
    if (!m) return false;
    const devices: [string, number][] = [];
    for (const dm of m[7].matchAll(BUF_DEVICE)) devices.push([dm[1], Number(dm[2])]);
    d.buffers.push({ line: lineNo, inode: toInt(m[1])!, exporter: m[2], size: toInt(m[3])!, count: toInt(m[4]), devices });
    return true;
  }
  // Between the title and the column header: another kernel message.
  return section === 'head';
}

function writeDump(d: Dump, ctx: ImportContext): void {
  const bufferCount = d.stats ? d.stats.reduce((a, [, n]) => a + n, 0) + Math.max(0, d.skippedBufs) : undefined;
  if (d.total !== undefined || bufferCount !== undefined) {
    ctx.insert('dmabuf_reported_total', { origin: 'samsung_dmabuf_trace', total_bytes: d.total ?? null, buffer_count: bufferCount ?? null, in_kb: 0 });
  }
  checkStats(d, ctx);
  const skipped: ProcRow[] = [];
  for (const p of d.procs) {
    ctx.process(p.pid, { name: p.comm || null });
    if (p.skipped) skipped.push(p);
    else ctx.insert('dmabuf_reported_total', { origin: 'samsung_dmabuf_trace_fd', pid: p.pid, total_bytes: kbBytes(p.fdKb), buffer_count: p.fds, in_kb: 1 });
    ctx.insert('dmabuf_reported_total', { origin: 'samsung_dmabuf_trace_mmap', pid: p.pid, total_bytes: kbBytes(p.mapKb), buffer_count: p.maps, in_kb: 1 });
  }
  if (skipped.length > 0) {
    ctx.diag(
      'warning',
      'tool_error',
      `the kernel skipped the fds of ${skipped.length} process${skipped.length === 1 ? '' : 'es'} (\`-> skip by lock contention\`), first ${skipped[0].comm} (${skipped[0].pid}): their fd totals are unknown and not recorded`,
      skipped[0].line,
    );
  }
  for (const b of d.buffers) {
    ctx.insert('dmabuf_observation', { line: b.line, inode: b.inode, size: b.size, size_exact: 1, exporter: b.exporter, name: null, file_count: b.count, global_list: 0 });
    for (const [device, maps] of b.devices) ctx.insert('dmabuf_attachment', { inode: b.inode, buffer_line: b.line, device, map_count: maps });
  }
  if (d.irqSkipped) {
    ctx.diag('info', 'no_data', `the Dma-buf Info dump of line ${d.line} was printed in interrupt context: the kernel skipped its lists`, d.line);
  } else if (d.procs.length === 0 && !d.cut) {
    ctx.diag(
      'info',
      'no_data',
      `the Dma-buf Info dump of line ${d.line} lists no process${d.header ? ' (the kernel prints none while its trace lock is held)' : ', nor its column header'}`,
      d.line,
    );
  }
}

/**
 * The total beside the statistics: each size is printed rounded down to kB, so the total is at
 * least the sum of the printed kB and less than that plus 1 kB per buffer. Not checked when
 * buffers were left out (`skipped bufcnt`) or either is missing.
 */
function checkStats(d: Dump, ctx: ImportContext): void {
  if (d.total === undefined || !d.stats || d.stats.length === 0 || d.skippedBufs !== 0 || d.cut) return;
  let kb = 0n;
  let n = 0n;
  for (const [size, count] of d.stats) {
    kb += BigInt(size) * BigInt(count);
    n += BigInt(count);
  }
  const total = BigInt(d.total);
  if (total < kb * 1024n || total >= (kb + n) * 1024n) {
    ctx.diag('warning', 'count_mismatch', `the Dma-buf Info dump of line ${d.line} says ${total} bytes allocated but its size statistics add up to ${kb} kB over ${n} buffers`, d.line);
  }
}

/** kB × 1024, a bigint when it exceeds 2^53. */
function kbBytes(kb: number | bigint): number | bigint {
  const n = typeof kb === 'bigint' ? kb * 1024n : kb * 1024;
  return typeof n === 'number' && !Number.isSafeInteger(n) ? BigInt(kb) * 1024n : n;
}
