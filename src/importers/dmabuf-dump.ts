// `dmabuf_dump` default mode: one table per process, every Android variant of
// ../shared/formats.md §2a.
//
// Defined by AOSP system/memory/libmeminfo/libdmabufinfo/tools/dmabuf_dump.cpp
// (PrintDmaBufPerProcess; Android 15+ via RawOutput/CsvOutput in
// tools/include/dmabuf_output_helper.h).
//
//   process   "%16s:%-5d\n"                          (comm ≤ 15 chars, or `N/A`)
//   header    "%22s %16s %16s %16s %16s\n"            Name Rss Pss nr_procs Inode
//             "… %22s\n" adds Exporter                (15 QPR2 / 16 and later)
//   row       "%22s %13lu kB %13lu kB %16zu %16ju\n"  (16+: then "  %22s" exporter)
//   total     "%22s %13lu kB %13lu kB %16s\n"         PROCESS TOTAL
//   separator 22 dashes
//   final     "dmabuf total: %lu kB kernel_rss: %lu kB userspace_rss: %lu kB userspace_pss: %lu kB\n "
//   CSV (-o csv): "\t%s:%d", "Name","Rss(kB)",… rows "\"%s\",%lu,%lu,%zu,%ju[,%s]" (exporter
//             unquoted: `qcom,system` spills into a further column), PROCESS TOTAL block,
//             "\tTOTALS" block.
// The oldest tool (Android 10) printed no Inode column and a final `TOTAL` line; its rows
// cannot be tied to buffers, so only its totals are kept.
//
// Rows: `dmabuf_observation` (size in kB × 1024, size_exact = 0) once per inode,
// `dmabuf_holder_observation` per (inode, pid) with the printed Pss, `process` names, and
// `dmabuf_reported_total` (`dmabuf_dump_process` per PROCESS TOTAL, `dmabuf_dump` for the totals).
import type { ImportContext, TextImporter } from './types.js';
import { COMMAND_FAILED, SECTION_MARK, excerpt, guarded, isShellNoise, kbToBytes, LineReader, splitLines, toInt } from './common.js';
// dmabuf-dump-b.ts imports this module too; use its exports only inside functions (not while
// the modules are being evaluated).
import { B_SECTION_TITLE, parseDmabufDumpBLines } from './dmabuf-dump-b.js';

const HEADER_RAW = /^\s*Name\s+Rss\s+Pss\s+nr_procs\b(.*)$/;
const HEADER_CSV = /^"Name","Rss\(kB\)","Pss\(kB\)","nr_procs"(.*)$/;
// Greedy name: the numeric columns are taken from the right, so names may hold spaces, commas, digits.
const ROW_RAW = /^\s*(.*\S)\s+(\d+)\s*kB\s+(\d+)\s*kB\s+(\d+)\s+(\d+)(?:\s+(\S.*?))?\s*$/;
const ROW_RAW_NO_INODE = /^\s*(.*\S)\s+(\d+)\s*kB\s+(\d+)\s*kB\s+(\d+)\s*$/;
const ROW_CSV = /^\s*"(.*)",\s*(\d+),\s*(\d+),\s*(\d+),\s*(\d+)\s*(?:,(.*))?$/;
const PROCESS_TOTAL_RAW = /^\s*PROCESS TOTAL\s+(\d+)\s*kB\s+(\d+)\s*kB\s*$/;
const PROCESS_TOTAL_CSV = /^\s*PROCESS TOTAL\s*$/;
const CSV_PAIR = /^\s*(\d+)\s*,\s*(\d+)\s*$/;
const CSV_QUAD = /^\s*(\d+)\s*,\s*(\d+)\s*,\s*(\d+)\s*,\s*(\d+)\s*$/;
const OLD_TOTAL = /^\s*TOTAL\s+(\d+)\s*kB\s+(\d+)\s*kB\s*$/;
const FINAL =
  /^\s*dmabuf total:\s*(\d+)\s*kB\s+kernel_rss:\s*(\d+)\s*kB\s+userspace_rss:\s*(\d+)\s*kB\s+userspace_pss:\s*(\d+)\s*kB\s*$/;
