// Vendor per-process DMA-BUF listings: one block per process holding DMA-BUF fds, the blocks
// all printed by the same kernel loop (for_each_process, iterate_fd over every thread's file
// table, one entry per distinct buffer) and starting with
//   "\n%s (PID %d) size…\nDMA Buffers:\n"        comm (at most 15 characters), tgid, total
// The two table layouts that follow:
//   - Qualcomm `dmaprocs`, debugfs `/sys/kernel/debug/dma_buf/dmaprocs` (`/d/dma_buf/dmaprocs`;
//     also `/proc/dma_buf/dmaprocs` on Oplus builds) of msm-4.14 and msm-4.19 kernels,
//     drivers/dma-buf/dma-buf.c, write_proc() called by dma_procs_debug_show() (pinned:
//     CalyxOS/kernel_google_redbull 44064c2e9f0bb8b642bd64aa97aae551042c7fb0, Pixel 4a 5G/5;
//     OnePlusOSS/android_kernel_oneplus_sm8150 e46093850155ac20c1f7d578745137efbd59bbe1):
//       "\n%s (PID %d) size: %ld\nDMA Buffers:\n"   total = the sum of the rows' kB
//       "%-8s\t%-8s\t%-8s\n"                        Name, Size (KB), Time Alive (sec)
//       "%-8s\t%-8ld\t%-8lld\n"                     buffer name (`(null)` when none; 4.14: its
//                                                   `dmabuf<N>` counter name), size / 1024, age
//     Pixel 4/4a/5 `dumpstate_board` (device/google/*/dumpstate) puts it in every bugreport:
//     `------ dmabuf process info (/d/dma_buf/dmaprocs) ------`. It has no inode: buffers
//     cannot be matched to any other source, so only per-process totals are kept.
//   - Oplus (OPPO, OnePlus, realme) `/proc/osvelte/dma_buf/procinfo`,
//     vendor/oplus/kernel/mm/mm_osvelte/sys-memstat.c, dma_proc_show() called by
//     dma_buf_procinfo_show() (pinned: OnePlusOSS/android_kernel_modules_and_devicetree_oneplus_sm8550
//     549baaf533ab705b26d996e51c0f492981986242), and Nothing's `/proc/nt_meminfo/show_all_task_dma`
//     (write_proc(), same rows, header `size(kB): %ld`):
//       "\n%s (PID %d) size: %ld kB\nDMA Buffers:\n"   total = (sum of the buffers' bytes) / 1024
//       "%-8s\t%-8s\t%-8s\t%-10s\t%-10s\t%-s\n"      ino, size, count, flags, mode, exp_name
//       "%08lu\t%-8zu\t%-8ld\t0x%08x\t0x%08x\t%-s\t%-s\n"   inode, size / 1024, file count,
//                                                   f_flags, f_mode, exporter, name (empty)
//     Oplus's own log script concatenates this file with `/proc/osvelte/dma_buf/bufinfo` (the
//     upstream 5.10 bufinfo layout) and `/proc/dma_buf/dmaprocs` into one `dmaprocs.txt`:
//     kernel_captures cuts such a text into runs, one per format.
// The printed file count is inflated: the loop takes a file reference (get_file) per process
// and buffer and drops them only after printing, so every block listing a buffer adds one.
// Rows (inode layout): one `dmabuf_observation` per inode (size kB × 1024, size_exact 0,
// exporter, name, file_count = printed count − number of blocks listing the inode, i.e.
// bufinfo's count — NULL when the capture is cut short, global_list 0) and one
// `dmabuf_holder_observation` per (process, inode) with fd_refs and map_refs NULL (a listed
// process has at least one fd to the buffer; how many is not printed; mappings are not
// looked at). Both layouts: `process` names from the comm, and per process a
// `dmabuf_reported_total` origin `dmaprocs_process` (pid, total bytes = kB × 1024, buffer
// count = the rows listed, in_kb 1). A block whose rows do not add up to its total is
// flagged `count_mismatch`. Tolerant: tabs turned to spaces (the exporter and the buffer
// name of the Qualcomm layout are then told apart by the shape of the numbers around
// them), CRLF, text around the blocks (ignored), a capture cut short (whole rows kept, a
// `truncated` diagnostic); an unreadable line inside a block is `malformed_row`.
import type { ImportContext, TextImporter } from '../types.js';
import { excerpt, guarded, isShellNoise, LineReader, splitLines, toInt } from '../common.js';

/** `comm (PID 123) size: 456`, `… size: 456 kB`, `… size(kB): 456`. */
const DMAPROCS_HEAD = /^(.*?)\s*\(PID\s+(\d+)\)\s+size(?:\(kB\))?:\s*(\d+)(?:\s*kB)?\s*$/;

