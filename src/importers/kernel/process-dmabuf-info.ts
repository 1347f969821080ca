// The per-fd DMA-BUF listing of OpenHarmony kernels and Huawei builds carrying the same
// CONFIG_DMABUF_PROCESS_INFO feature: `/proc/process_dmabuf_info`, also debugfs
// `/sys/kernel/debug/dma_buf/process_bufinfo`, drivers/dma-buf/dma-buf-process-info.c,
// dma_buf_process_info_show() and dma_buf_single_file_show() (read from source, pinned:
// openharmony/kernel_linux_5.10 26dffee6abd2c0b783d04dfdbbc00051e25b3df7). OpenHarmony's
// hidumper (`--mem`, its `Graph` column) and hiview's memory collector
// (`proc_process_dmabuf_info_*` files) read it; capture scripts `cat` it.
// The file:
//   "Dma-buf objects usage of processes:\n"
//   "%-16s %-16s %-16s %-16s %-16s %-16s %-16s %s \t %s\n"   Process, pid, fd, size_bytes, ino,
//                                                           exp_pid, exp_task_comm, buf_name, exp_name
// then for every process (for_each_process: thread-group leaders, tsk->pid the tgid), one row
// per fd of its file table that is a DMA-BUF (iterate_fd, by fd number; two fds of one buffer
// are two rows):
//   "%-16s %-16d %-16u %-16zu %-16lu %-16d %-16s %s \t %s\n"  comm (at most 15 characters),
//       pid, fd, buffer bytes, inode, the exporting process's tgid and its comm (`[kernel task]`
//       for a kernel thread), the buffer's name and exporter (`NULL` when none)
//   "Total dmabuf size of %s: %zu bytes\n"                comm, the sum of the rows' sizes
//                                                         (printed when the process had a row)
// No other line, no end line: a listing cut short ends with a process without its Total line.
// Rows: one `dmabuf_observation` per inode (exact bytes, exporter, name; no file count,
// global_list 0), one `dmabuf_holder_observation` per (process, inode) with fd_refs the number
// of its fds to the buffer and map_refs NULL (mappings are not looked at), `process` names from
// the comm, and per process a `dmabuf_reported_total` origin `process_dmabuf_info_process`
// (pid, total bytes: every fd counted, so a buffer behind two fds twice). The exporting
// process is not stored (no column; its pid may since have been reused). A Total line that
// disagrees with its rows, or names another comm, is flagged (`count_mismatch`,
// `malformed_row`). Tolerant: the tab before the exporter turned to spaces (the exporter is
// then the last word), CRLF, text around the listing, a capture cut short (whole rows kept, a
// `truncated` diagnostic); the columns are read by their printf widths, so a comm or an
// exporting comm with spaces (`[kernel task]`) and a buffer name with spaces are kept whole.
import type { ImportContext, TextImporter } from '../types.js';
import { excerpt, fromBigInt, guarded, isShellNoise, LineReader, splitLines, toInt } from '../common.js';

const START = /^\s*Dma-buf objects usage of processes:\s*$/;
const HEADER = /^\s*Process\s+pid\s+fd\s+size_bytes\s+ino\s+exp_pid\s+exp_task_comm\s+buf_name\s+exp_name\s*$/;
const TOTAL = /^\s*Total dmabuf size of (.*): (\d+) bytes\s*$/;
/** A row whose columns lost their widths: the comm up to the five numbers, the exporting comm one word (or `[kernel task]`). */
const LOOSE_ROW = /^\s*(\S.*?)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(-?\d+)\s+(\[kernel task\]|\S+)(?:\s+(.*?))?\s*$/;
const NUMBER = /-?\d+/y;

/** Whether a text is this listing: its first line or its column header. */
export function looksLikeProcessDmabufInfo(lines: readonly string[]): boolean {
  for (const l of lines) if (START.test(l) || HEADER.test(l)) return true;
  return false;
}

