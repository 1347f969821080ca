// `dumpsys meminfo`: the system-wide DMA-BUF block (../shared/formats.md §4).
//
// Defined by AOSP frameworks/base/services/core/java/com/android/server/am/
// ActivityManagerService.java (dumpApplicationMemoryUsage) and AppProfiler.java (the
// low-memory report); numbers come from stringifyKBSize, `String.format("%,9dK", kb)`.
//
//   DMA-BUF: <total> (<mapped> mapped + <unmapped> unmapped)   (low-memory report: no breakdown)
//   DMA-BUF Heaps: <kB>                                         (low-memory report: `DMA-BUF Heap:`)
//   DMA-BUF Heaps pool: <kB>
//         GPU: <total> (<dmabuf> dmabuf + <private> private)    or  GPU: <total>
//         Kernel CMA: <kB>
//         ION: <total> (<mapped> mapped + <unmapped> unmapped + <pool> pools)   (ION era, instead of DMA-BUF)
//
// The importer receives the whole meminfo service dump (per-process tables and all) and
// looks for these lines anywhere in it. Rows: `meminfo_dmabuf` per block, and a
// `dmabuf_reported_total` (origin `meminfo`) for the `DMA-BUF:` total.
import type { ImportContext, TextImporter } from './types.js';
import { excerpt, guarded, isShellNoise, kbToBytes, splitLines } from './common.js';

/** A `%,9dK` number: optional sign, digits with US grouping commas. */
const K = '(-?\\d[\\d,]*)\\s*K';

const DMABUF = new RegExp(`^\\s*DMA-BUF:\\s*${K}(?:\\s*\\(\\s*${K}\\s+mapped\\s*\\+\\s*${K}\\s+unmapped\\s*\\))?`);
const HEAPS = new RegExp(`^\\s*DMA-BUF Heaps?:\\s*${K}`);
const POOL = new RegExp(`^\\s*DMA-BUF Heaps? pools?:\\s*${K}`);
const GPU = new RegExp(`^\\s*GPU:\\s*${K}(?:\\s*\\(\\s*${K}\\s+dmabuf\\s*\\+\\s*${K}\\s+private\\s*\\))?`);
const CMA = new RegExp(`^\\s*Kernel CMA:\\s*${K}`);
const ION = new RegExp(
  `^\\s*ION:\\s*${K}(?:\\s*\\(\\s*${K}\\s+mapped\\s*\\+\\s*${K}\\s+unmapped(?:\\s*\\+\\s*${K}\\s+pools?)?\\s*\\))?`,
);
/** Lines that start a new system-wide block (a second dump in the same text). */
const BLOCK_START = /^\s*Total RAM:/;
/** Any line naming one of our labels, to report those we could not read. */
const LABEL = /^\s*(DMA-BUF( Heaps?)?( pools?)?|GPU|Kernel CMA|ION):/;

type Field =
  | 'total_bytes'
  | 'mapped_bytes'
  | 'unmapped_bytes'
  | 'heaps_bytes'
  | 'pool_bytes'
  | 'gpu_total_bytes'
  | 'gpu_dmabuf_bytes'
  | 'gpu_private_bytes'
  | 'kernel_cma_bytes'
  | 'ion_total_bytes'
  | 'ion_mapped_bytes'
  | 'ion_unmapped_bytes'
  | 'ion_pool_bytes';

type Block = Partial<Record<Field, number | bigint>> & { line?: number };

/** Bytes from a `%,dK` number (commas removed, kB × 1024). */
function kBytes(s: string | undefined): number | bigint | undefined {
  return s === undefined ? undefined : kbToBytes(s.replace(/,/g, ''));
}

