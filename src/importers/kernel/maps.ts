// `/proc/<pid>/maps` and `/proc/<pid>/smaps` (fs/proc/task_mmu.c show_map_vma:
// "%08lx-%08lx %c%c%c%c %08llx %02x:%02x %lu " padded, then the path). A mapped DMA-BUF
// has the path `/dmabuf:` or `/dmabuf:<name>` and the buffer's inode in the inode column
// (../shared/formats.md §3b). The pid comes from a header (`==> /proc/1234/maps <==`,
// `/proc/1234/maps:`, the bare path), a `grep` prefix (`/proc/1234/maps:7f…`) or the
// file's own path (a pulled `…/proc/1234/maps`).
// Rows: `dmabuf_holder_observation` per (pid, inode) with `map_refs` = number of vmas and
// `fd_refs` NULL; one `dmabuf_observation` per inode with the name from the path and size
// NULL (a vma covers part or all of a buffer: it is not the buffer's size); one
// `dmabuf_mapping` row per vma (30-kernel.sql) with the vma's own size.
// Old kernels' `anon_inode:dmabuf` vmas share one inode: one `info` diagnostic, no rows.
// Prompts and `cat: …` errors around the vma lines do not stop detection; files the capture
// could not read (`…: Permission denied`) are one `entry_unreadable` warning.
import type { ImportContext, TextImporter } from '../types.js';
import { fromBigInt, guarded, hexToInt, isShellNoise, LineReader, toInt } from '../common.js';
import { deniedPath, headerPath, noteDenied, plural, procPath } from './common.js';

const VMA = /^([0-9a-fA-F]+)-([0-9a-fA-F]+)\s+([-rwxsp]{4})\s+([0-9a-fA-F]+)\s+([0-9a-fA-F]+:[0-9a-fA-F]+)\s+(\d+)(?:\s+(.*?))?\s*$/;
const GREP_PREFIX = /^(\S*?\/\d+\/(?:task\/\d+\/)?s?maps):(.*)$/;
const SMAPS_FIELD = /^[A-Z][A-Za-z_]*:\s/;

/** The pid of a `/proc/<pid>/maps` or `smaps` path; null for any other path. */
function mapsPid(path: string): number | null {
  const p = procPath(path);
  return p && (p.kind === 'maps' || p.kind === 'smaps') ? p.pid : null;
}

export const mapsImporter: TextImporter = {
  name: 'maps',
  description: '/proc/<pid>/maps and smaps captures: DMA-BUF mappings (/dmabuf: vmas) per process',

  sniff(head: string, path: string): boolean {
    const lines = head.split(/\r?\n/, 300).filter((l) => l.trim() !== '');
    let vmas = 0;
    let other = 0;
    let dmabuf = false;
    for (const l of lines.slice(0, 120)) {
      const g = GREP_PREFIX.exec(l.trim());
      const body = g ? g[2] : l.trim();
      const v = VMA.exec(body);
      if (v) {
        vmas++;
        if (v[7] && (v[7].startsWith('/dmabuf:') || v[7] === 'anon_inode:dmabuf')) dmabuf = true;
      } else if (SMAPS_FIELD.test(body) || headerPath(l) !== undefined || isShellNoise(l)) {
        // smaps fields and file headers are part of the shape; prompts and `cat: …` errors surround it
      } else other++;
    }
    if (vmas === 0) return false;
    // Mostly vma lines; a maps file without DMA-BUF vmas is still ours when its path says so.
    const shaped = other <= Math.max(1, vmas / 10);
    return shaped && (dmabuf || /(?:^|\/)\d+\/s?maps$/.test(path) || vmas >= 3);
  },

  importText(text: string, ctx: ImportContext): void {
    guarded(ctx, 'maps', (c) => importMaps(text, c));
  },
};

function importMaps(text: string, ctx: ImportContext): void {
  let pid = mapsPid(ctx.path);
  const holders = new Map<string, { pid: number; inode: number | bigint; line: number; maps: number }>();
  const seen = new Set<string>();
  let anon = 0;
  let noPid = 0;
  const denied: string[] = [];
  let deniedLine: number | null = null;
  const lines = new LineReader(text);
  for (let line = lines.next(); line !== undefined; line = lines.next()) {
    const raw = line.trim();
    const lineNo = lines.count;
    let linePid = pid;
    const g = GREP_PREFIX.exec(raw);
    const grepped = g ? VMA.exec(g[2]) : null;
    let v: RegExpExecArray | null;
    if (g && grepped) {
      // A `grep` prefix names the file of this line only.
      v = grepped;
      linePid = mapsPid(g[1]);
    } else {
      v = VMA.exec(raw);
      if (!v) {
        const dp = deniedPath(raw);
        if (dp !== undefined) {
          if (denied.length === 0) deniedLine = lineNo;
          denied.push(dp);
          continue;
        }
        const hp = headerPath(line);
        if (hp !== undefined) pid = mapsPid(hp);
        continue;
      }
    }
    const path = v[7] ?? '';
    if (path === 'anon_inode:dmabuf') {
      anon++;
      continue;
    }
    if (!path.startsWith('/dmabuf:')) continue;
    const inode = toInt(v[6]);
    if (inode === undefined) continue;
    const name = path.slice('/dmabuf:'.length).trim() || null;
    const k = String(inode);
    if (!seen.has(k)) {
      seen.add(k);
      ctx.insert('dmabuf_observation', { line: lineNo, inode, size: null, size_exact: 1, exporter: null, name, file_count: null, global_list: 0 });
    }
    // VMA matched start, end and offset as hex digits: hexToInt reads each.
    const d = BigInt(hexToInt(v[2])!) - BigInt(hexToInt(v[1])!);
    const vmaBytes = d < 0n ? null : fromBigInt(d);
    const offset = hexToInt(v[4])!;
    ctx.insert('dmabuf_mapping', { line: lineNo, pid: linePid, inode, vma_bytes: vmaBytes, page_offset: offset, perms: v[3], name });
    if (linePid === null) {
      noPid++;
      continue;
    }
    const hk = `${linePid}/${k}`;
    const h = holders.get(hk);
    if (h) h.maps++;
    else holders.set(hk, { pid: linePid, inode, line: lineNo, maps: 1 });
  }
  for (const h of holders.values()) {
    ctx.insert('dmabuf_holder_observation', { line: h.line, inode: h.inode, pid: h.pid, fd_refs: null, map_refs: h.maps });
  }
  if (anon > 0) {
    ctx.diag(
      'info',
      'anon_inode_dmabuf',
      `${plural(anon, 'anon_inode:dmabuf mapping')} (kernel before 5.3): all DMA-BUFs share one inode there, so they cannot be told apart and were not counted`,
    );
  }
  if (noPid > 0) {
    ctx.diag('warning', 'no_pid', `${plural(noPid, 'DMA-BUF mapping')} without a /proc/<pid>/maps header or path: buffers kept, holders unknown`);
  }
  noteDenied(ctx, denied, deniedLine);
}