export const processDmabufInfoImporter: TextImporter = {
  name: 'process_dmabuf_info',
  description:
    'per-fd DMA-BUF listing of OpenHarmony and Huawei kernels: /proc/process_dmabuf_info, debugfs dma_buf/process_bufinfo (buffers, holders with fd counts, per-process totals)',

  sniff(head: string): boolean {
    // START and HEADER hold these words: a text without them is not split into lines.
    if (!head.includes('Dma-buf objects usage') && !head.includes('exp_task_comm')) return false;
    return looksLikeProcessDmabufInfo(splitLines(head).lines);
  },

  importText(text: string, ctx: ImportContext): void {
    guarded(ctx, 'process_dmabuf_info', (c) => importProcessDmabufInfo(text, c));
  },
};

interface Row {
  comm: string;
  pid: number;
  fd: number;
  size: number | bigint;
  inode: number | bigint;
  name: string | null;
  exporter: string | null;
}

function cleanName(s: string | undefined): string | null {
  const t = (s ?? '').trim();
  return t === '' || t === 'NULL' ? null : t;
}

/** The part before the exporter and the exporter: after the row's one tab, or (tabs turned to spaces) its last word. */
function splitExporter(raw: string): [string, string] | undefined {
  const tab = raw.lastIndexOf('\t');
  if (tab >= 0) return [raw.slice(0, tab).replace(/ $/, ''), raw.slice(tab + 1).trim()];
  const m = /^(.*\S)\s+(\S+)\s*$/.exec(raw);
  return m ? [m[1], m[2]] : undefined;
}

/** The columns by their printf widths (`%-16…` and a space each): comm, the five numbers, exporting comm, name. */
function byWidths(head: string): [string, string[], string] | undefined {
  if (head.length < 18 || head[16] !== ' ' || /^\s/.test(head)) return undefined;
  const nums: string[] = [];
  let p = 17;
  for (let k = 0; k < 5; k++) {
    NUMBER.lastIndex = p;
    const m = NUMBER.exec(head);
    if (!m) return undefined;
    const w = Math.max(16, m[0].length);
    if (head.slice(p + m[0].length, p + w).trim() !== '' || head[p + w] !== ' ') return undefined;
    nums.push(m[0]);
    p += w + 1;
  }
  // The exporting comm: at most 15 characters, padded to 16, then a space.
  if (head.length > p + 16 && head[p + 16] !== ' ') return undefined;
  return [head.slice(0, 16).trimEnd(), nums, head.slice(p + 17)];
}

/** One row; undefined when the line is not one. */
function parseRow(raw: string): Row | undefined {
  const split = splitExporter(raw);
  if (!split) return undefined;
  const [head, exporter] = split;
  let comm: string;
  let nums: string[];
  let name: string;
  const w = byWidths(head);
  if (w) [comm, nums, name] = w;
  else {
    const m = LOOSE_ROW.exec(head);
    if (!m) return undefined;
    comm = m[1];
    nums = m.slice(2, 7);
    name = m[8] ?? '';
  }
  const pid = Number(nums[0]);
  const fd = Number(nums[1]);
  if (comm.trim() === '' || !Number.isSafeInteger(pid) || !Number.isSafeInteger(fd)) return undefined;
  return { comm: comm.trim(), pid, fd, size: toInt(nums[2])!, inode: toInt(nums[3])!, name: cleanName(name), exporter: cleanName(exporter) };
}

interface Block {
  line: number;
  pid: number;
  comm: string;
  bytes: bigint;
  rows: number;
}

