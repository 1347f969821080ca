// ION heap debug files of ION-era kernels (Android 9–11 devices, kernels up to 4.9 with the
// legacy client API): debugfs `/sys/kernel/debug/ion/heaps/<heap>` (`/d/ion/heaps/<heap>`),
// one file per heap, written by ion_debug_heap_show() in drivers/staging/android/ion/ion.c,
// read from source (pinned: aosp-mirror/kernel_common eb4d84aa1302b53322a2e22bde7db4eabfc69d06,
// the 3.x AOSP driver, whose strings are all `%16.s`, i.e. sixteen spaces, so its header, the
// client names and the total labels print blank; CertifiedBlyndGuy/android_kernel_google_wahoo
// 1e1235bcb75ff8e7272b4cefd4c803bdd85db32b, Qualcomm msm-4.4 of the Pixel 2, `%16s`):
//   "%16s %16s %16s\n"            client, pid, size (the header)
//   52 dashes
//   "%16s %16u %16zu\n"           per ION client holding a handle to a buffer of this heap: the
//                                 task's comm (a kernel client: its own name), the pid of its
//                                 process, the bytes of the heap's buffers it holds handles to
//                                 (clients without any are not printed)
//   52 dashes
//   "orphaned allocations (info is from last known client):\n"
//   "%16s %16u %16zu %d %d\n"     per buffer of the heap that no client holds a handle to (held
//                                 by DMA-BUF fds or the kernel only): the comm and pid that
//                                 allocated it, its bytes, kmap count, reference count
//   52 dashes
//   "%16s %16zu\n"                `total orphaned`, the orphaned buffers' bytes
//   "%16s %16zu\n"                `total `, every buffer of the heap
//   "%16s %16zu\n"                `deferred free` (heaps freeing later only): bytes freed and not yet returned
//   52 dashes
// then the heap's own debug_show output (Qualcomm: page pools, a memory map; MediaTek: its
// buffer tables), which is not read. A client's bytes are those of the buffers it imported into
// ION or allocated, one count per client: a buffer two clients hold is counted in both, and a
// process holding a buffer only by a DMA-BUF fd it never imported is not listed. Neither
// buffers nor inodes are printed (the orphaned lines identify no buffer), so no buffer rows.
// Rows: `process` names from the client names (a comm: 15 characters at most), per pid and
// heap a `dmabuf_reported_total` origin `ion_client` (the sum of the pid's clients, exporter =
// the heap when the text names it: a header line such as `==> /d/ion/heaps/system <==` or a
// bare path before the table, or the input's own path), and per heap origin `ion_heap` (the
// `total` line) and `ion_heap_orphaned` (`total orphaned`, buffer_count = orphaned lines).
// Several heap files one after another are read block by block. Tolerant: tabs turned to
// spaces, CRLF, text before and after, the blank labels of the 3.x driver (totals then by
// position), a capture cut short (whole rows kept, `truncated`); orphaned lines that do not add
// up to `total orphaned` are `count_mismatch`; an unreadable line in the tables is `malformed_row`.
import type { ImportContext, TextImporter } from '../types.js';
import { excerpt, fromBigInt, guarded, isShellNoise, splitLines } from '../common.js';
import { headerPath } from './common.js';

const HEADER = /^\s*client\s+pid\s+size\s*$/;
const DASHES = /^\s*-{20,}\s*$/;
const ORPHANED = /^\s*orphaned allocations \(info is from last known client\):\s*$/;
/** A client row (the name may be blank, or hold spaces). */
const CLIENT_ROW = /^\s*(?:(.*?)\s+)?(\d+)\s+(\d+)\s*$/;
const ORPHAN_ROW = /^\s*(?:(.*?)\s+)?(\d+)\s+(\d+)\s+(-?\d+)\s+(-?\d+)\s*$/;
const TOTAL_LINE = /^\s*(total orphaned|total|deferred free)?\s*(\d+)\s*$/;
/** A path naming one ION heap's debug file. */
const HEAP_PATH = /(?:^|\/)ion\/heaps\/([^/\s]+)$/;

