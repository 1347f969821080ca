// `lsof` output filtered for DMA-BUFs: `adb shell lsof | grep dmabuf`, `lsof -p <pid>` (Android's
// toybox lsof) and util lsof on Linux desktops (../shared/formats.md §3a for the `/dmabuf:` names).
// Confirmed from toybox toys/pending/lsof.c (landley/toybox, commits
// 001e4fb62baee6770c3b076ece56446f8d2550de and 138915a0d75c9b8c8d5e0b0d168091277b68c350):
//   - header "%-9s %5s %10.10s %4s   %7s %18s %9s %10s %s": COMMAND PID USER FD TYPE DEVICE
//     SIZE/OFF NODE NAME; rows "%-9s %5d %10.10s %4s%c%c %7s %18s %9s %10s %s" (the FD, then its
//     access mode r/w/u from fdinfo `flags:` and a lock column always blank);
//   - COMMAND is the comm from /proc/<pid>/stat, cut to 9 characters (char cmd[10], older
//     versions) or kept whole (cmd[17], newer); a comm may hold spaces;
//   - an fd row stats /proc/<pid>/fd/<n> (following the link): NODE = the buffer's inode,
//     DEVICE `major,minor`, SIZE/OFF `0t<pos>` when fdinfo was readable, TYPE from st_mode
//     (a DMA-BUF's anon inode has no file type bits: `0000`); NAME = the link (`/dmabuf:<name>`,
//     `anon_inode:dmabuf` before Linux 5.3); a failed readlink names `/proc/<pid>/fd/<n>
//     (readlink: <error>)`, a failed opendir of /proc/<pid>/fd is one `NOFD` row
//     `/proc/<pid>/fd (opendir: <error>)`;
//   - `mem` rows come from /proc/<pid>/maps (file vmas at offset 0); NAME is the vma's path and
//     TYPE/DEVICE/SIZE/NODE come from stat() of that path, which fails for `/dmabuf:…` (it is no
//     path), so a mapped DMA-BUF's row is `mem  unknown  /dmabuf:<name>` with NODE blank.
// util lsof (lsof-org/lsof) was not confirmed from source: its rows are read by the same column
// rules (extra TID/TASKCMD columns tolerated, any TYPE such as `a_inode` or `DMABUF`), and its
// `mem`/`DEL` rows when they carry a NODE.
// Rows: per DMA-BUF fd row one `dmabuf_fd` (pid, fd, inode, name); one `dmabuf_observation` per
// inode (name from NAME, size NULL: lsof prints none for it); one `dmabuf_holder_observation` per
// (pid, inode) with `fd_refs` = its distinct fds and `map_refs` = its `mem` rows with a NODE
// (NULL when none: a toybox `mem` row names no inode, one `lsof_mem_without_inode` info says how
// many), and for each such `mem` row a `dmabuf_mapping` (vma size, offset, perms NULL). Process
// names from COMMAND. Rows of other files are skipped; fd rows without NODE (`no_inode`) and
// `anon_inode:dmabuf` rows (`anon_inode_dmabuf`: one shared inode) are kept in `dmabuf_fd` with
// inode NULL, not as holders. `opendir`/`readlink` `Permission denied` rows for /proc/<pid>/fd are
// one `entry_unreadable` warning; `lsof: …` messages one `lsof_warning`; prompts are skipped.
import type { ImportContext, TextImporter } from '../types.js';
import { excerpt, guarded, isShellNoise, LineReader, toInt } from '../common.js';
import { deniedPath, noteDenied, plural } from './common.js';

/** The header line (toybox; util lsof may add TID and TASKCMD). */
const HEADER = /^COMMAND\s+PID\s+(?:TID\s+(?:TASKCMD\s+)?)?USER\s+FD\s+TYPE\s+DEVICE\s+SIZE\/OFF\s+NODE\s+NAME\s*$/;
/** The NAME of a DMA-BUF row, at the end of the line after a blank. */
const DMABUF_NAME = /\s(\/dmabuf:.*?|anon_inode:dmabuf|anon_inode:\[dmabuf\])\s*$/;
const FD = /^(\d+)[rwuRWU]?[A-Za-z]?$/;
const MEM = /^(?:mem|DEL|mmap)$/;
/** Any lsof row: COMMAND (spaces allowed), PID, USER, then an FD (a number with its mode, or cwd, rtd, txt, mem, …). */
const ANY_ROW = /^\S.*?\s\d+\s+\S+\s+(?:\d+[rwuRWU]?[A-Za-z]?|cwd|rtd|txt|mem|DEL|mmap|NOFD|err|jld|ltx|Mxx|m86|tr|v86)\s/;
/** A row lsof prints for a file it could not read: `/proc/1/fd (opendir: Permission denied)`. */
const UNREADABLE = /\s(\/proc\/\d+\/fd(?:\/\d+)?) \((?:opendir|readlink|stat): (?:Permission denied|Operation not permitted)\)\s*$/;