const PROCESS_LINE = /^\s*(.*):\s*(\d+)\s*$/;
const SEPARATOR = /^\s*-{10,}\s*$/;
const TOOL_ERROR = /^\s*(Failed to |Unable to |Invalid |Usage: |Error:)/;

interface OpenProcess {
  pid: number;
  line: number;
  rows: number;
  hasTotal: boolean;
  inodes: Set<string>;
}

interface Columns {
  /** Rows carry an inode column (all but the Android 10 tool). */
  inode: boolean;
  /** Rows carry an exporter column (15 QPR2 / 16 and later). */
  exporter: boolean;
  csv: boolean;
}

function importDmabufDump(text: string, ctx: ImportContext): void {
  const lines = new LineReader(text);
  let cols: Columns | null = null;
  let proc: OpenProcess | null = null;
  let pending: 'process_total' | 'totals' | null = null;
  let sawFinal = false;
  let sawAnything = false;
  let noInodeRows = 0;
  const buffers = new Map<string, { size: string; name: string | null; exporter: string | null }>();

  const closeProcess = (why: string) => {
    if (proc && !proc.hasTotal) {
      ctx.diag(
        'warning',
        'truncated',
        `process table of pid ${proc.pid} cut short (${why}): ${proc.rows} rows kept, no PROCESS TOTAL line`,
        proc.line,
      );
    }
    proc = null;
    pending = null;
  };

  const addRow = (lineNo: number, line: string, name: string, rssKb: string, pssKb: string, inode: string, exporterRaw: string | undefined) => {
    const bufName = name === '<unknown>' || name === '' ? null : name;
    let exporter: string | null = exporterRaw?.trim() ?? null;
    if (exporter === '' || exporter === '<unknown>') exporter = null;
    const prev = buffers.get(inode);
    if (!prev) {
      buffers.set(inode, { size: rssKb, name: bufName, exporter });
      ctx.insert('dmabuf_observation', {
        line: lineNo,
        inode: toInt(inode),
        size: kbToBytes(rssKb),
        size_exact: 0,
        exporter,
        name: bufName,
      });
    } else if (prev.size !== rssKb || prev.name !== bufName || (exporter !== null && prev.exporter !== exporter)) {
      ctx.diag('warning', 'value_mismatch', `inode ${inode} printed with different values under another process: ${excerpt(line)}`, lineNo);
    }
    if (!proc) {
      ctx.diag('warning', 'orphan_row', `buffer row outside any process table (holder unknown): ${excerpt(line)}`, lineNo);
      return;
    }
    proc.rows++;
    if (proc.inodes.has(inode)) {
      ctx.diag('warning', 'duplicate_row', `inode ${inode} listed twice for pid ${proc.pid}`, lineNo);
      return;
    }
    proc.inodes.add(inode);
    ctx.insert('dmabuf_holder_observation', {
      line: lineNo,
      inode: toInt(inode),
      pid: proc.pid,
      fd_refs: null,
      map_refs: null,
      reported_pss: kbToBytes(pssKb),
    });
  };

  /** A PROCESS TOTAL (raw line or CSV block) of the open process table; false when none is open. */
  const addProcessTotal = (rssKb: string, pssKb: string): boolean => {
    if (!proc) return false;
    proc.hasTotal = true;
    ctx.insert('dmabuf_reported_total', {
      origin: 'dmabuf_dump_process',
      pid: proc.pid,
      userspace_rss_bytes: kbToBytes(rssKb),
      userspace_pss_bytes: kbToBytes(pssKb),
      in_kb: 1,
    });
    return true;
  };

  /** The final totals (raw `dmabuf total:` line or CSV TOTALS block): groups 1–4 of `m` are total, kernel_rss, userspace_rss and userspace_pss in kB. */
  const addTotals = (m: RegExpExecArray) => {
    sawFinal = true;
    ctx.insert('dmabuf_reported_total', {
      origin: 'dmabuf_dump',
      total_bytes: kbToBytes(m[1]),
      kernel_bytes: kbToBytes(m[2]),
      userspace_rss_bytes: kbToBytes(m[3]),
      userspace_pss_bytes: kbToBytes(m[4]),
      in_kb: 1,
    });
  };

  for (let line = lines.next(); line !== undefined; line = lines.next()) {
    const lineNo = lines.count;
    const t = line.trim();
    if (t === '') continue;
    if (t.length > 4096) {
      ctx.diag('warning', 'malformed_row', `line of ${t.length} characters ignored: ${excerpt(t)}`, lineNo);
      continue;
    }

    // Values lines of the CSV PROCESS TOTAL / TOTALS blocks.
    if (pending === 'process_total') {
      if (/^"Rss total\(kB\)"/.test(t)) continue;
      const m = CSV_PAIR.exec(t);
      if (m) {
        addProcessTotal(m[1], m[2]);
        pending = null;
        continue;
      }
      pending = null;
    } else if (pending === 'totals') {
      if (/^"dmabuf total \(kB\)"/.test(t)) continue;
      const m = CSV_QUAD.exec(t);
      if (m) {
        addTotals(m);
        pending = null;
        continue;
      }
      pending = null;
    }

    let fin = FINAL.exec(t);
    if (!fin && t.startsWith('dmabuf total:') && lines.more) {
      // The totals line wrapped in two (copied from a terminal narrower than the line).
      fin = FINAL.exec(`${t} ${lines.lookAhead(() => true)!.trim()}`);
      if (fin) lines.next();
    }
    if (fin) {
      closeProcess('the totals line follows');
      sawAnything = true;
      addTotals(fin);
      continue;
    }
    if (t === 'TOTALS') {
      closeProcess('the totals block follows');
      pending = 'totals';
      sawAnything = true;
      continue;
    }
    if (SEPARATOR.test(t)) {
      closeProcess('separator');
      continue;
    }
    if (/^Warning:/.test(t)) {
      ctx.diag('warning', 'dmabuf_dump_warning', `dmabuf_dump: ${excerpt(t)} (kernel_rss may be 0 or understated)`, lineNo);
      continue;
    }
    if (/^dmabuf info not found/.test(t)) {
      sawAnything = true;
      sawFinal = true;
      ctx.diag('info', 'no_data', 'dmabuf_dump found no DMA-BUF (no process holds one, or it could not read /proc)', lineNo);
      continue;
    }
    if (/^debugfs entry for dmabuf not available/.test(t)) {
      ctx.diag('info', 'debugfs_fallback', 'dmabuf_dump read /proc/<pid>/fdinfo instead of debugfs: buffers no process holds are not listed, kernel_rss is 0', lineNo);
      continue;
    }
    if (B_SECTION_TITLE.test(t)) {
      // A capture holding `dmabuf_dump -b` output after the per-process tables.
      closeProcess('dmabuf_dump -b output follows');
      parseDmabufDumpBLines(lines, line, true, ctx);
      continue;
    }
    if (COMMAND_FAILED.test(t)) {
      ctx.diag('error', 'section_failed', excerpt(t), lineNo);
      continue;
    }
    if (SECTION_MARK.test(t)) continue;

    const hr = HEADER_RAW.exec(t);
    const hc = hr ? null : HEADER_CSV.exec(t);
    if (hr || hc) {
      const rest = (hr ?? hc)![1];
      cols = { inode: /Inode/.test(rest), exporter: /Exporter/.test(rest), csv: !!hc };
      if (!proc) ctx.diag('warning', 'orphan_row', 'table header without a process line before it', lineNo);
      continue;
    }

    const pt = PROCESS_TOTAL_RAW.exec(t);
    if (pt) {
      if (!addProcessTotal(pt[1], pt[2])) ctx.diag('warning', 'orphan_row', 'PROCESS TOTAL line outside any process table', lineNo);
      continue;
    }
    if (PROCESS_TOTAL_CSV.test(t)) {
      pending = 'process_total';
      continue;
    }
    const old = OLD_TOTAL.exec(t);
    if (old) {
      closeProcess('the totals line follows');
      sawFinal = true;
      ctx.insert('dmabuf_reported_total', {
        origin: 'dmabuf_dump',
        userspace_rss_bytes: kbToBytes(old[1]),
        userspace_pss_bytes: kbToBytes(old[2]),
        in_kb: 1,
      });
      continue;
    }

    // Buffer rows.
    if (t.startsWith('"')) {
      const m = ROW_CSV.exec(t);
      if (m) {
        sawAnything = true;
        addRow(lineNo, line, m[1], m[2], m[3], m[5], m[6]);
        continue;
      }
    } else if (cols && !cols.inode) {
      const m = ROW_RAW_NO_INODE.exec(t);
      if (m) {
        sawAnything = true;
        if (proc) proc.rows++;
        noInodeRows++;
        continue;
      }
    } else {
      const m = ROW_RAW.exec(t);
      if (m) {
        sawAnything = true;
        if (m[6] !== undefined && cols && !cols.exporter) {
          ctx.diag('info', 'unexpected_column', `row has text after the inode although the header has no Exporter column: ${excerpt(t)}`, lineNo);
        }
        addRow(lineNo, line, m[1].trim(), m[2], m[3], m[5], m[6]);
        continue;
      }
    }

    const p = PROCESS_LINE.exec(line);
    if (p && !/\bkB\b/.test(t)) {
      closeProcess('another process starts');
      const comm = p[1].trim();
      const pid = Number(p[2]);
      if (!Number.isSafeInteger(pid)) {
        ctx.diag('warning', 'malformed_row', `process line with an invalid pid: ${excerpt(t)}`, lineNo);
        continue;
      }
      sawAnything = true;
      proc = { pid, line: lineNo, rows: 0, hasTotal: false, inodes: new Set() };
      ctx.process(pid, comm === '' || comm === 'N/A' ? {} : { name: comm });
      continue;
    }

    if (TOOL_ERROR.test(t)) {
      ctx.diag('warning', 'tool_error', `dmabuf_dump: ${excerpt(t)}`, lineNo);
      continue;
    }
    // A prompt and the command typed after it (a capture saved from a terminal or a script's log).
    if (isShellNoise(t)) continue;
    ctx.diag('warning', 'malformed_row', `unrecognized line in dmabuf_dump output: ${excerpt(t)}`, lineNo);
  }

  if (proc) closeProcess('end of text');
  if (noInodeRows > 0) {
    ctx.diag(
      'info',
      'no_inode_column',
      `${noInodeRows} buffer rows without an Inode column (Android 10 dmabuf_dump): only the totals were imported`,
    );
  }
  if (!sawAnything) {
    ctx.diag('info', 'empty_section', 'no dmabuf_dump data found');
  } else if (!sawFinal) {
    ctx.diag('warning', 'truncated', 'dmabuf_dump output ends before its "dmabuf total" line: later processes may be missing');
  }
}

