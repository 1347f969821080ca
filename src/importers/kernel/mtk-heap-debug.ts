// MediaTek's DMA-BUF heap debug files, `/proc/dma_heap/…`, created by the mtk_heap_debug module
// of MediaTek kernels with DMA-BUF heaps (5.10 and later: Dimensity phones of Xiaomi, Oplus,
// vivo, Samsung A-series, …), drivers/dma-buf/heaps/mtk_heap_debug.c, read from source (pinned:
// MiCode/MTK_kernel_device_modules 07810f4e800cead960478e859287e6d9dfdcd8c3, 6.x kernels, and
// MiCode/Xiaomi_Kernel_OpenSource 09e2e0119d67f07a02f8c650dfebacb47f3ea982, 5.10; the
// `buf_priv` lines: mtk_system_heap.c system_buf_priv_dump(), MiCode/MTK_kernel_device_modules
// 02d03cf44a47b4c3aef0d43789d926db2dad24d3). Three files print the same dump, built from every
// buffer of the kernel (get_each_dmabuf, or the /sys/kernel/dmabuf/buffers kset on 6.x) and
// every process's fds and mappings (for_each_process, iterate_fd, the vmas):
//   - `all_heaps` (all_heaps_proc_show → mtk_dmabuf_dump_heap(NULL)):
//       "[All heap] dump start @%llu ms\n", help lines ("help info", "debug cmd:", "\t|- %s %s"),
//       5.10 "freelist: %lu KB\n", "dmabuf buffer total:%ld KB\n" (every buffer's bytes × 4 /
//       PAGE_SIZE: kB with 4 kB pages), "\t|-normal dma_heap buffer total:%llu KB\n",
//       "[heap info] @%llu ms\n" (5.10 "[heap info]\n"), per heap "[%s] buffer total size: %ld KB\n"
//       and "--->%s_heap_pool size: %lu KB\n", "non-dma_heap buffer total:%ld KB\n", then the
//       dump below (6.x with the top-user table);
//   - `heaps/<heap>` (dma_heap_proc_show): "[%s] buffer total size: %ld KB\n", the pool line,
//     a blank line, then the dump below restricted to that heap's buffers;
//   - `stats` (heap_stats_proc_show, HEAP_DUMP_STATS), also `rss_pid` (the memtrack HAL writes
//     `pid:N` and reads one process back): the process table and the pid table only.
// The dump (dmabuf_rbtree_dump_all):
//     "PID     PSS(KB)   RSS(KB)\n", rows "%-5d   %-7zu   %zu\n" (5.10 `%ld`; rss_pid on 6.x
//     `%-7llu` both), "-----EGL memtrack data end\n" (rss_pid: with a final `.`),
//     "--sum: userspace_pss:%ld KB rss:%ld KB\n", "--sum: kernel rss: %ld KB\n", a blank line,
//     "pid table:\n", "\tpid:%-6d name:%s\n" (the comm), a blank line;
//     6.x all_heaps: "dmabuf total_cnt:%d, total_size:%lluKB, top user:\n", its header
//     "\t%-35s %-20s %-25s\n" and rows (sums by buffer name: not read), a blank line;
//     per buffer, by inode: "inode:%-8lu size(Byte):%-10zu count:%-2ld cache_sg:%d  exp:%s\tname:%s\n"
//     (the file count without the dump's own reference; `NULL` for no exporter or name), the
//     heap's lines ("\tbuf_priv: uncached:%d alloc_pid:%d(%s)tid:%d(%s) alloc_time:%lluus\n",
//     "\tbuf_priv: tab:…"), "\tattach[%d]: iova:0x%-14lx attr:%-4lx dir:%-2d dev:%s\n" or
//     "\tget lock fail, maybe is using, skip attach dump\n", then per process holding it
//     "\tpid:%d(%s) \tinode:%lu size:%-8zu fd_cnt:%d mmap_cnt:%d %s\n" (distinct fds, distinct
//     mappings, `fd_list:` and the fds), "\t\tva:…" lines with vma_dump on, a blank line;
//     5.10 "allocated for debug dump: %lu KB\n", "freed     for debug dump: %lu KB\n" (6.x
//     "freed for debug dump: …"), "start:%llums add_done:%llums dump_done:%llums end:%llums\n".
// RSS of a process is the sum of the sizes of the buffers it holds by fd or mapping; PSS divides
// each by its holders (6.x default) or by the share of the mapped bytes (5.10); kernel rss sums
// the buffers nobody holds. Errors met while building the dump are printed in place
// ("[E] %s#%d pid:%d(%s) err:%d", "%s: add vma fail:%d" when a process's mmap lock was busy:
// its mappings are missing, …): `tool_error`.
// Rows: one `dmabuf_observation` per buffer (exact bytes, exporter, name, file_count;
// global_list 1 for all_heaps, 0 for one heap's file), one `dmabuf_holder_observation` per
// process line (fd_refs, map_refs), `process` names from the pid table and the process lines,
// per process a `dmabuf_reported_total` origin `mtk_heap_process` (pid, total_bytes = RSS,
// userspace_pss_bytes = PSS, in kB) and one origin `mtk_heap` (total_bytes: all_heaps'
// `dmabuf buffer total` or a heap file's total, else NULL; kernel_bytes, userspace rss and pss
// from the `--sum` lines). Tolerant: tabs turned to spaces, CRLF, text before and after, a
// capture cut short (whole lines kept, `truncated`; an all_heaps or heap file without its final
// `start:… end:…ms` line is cut short too); an unknown line outside a buffer's block is
// `malformed_row` (inside one it is a heap's own line, skipped).
import type { ImportContext, TextImporter } from '../types.js';
import { excerpt, guarded, isShellNoise, kbToBytes, LineReader, splitLines, toInt } from '../common.js';