export interface LsofRow {
  command: string;
  pid: number;
  /** The fd number; null for a `mem` row. */
  fd: number | null;
  /** NODE when present. */
  inode: number | bigint | undefined;
  /** NAME: `/dmabuf:<name>` or `anon_inode:dmabuf`. */
  path: string;
}

/**
 * An lsof row naming a DMA-BUF (`undefined` for any other line: rows of other files included).
 * The columns are told from both ends: COMMAND up to the first all-digit word (PID), NAME from
 * the `/dmabuf:` at the end; between them the FD is the first word that can be one with USER
 * before it and at most TYPE, DEVICE, SIZE/OFF and NODE after it.
 */
export function lsofDmabufRow(line: string): LsofRow | undefined {
  if (!line.includes('dmabuf') || line.includes('->')) return undefined;
  const t = line.replace(/\t/g, ' ');
  const n = DMABUF_NAME.exec(t);
  if (!n) return undefined;
  const words = t.slice(0, n.index).trim().split(/\s+/);
  // A maps line (`7a3c…-7a3d… rw-s …`) is no lsof row.
  if (words.length < 4 || /^[0-9a-fA-F]+-[0-9a-fA-F]+$/.test(words[0])) return undefined;
  let p = 1;
  while (p < words.length && !/^\d+$/.test(words[p])) p++;
  if (p >= words.length) return undefined;
  const pid = Number(words[p]);
  if (!Number.isSafeInteger(pid) || pid <= 0) return undefined;
  const rest = words.slice(p + 1);
  for (let j = Math.max(1, rest.length - 5); j < rest.length; j++) {
    const w = rest[j];
    const f = FD.exec(w);
    const mem = !f && MEM.test(w);
    if (!f && !mem) continue;
    const after = rest.slice(j + 1);
    const last = after[after.length - 1];
    const inode = after.length >= 2 && /^\d+$/.test(last) ? toInt(last) : undefined;
    const path = n[1] === 'anon_inode:[dmabuf]' ? 'anon_inode:dmabuf' : n[1];
    return { command: words.slice(0, p).join(' '), pid, fd: f ? Number(f[1]) : null, inode: inode === 0 ? undefined : inode, path };
  }
  return undefined;
}

/** The lsof header line. */
export function isLsofHeader(line: string): boolean {
  return line.startsWith('COMMAND') && HEADER.test(line.trim());
}

export const lsofImporter: TextImporter = {
  name: 'lsof',
  description: 'lsof output (toybox or util lsof, whole or through grep dmabuf): DMA-BUF fds and mappings per process with inodes',

  sniff(head: string): boolean {
    const lines = head.split(/\r?\n/, 400);
    // A whole lsof of a device: its header, then rows of other files for the first processes
    // (the DMA-BUFs of surfaceflinger and the apps come later than the sniffed head).
    if (!head.includes('dmabuf')) {
      const h = lines.findIndex((l) => isLsofHeader(l));
      if (h < 0) return false;
      const after = lines.slice(h + 1, h + 21).filter((l) => l.trim() !== '');
      return after.length >= 5 && after.filter((l) => ANY_ROW.test(l.replace(/\t/g, ' '))).length * 5 >= after.length * 4;
    }
    let rows = 0;
    let header = false;
    let other = 0;
    for (const l of lines) {
      const t = l.trim();
      if (t === '') continue;
      if (lsofDmabufRow(t)) rows++;
      else if (isLsofHeader(t)) header = true;
      else if (!isShellNoise(t) && !t.startsWith('lsof:')) other++;
    }
    // Grep'd: (nearly) only DMA-BUF rows. Whole: a header, and rows of other files around them.
    return rows > 0 && (header || other <= Math.max(1, rows / 10));
  },

  importText(text: string, ctx: ImportContext): void {
    guarded(ctx, 'lsof', (c) => importLsof(text, c));
  },
};

interface Holder {
  pid: number;
  inode: number | bigint;
  line: number;
  fds: Set<number>;
  maps: number;
}

