// `dmabuf_dump -b`: DMA-BUF per-buffer, per-exporter and total stats (sysfs or BPF iterator
// data), every Android variant of ../shared/formats.md §2b.
//
// Defined by AOSP system/memory/libmeminfo/libdmabufinfo/tools/dmabuf_dump.cpp
// (DumpDmabufSysfsStats in Android 12–14, DumpDmabufPerBufferStats + RawOutput/CsvOutput of
// tools/include/dmabuf_output_helper.h in Android 15 and later).
//
//   12/13  "%16u |%16u | %16s \n"     header `|             Exporter Name             |`
//   14     "%16lu |%lu | %16s \n"     (no width on the size)
//   15+    "%16lu |%16lu | %16s \n"   header `|    Exporter Name                    |`
//   CSV    `"Dmabuf Inode","Size(bytes)","Exporter Name"` then `%lu,%lu,"%s"` …
// Exporter stats `%32s | %12u| %lu`, total `Total DMA-BUF count: %u, Total DMA-BUF size(bytes): %lu`.
// Failure: `Unable to read DMA-BUF sysfs stats from device` (16: `… per-buffer stats …`).
//
// Rows: `dmabuf_observation` (exact bytes, exporter) per buffer; `dmabuf_reported_total`
// origin `dmabuf_dump_b_exporter` per exporter line and `dmabuf_dump_b` for the total line.
// `dmabuf_dump -a -b` output (these stats, then the buffer × process table) is read whole: the
// table by the `dmabuf_dump_a` importer, as a child source.
import type { ImportContext, TextImporter } from './types.js';
import { COMMAND_FAILED, SECTION_MARK, excerpt, guarded, isShellNoise, LineReader, splitLines, toInt } from './common.js';
// dmabuf-dump.ts imports this module too; use its exports only inside functions (not while
// the modules are being evaluated).
import { looksLikePerProcessDump } from './dmabuf-dump.js';
import { dmabufDumpAImporter } from './kernel/dmabuf-dump-a.js';

/**
 * The title line of a section (`----------------------- DMA-BUF per-buffer stats ---…`, a
 * trimmed line); group 1 is the section. Early Android 12 builds also printed the attachment
 * and per-device sections.
 */
export const B_SECTION_TITLE = /^-{5,}\s*DMA-BUF (per-buffer|exporter|total|attachment|per-device) stats/;
const RAW_BUFFER_HEADER = /^\s*Dmabuf Inode\s*\|\s*Size\(bytes\)\s*\|/;
const RAW_EXPORTER_HEADER = /^\s*Exporter Name\s*\|\s*Total Count\s*\|/;
const CSV_BUFFER_HEADER = /^"Dmabuf Inode","Size\(bytes\)","Exporter Name"/;
const CSV_EXPORTER_HEADER = /^"Exporter Name","Total Count","Total Size\(bytes\)"/;
const CSV_TOTAL_HEADER = /^"Total DMA-BUF count","Total DMA-BUF size\(bytes\)"/;
const RAW_BUFFER_ROW = /^\s*(\d+)\s*\|\s*(\d+)\s*\|\s*(.*?)\s*\|?\s*$/;
const CSV_BUFFER_ROW = /^\s*(\d+)\s*,\s*(\d+)\s*,\s*"(.*)"\s*$/;
const RAW_EXPORTER_ROW = /^\s*(.*?)\s*\|\s*(\d+)\s*\|\s*(\d+)\s*\|?\s*$/;
const CSV_EXPORTER_ROW = /^\s*"(.*)"\s*,\s*(\d+)\s*,\s*(\d+)\s*$/;
const RAW_TOTAL = /Total DMA-BUF count:\s*(\d+)\s*,\s*Total DMA-BUF size\(bytes\):\s*(\d+)/;
const CSV_TOTAL_ROW = /^\s*(\d+)\s*,\s*(\d+)\s*$/;
const FAILURE = /^Unable to read DMA-BUF .*stats/;

type Mode = 'none' | 'buffers' | 'exporters' | 'total' | 'skipped';

/**
 * Parse the `dmabuf_dump -b` lines `lines` gives (`first`: its line the caller has already taken
 * from it, if any), to the end of the text, or with `untilEnd` to the line where that output
 * ends (`endOfDmabufDumpB`), the lines after it left unread. Used by the `dmabuf_dump_b`
 * importer and by the `dmabuf_dump` importer when a capture holds both outputs; `ctx` is the
 * capped context that importer's `guarded` body received.
 */