const ALL_START = /^\[All heap\] dump start @\d+ ms$/;
const HEAP_INFO = /^\[heap info\](?: @\d+ ms)?$/;
const HEAP_TOTAL = /^\[(.+?)\] buffer total size: (-?\d+) KB$/;
const DMABUF_TOTAL = /^dmabuf buffer total:\s*(-?\d+) KB$/;
const PSS_HEAD = /^PID\s+PSS\(KB\)\s+RSS\(KB\)$/;
const PSS_ROW = /^(\d+)\s+(\d+)\s+(\d+)$/;
const EGL_END = /^-----EGL memtrack data end\.?$/;
const SUM_USER = /^--sum: userspace_pss:(-?\d+) KB rss:(-?\d+) KB$/;
const SUM_KERNEL = /^--sum: kernel rss: (-?\d+) KB$/;
const PID_TABLE = /^pid table:$/;
const PID_ROW = /^pid:(\d+)\s+name:(.*)$/;
const TOP_USER = /^dmabuf total_cnt:-?\d+, total_size:\d+KB, top user:$/;
const BUF = /^inode:(\d+)\s+size\(Byte\):(\d+)\s+count:(-?\d+)\s+cache_sg:-?\d+\s+exp:(.*?)\s+name:(.*)$/;
const HOLDER = /^pid:(\d+)\((.*)\)\s+inode:(\d+)\s+size:(\d+)\s+fd_cnt:(\d+)\s+mmap_cnt:(\d+)(?:\s+fd_list:[\d\s]*)?$/;
const END = /^start:\d+ms add_done:\d+ms dump_done:\d+ms end:\d+ms$/;
/** Lines known and not read: help, pool and bookkeeping lines, the dmabuf_rb_check trace. */
const IGNORED = [
  /^help info$/,
  /^debug cmd:$/,
  /^\|-/,
  /^freelist:\s*-?\d+ KB$/,
  /^--->.*_heap_pool size: -?\d+ KB$/,
  /^non-dma_heap buffer total:\s*-?\d+ KB$/,
  /^dump again after buffer dump$/,
  /^allocated for debug dump: \d+ KB$/,
  /^freed\s+for debug dump: \d+ KB$/,
  /^\[[AR]\] /,
  /^add2rbtree done\|/,
  /^\S+: time:\d+ max:\d+ count:\d+$/,
  /^pid:\d+\(.*\) added, err val:-?\d+$/,
];
/** Errors the dump prints in place. */
const ERROR = /^\[E\] |: add vma fail:-?\d+$|: fail pid:-?\d+$|\badd err:-?\d+$|#\d+ ?:?get err:|#\d+ err:-?\d+$|\]err: no memory|: no memory$|: pid not found$| err, entry is full, /;

