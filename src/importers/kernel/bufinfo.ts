// debugfs `/sys/kernel/debug/dma_buf/bufinfo` (drivers/dma-buf/dma-buf.c, dma_buf_debug_show;
// drivers/base/dma-buf.c, dma_buf_describe, before 3.17):
//   Linux 6.x (v6.0 dma-buf.c): header `size flags mode count exp_name ino name`, rows
//     "%08zu\t%08x\t%08x\t%08ld\t%s\t%08lu\t%s\n" (name or `<none>`), fence lines
//     "\t%s fence:%s %s seq %llu %ssignalled\n" (dma_resv_describe).
//   Linux 5.3–5.19: header without `name`, rows end with the name or nothing; fence lines
//     "\tExclusive fence: %s %s %ssignalled\n" / "\tShared fence: …" (some 5.x: read/write).
//     Samsung's Exynos 4.9 kernels carry it back with the 6.x header (`… exp_name\tino\tname`,
//     padded), the name printed empty and no fence lines (pinned:
//     ExyHyperBrick/android_kernel_samsung_exynos9810 2011c006a62a271542398d13d31d79f05bccd9f3).
//   Before 5.3 (v4.19 dma-buf.c): header "%-8s\t%-8s\t%-8s\t%-8s\texp_name\n" (`size flags mode
//     count exp_name` padded), rows "%08zu\t%08x\t%08x\t%08ld\t%s\n" — no inode, no name.
//     Before the fence lines the header was unpadded, "size\tflags\tmode\tcount\texp_name\n",
//     with the same rows and blocks (pinned: DevPixel-C/android_kernel_nvidia_kernel_4.9-SMAUG-20221026
//     03e5be7bc0dfadbf3ef6e9fd6ae49d3383423132, drivers/dma-buf/dma-buf.c).
//   The first layout (3.10-era kernels, drivers/base/dma-buf.c dma_buf_describe, until the
//     2014 rework "dma-buf: update debugfs output"; pinned:
//     samsungexynos7420/android_kernel_samsung_universal7420 0176f5cbce5ca7e4af90d0cc474ed184aaef27f6,
//     also doitaljosh/linux-3.10.30-famhubv1 605db27c8fd6fb9f7b409be64e2594cfe534a358): the
//     exporter first and every line indented — header "\texp_name\tsize\tflags\tmode\tcount\n",
//     rows "\t" then "\t%s\t%08zu\t%08x\t%08x\t%08ld\n" (exporter, size, flags, mode, count), then
//     "\t\tAttached Devices:\n", "\t\t" then "%s\n" per device, "\n\t\tTotal %d devices attached\n".
//     The exporter is the exporting file's `__FILE__` (`drivers/gpu/ion/ion.c`: dma_buf_export()
//     passed it, include/linux/dma-buf.h of those trees), and a device is printed by its
//     `init_name`, which the driver core clears once the device is registered: the device lines
//     read `(null)`. Such an attachment is counted (the `Total N devices attached` check) but
//     not recorded (no name): one `attachment_device_unknown` info says how many.
//   Qualcomm-based vendor kernels of the 4.14 era (msm-4.14 and derivatives): header
//     "%-8s\t%-8s\t%-8s\t%-8s\t%-12s\t%-s\n" (`… exp_name\tbuf name`), rows
//     "%08zu\t%08x\t%08x\t%08ld\t%-12s\t%-s\n" — the exporter padded with spaces, then the
//     buffer's name (`(null)` when it has none), no inode.
//   Oplus builds of those kernels (OnePlusOSS/android_kernel_oneplus_sm8150 e4609385,
//     drivers/dma-buf/dma-buf.c dma_buf_debug_show; also `/proc/dma_buf/bufinfo`): header
//     "%-8s\t%-8s\t%-8s\t%-8s\t%-12s\t%-s\t%-8s\n" (`… exp_name\tbuf name\tino`), rows
//     "%08zu\t%08x\t%08x\t%08ld\t%-12s\t%-s\t%8lu\t%s\n" — exporter, the `dmabuf<N>` counter
//     name, the inode padded with spaces (not zeros), then the buffer's name.
//   Every version since the rework: "\tAttached Devices:\n", "\t%s\n" per device, "Total %d
//   devices attached\n\n", and at the end "\nTotal %d objects, %zu bytes\n". A buffer whose lock
//   could not be taken is skipped with "\tERROR locking buffer object: skipping\n" (3.x, 4.x and
//   5.x kernels): it is in neither the rows nor the totals, so it is flagged (`tool_error`).
// See ../shared/formats.md §3d. Tabs may have become spaces (copy/paste, a terminal): the
// columns are then found by shape (the inode is the first zero-padded decimal of 8+ digits
// after the exporter; in the first layout the four numbers at the end of the row). A capture
// cut short (no totals line, a last row cut) is kept and flagged with a `truncated`
// diagnostic. The listing may sit inside other text (dumpstate_board.txt): lines outside a
// `Dma-buf Objects:` block are ignored.
// Rows: `dmabuf_observation` per buffer (exact size, exporter, inode — NULL before 5.3 —,
// name unless `<none>` or empty, file count, global_list 1); `dmabuf_attachment` per attached
// device with `buffer_line` = the buffer's row line (links buffers without an inode); the
// totals line → `dmabuf_reported_total` origin `bufinfo` (bytes and object count).
import type { ImportContext, TextImporter } from '../types.js';
import { excerpt, guarded, LineReader, toInt } from '../common.js';