export function parseDmabufDumpBLines(lines: LineReader, first: string | undefined, untilEnd: boolean, ctx: ImportContext): void {
  let mode: Mode = 'none';
  let skippedSection = '';
  let skippedRows = 0;
  let sawBuffers = false;
  let sawExporters = false;
  let sawTotal = false;
  let failed = false;
  let sawSkipped = false;
  const seen = new Map<string, { size: string; exporter: string }>();

  /** The total line (raw, or the row under the CSV total header). */
  const addTotal = (count: string, bytes: string) => {
    sawTotal = true;
    ctx.insert('dmabuf_reported_total', {
      origin: 'dmabuf_dump_b',
      buffer_count: toInt(count),
      total_bytes: toInt(bytes),
      in_kb: 0,
    });
  };

  const flushSkipped = () => {
    if (skippedRows > 0) {
      ctx.diag('info', 'section_skipped', `${skippedRows} rows of the "DMA-BUF ${skippedSection} stats" section were not imported`);
    }
    skippedRows = 0;
  };

  /** Past the line where the output ends (with `untilEnd`). */
  let ended = false;
  const endsOutput = untilEnd ? endOfOutput() : undefined;
  /** A line to read again (a per-buffer row before any header, once the per-buffer mode is set). */
  let again: string | undefined;
  const nextLine = (): string | undefined => {
    const l = again;
    again = undefined;
    return l ?? (ended ? undefined : lines.next());
  };

  for (let line = first ?? nextLine(); line !== undefined; line = nextLine()) {
    const lineNo = lines.count;
    const t = line.trim();
    if (t === '') continue;

    const sec = B_SECTION_TITLE.exec(t);
    if (endsOutput) ended = endsOutput(t);
    if (sec) {
      flushSkipped();
      switch (sec[1]) {
        case 'per-buffer':
          mode = 'buffers';
          sawBuffers = true;
          break;
        case 'exporter':
          mode = 'exporters';
          sawExporters = true;
          break;
        case 'total':
          mode = 'total';
          break;
        default:
          mode = 'skipped';
          sawSkipped = true;
          skippedSection = sec[1];
      }
      continue;
    }
    if (FAILURE.test(t)) {
      failed = true;
      ctx.diag('warning', 'section_failed', `dmabuf_dump -b could not read the per-buffer stats: ${excerpt(t)}`, lineNo);
      continue;
    }
    if (COMMAND_FAILED.test(t)) {
      failed = true;
      ctx.diag('error', 'section_failed', excerpt(t), lineNo);
      continue;
    }
    if (SECTION_MARK.test(t)) continue;
    if (RAW_BUFFER_HEADER.test(t) || CSV_BUFFER_HEADER.test(t)) {
      mode = 'buffers';
      sawBuffers = true;
      continue;
    }
    if (RAW_EXPORTER_HEADER.test(t) || CSV_EXPORTER_HEADER.test(t)) {
      mode = 'exporters';
      sawExporters = true;
      continue;
    }
    if (CSV_TOTAL_HEADER.test(t)) {
      mode = 'total';
      continue;
    }
    const total = RAW_TOTAL.exec(t);
    if (total) {
      addTotal(total[1], total[2]);
      continue;
    }

    switch (mode) {
      case 'buffers': {
        const m = RAW_BUFFER_ROW.exec(line) ?? CSV_BUFFER_ROW.exec(line);
        if (!m) break;
        const exporter = m[3].trim();
        const prev = seen.get(m[1]);
        if (prev) {
          if (prev.size !== m[2] || prev.exporter !== exporter) {
            ctx.diag('warning', 'value_mismatch', `inode ${m[1]} listed twice with different values: ${excerpt(t)}`, lineNo);
          } else {
            ctx.diag('info', 'duplicate_row', `inode ${m[1]} listed twice`, lineNo);
          }
          continue;
        }
        seen.set(m[1], { size: m[2], exporter });
        ctx.insert('dmabuf_observation', {
          line: lineNo,
          inode: toInt(m[1]),
          size: toInt(m[2]),
          size_exact: 1,
          exporter: exporter === '' ? null : exporter,
          // -b lists every buffer the kernel exports (sysfs or BPF iterator data).
          global_list: 1,
        });
        continue;
      }
      case 'exporters': {
        const m = CSV_EXPORTER_ROW.exec(line) ?? RAW_EXPORTER_ROW.exec(line);
        if (!m || m[1].trim() === '') break;
        ctx.insert('dmabuf_reported_total', {
          origin: 'dmabuf_dump_b_exporter',
          exporter: m[1].trim(),
          buffer_count: toInt(m[2]),
          total_bytes: toInt(m[3]),
          in_kb: 0,
        });
        continue;
      }
      case 'total': {
        const m = CSV_TOTAL_ROW.exec(line);
        if (!m) break;
        addTotal(m[1], m[2]);
        continue;
      }
      case 'skipped':
        skippedRows++;
        continue;
      case 'none': {
        // Rows before any header (a capture cut at its top): per-buffer rows are unambiguous.
        const m = RAW_BUFFER_ROW.exec(line);
        if (m && /^\s*\d+\s*\|\s*\d+\s*\|/.test(line)) {
          ctx.diag('info', 'missing_header', 'per-buffer rows before any section header: read as per-buffer stats', lineNo);
          mode = 'buffers';
          sawBuffers = true;
          again = line; // read this line again in buffers mode
          continue;
        }
        break;
      }
    }
    // A prompt and the command typed after it (a capture saved from a terminal or a script's log).
    if (isShellNoise(t)) continue;
    ctx.diag('warning', 'malformed_row', `unrecognized line in dmabuf_dump -b output: ${excerpt(t)}`, lineNo);
  }
  flushSkipped();

  if (!failed && (sawBuffers || sawExporters) && !sawTotal) {
    ctx.diag('warning', 'truncated', 'dmabuf_dump -b output ends before its "DMA-BUF total stats" line: the buffer list may be incomplete');
  } else if (!failed && !sawBuffers && !sawExporters && !sawTotal && !sawSkipped) {
    ctx.diag('info', 'empty_section', 'no dmabuf_dump -b data found');
  }
}