/** Whether a text is one of these dumps: a buffer line, the all_heaps header, or the process table with its end line. */
function looksLikeMtkHeap(lines: string[]): boolean {
  let pss = false;
  for (const raw of lines) {
    const t = raw.trim();
    if (ALL_START.test(t) || BUF.test(t)) return true;
    if (PSS_HEAD.test(t)) pss = true;
    else if (pss && EGL_END.test(t)) return true;
  }
  return false;
}

export const mtkHeapDebugImporter: TextImporter = {
  name: 'mtk_heap_debug',
  description:
    'MediaTek DMA-BUF heap debug files: /proc/dma_heap/all_heaps, /proc/dma_heap/heaps/<heap>, /proc/dma_heap/stats and rss_pid (buffers, holders by process, per-process RSS/PSS)',

  sniff(head: string): boolean {
    // Its start, buffer and table lines hold these words: a text without them is not split into lines.
    if (!head.includes('[All heap]') && !head.includes('size(Byte):') && !head.includes('PSS(KB)')) return false;
    return looksLikeMtkHeap(splitLines(head).lines);
  },

  importText(text: string, ctx: ImportContext): void {
    guarded(ctx, 'mtk_heap_debug', (c) => importMtkHeap(text, c));
  },
};

type State = 'top' | 'pss' | 'pids' | 'top_user' | 'buffer';

function cleanName(s: string | undefined): string | null {
  const t = (s ?? '').trim();
  return t === '' || t === 'NULL' || t === '(null)' ? null : t;
}

