// `dmabuf_dump -a`: the buffer × process table of libmeminfo's dmabuf_dump
// (system/memory/libmeminfo/libdmabufinfo/tools/dmabuf_dump.cpp, PrintDmaBufTable;
// ../shared/formats.md §2c). Variants:
//   - Android 11: header `    Dmabuf Inode |            Size |      Ref Counts |`, then
//     "%16s:%-5d |" per process; rows "%16ju |%13lu kB |%16lu |" then per process
//     "%17d refs |" (fd refs + map refs, printed only when the process has an fd) or
//     "%22s |" with `--`; footer 36 dashes, "%-16s  %13lu kB |%16s |" (TOTALS, n/a), then
//     "%19lu kB |" per process.
//   - Android 12–14: `… |   Fd Ref Counts |  Map Ref Counts |` (numbers of processes), cells
//     "%9d(%6d) refs |" (fd refs, map refs); footer with two `n/a`.
//   - Android 15+: the same, after a `DMA-BUF Table buffer x process` title line; `-o csv`:
//     `"Dmabuf Inode","Size(kB)","Fd Ref Counts","Map Ref Counts","<comm>:<pid>",…`, rows
//     `inode,kB,n,n,"f(m) refs"|""`, then 36 dashes, `"Total Size(kB)","<comm>:<pid> size(kB)",…`
//     and the values line.
// Rows: `dmabuf_observation` per buffer (size kB × 1024, size_exact 0; the table has no
// exporter or name). `global_list` is 1 only for Android 11, whose table starts from debugfs
// bufinfo (every buffer, held or not); later releases list the buffers procfs shows held.
// `dmabuf_holder_observation` per non-empty cell: fd_refs and map_refs from `f(m) refs`;
// from Android 11's single count neither is known (the cell sums both, and is printed only
// for processes holding an fd), so both stay NULL: the row still says the process holds the
// buffer. The TOTALS line → `dmabuf_reported_total` origin `dmabuf_dump_a` (the sum of the
// listed buffers' kB; no count is printed) and one `dmabuf_dump_a_process` total per
// process column. Process names (comm, possibly the tail of a longer name) go to `process`.
import type { ImportContext, TextImporter } from '../types.js';
import { excerpt, guarded, kbToBytes, splitLines, toInt } from '../common.js';

const RAW_HEADER = /^\s*Dmabuf Inode\s*\|\s*Size\s*\|\s*(?:(Fd Ref Counts)\s*\|\s*Map Ref Counts|Ref Counts)\s*\|(.*)$/;
const CSV_HEADER = /^\s*"Dmabuf Inode","Size\(kB\)","Fd Ref Counts","Map Ref Counts"/;

interface Proc {
  comm: string;
  pid: number;
}

function parseProcHeader(cell: string): Proc | undefined {
  const m = /^(.*):\s*(\d+)\s*$/.exec(cell.trim());
  if (!m) return undefined;
  return { comm: m[1].trim(), pid: Number(m[2]) };
}

/** Split one CSV line (double-quoted fields, `""` escapes). */
function csvFields(line: string): string[] {
  const out: string[] = [];
  let i = 0;
  let cur = '';
  let quoted = false;
  while (i < line.length) {
    const c = line[i];
    if (quoted) {
      if (c === '"' && line[i + 1] === '"') {
        cur += '"';
        i += 2;
        continue;
      }
      if (c === '"') quoted = false;
      else cur += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      out.push(cur);
      cur = '';
    } else cur += c;
    i++;
  }
  out.push(cur);
  return out;
}

export const dmabufDumpAImporter: TextImporter = {
  name: 'dmabuf_dump_a',
  description: 'dmabuf_dump -a buffer × process table (Android 11, 12–14, 15+ raw and CSV)',

  sniff(head: string): boolean {
    return head.split(/\r?\n/, 2000).some((l) => RAW_HEADER.test(l) || CSV_HEADER.test(l));
  },

  importText(text: string, ctx: ImportContext): void {
    guarded(ctx, 'dmabuf_dump_a', (c) => importTable(text, c));
  },
};

type Cell = { fd: number | null; map: number | null } | null;

function parseCell(cell: string): Cell | undefined {
  const t = cell.trim();
  if (t === '--' || t === '') return null;
  let m = /^(\d+)\s*\(\s*(\d+)\s*\)\s*refs$/.exec(t);
  if (m) return { fd: Number(m[1]), map: Number(m[2]) };
  m = /^(\d+)\s*refs$/.exec(t);
  if (m) return { fd: null, map: null };
  return undefined;
}