/** HEADER's test of a line; lines without `client` are passed over at once (sniffs and kernel_captures run this on every line). */
export function isIonHeapHeader(line: string): boolean {
  return line.includes('client') && HEADER.test(line);
}

type State = 'clients' | 'orphans' | 'totals' | 'done';

interface Client {
  line: number;
  name: string;
  pid: number;
  size: bigint;
}

interface Block {
  line: number;
  heap: string | null;
  state: State;
  /** The dashes under the header were met (the client rows follow). */
  opened: boolean;
  clients: Client[];
  orphans: number;
  orphanBytes: bigint;
  totals: { orphaned?: bigint; total?: bigint; deferred?: bigint };
  /** Totals lines met, for the blank labels of the 3.x driver. */
  totalLines: number;
  cut: boolean;
}

export const ionHeapImporter: TextImporter = {
  name: 'ion_heap',
  description:
    'ION heap debug files of ION-era kernels (debugfs ion/heaps/<heap>, Android 9–11 devices up to 4.9 kernels): per-client bytes by pid, orphaned and heap totals',

  sniff(head: string): boolean {
    const { lines } = splitLines(head);
    for (let i = 0; i < lines.length; i++) {
      if (ORPHANED.test(lines[i])) return true;
      if (isIonHeapHeader(lines[i]) && i + 1 < lines.length && DASHES.test(lines[i + 1])) return true;
    }
    return false;
  },

  importText(text: string, ctx: ImportContext): void {
    guarded(ctx, 'ion_heap', (c) => importIonHeap(text, c));
  },
};

/** The heap a header line before a table names (`==> /d/ion/heaps/system <==`, `/d/ion/heaps/system:`, …). */
function heapOfHeader(line: string): string | null {
  const p = line.includes('ion/heaps/') ? headerPath(line) : undefined;
  const m = p ? HEAP_PATH.exec(p) : null;
  return m ? m[1] : null;
}

/** From a dashes line at `i`: do client rows, dashes and the orphaned line follow (a table whose header printed blank)? */
function blankHeaderTable(lines: readonly string[], i: number): boolean {
  let j = i + 1;
  while (j < lines.length && CLIENT_ROW.test(lines[j])) j++;
  return j + 1 < lines.length && DASHES.test(lines[j]) && ORPHANED.test(lines[j + 1]);
}

