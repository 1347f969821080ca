// A text holding several kernel captures one after another: a capture script's log
// (`cat /sys/kernel/debug/dma_buf/bufinfo; ls -l /proc/*/fd; grep -r . /proc/*/fdinfo; …`),
// a terminal session saved whole, a vendor dump of several files. Each capture importer reads
// one format and ignores the lines of the others, so such a text is cut into runs of one
// format each, and every run is read by its own importer as a child source
// (`<path>#lines A-B`, with line_start and line_end).
//
// The runs are found line by line (../../../shared/formats.md §2c, §3):
//   - blocks with a start and an end line: debugfs bufinfo (`Dma-buf Objects:` or its column
//     header … `Total N objects, M bytes`) and `dmabuf_dump -a` (its `Dmabuf Inode |` or CSV
//     header … its TOTALS line or CSV totals); a block cut short ends where a line of another
//     format or a prompt appears;
//   - vendor per-process listings (./dmaprocs.ts: `<comm> (PID <pid>) size: …` blocks): a
//     block with a start line only, ended by a line of another format or a prompt;
//   - line formats, by the shape of a line: fdinfo (`/proc/<pid>/fdinfo/<fd>` headers and grep
//     prefixes, `exp_name:`), fd links (`… -> /dmabuf:…`, `/proc/<pid>/fd:` headers), maps
//     (`/dmabuf:` vmas, `/proc/<pid>/maps` headers), sysfs (`…/buffers/<inode>/<attribute>:`).
//     Lines that only fit a format already being read continue it (an fdinfo key of another
//     kind of fd, a vma of another file) but do not start one.
// Blank lines, prompts and other text go with the run that follows them (a prompt and its
// command come before the output), or with the last run at the end. The BPF iterator's
// output (bare numbers and names) cannot be told apart line by line: a text holding it with
// other captures is read as before, by the first importer that recognizes it.
import type { ImportContext, TextImporter } from '../types.js';
import { guarded, splitLines } from '../common.js';
import { headerPath, isShellNoise, procPath } from './common.js';
import { bufinfoImporter } from './bufinfo.js';
import { dmabufDumpAImporter } from './dmabuf-dump-a.js';
import { fdinfoImporter } from './fdinfo.js';
import { fdLinksImporter } from './fd-links.js';
import { mapsImporter } from './maps.js';
import { sysfsImporter } from './sysfs.js';
import { dmaprocsHead, dmaprocsImporter } from './dmaprocs.js';

/** The formats runs are made of, by the name of the importer that reads them. */
const IMPORTERS: Record<string, TextImporter> = Object.fromEntries(
  [bufinfoImporter, dmabufDumpAImporter, fdinfoImporter, fdLinksImporter, mapsImporter, sysfsImporter, dmaprocsImporter].map((i) => [i.name, i]),
);

const BUFINFO_START = /^\s*(?:Dma-buf Objects:|size\s+flags\s+mode\s+count\s+exp_name\b.*)\s*$/;
const BUFINFO_END = /^\s*Total\s+\d+\s+objects,\s*\d+\s+bytes\s*$/;
const DUMP_A_START = /^\s*(?:Dmabuf Inode\s*\|\s*Size\s*\||"Dmabuf Inode","Size\(kB\)")|^-+ DMA-BUF Table buffer x process -+$/;
const DUMP_A_END = /^\s*TOTALS\s+\d+\s*kB\s*\|/;
const DUMP_A_CSV_TOTALS = /^\s*"Total Size\(kB\)"/;
const FDINFO_GREP = /^\S*\/fdinfo\/\d+:[a-z_][\w-]*:/i;
const KEY = /^[a-z_][\w-]*:(?:\s|$)/;
const SMAPS_FIELD = /^[A-Z][A-Za-z_]*:\s/;
const LINK = /^\s*(?:\d+\s+)?l[-rwxsStT]{9}[.+@]?\s+\d+\s+.*\s->\s+(.*?)\s*$|^\s*\d+\s+->\s+(\/dmabuf:.*|anon_inode:dmabuf)\s*$/;
const VMA = /^(?:\S*?\/\d+\/(?:task\/\d+\/)?s?maps:)?[0-9a-fA-F]+-[0-9a-fA-F]+\s+[-rwxsp]{4}\s+[0-9a-fA-F]+\s+[0-9a-fA-F]+:[0-9a-fA-F]+\s+\d+(?:\s+(.*?))?\s*$/;
const SYSFS = /^(?:[^:\s]*\/)?buffers\/\d+\/(?:exporter_name|size|attachments\/[^/:]+\/(?:device|map_counter))[^:]*:/;

/** What one line says of the format it belongs to: `strong` lines can start a run, the others only continue one. */
interface LineKind {
  kind: string;
  strong: boolean;
}