/** `expfirst`: the first layout (3.10-era), exporter before the numbers. */
type Variant = '6x' | '5x' | 'pre5.3' | 'expfirst' | 'bufname' | 'bufname-ino' | 'unknown';

const OBJECTS = /^\s*Dma-buf Objects:\s*$/;
const HEADER = /^\s*size\s+flags\s+mode\s+count\s+exp_name(?:(\s+ino)?(\s+name)?|\s+(buf name)(\s+ino)?)\s*$/;
/** The first layout's header: the exporter first. */
const HEADER_EXPFIRST = /^\s*exp_name\s+size\s+flags\s+mode\s+count\s*$/;
const LOCK_ERROR = /^\s*ERROR locking buffer object: skipping\s*$/;
const TOTAL_OBJECTS = /^\s*Total\s+(\d+)\s+objects,\s*(\d+)\s+bytes\s*$/;
const TOTAL_DEVICES = /^\s*Total\s+(\d+)\s+devices\s+attached\s*$/;
const ATTACHED = /^\s*Attached Devices:\s*$/;
const FENCE = /^\s*(?:\w+\s+)?fence:|^\s*(?:Exclusive|Shared)\s+fence\b/i;
// size, flags, mode, count, then the rest.
const ROW_HEAD = /^\s*(\d+)\s+([0-9a-fA-F]+)\s+([0-9a-fA-F]+)\s+(-?\d+)\s+(\S.*?)\s*$/;
// Within the rest: exporter (may hold spaces once tabs are gone), inode (%08lu), name.
const REST_WITH_INODE = /^(.+?)\s+(\d{8,})(?:\s+(.*?))?\s*$/;
// The first layout's row: exporter (a source path, no spaces expected but allowed), size, flags, mode, count.
const ROW_EXPFIRST = /^\s*(\S.*?)\s+(\d+)\s+([0-9a-fA-F]+)\s+([0-9a-fA-F]+)\s+(-?\d+)\s*$/;
/** What printk prints for a NULL `%s`: the first layout's device name once the device is registered. */
const NULL_DEVICE = '(null)';

interface Row {
  line: number;
  size: number | bigint;
  count: number | bigint | undefined;
  exporter: string;
  inode: number | bigint | null;
  name: string | null;
  /** False when the row ends right after the inode digits (the capture may have cut them). */
  inodeComplete: boolean;
}

function cleanName(n: string | undefined | null): string | null {
  if (n === undefined || n === null) return null;
  const t = n.trim();
  return t === '' || t === '<none>' || t === '(null)' ? null : t;
}