function importIonHeap(text: string, ctx: ImportContext): void {
  const { lines, complete } = splitLines(text);
  const pathHeap = HEAP_PATH.exec(ctx.path.replace(/\\/g, '/'));
  const blocks: Block[] = [];
  let cur: Block | undefined;
  /** The heap the last header line before the next table named. */
  let named: string | null = null;
  const open = (lineNo: number, opened: boolean): Block => {
    const b: Block = { line: lineNo, heap: named ?? (pathHeap ? pathHeap[1] : null), state: 'clients', opened, clients: [], orphans: 0, orphanBytes: 0n, totals: {}, totalLines: 0, cut: false };
    named = null;
    blocks.push(b);
    return b;
  };

  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i];
    const lineNo = i + 1;
    const cutHere = i === lines.length - 1 && !complete;
    if (raw.trim() === '' || isShellNoise(raw)) continue;
    if (isIonHeapHeader(raw)) {
      if (cur && cur.state !== 'done') endEarly(cur, ctx, lineNo);
      cur = open(lineNo, false);
      continue;
    }
    if (!cur || cur.state === 'done') {
      // Outside a table: a header naming the next heap, a table whose header printed blank, or other text.
      const h = heapOfHeader(raw);
      if (h !== null) named = h;
      else if (DASHES.test(raw) && blankHeaderTable(lines, i)) cur = open(lineNo, true);
      continue;
    }
    if (cutHere && !DASHES.test(raw) && !ORPHANED.test(raw)) {
      // The last line lost characters: its numbers may be cut.
      cur.cut = true;
      ctx.diag('warning', 'truncated', `ION heap capture ends inside a line: ${excerpt(raw)}`, lineNo);
      continue;
    }
    switch (cur.state) {
      case 'clients': {
        if (DASHES.test(raw)) {
          if (!cur.opened) cur.opened = true;
          continue;
        }
        if (ORPHANED.test(raw)) {
          cur.state = 'orphans';
          continue;
        }
        const m = CLIENT_ROW.exec(raw);
        const pid = m ? Number(m[2]) : NaN;
        if (m && cur.opened && Number.isSafeInteger(pid)) {
          cur.clients.push({ line: lineNo, name: (m[1] ?? '').trim(), pid, size: BigInt(m[3]) });
          continue;
        }
        ctx.diag('warning', 'malformed_row', `not a client row of an ION heap table: ${excerpt(raw)}`, lineNo);
        continue;
      }
      case 'orphans': {
        if (DASHES.test(raw)) {
          cur.state = 'totals';
          continue;
        }
        const m = ORPHAN_ROW.exec(raw);
        if (m) {
          cur.orphans++;
          cur.orphanBytes += BigInt(m[3]);
          continue;
        }
        ctx.diag('warning', 'malformed_row', `not an orphaned allocation of an ION heap table: ${excerpt(raw)}`, lineNo);
        continue;
      }
      case 'totals': {
        if (DASHES.test(raw)) {
          cur.state = 'done';
          continue;
        }
        const m = TOTAL_LINE.exec(raw);
        if (m) {
          // Blank labels (3.x): total orphaned, total, deferred free, in that order.
          const label = m[1] ?? ['total orphaned', 'total', 'deferred free'][cur.totalLines] ?? '';
          cur.totalLines++;
          const v = BigInt(m[2]);
          if (label === 'total orphaned') cur.totals.orphaned = v;
          else if (label === 'total') cur.totals.total = v;
          else if (label === 'deferred free') cur.totals.deferred = v;
          continue;
        }
        ctx.diag('warning', 'malformed_row', `not a total line of an ION heap table: ${excerpt(raw)}`, lineNo);
        continue;
      }
    }
  }

  if (blocks.length === 0) {
    ctx.diag('warning', 'no_data', 'no ION heap table (`client pid size` … `orphaned allocations …`) found');
    return;
  }
  const last = blocks[blocks.length - 1];
  if (last.state !== 'done' && !last.cut) endEarly(last, ctx, lines.length);
  for (const b of blocks) writeBlock(b, ctx);
}

/** A table that stops before its closing dashes: the capture was cut short. */
function endEarly(b: Block, ctx: ImportContext, lineNo: number): void {
  b.cut = true;
  const where = b.state === 'clients' ? 'its client rows' : b.state === 'orphans' ? 'its orphaned allocations' : 'its totals';
  ctx.diag('warning', 'truncated', `the ION heap table${b.heap ? ` of ${b.heap}` : ''} stops in ${where}`, lineNo);
}

function writeBlock(b: Block, ctx: ImportContext): void {
  const perPid = new Map<number, bigint>();
  for (const c of b.clients) {
    // A comm has at most 15 characters; a longer name is a kernel client's.
    if (c.name !== '' && c.name.length <= 15) ctx.process(c.pid, { name: c.name });
    perPid.set(c.pid, (perPid.get(c.pid) ?? 0n) + c.size);
  }
  for (const [pid, total] of [...perPid].sort((x, y) => x[0] - y[0])) {
    ctx.insert('dmabuf_reported_total', { origin: 'ion_client', pid, exporter: b.heap, total_bytes: fromBigInt(total), in_kb: 0 });
  }
  if (b.totals.total !== undefined) {
    ctx.insert('dmabuf_reported_total', { origin: 'ion_heap', exporter: b.heap, total_bytes: fromBigInt(b.totals.total), in_kb: 0 });
  }
  if (b.totals.orphaned !== undefined) {
    ctx.insert('dmabuf_reported_total', { origin: 'ion_heap_orphaned', exporter: b.heap, total_bytes: fromBigInt(b.totals.orphaned), buffer_count: b.orphans, in_kb: 0 });
    if (!b.cut && b.totals.orphaned !== b.orphanBytes) {
      ctx.diag('warning', 'count_mismatch', `ION heap${b.heap ? ` ${b.heap}` : ''} says ${b.totals.orphaned} bytes orphaned but its ${b.orphans} orphaned allocations add up to ${b.orphanBytes}`, b.line);
    }
  }
}