/**
 * True when a text holds dmabuf_dump's default per-process output: a table header, a PROCESS
 * TOTAL line or the final totals line (the `dmabuf_dump -b` sniff uses it to keep the two apart).
 */
export function looksLikePerProcessDump(head: string): boolean {
  // Each of the lines looked for holds one of these words: a text without them (most files a
  // zip's sniffing meets) is refused without splitting it into lines.
  if (!head.includes('Rss') && !head.includes('PROCESS TOTAL') && !head.includes('dmabuf total')) return false;
  return splitLines(head).lines.some((l) => {
    const t = l.trim();
    return HEADER_RAW.test(t) || HEADER_CSV.test(t) || PROCESS_TOTAL_RAW.test(t) || FINAL.test(t);
  });
}

export const dmabufDumpImporter: TextImporter = {
  name: 'dmabuf_dump',
  description: 'dmabuf_dump (default mode): DMA-BUFs per process with Rss/Pss and the system totals (Android 10+, raw and CSV)',

  sniff(head: string): boolean {
    return looksLikePerProcessDump(head) || (head.includes('Rss') && /^[^\S\n]*\S+:\s*\d+\s*\r?\n\s*Name\s+Rss\s+Pss\b/m.test(head));
  },

  importText(text: string, ctx: ImportContext): void {
    guarded(ctx, 'dmabuf_dump importer stopped', (c) => importDmabufDump(text, c));
  },
};