/** Parse one buffer row for the variant the header announced; undefined when the line is not a (complete) row. */
function parseRow(raw: string, variant: Variant, lineNo: number): Row | undefined {
  if (variant === 'expfirst') return parseExpFirst(raw, lineNo);
  // Exact parse when the kernel's tabs survived.
  if (!raw.startsWith('\t') && raw.includes('\t')) {
    const f = raw.split('\t');
    if (
      f.length >= 5 &&
      /^\d+$/.test(f[0].trim()) &&
      /^[0-9a-fA-F]+$/.test(f[1].trim()) &&
      /^[0-9a-fA-F]+$/.test(f[2].trim()) &&
      /^-?\d+$/.test(f[3].trim()) &&
      f[4].trim() !== ''
    ) {
      const base = { line: lineNo, size: toInt(f[0])!, count: toInt(f[3]), exporter: f[4].trim() };
      const bufnameIno = f.length >= 7 && !/^\d+$/.test(f[5].trim()) && /^\d+$/.test(f[6].trim());
      if (variant === 'bufname-ino' || (variant === 'unknown' && bufnameIno)) {
        // Exporter, the counter name, the inode, then the buffer's name.
        if (bufnameIno) {
          const name = cleanName(f.slice(7).join('\t')) ?? cleanName(f[5]);
          return { ...base, inode: toInt(f[6])!, name, inodeComplete: f.length >= 8 };
        }
      } else if (variant === 'pre5.3') {
        if (f.length === 5 || f.slice(5).every((x) => x.trim() === '')) return { ...base, inode: null, name: null, inodeComplete: true };
      } else if (variant === 'bufname' || (variant === 'unknown' && f.length >= 6 && !/^\d+$/.test(f[5].trim()))) {
        // Exporter, then the buffer's name: no inode.
        return { ...base, inode: null, name: cleanName(f.slice(5).join('\t')), inodeComplete: true };
      } else if (f.length >= 6 && /^\d+$/.test(f[5].trim())) {
        return { ...base, inode: toInt(f[5])!, name: cleanName(f.slice(6).join('\t')), inodeComplete: f.length >= 7 };
      } else if (variant === 'unknown' && f.length === 5) {
        return { ...base, inode: null, name: null, inodeComplete: true };
      }
      // Mixed tabs and spaces: fall through to the shape parse.
    }
  }
  const m = ROW_HEAD.exec(raw);
  // No header seen (a capture cut at its start): the first layout's rows are told by their shape.
  if (!m) return variant === 'unknown' ? parseExpFirst(raw, lineNo) : undefined;
  const base = { line: lineNo, size: toInt(m[1])!, count: toInt(m[4]) };
  const rest = m[5];
  if (variant === 'bufname-ino') {
    const b = /^(\S+)\s+(\S+)\s+(\d+)(?:\s+(.*))?$/.exec(rest);
    if (!b) return undefined;
    const inodeComplete = (b[4] !== undefined && b[4] !== '') || /\s$/.test(raw);
    return { ...base, exporter: b[1], inode: toInt(b[3])!, name: cleanName(b[4]) ?? cleanName(b[2]), inodeComplete };
  }
  if (variant === 'bufname') {
    // The exporter is a driver or heap name without spaces: the rest of the line is the buffer's name.
    const b = /^(\S+)(?:\s+(.*))?$/.exec(rest)!;
    return { ...base, exporter: b[1], inode: null, name: cleanName(b[2]), inodeComplete: true };
  }
  if (variant !== 'pre5.3') {
    const r = REST_WITH_INODE.exec(rest);
    if (r) {
      const inodeComplete = (r[3] !== undefined && r[3] !== '') || /\s$/.test(raw);
      return { ...base, exporter: r[1].trim(), inode: toInt(r[2])!, name: cleanName(r[3]), inodeComplete };
    }
    if (variant !== 'unknown') return undefined;
  }
  return { ...base, exporter: rest.trim(), inode: null, name: null, inodeComplete: true };
}