function importMeminfo(text: string, ctx: ImportContext): void {
  const { lines } = splitLines(text);
  let block: Block = {};
  let blocks = 0;

  const flush = () => {
    const fields = Object.keys(block).filter((k) => k !== 'line');
    if (fields.length === 0) return;
    blocks++;
    ctx.insert('meminfo_dmabuf', { ...block });
    if (block.total_bytes !== undefined) {
      ctx.insert('dmabuf_reported_total', { origin: 'meminfo', total_bytes: block.total_bytes, in_kb: 1 });
    }
    block = {};
  };

  const set = (values: [Field, string | undefined][], lineNo: number, label: string) => {
    const present = values.filter(([, v]) => v !== undefined);
    if (present.some(([f]) => block[f] !== undefined)) {
      ctx.diag('info', 'repeated_block', `a second "${label}" line: read as a new meminfo block`, lineNo);
      flush();
    }
    for (const [f, v] of present) {
      const b = kBytes(v);
      if (b === undefined) {
        ctx.diag('warning', 'malformed_row', `unreadable number in "${label}" line: ${excerpt(lines[lineNo - 1])}`, lineNo);
        continue;
      }
      block[f] = b;
    }
    block.line ??= lineNo;
  };

  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (line.length > 4096) continue;
    const lineNo = i + 1;
    if (BLOCK_START.test(line)) {
      flush();
      continue;
    }
    if (!LABEL.test(line)) continue;
    let m: RegExpExecArray | null;
    if ((m = POOL.exec(line))) {
      set([['pool_bytes', m[1]]], lineNo, 'DMA-BUF Heaps pool');
    } else if ((m = HEAPS.exec(line))) {
      set([['heaps_bytes', m[1]]], lineNo, 'DMA-BUF Heaps');
    } else if ((m = DMABUF.exec(line))) {
      set(
        [
          ['total_bytes', m[1]],
          ['mapped_bytes', m[2]],
          ['unmapped_bytes', m[3]],
        ],
        lineNo,
        'DMA-BUF',
      );
    } else if ((m = GPU.exec(line))) {
      set(
        [
          ['gpu_total_bytes', m[1]],
          ['gpu_dmabuf_bytes', m[2]],
          ['gpu_private_bytes', m[3]],
        ],
        lineNo,
        'GPU',
      );
    } else if ((m = CMA.exec(line))) {
      set([['kernel_cma_bytes', m[1]]], lineNo, 'Kernel CMA');
    } else if ((m = ION.exec(line))) {
      set(
        [
          ['ion_total_bytes', m[1]],
          ['ion_mapped_bytes', m[2]],
          ['ion_unmapped_bytes', m[3]],
          ['ion_pool_bytes', m[4]],
        ],
        lineNo,
        'ION',
      );
    } else {
      ctx.diag('warning', 'malformed_row', `unreadable meminfo line: ${excerpt(line)}`, lineNo);
    }
  }
  flush();

  if (blocks === 0) {
    if (/DUMP TIMEOUT|\*\*\* command .*(failed|timed out)/.test(text)) {
      ctx.diag('error', 'section_failed', 'dumpsys meminfo did not finish: no DMA-BUF block');
    } else {
      ctx.diag('info', 'no_dmabuf_block', 'no DMA-BUF / ION / GPU lines in the meminfo dump (truncated dump, or a build that does not print them)');
    }
  }
}

export const meminfoImporter: TextImporter = {
  name: 'meminfo',
  description: 'dumpsys meminfo: the system-wide DMA-BUF, heaps, pools, GPU, Kernel CMA and ION lines',

  sniff(head: string): boolean {
    // `dumpsys meminfo` starts with this line; a bugreport (whose dumpsys holds it much later) starts otherwise.
    if (/^(?:\s*\S[^\n]*\n){0,3}\s*Applications Memory Usage \(in Kilobytes\):/.test(head)) return true;
    if (/^[^\S\n]*== dumpstate:/m.test(head.slice(0, 2048))) return false;
    // A low-memory report (dropbox `lowmem`, logcat): same lines, `DMA-BUF Heap:` singular.
    if (/^\s*Low on memory:/.test(head) && /^[^\S\n]*(DMA-BUF|ION):\s*[\d,]+K/m.test(head)) return true;
    // A cut-out block: the Total RAM line followed by DMA-BUF or ION lines…
    if (/^[^\S\n]*Total RAM:\s*[\d,]+K/m.test(head) && /^[^\S\n]*(DMA-BUF|ION):\s*[\d,]+K/m.test(head)) return true;
    // …or starting at its DMA-BUF or ION line (`dumpsys meminfo | grep -A6 DMA-BUF`), after a prompt maybe.
    const first = splitLines(head.slice(0, 4096)).lines.find((l) => l.trim() !== '' && !isShellNoise(l));
    return first !== undefined && /^\s*(DMA-BUF|ION):\s*-?[\d,]+K/.test(first);
  },

  importText(text: string, ctx: ImportContext): void {
    guarded(ctx, 'meminfo importer stopped', (c) => importMeminfo(text, c));
  },
};