function classify(line: string): LineKind | undefined {
  const t = line.trim();
  if (t === '' || isShellNoise(t)) return undefined;
  if (BUFINFO_START.test(t)) return { kind: 'bufinfo', strong: true };
  if (dmaprocsHead(t)) return { kind: 'dmaprocs', strong: true };
  if (DUMP_A_START.test(t)) return { kind: 'dmabuf_dump_a', strong: true };
  if (SYSFS.test(t)) return { kind: 'sysfs_dmabuf', strong: true };
  if (FDINFO_GREP.test(t)) return { kind: 'fdinfo', strong: true };
  const hp = headerPath(line);
  if (hp !== undefined) {
    const p = procPath(hp);
    if (!p) return undefined;
    return { kind: p.kind === 'fdinfo' ? 'fdinfo' : p.kind === 'fd' ? 'fd_links' : 'maps', strong: true };
  }
  const link = LINK.exec(line);
  if (link) return { kind: 'fd_links', strong: /^\/dmabuf:|^anon_inode:dmabuf$/.test(link[1] ?? link[2]) };
  const vma = VMA.exec(t);
  if (vma) return { kind: 'maps', strong: /^\/dmabuf:|^anon_inode:dmabuf$/.test(vma[1] ?? '') };
  if (SMAPS_FIELD.test(t)) return { kind: 'maps', strong: false };
  if (/^exp_name:/.test(t)) return { kind: 'fdinfo', strong: true };
  if (KEY.test(t)) return { kind: 'fdinfo', strong: false };
  return undefined;
}

/** Formats whose lines between a start line and an end are theirs whatever they look like. */
const BLOCK_KINDS = new Set(['bufinfo', 'dmabuf_dump_a', 'dmaprocs']);

/** A run of lines of one format: 0-based first and last line. */
export interface Run {
  kind: string;
  start: number;
  end: number;
}

/** Where a block format (bufinfo, dmabuf_dump -a, dmaprocs) ends: does `line` end it (included)? */
function endsBlock(kind: string, line: string, next: string | undefined): 'here' | 'next' | false {
  if (kind === 'bufinfo') return BUFINFO_END.test(line) ? 'here' : false;
  // dmaprocs has no end line: the listing goes on until another format or a prompt.
  if (kind === 'dmaprocs') return false;
  if (DUMP_A_END.test(line)) return 'here';
  // CSV: the values line follows the totals header.
  if (DUMP_A_CSV_TOTALS.test(line)) return next === undefined ? 'here' : 'next';
  return false;
}

/**
 * The runs of formats in `lines`, in order, when they hold two formats or more; undefined
 * when they hold one or none (the text is read whole, as before).
 */
export function captureRuns(lines: readonly string[]): Run[] | undefined {
  const runs = runsOf(lines);
  return new Set(runs.map((r) => r.kind)).size < 2 ? undefined : runs;
}

/** The runs of formats in `lines`, in order; the last ends with the text. */
function runsOf(lines: readonly string[]): Run[] {
  const runs: Run[] = [];
  let cur: Run | undefined;
  /** Inside a block: its kind, and whether the next line still belongs to it whatever it is. */
  let block: { kind: string; takeNext: boolean } | undefined;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    const c = classify(line);
    if (block) {
      // A block cut short ends where a prompt or a line of another format appears.
      const foreign = (c?.strong && c.kind !== block.kind) || isShellNoise(line);
      if (block.takeNext || !foreign) {
        cur!.end = i;
        const end = block.takeNext ? 'here' : endsBlock(block.kind, line, lines[i + 1]);
        if (end === 'here') block = undefined;
        else if (end === 'next') block.takeNext = true;
        continue;
      }
      block = undefined;
    }
    if (!c || (!c.strong && cur?.kind !== c.kind)) continue;
    if (cur && cur.kind === c.kind) cur.end = i;
    else {
      cur = { kind: c.kind, start: cur ? cur.end + 1 : 0, end: i };
      runs.push(cur);
    }
    if (BLOCK_KINDS.has(c.kind) && c.strong) block = { kind: c.kind, takeNext: false };
  }
  if (runs.length > 0) runs[runs.length - 1].end = lines.length - 1;
  return runs;
}

export const kernelCapturesImporter: TextImporter = {
  name: 'kernel_captures',
  description: 'several kernel captures in one text (bufinfo, dmabuf_dump -a, fdinfo, fd links, maps, sysfs, vendor dmaprocs): each read by its own importer',

  sniff(head: string): boolean {
    return captureRuns(splitLines(head).lines) !== undefined;
  },

  importText(text: string, ctx: ImportContext): void {
    guarded(ctx, 'kernel_captures', (c) => importCaptures(text, c));
  },
};

function importCaptures(text: string, ctx: ImportContext): void {
  const { lines, complete } = splitLines(text);
  const runs = runsOf(lines);
  if (runs.length === 0) ctx.diag('warning', 'no_data', 'no bufinfo, dmabuf_dump -a, fdinfo, fd link, maps, sysfs or dmaprocs capture found');
  for (const r of runs) {
    const last = r.end === lines.length - 1;
    const body = lines.slice(r.start, r.end + 1).join('\n') + (last && !complete ? '' : '\n');
    const child = ctx.child(`${ctx.path}#lines ${r.start + 1}-${r.end + 1}`, r.kind, {
      bytes: Buffer.byteLength(body),
      lineStart: r.start + 1,
      lineEnd: r.end + 1,
    });
    IMPORTERS[r.kind].importText(body, child);
  }
}