function importLsof(text: string, ctx: ImportContext): void {
  const holders = new Map<string, Holder>();
  const seen = new Set<string>();
  const names = new Map<number, string>();
  let anon = 0;
  let noInode = 0;
  let memNoInode = 0;
  const denied: string[] = [];
  let deniedLine: number | null = null;
  let warnings = 0;
  let firstWarning = '';
  let warningLine: number | null = null;
  let malformed = 0;
  let malformedLine: number | null = null;
  let malformedText = '';
  /** DMA-BUF rows read. */
  let rows = 0;
  const lines = new LineReader(text);
  for (let raw = lines.next(); raw !== undefined; raw = lines.next()) {
    const lineNo = lines.count;
    const t = raw.trim();
    if (t === '') continue;
    const r = lsofDmabufRow(t);
    if (!r) {
      const u = UNREADABLE.exec(t);
      const dp = u ? u[1] : deniedPath(t);
      if (dp !== undefined) {
        if (denied.length === 0) deniedLine = lineNo;
        denied.push(dp);
      } else if (t.startsWith('lsof:')) {
        if (warnings++ === 0) {
          firstWarning = t;
          warningLine = lineNo;
        }
      } else if (t.includes('/dmabuf:') && !isShellNoise(t) && !isLsofHeader(t)) {
        // A DMA-BUF name on a line that is no row: a cut or garbled row.
        if (malformed++ === 0) {
          malformedLine = lineNo;
          malformedText = excerpt(t);
        }
      }
      continue;
    }
    rows++;
    if (!names.has(r.pid) && r.command !== '') names.set(r.pid, r.command);
    const name = r.path.startsWith('/dmabuf:') ? r.path.slice('/dmabuf:'.length).trim() || null : null;
    if (r.path === 'anon_inode:dmabuf') {
      anon++;
      if (r.fd !== null) ctx.insert('dmabuf_fd', { line: lineNo, pid: r.pid, fd: r.fd, inode: null, name: null });
      continue;
    }
    if (r.inode === undefined) {
      if (r.fd === null) memNoInode++;
      else {
        noInode++;
        ctx.insert('dmabuf_fd', { line: lineNo, pid: r.pid, fd: r.fd, inode: null, name });
      }
      continue;
    }
    const inode = r.inode;
    const k = String(inode);
    if (!seen.has(k)) {
      seen.add(k);
      ctx.insert('dmabuf_observation', { line: lineNo, inode, size: null, size_exact: 1, exporter: null, name, file_count: null, global_list: 0 });
    }
    const hk = `${r.pid}/${k}`;
    let h = holders.get(hk);
    if (!h) holders.set(hk, (h = { pid: r.pid, inode, line: lineNo, fds: new Set(), maps: 0 }));
    if (r.fd !== null) {
      h.fds.add(r.fd);
      ctx.insert('dmabuf_fd', { line: lineNo, pid: r.pid, fd: r.fd, inode, name });
    } else {
      h.maps++;
      ctx.insert('dmabuf_mapping', { line: lineNo, pid: r.pid, inode, vma_bytes: null, page_offset: null, perms: null, name });
    }
  }
  for (const [pid, name] of names) ctx.process(pid, { name });
  for (const h of holders.values()) {
    ctx.insert('dmabuf_holder_observation', {
      line: h.line,
      inode: h.inode,
      pid: h.pid,
      fd_refs: h.fds.size > 0 ? h.fds.size : null,
      map_refs: h.maps > 0 ? h.maps : null,
    });
  }
  if (rows === 0) ctx.diag('info', 'no_data', 'no DMA-BUF fd or mapping in this lsof output');
  if (memNoInode > 0) {
    ctx.diag(
      'info',
      'lsof_mem_without_inode',
      `${plural(memNoInode, 'DMA-BUF mapping row')} (FD \`mem\`) name no inode (toybox lsof cannot stat a /dmabuf: path): not counted as mappings`,
    );
  }
  if (noInode > 0) {
    ctx.diag('warning', 'no_inode', `${plural(noInode, 'DMA-BUF fd row')} without a NODE (lsof could not stat the fd): kept in dmabuf_fd, not counted as holders`);
  }
  if (anon > 0) {
    ctx.diag(
      'info',
      'anon_inode_dmabuf',
      `${plural(anon, 'anon_inode:dmabuf row')} (kernel before 5.3): all DMA-BUFs share one inode there, so they cannot be told apart and were not counted as holders`,
    );
  }
  if (malformed > 0) {
    ctx.diag('warning', 'malformed_row', `${plural(malformed, 'line')} naming a DMA-BUF but not an lsof row (cut or garbled), first: ${malformedText}`, malformedLine);
  }
  if (warnings > 0) {
    ctx.diag('warning', 'lsof_warning', `${plural(warnings, 'lsof message')} in the capture (files it could not examine may be missing), first: ${excerpt(firstWarning)}`, warningLine);
  }
  noteDenied(ctx, denied, deniedLine);
}
