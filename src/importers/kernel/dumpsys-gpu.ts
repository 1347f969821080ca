// `dumpsys gpu` (frameworks/native/services/gpuservice: GpuService::doDump → GpuMem::dump):
//   "Memory snapshot for GPU %u:\n"
//   "Global total: %llu" or "Global total: N/A", then ", imported: %llu" (or N/A) on
//   builds that track imported memory, "\n"
//   "Proc %u total: %llu" [", imported: %llu"] "\n" per process (sorted by pid)
// Failures: `Failed to initialize GPU memory eBPF`, `GPU memory usage maps are empty`
// (older: `GPU memory total usage map is empty`). The block sits between the driver info
// and GpuStats dumps; everything else is ignored. See ../shared/formats.md §5.
// Rows: `gpu_memory_total` (30-kernel.sql), one per GPU and process, pid NULL for the global total.
import type { ImportContext, TextImporter } from '../types.js';
import { excerpt, guarded, splitLines, toInt } from '../common.js';

const SNAPSHOT = /^\s*Memory snapshot for GPU\s+(\d+):\s*$/;
const GLOBAL = /^\s*Global total:\s*(\d+|N\/A)(?:,\s*imported:\s*(\d+|N\/A))?\s*$/;
const PROC = /^\s*Proc\s+(\d+)\s+total:\s*(\d+)(?:,\s*imported:\s*(\d+|N\/A))?\s*$/;
const FAILED = /Failed to initialize GPU memory eBPF|Failed to initialize GPU imported mem eBPF map|GPU memory (?:total )?usage maps? (?:are|is) empty/;

export const dumpsysGpuImporter: TextImporter = {
  name: 'dumpsys_gpu',
  description: 'dumpsys gpu memory snapshot: GPU memory per GPU and process (bytes)',

  sniff(head: string): boolean {
    return /^[^\S\n]*Memory snapshot for GPU \d+:\s*$/m.test(head) || (FAILED.test(head) && /Game Driver|GPU/.test(head));
  },

  importText(text: string, ctx: ImportContext): void {
    guarded(ctx, 'dumpsys_gpu', (c) => importGpu(text, c));
  },
};

function importGpu(text: string, ctx: ImportContext): void {
  const { lines, complete } = splitLines(text);
  let gpu: number | null = null;
  let rows = 0;
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i];
    const lineNo = i + 1;
    const cut = i === lines.length - 1 && !complete;
    const s = SNAPSHOT.exec(raw);
    if (s) {
      gpu = Number(s[1]);
      continue;
    }
    const f = FAILED.exec(raw);
    if (f) {
      ctx.diag('info', 'no_data', `dumpsys gpu: ${f[0]}`, lineNo);
      continue;
    }
    if (gpu === null) continue;
    const g = GLOBAL.exec(raw);
    if (g) {
      if (cut) ctx.diag('warning', 'truncated', 'dumpsys gpu ends inside its global total line', lineNo);
      ctx.insert('gpu_memory_total', {
        line: lineNo,
        gpu_id: gpu,
        pid: null,
        total_bytes: g[1] === 'N/A' || cut ? null : toInt(g[1]),
        imported_bytes: g[2] === undefined || g[2] === 'N/A' || cut ? null : toInt(g[2]),
      });
      rows++;
      continue;
    }
    const p = PROC.exec(raw);
    if (p) {
      if (cut) {
        ctx.diag('warning', 'truncated', `dumpsys gpu ends inside a process line: ${excerpt(raw)}`, lineNo);
        continue;
      }
      ctx.insert('gpu_memory_total', {
        line: lineNo,
        gpu_id: gpu,
        pid: Number(p[1]),
        total_bytes: toInt(p[2]),
        imported_bytes: p[3] === undefined || p[3] === 'N/A' ? null : toInt(p[3]),
      });
      rows++;
      continue;
    }
    if (/^\s*(?:Proc|Global)\b/.test(raw)) ctx.diag('warning', 'malformed_row', `unreadable dumpsys gpu line: ${excerpt(raw)}`, lineNo);
    else if (/^\S/.test(raw)) gpu = null; // another heading ends the block (a blank line does not)
  }
  if (rows === 0 && !FAILED.test(text)) ctx.diag('info', 'no_data', 'no `Memory snapshot for GPU` block found');
}
