// SurfaceFlinger's `GraphicBufferAllocator buffers:` table (frameworks/native/libs/ui/
// GraphicBufferAllocator.cpp, GraphicBufferAllocator::dump), found anywhere inside the
// (large) `dumpsys SurfaceFlinger` output:
//   header "%14s | %11s | %18s | %s | %8s | %10s | %s\n" (Handle Size W (Stride) x H Layers
//     Format Usage Requestor; the Handle width varies by release),
//   row    "%14p | %11s | %4u (%4u) x %4u | %6u | %8X | 0x%8" PRIx64 " | %s\n" (size
//     "%7.2f KiB" or `unknown`),
//   older  "%10p: %7.2f KiB | %4u (%4u) x %4u | %4u | %8X | 0x%" PRIx64 " | %s\n" (Android
//     8 lacks the layer column; its table is headed `Allocated buffers:`),
//   footer "Total allocated by GraphicBufferAllocator (estimate): %.2f KB\n" (older:
//     "Total allocated (estimate): %.2f KB\n").
// See ../shared/formats.md §5. Rows: `gralloc_buffer` per row and `gralloc_allocator_total`
// for the footer (30-kernel.sql). Sizes are KiB with two decimals, stored as rounded bytes.
import type { ImportContext, TextImporter } from '../types.js';
import { excerpt, guarded, hexToInt, splitLines } from '../common.js';

const START = /^\s*(?:GraphicBufferAllocator buffers|Allocated buffers):\s*$/;
const TOTAL = /^\s*Total allocated (?:by GraphicBufferAllocator )?\(estimated?\):\s*([\d.]+)\s*KB\s*$/;
const HANDLE = /^\s*(0x[0-9a-fA-F]+|\(nil\)|0)\s*(?::|\|)/;
const DIMS = /^\s*(\d+)\s*\(\s*(\d+)\s*\)\s*x\s*(\d+)\s*$/;

function kib(s: string): number | null {
  const m = /^\s*(\d+(?:\.\d+)?)\s*KiB\s*$/.exec(s);
  return m ? Math.round(Number(m[1]) * 1024) : null;
}

interface GrallocRow {
  handle: string;
  size: number | null;
  width: number;
  stride: number;
  height: number;
  layers: number | null;
  format: number | bigint | null;
  usage: number | bigint | null;
  requestor: string;
}

function parseRow(raw: string): GrallocRow | undefined {
  const h = HANDLE.exec(raw);
  if (!h) return undefined;
  let parts = raw.split('|');
  let sizeField: string;
  const first = parts[0];
  const colon = first.indexOf(':');
  if (colon >= 0) {
    sizeField = first.slice(colon + 1);
    parts = parts.slice(1);
  } else {
    sizeField = parts[1] ?? '';
    parts = parts.slice(2);
  }
  const d = DIMS.exec(parts[0] ?? '');
  if (!d) return undefined;
  const rest = parts.slice(1);
  let layers: number | null = null;
  let fmt: string;
  let usage: string;
  let requestor: string[];
  if (rest.length >= 4 && /^\s*\d+\s*$/.test(rest[0]) && /0x/i.test(rest[2])) {
    layers = Number(rest[0].trim());
    fmt = rest[1];
    usage = rest[2];
    requestor = rest.slice(3);
  } else if (rest.length >= 3) {
    fmt = rest[0];
    usage = rest[1];
    requestor = rest.slice(2);
  } else return undefined;
  const size = sizeField.trim() === 'unknown' ? null : kib(sizeField);
  if (size === null && sizeField.trim() !== 'unknown') return undefined;
  return {
    handle: h[1],
    size,
    width: Number(d[1]),
    stride: Number(d[2]),
    height: Number(d[3]),
    layers,
    format: hexToInt(fmt) ?? null,
    usage: hexToInt(usage) ?? null,
    requestor: requestor.join('|').trim(),
  };
}

export const grallocImporter: TextImporter = {
  name: 'gralloc_allocator',
  description: "SurfaceFlinger's GraphicBufferAllocator table: gralloc buffers allocated by SurfaceFlinger and their estimated total",

  sniff(head: string): boolean {
    return (
      /^[^\S\n]*GraphicBufferAllocator buffers:\s*$/m.test(head) ||
      /^[^\S\n]*Total allocated by GraphicBufferAllocator \(estimated?\):/m.test(head) ||
      /^Build configuration:\s*\[sf\b/m.test(head)
    );
  },

  importText(text: string, ctx: ImportContext): void {
    guarded(ctx, 'gralloc_allocator', (c) => importGralloc(text, c));
  },
};

function importGralloc(text: string, ctx: ImportContext): void {
  const { lines, complete } = splitLines(text);
  let inTable = false;
  let tables = 0;
  let rows = 0;
  let sum = 0;
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i];
    const lineNo = i + 1;
    if (START.test(raw)) {
      if (inTable) ctx.diag('warning', 'truncated', 'a GraphicBufferAllocator table ends without its total line before another begins', lineNo);
      inTable = true;
      tables++;
      rows = 0;
      sum = 0;
      continue;
    }
    if (!inTable) continue;
    const t = TOTAL.exec(raw);
    if (t) {
      const total = Math.round(Number(t[1]) * 1024);
      ctx.insert('gralloc_allocator_total', { line: lineNo, total_bytes: Number.isFinite(total) ? total : null, buffer_count: rows });
      // The footer is the sum of the rows' sizes, each rounded to 1/100 KiB when printed.
      if (Number.isFinite(total) && Math.abs(total - sum) > 11 * Math.max(1, rows)) {
        ctx.diag('warning', 'count_mismatch', `GraphicBufferAllocator total ${t[1]} KB differs from the sum of its rows (${(sum / 1024).toFixed(2)} KB)`, lineNo);
      }
      inTable = false;
      continue;
    }
    if (/^\s*Handle\s*\|/.test(raw) || raw.trim() === '') continue;
    const r = parseRow(raw);
    if (r) {
      if (i === lines.length - 1 && !complete) {
        ctx.diag('warning', 'truncated', `SurfaceFlinger dump ends inside a GraphicBufferAllocator row: ${excerpt(raw)}`, lineNo);
        continue;
      }
      ctx.insert('gralloc_buffer', {
        line: lineNo,
        handle: r.handle,
        size: r.size,
        width: r.width,
        stride: r.stride,
        height: r.height,
        layer_count: r.layers,
        format: r.format,
        usage: r.usage,
        requestor: r.requestor === '' ? null : r.requestor,
      });
      rows++;
      sum += r.size ?? 0;
      continue;
    }
    if (HANDLE.test(raw)) {
      ctx.diag('warning', i === lines.length - 1 ? 'truncated' : 'malformed_row', `unreadable GraphicBufferAllocator row: ${excerpt(raw)}`, lineNo);
      continue;
    }
    // Any other line ends the table (the total line was lost).
    ctx.diag('warning', 'truncated', 'GraphicBufferAllocator table ends without its total line', lineNo);
    inTable = false;
  }
  if (inTable) ctx.diag('warning', 'truncated', 'SurfaceFlinger dump ends inside the GraphicBufferAllocator table (no total line)', lines.length || null);
  if (tables === 0) ctx.diag('info', 'no_data', 'no `GraphicBufferAllocator buffers:` table in this SurfaceFlinger dump');
}