/** DMAPROCS_HEAD's match of a line; lines without `(PID` are passed over at once (sniffs run this on every line of every text). */
export function dmaprocsHead(line: string): RegExpExecArray | null {
  return line.includes('(PID') ? DMAPROCS_HEAD.exec(line) : null;
}
const BUFFERS = /^\s*DMA Buffers:\s*$/;
const QCOM_HEADER = /^\s*Name\s+Size \(KB\)\s+Time Alive \(sec\)\s*$/;
const INODE_HEADER = /^\s*ino\s+size\s+count\s+flags\s+mode\s+exp_name\s*$/;
// Qualcomm row, tabs gone: name (any text), size kB, seconds alive.
const QCOM_ROW = /^\s*(.*?)\s+(\d+)\s+(-?\d+)\s*$/;
// Oplus/Nothing row, tabs gone: inode, size kB, count, flags, mode, exporter, name.
const INODE_ROW = /^\s*(\d+)\s+(\d+)\s+(-?\d+)\s+0x([0-9a-fA-F]+)\s+0x([0-9a-fA-F]+)\s+(\S+)(?:\s+(.*?))?\s*$/;

type Layout = 'qcom' | 'inode' | 'unknown';

interface Buf {
  line: number;
  inode: number | bigint | null;
  kb: number | bigint;
  count: number | bigint | undefined;
  exporter: string | null;
  name: string | null;
}

interface Block {
  line: number;
  pid: number;
  comm: string;
  totalKb: number | bigint;
  layout: Layout;
  bufs: Buf[];
  /** The block's last line was cut (the capture ended without a newline inside it). */
  cut: boolean;
}

export const dmaprocsImporter: TextImporter = {
  name: 'dmaprocs',
  description:
    'per-process DMA-BUF listings of vendor kernels: Qualcomm debugfs dma_buf/dmaprocs (msm-4.14/4.19, Pixel dumpstate_board), Oplus /proc/osvelte/dma_buf/procinfo, Nothing /proc/nt_meminfo/show_all_task_dma',

  sniff(head: string): boolean {
    const { lines } = splitLines(head);
    for (let i = 0; i + 1 < lines.length; i++) {
      if (dmaprocsHead(lines[i]) && BUFFERS.test(lines[i + 1])) return true;
    }
    return false;
  },

  importText(text: string, ctx: ImportContext): void {
    guarded(ctx, 'dmaprocs', (c) => importDmaprocs(text, c));
  },
};

function cleanName(n: string | undefined): string | null {
  const t = (n ?? '').trim();
  return t === '' || t === '(null)' ? null : t;
}

/** One row of a block's table; undefined when the line is not one. */
function parseRow(raw: string, layout: Layout, line: number): Buf | undefined {
  if (layout === 'inode') {
    const f = raw.split('\t');
    if (f.length >= 6 && /^\d+$/.test(f[0].trim()) && /^\d+$/.test(f[1].trim()) && /^-?\d+$/.test(f[2].trim()) && /^0x[0-9a-f]+$/i.test(f[3].trim())) {
      const exporter = f[5].trim();
      return { line, inode: toInt(f[0])!, kb: toInt(f[1])!, count: toInt(f[2]), exporter: exporter || null, name: cleanName(f.slice(6).join('\t')) };
    }
    const m = INODE_ROW.exec(raw);
    return m ? { line, inode: toInt(m[1])!, kb: toInt(m[2])!, count: toInt(m[3]), exporter: m[6], name: cleanName(m[7]) } : undefined;
  }
  const f = raw.split('\t');
  if (f.length === 3 && /^\d+$/.test(f[1].trim()) && /^-?\d+$/.test(f[2].trim())) {
    return { line, inode: null, kb: toInt(f[1])!, count: undefined, exporter: null, name: cleanName(f[0]) };
  }
  const m = QCOM_ROW.exec(raw);
  return m ? { line, inode: null, kb: toInt(m[2])!, count: undefined, exporter: null, name: cleanName(m[1]) } : undefined;
}