function importProcessDmabufInfo(text: string, ctx: ImportContext): void {
  const lines = new LineReader(text);
  let sawListing = false;
  let cur: Block | undefined;
  const totals = new Map<number, { bytes: bigint; line: number }>();
  const bufs = new Set<string>();
  const holders = new Map<string, { line: number; pid: number; inode: number | bigint; fds: Set<number> }>();
  const named = new Set<number>();
  let cut = false;

  for (let raw = lines.next(); raw !== undefined; raw = lines.next()) {
    const lineNo = lines.count;
    if (!lines.more && !lines.complete) {
      // The last line lost characters: a row's numbers or names may be cut.
      cut = true;
      ctx.diag('warning', 'truncated', `the capture ends inside a line: ${excerpt(raw)}`, lineNo);
      break;
    }
    if (raw.trim() === '') continue;
    if (START.test(raw) || HEADER.test(raw)) {
      sawListing = true;
      continue;
    }
    const t = TOTAL.exec(raw);
    if (t) {
      if (!cur || cur.comm !== t[1].trim()) {
        ctx.diag('warning', 'malformed_row', `a Total line without rows of that process before it: ${excerpt(raw)}`, lineNo);
        continue;
      }
      const bytes = BigInt(t[2]);
      if (bytes !== cur.bytes) {
        ctx.diag('warning', 'count_mismatch', `${cur.comm} (pid ${cur.pid}) says ${bytes} bytes but its ${cur.rows} fds add up to ${cur.bytes} bytes`, lineNo);
      }
      if (totals.has(cur.pid)) ctx.diag('info', 'duplicate_row', `process ${cur.pid} is listed twice: its first Total line kept`, lineNo);
      else totals.set(cur.pid, { bytes, line: lineNo });
      cur = undefined;
      continue;
    }
    const r = parseRow(raw);
    if (!r) {
      if (!isShellNoise(raw)) ctx.diag('warning', 'malformed_row', `not a row of /proc/process_dmabuf_info: ${excerpt(raw)}`, lineNo);
      continue;
    }
    sawListing = true;
    if (cur && cur.pid !== r.pid) {
      ctx.diag('warning', 'malformed_row', `the rows of ${cur.comm} (pid ${cur.pid}) end without their Total line`, lineNo);
      cur = undefined;
    }
    if (!cur) cur = { line: lineNo, pid: r.pid, comm: r.comm, bytes: 0n, rows: 0 };
    cur.bytes += BigInt(r.size);
    cur.rows++;
    if (!named.has(r.pid)) {
      named.add(r.pid);
      ctx.process(r.pid, { name: r.comm });
    }
    const ino = String(r.inode);
    if (!bufs.has(ino)) {
      bufs.add(ino);
      ctx.insert('dmabuf_observation', {
        line: lineNo,
        inode: r.inode,
        size: r.size,
        size_exact: 1,
        exporter: r.exporter,
        name: r.name,
        file_count: null,
        global_list: 0,
      });
    }
    const hk = `${r.pid}/${ino}`;
    let h = holders.get(hk);
    if (!h) holders.set(hk, (h = { line: lineNo, pid: r.pid, inode: r.inode, fds: new Set() }));
    if (h.fds.has(r.fd)) ctx.diag('info', 'duplicate_row', `fd ${r.fd} of process ${r.pid} is listed twice: counted once`, lineNo);
    h.fds.add(r.fd);
  }

  if (!sawListing) {
    ctx.diag('warning', 'no_data', 'no `Dma-buf objects usage of processes:` listing found');
    return;
  }
  if (cur && !cut) {
    ctx.diag('warning', 'truncated', `the listing ends before the Total line of ${cur.comm} (pid ${cur.pid}): processes after it are missing`, cur.line);
  }
  for (const h of holders.values()) {
    ctx.insert('dmabuf_holder_observation', { line: h.line, inode: h.inode, pid: h.pid, fd_refs: h.fds.size, map_refs: null, reported_pss: null });
  }
  for (const [pid, v] of totals) {
    ctx.insert('dmabuf_reported_total', { origin: 'process_dmabuf_info_process', pid, total_bytes: fromBigInt(v.bytes), in_kb: 0 });
  }
}