function importTable(text: string, ctx: ImportContext): void {
  const { lines, complete } = splitLines(text);
  let procs: Proc[] | undefined;
  let csv = false;
  let a11 = false;
  let rows = 0;
  let totalsSeen = false;
  let tables = 0;

  /** One buffer row; `kb` is its printed size (a decimal). */
  const emitRow = (lineNo: number, inode: number | bigint, kb: string, cells: string[]) => {
    ctx.insert('dmabuf_observation', { line: lineNo, inode, size: kbToBytes(kb), size_exact: 0, exporter: null, name: null, file_count: null, global_list: a11 ? 1 : 0 });
    rows++;
    for (let p = 0; p < procs!.length && p < cells.length; p++) {
      const c = parseCell(cells[p]);
      if (c === undefined) {
        ctx.diag('warning', 'malformed_row', `unreadable cell ${excerpt(cells[p])} for pid ${procs![p].pid}`, lineNo);
        continue;
      }
      if (c === null) continue;
      if (c.fd === 0 && c.map === 0) continue;
      ctx.insert('dmabuf_holder_observation', { line: lineNo, inode, pid: procs![p].pid, fd_refs: c.fd, map_refs: c.map });
    }
  };

  /** The totals, as printed (kB decimals; undefined where unreadable). */
  const emitTotals = (lineNo: number, totalKb: string | undefined, perProc: (string | undefined)[]) => {
    totalsSeen = true;
    if (totalKb !== undefined) {
      ctx.insert('dmabuf_reported_total', { origin: 'dmabuf_dump_a', total_bytes: kbToBytes(totalKb), buffer_count: null, in_kb: 1 });
    }
    for (let p = 0; p < procs!.length && p < perProc.length; p++) {
      const v = perProc[p];
      if (v === undefined) continue;
      ctx.insert('dmabuf_reported_total', { origin: 'dmabuf_dump_a_process', pid: procs![p].pid, total_bytes: kbToBytes(v), in_kb: 1 });
    }
  };

  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i];
    const lineNo = i + 1;
    const cut = i === lines.length - 1 && !complete;
    const rh = RAW_HEADER.exec(raw);
    if (rh) {
      if (procs && !totalsSeen) ctx.diag('warning', 'truncated', 'a dmabuf_dump -a table ends without its TOTALS line before another begins', lineNo);
      csv = false;
      a11 = !rh[1];
      procs = [];
      for (const cell of rh[2].split('|')) {
        if (cell.trim() === '') continue;
        const p = parseProcHeader(cell);
        if (p) procs.push(p);
        else ctx.diag('warning', 'malformed_row', `unreadable process column ${excerpt(cell)}`, lineNo);
      }
      for (const p of procs) ctx.process(p.pid, { name: p.comm === 'N/A' ? null : p.comm });
      rows = 0;
      totalsSeen = false;
      tables++;
      continue;
    }
    if (CSV_HEADER.test(raw)) {
      if (procs && !totalsSeen) ctx.diag('warning', 'truncated', 'a dmabuf_dump -a table ends without its totals before another begins', lineNo);
      csv = true;
      a11 = false;
      procs = [];
      for (const cell of csvFields(raw.trim()).slice(4)) {
        if (cell.trim() === '') continue;
        const p = parseProcHeader(cell);
        if (p) procs.push(p);
      }
      for (const p of procs) ctx.process(p.pid, { name: p.comm === 'N/A' ? null : p.comm });
      rows = 0;
      totalsSeen = false;
      tables++;
      continue;
    }
    if (!procs || totalsSeen) continue;
    const t = raw.trim();
    if (t === '' || /^-+$/.test(t)) continue;

    if (csv) {
      if (/^"Total Size\(kB\)"/.test(t)) {
        // Values follow on the next line.
        const next = lines[i + 1];
        if (next === undefined || (i + 1 === lines.length - 1 && !complete)) {
          ctx.diag('warning', 'truncated', 'dmabuf_dump -a CSV ends before its totals values', lineNo);
          totalsSeen = true;
          break;
        }
        const v = csvFields(next.trim()).map((x) => (/^\d+$/.test(x.trim()) ? x : undefined));
        emitTotals(i + 2, v[0], v.slice(1));
        i++;
        continue;
      }
      const f = csvFields(t);
      if (f.length >= 4 && /^\d+$/.test(f[0].trim()) && /^\d+$/.test(f[1].trim())) {
        if (cut) {
          ctx.diag('warning', 'truncated', `dmabuf_dump -a CSV ends inside a row: ${excerpt(t)}`, lineNo);
          continue;
        }
        emitRow(lineNo, toInt(f[0])!, f[1], f.slice(4));
      } else ctx.diag('warning', 'malformed_row', `not a dmabuf_dump -a CSV row: ${excerpt(t)}`, lineNo);
      continue;
    }

    const cells = raw.split('|');
    const tot = /^\s*TOTALS\s+(\d+)\s*kB\s*$/.exec(cells[0]);
    if (tot) {
      const fixed = a11 ? 2 : 3; // TOTALS kB | n/a | [n/a |]
      const per = cells.slice(fixed).filter((c, k, arr) => !(k === arr.length - 1 && c.trim() === ''));
      const perKb = per.map((c) => {
        const m = /^\s*(\d+)\s*kB\s*$/.exec(c);
        return m ? m[1] : undefined;
      });
      if (cut) ctx.diag('warning', 'truncated', 'dmabuf_dump -a ends inside its TOTALS line', lineNo);
      emitTotals(lineNo, tot[1], cut ? perKb.slice(0, -1) : perKb);
      continue;
    }
    const fixed = a11 ? 3 : 4;
    const inode = /^\s*(\d+)\s*$/.exec(cells[0] ?? '');
    const size = /^\s*(\d+)\s*kB\s*$/.exec(cells[1] ?? '');
    if (inode && size && cells.length >= fixed) {
      const procCells = cells.slice(fixed, fixed + procs.length);
      if (cut || procCells.length < procs.length) {
        ctx.diag('warning', 'truncated', `dmabuf_dump -a row cut short: ${excerpt(t)}`, lineNo);
        if (cut) continue;
      }
      emitRow(lineNo, toInt(inode[1])!, size[1], procCells);
      continue;
    }
    if (/^\s*\d/.test(raw)) ctx.diag('warning', cut ? 'truncated' : 'malformed_row', `not a dmabuf_dump -a row: ${excerpt(t)}`, lineNo);
  }

  if (procs && !totalsSeen) {
    ctx.diag('warning', 'truncated', `dmabuf_dump -a table ends without its TOTALS line after ${rows} buffers: the capture was cut short`, lines.length || null);
  }
  if (tables === 0) {
    if (/dmabuf info not found/.test(text)) ctx.diag('info', 'no_data', 'dmabuf_dump found no DMA-BUF (`dmabuf info not found`)');
    else ctx.diag('warning', 'no_data', 'no dmabuf_dump -a table found');
  }
}