function importDmaprocs(text: string, ctx: ImportContext): void {
  const lines = new LineReader(text);
  const blocks: Block[] = [];
  let cur: Block | undefined;
  let sawBuffers = false;

  for (let raw = lines.next(); raw !== undefined; raw = lines.next()) {
    const lineNo = lines.count;
    const cutHere = !lines.more && !lines.complete;
    const h = dmaprocsHead(raw);
    if (h && !cutHere) {
      cur = { line: lineNo, pid: Number(h[2]), comm: h[1].trim(), totalKb: toInt(h[3])!, layout: 'unknown', bufs: [], cut: false };
      blocks.push(cur);
      sawBuffers = false;
      continue;
    }
    if (!cur || raw.trim() === '' || isShellNoise(raw)) continue;
    if (BUFFERS.test(raw)) {
      sawBuffers = true;
      continue;
    }
    if (QCOM_HEADER.test(raw) || INODE_HEADER.test(raw)) {
      cur.layout = QCOM_HEADER.test(raw) ? 'qcom' : 'inode';
      continue;
    }
    const layout = cur.layout !== 'unknown' ? cur.layout : /^\s*\d+\s+\d+\s+-?\d+\s+0x/.test(raw) ? 'inode' : 'qcom';
    const r = sawBuffers ? parseRow(raw, layout, lineNo) : undefined;
    if (r && cutHere) {
      // The last row lost characters: its numbers may be cut.
      cur.cut = true;
      ctx.diag('warning', 'truncated', `dmaprocs capture ends inside a row: ${excerpt(raw)}`, lineNo);
      continue;
    }
    if (r) {
      cur.layout = layout;
      cur.bufs.push(r);
      continue;
    }
    if (cutHere) {
      cur.cut = true;
      ctx.diag('warning', 'truncated', `dmaprocs capture ends inside a line: ${excerpt(raw)}`, lineNo);
      continue;
    }
    ctx.diag('warning', 'malformed_row', `not a row of the DMA Buffers table of ${cur.comm} (PID ${cur.pid}): ${excerpt(raw)}`, lineNo);
  }

  if (blocks.length === 0) {
    ctx.diag('warning', 'no_data', 'no `<comm> (PID <pid>) size: …` block found');
    return;
  }
  const last = blocks[blocks.length - 1];
  if (last.bufs.length === 0 && !last.cut) {
    // A process is listed only when it holds a buffer: a block without rows was cut short.
    last.cut = true;
    ctx.diag('warning', 'truncated', `the capture ends after the header of ${last.comm} (PID ${last.pid}), before its buffers`, last.line);
  }
  writeBlocks(blocks, ctx);
}

/** The rows of every block: processes, per-process totals, buffers and holders. */
function writeBlocks(blocks: Block[], ctx: ImportContext): void {
  const truncated = blocks.some((b) => b.cut);
  // How many blocks list each inode: the references the kernel loop itself held while printing.
  const listed = new Map<string, number>();
  for (const b of blocks) for (const r of b.bufs) if (r.inode !== null) listed.set(String(r.inode), (listed.get(String(r.inode)) ?? 0) + 1);
  const seen = new Set<string>();
  const held = new Set<string>();
  for (const b of blocks) {
    ctx.process(b.pid, { name: b.comm || null });
    ctx.insert('dmabuf_reported_total', {
      origin: 'dmaprocs_process',
      pid: b.pid,
      total_bytes: kbBytes(b.totalKb),
      buffer_count: b.bufs.length,
      in_kb: 1,
    });
    checkTotal(b, ctx);
    for (const r of b.bufs) {
      if (r.inode === null) continue;
      const k = String(r.inode);
      if (!seen.has(k)) {
        seen.add(k);
        ctx.insert('dmabuf_observation', {
          line: r.line,
          inode: r.inode,
          size: kbBytes(r.kb),
          size_exact: 0,
          exporter: r.exporter,
          name: r.name,
          file_count: truncated || r.count === undefined ? null : Number(r.count) - listed.get(k)!,
          global_list: 0,
        });
      }
      if (held.has(`${b.pid}/${k}`)) continue;
      held.add(`${b.pid}/${k}`);
      ctx.insert('dmabuf_holder_observation', { line: r.line, inode: r.inode, pid: b.pid, fd_refs: null, map_refs: null });
    }
  }
}

/** kB × 1024, a bigint when it exceeds 2^53. */
function kbBytes(kb: number | bigint): number | bigint {
  const n = typeof kb === 'bigint' ? kb * 1024n : kb * 1024;
  return typeof n === 'number' && !Number.isSafeInteger(n) ? BigInt(kb) * 1024n : n;
}

/**
 * A block's total beside its rows: Qualcomm sums the rows' kB, Oplus and Nothing divide the
 * sum of the bytes, which is at least the sum of the rows' kB and less than that plus one per row.
 */
function checkTotal(b: Block, ctx: ImportContext): void {
  if (b.cut || b.bufs.length === 0) return;
  const sum = b.bufs.reduce((a, r) => a + BigInt(r.kb), 0n);
  const total = BigInt(b.totalKb);
  const ok = b.layout === 'qcom' ? total === sum : total >= sum && total < sum + BigInt(b.bufs.length);
  if (!ok) ctx.diag('warning', 'count_mismatch', `${b.comm} (PID ${b.pid}) says ${total} kB but its ${b.bufs.length} buffers add up to ${sum} kB`, b.line);
}