export const dmabufDumpBImporter: TextImporter = {
  name: 'dmabuf_dump_b',
  description: 'dmabuf_dump -b: DMA-BUF per-buffer, per-exporter and total stats (Android 12+, raw and CSV)',

  sniff(head: string): boolean {
    if (looksLikePerProcessDump(head)) return false;
    // The title and the headers hold one of these words: without them, no line is looked at.
    const titled =
      (head.includes('DMA-BUF') || head.includes('Dmabuf Inode')) &&
      splitLines(head).lines.some((l) => {
        const t = l.trim();
        return B_SECTION_TITLE.test(t) || RAW_BUFFER_HEADER.test(t) || CSV_BUFFER_HEADER.test(t);
      });
    // The total line and the failure message are matched stricter than when parsing: alone,
    // they must be the tool's exact output.
    return (
      titled ||
      /^Total DMA-BUF count: \d+, Total DMA-BUF size\(bytes\): \d+/m.test(head) ||
      /^Unable to read DMA-BUF (sysfs|per-buffer) stats from device\s*$/.test(head.trim())
    );
  },

  importText(text: string, ctx: ImportContext): void {
    guarded(ctx, 'dmabuf_dump_b importer stopped', (c) => {
      const lines = new LineReader(text);
      // `dmabuf_dump -a -b` prints these stats, then its buffer × process table (formats.md
      // §2c): that part is read by its own importer, as a section of this source.
      const end = endOfDmabufDumpB(lines);
      const table = end === undefined ? '' : lines.text.slice(end);
      if (table !== '' && dmabufDumpAImporter.sniff(table, ctx.path)) {
        parseDmabufDumpBLines(lines, undefined, true, c);
        const start = lines.count + 1;
        let rest = 0;
        lines.lookAhead(() => (rest++, false));
        dmabufDumpAImporter.importText(table, ctx.child(ctx.path, dmabufDumpAImporter.name, { lineStart: start, lineEnd: start - 1 + rest }));
        return;
      }
      parseDmabufDumpBLines(lines, undefined, false, c);
    });
  },
};

/**
 * Where the `dmabuf_dump -b` output `lines` gives from its next line on ends, found without
 * moving on: the offset in `lines.text` after the line with the total count (raw or CSV) that
 * follows the "DMA-BUF total stats" title (`parseDmabufDumpBLines` with `untilEnd` stops there
 * too); undefined when the output runs to the end of the text.
 */
function endOfDmabufDumpB(lines: LineReader): number | undefined {
  const endsOutput = endOfOutput();
  let end: number | undefined;
  lines.lookAhead((l, start) => {
    if (endsOutput(l.trim())) end = start + l.length + 1;
    return end !== undefined;
  });
  return end;
}

/**
 * A test of the output's trimmed lines, given in order: whether a line is the last of the
 * `dmabuf_dump -b` output, the line with the total count (raw or CSV) that follows the
 * "DMA-BUF total stats" title.
 */
function endOfOutput(): (t: string) => boolean {
  let inTotal = false;
  return (t) => {
    if (B_SECTION_TITLE.exec(t)?.[1] === 'total') {
      inTotal = true;
      return false;
    }
    return RAW_TOTAL.test(t) || (inTotal && CSV_TOTAL_ROW.test(t));
  };
}