function importMtkHeap(text: string, ctx: ImportContext): void {
  const lines = new LineReader(text);
  let state: State = 'top';
  let mode: 'all' | 'heap' | undefined;
  let heapTotalKb: string | undefined;
  let allTotalKb: string | undefined;
  let inHeapInfo = false;
  let sawEnd = false;
  let sawData = false;
  let sums: { pss?: string; rss?: string; kernel?: string } = {};
  const procTotals = new Map<number, { line: number; pss: string; rss: string }>();
  const seenBufs = new Set<string>();
  const seenHolders = new Set<string>();
  let openTable: number | undefined;
  let cut = false;

  for (let raw = lines.next(); raw !== undefined; raw = lines.next()) {
    const lineNo = lines.count;
    const t = raw.trim();
    if (!lines.more && !lines.complete) {
      cut = true;
      ctx.diag('warning', 'truncated', `the capture ends inside a line: ${excerpt(raw)}`, lineNo);
      break;
    }
    if (t === '') {
      if (state !== 'pss') state = 'top';
      continue;
    }
    if (isShellNoise(t)) continue;
    const indented = /^\s/.test(raw);

    if (state === 'pss') {
      const r = PSS_ROW.exec(t);
      if (r) {
        const pid = Number(r[1]);
        if (!procTotals.has(pid)) procTotals.set(pid, { line: lineNo, pss: r[2], rss: r[3] });
        continue;
      }
      if (EGL_END.test(t)) {
        state = 'top';
        openTable = undefined;
        continue;
      }
      ctx.diag('warning', 'malformed_row', `not a row of the PID PSS(KB) RSS(KB) table: ${excerpt(raw)}`, lineNo);
      continue;
    }
    if (state === 'pids') {
      const p = PID_ROW.exec(t);
      if (p) {
        ctx.process(Number(p[1]), { name: cleanName(p[2]) });
        continue;
      }
      state = 'top';
    }
    if (state === 'top_user') continue;

    const b = BUF.exec(t);
    if (b) {
      sawData = true;
      state = 'buffer';
      const key = b[1];
      if (seenBufs.has(key)) {
        ctx.diag('info', 'duplicate_row', `buffer ${key} is listed twice: read once`, lineNo);
        continue;
      }
      seenBufs.add(key);
      ctx.insert('dmabuf_observation', {
        line: lineNo,
        inode: toInt(b[1])!,
        size: toInt(b[2])!,
        size_exact: 1,
        exporter: cleanName(b[4]),
        name: cleanName(b[5]),
        file_count: toInt(b[3])!,
        global_list: mode === 'all' ? 1 : 0,
      });
      continue;
    }
    if (state === 'buffer') {
      const h = HOLDER.exec(t);
      if (h) {
        const pid = Number(h[1]);
        const name = cleanName(h[2]);
        if (name) ctx.process(pid, { name });
        const k = `${pid}/${h[3]}`;
        if (seenHolders.has(k)) continue;
        seenHolders.add(k);
        ctx.insert('dmabuf_holder_observation', { line: lineNo, inode: toInt(h[3])!, pid, fd_refs: Number(h[5]), map_refs: Number(h[6]), reported_pss: null });
        continue;
      }
      // The heap's own lines, attachments, mappings: part of the buffer's block.
      if (indented) continue;
    }
    if (ERROR.test(t)) {
      ctx.diag('warning', 'tool_error', `mtk_heap_debug printed an error (the dump may miss fds or mappings): ${excerpt(raw)}`, lineNo);
      continue;
    }
    if (ALL_START.test(t)) {
      mode = 'all';
      continue;
    }
    if (HEAP_INFO.test(t)) {
      inHeapInfo = true;
      continue;
    }
    const ht = HEAP_TOTAL.exec(t);
    if (ht) {
      // all_heaps lists every heap's total under `[heap info]`; a heap's own file starts with it.
      if (mode === undefined && !inHeapInfo) {
        mode = 'heap';
        heapTotalKb = ht[2];
      }
      continue;
    }
    const dt = DMABUF_TOTAL.exec(t);
    if (dt) {
      allTotalKb = dt[1];
      continue;
    }
    if (PSS_HEAD.test(t)) {
      state = 'pss';
      openTable = lineNo;
      sawData = true;
      continue;
    }
    const su = SUM_USER.exec(t);
    if (su) {
      sums = { ...sums, pss: su[1], rss: su[2] };
      continue;
    }
    const sk = SUM_KERNEL.exec(t);
    if (sk) {
      sums = { ...sums, kernel: sk[1] };
      continue;
    }
    if (PID_TABLE.test(t)) {
      state = 'pids';
      continue;
    }
    if (TOP_USER.test(t)) {
      state = 'top_user';
      continue;
    }
    if (END.test(t)) {
      sawEnd = true;
      continue;
    }
    if (IGNORED.some((re) => re.test(t))) continue;
    ctx.diag('warning', 'malformed_row', `not a line of a /proc/dma_heap dump: ${excerpt(raw)}`, lineNo);
  }

  if (!sawData && mode === undefined) {
    ctx.diag('warning', 'no_data', 'no buffer line and no `PID PSS(KB) RSS(KB)` table found');
    return;
  }
  if (cut) {
    // Said where the capture ends.
  } else if (openTable !== undefined) {
    ctx.diag('warning', 'truncated', 'the process table ends without its `-----EGL memtrack data end` line', openTable);
  } else if (mode !== undefined && !sawEnd) {
    ctx.diag('warning', 'truncated', 'the dump ends before its final `start:… end:…ms` line: buffers may be missing', lines.count);
  }

  for (const [pid, v] of procTotals) {
    ctx.insert('dmabuf_reported_total', {
      origin: 'mtk_heap_process',
      pid,
      total_bytes: kbToBytes(v.rss),
      userspace_pss_bytes: kbToBytes(v.pss),
      in_kb: 1,
    });
  }
  const total = mode === 'all' ? allTotalKb : mode === 'heap' ? heapTotalKb : undefined;
  if (total !== undefined || sums.rss !== undefined || sums.kernel !== undefined) {
    ctx.insert('dmabuf_reported_total', {
      origin: 'mtk_heap',
      total_bytes: total === undefined ? null : kbToBytes(total),
      kernel_bytes: sums.kernel === undefined ? null : kbToBytes(sums.kernel),
      userspace_rss_bytes: sums.rss === undefined ? null : kbToBytes(sums.rss),
      userspace_pss_bytes: sums.pss === undefined ? null : kbToBytes(sums.pss),
      in_kb: 1,
    });
  }
}