/** A row of the first layout: exporter, size, flags, mode, count; no inode, no name. */
function parseExpFirst(raw: string, lineNo: number): Row | undefined {
  const m = ROW_EXPFIRST.exec(raw);
  if (!m) return undefined;
  return { line: lineNo, size: toInt(m[2])!, count: toInt(m[5]), exporter: m[1], inode: null, name: null, inodeComplete: true };
}

export const bufinfoImporter: TextImporter = {
  name: 'bufinfo',
  description: 'debugfs dma_buf/bufinfo (Linux 3.x, 4.x, 5.x and 6.x layouts): buffers, attached devices and the total line',

  sniff(head: string): boolean {
    return (
      /^[ \t]*Dma-buf Objects:[ \t]*\r?$/m.test(head) ||
      /^[ \t]*size\s+flags\s+mode\s+count\s+exp_name\b/m.test(head) ||
      /^[ \t]*exp_name[ \t]+size[ \t]+flags[ \t]+mode[ \t]+count[ \t]*\r?$/m.test(head)
    );
  },

  importText(text: string, ctx: ImportContext): void {
    guarded(ctx, 'bufinfo', (c) => importBufinfo(text, c));
  },
};

function importBufinfo(text: string, ctx: ImportContext): void {
  const lines = new LineReader(text);
  const complete = lines.complete;
  let inTable = false;
  let sawTable = false;
  let variant: Variant = 'unknown';
  let current: Row | undefined;
  let inDevices = false;
  let devices: string[] = [];
  /** `(null)` device lines of the current buffer, and of the whole text. */
  let unnamed = 0;
  let unnamedTotal = 0;
  let blockRows = 0;
  let blockBytes = 0n;
  let blockStart = 0;
  let lastRowLine = 0;

  const flushDevices = (declared: number | undefined, lineNo: number) => {
    if (current) {
      for (const d of devices) ctx.insert('dmabuf_attachment', { inode: current.inode, buffer_line: current.line, device: d });
      const listed = devices.length + unnamed;
      if (declared !== undefined && declared !== listed) {
        ctx.diag('warning', 'count_mismatch', `buffer on line ${current.line} lists ${listed} attached devices but says ${declared}`, lineNo);
      }
    }
    unnamedTotal += unnamed;
    devices = [];
    unnamed = 0;
    inDevices = false;
  };

  const emit = (r: Row) => {
    ctx.insert('dmabuf_observation', {
      line: r.line,
      inode: r.inode,
      size: r.size,
      size_exact: 1,
      exporter: r.exporter,
      name: r.name,
      file_count: r.count,
      global_list: 1,
    });
    blockRows++;
    blockBytes += BigInt(r.size);
    current = r;
    lastRowLine = r.line;
  };

  for (let raw = lines.next(); raw !== undefined; raw = lines.next()) {
    const lineNo = lines.count;
    const isLast = !lines.more;

    if (OBJECTS.test(raw)) {
      if (inTable) ctx.diag('warning', 'truncated', 'a bufinfo listing ends without its `Total N objects` line before another begins', lineNo);
      if (inDevices) flushDevices(undefined, lineNo);
      inTable = true;
      sawTable = true;
      variant = 'unknown';
      current = undefined;
      blockRows = 0;
      blockBytes = 0n;
      blockStart = lineNo;
      continue;
    }
    const h = HEADER.exec(raw);
    const expFirst = !h && HEADER_EXPFIRST.test(raw);
    if (h || expFirst) {
      variant = expFirst ? 'expfirst' : h![3] ? (h![4] ? 'bufname-ino' : 'bufname') : h![1] ? (h![2] ? '6x' : '5x') : 'pre5.3';
      if (!inTable) {
        inTable = true;
        sawTable = true;
        current = undefined;
        blockRows = 0;
        blockBytes = 0n;
        blockStart = lineNo;
      }
      continue;
    }
    if (!inTable) continue;

    const tot = TOTAL_OBJECTS.exec(raw);
    if (tot) {
      if (inDevices) flushDevices(undefined, lineNo);
      const n = Number(tot[1]);
      const bytes = toInt(tot[2]);
      ctx.insert('dmabuf_reported_total', { origin: 'bufinfo', total_bytes: bytes, buffer_count: n, in_kb: 0 });
      if (n !== blockRows) {
        ctx.diag('warning', 'count_mismatch', `bufinfo says ${n} objects but lists ${blockRows}`, lineNo);
      } else if (bytes !== undefined && BigInt(bytes) !== blockBytes) {
        ctx.diag('warning', 'count_mismatch', `bufinfo says ${tot[2]} bytes but its rows sum to ${blockBytes}`, lineNo);
      }
      inTable = false;
      current = undefined;
      continue;
    }
    const td = TOTAL_DEVICES.exec(raw);
    if (td) {
      flushDevices(Number(td[1]), lineNo);
      continue;
    }
    if (ATTACHED.test(raw)) {
      if (inDevices) flushDevices(undefined, lineNo);
      inDevices = true;
      devices = [];
      unnamed = 0;
      continue;
    }
    if (raw.trim() === '') continue;
    if (LOCK_ERROR.test(raw)) {
      if (inDevices) flushDevices(undefined, lineNo);
      current = undefined;
      ctx.diag('warning', 'tool_error', 'the kernel could not lock a buffer and skipped it (`ERROR locking buffer object`): that buffer is missing from the listing and its totals', lineNo);
      continue;
    }
    if (inDevices) {
      // The device list ends with `Total N devices attached`; a line shaped like a row means that line was lost
      // (rows of the first layout are indented like the device lines, and told by their four numbers).
      const r = /^\S/.test(raw) || variant === 'expfirst' ? parseRow(raw, variant, lineNo) : undefined;
      if (r && !(isLast && !complete)) {
        flushDevices(undefined, lineNo);
        ctx.diag('warning', 'malformed_row', 'attached device list without its `Total N devices attached` line', lineNo);
        emit(r);
      } else if (!(isLast && !complete)) {
        if (raw.trim() === NULL_DEVICE) unnamed++;
        else devices.push(raw.trim());
      } else {
        ctx.diag('warning', 'truncated', `bufinfo capture ends inside an attached device name: ${excerpt(raw)}`, lineNo);
      }
      continue;
    }
    if (FENCE.test(raw)) continue;
    const r = parseRow(raw, variant, lineNo);
    if (r) {
      if (isLast && !complete) {
        // The last row may have lost characters: an inode with nothing after it may have lost digits.
        if (r.inode !== null && !r.inodeComplete) {
          ctx.diag('warning', 'truncated', `bufinfo capture ends inside a row: ${excerpt(raw)}`, lineNo);
          continue;
        }
        ctx.diag('warning', 'truncated', `bufinfo capture ends without a newline; its last row may be cut: ${excerpt(raw)}`, lineNo);
      }
      emit(r);
      continue;
    }
    if (/^\s*\d/.test(raw)) {
      if (isLast) ctx.diag('warning', 'truncated', `bufinfo capture ends inside a row: ${excerpt(raw)}`, lineNo);
      else ctx.diag('warning', 'malformed_row', `not a bufinfo row: ${excerpt(raw)}`, lineNo);
      continue;
    }
    // Anything else inside the table (a vendor line, a stray message) is ignored.
  }

  if (inDevices) flushDevices(undefined, lines.count);
  if (inTable) {
    ctx.diag(
      'warning',
      'truncated',
      `bufinfo listing (from line ${blockStart}) ends without its \`Total N objects, M bytes\` line: the capture was cut short after ${blockRows} buffers` +
        (lastRowLine ? ` (last row on line ${lastRowLine})` : ''),
      lines.count || null,
    );
  }
  if (!sawTable) ctx.diag('warning', 'no_data', 'no `Dma-buf Objects:` listing found');
  if (unnamedTotal > 0) {
    ctx.diag(
      'info',
      'attachment_device_unknown',
      `${unnamedTotal} attached device${unnamedTotal === 1 ? '' : 's'} printed as \`(null)\` (kernels of the first bufinfo layout print a device's init_name, cleared once it is registered): counted, not recorded in dmabuf_attachment`,
    );
  }
}
