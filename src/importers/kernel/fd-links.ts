// fd link listings: `ls -l /proc/<pid>/fd`, `ls -l /proc/*/fd` (a `/proc/<pid>/fd:` header
// before each directory), `ls -l /proc/<pid>/fd/*` (full paths), the same with `-i`, and
// listings abridged to `<fd> -> <target>`.
// A DMA-BUF fd's link reads `/dmabuf:` or `/dmabuf:<name>` (d_dname of the dma-buf file,
// drivers/dma-buf/dma-buf.c dmabuffs_dname: "/%s:%s"); anon-inode buffers
// (before Linux 5.3) showed `anon_inode:dmabuf`. See ../shared/formats.md §3a.
//
// Decision: a link listing names no inode (`ls -i` shows the inode of the procfs link
// itself, not of the buffer; `ls -L` dereferences and loses the `-> /dmabuf:` that tells a
// DMA-BUF apart), and a holder needs an inode. So each DMA-BUF link becomes one
// `dmabuf_fd` row (pid, fd, name, inode NULL) — queryable as "how many DMA-BUF fds does
// each process hold, under which names" — and no holder observation; one `info`
// diagnostic (`fd_links_without_inode`) per source says so. Directories `ls` could not list
// (`ls: /proc/1/fd: Permission denied`) are one `entry_unreadable` warning.
import type { ImportContext, TextImporter } from '../types.js';
import { guarded, LineReader } from '../common.js';
import { deniedPath, headerPath, noteDenied, plural, procPath } from './common.js';

// [inode] l<perms> links owner group size date time NAME -> TARGET
const LINK = /^\s*(?:\d+\s+)?l[-rwxsStT]{9}[.+@]?\s+\d+\s+.*?\s(\S+)\s+->\s+(.*?)\s*$/;
// A listing abridged by hand (`6 -> /dmabuf:`), as pasted in notes and bug reports.
const SHORT = /^\s*(\d+)\s+->\s+(\/dmabuf:.*?|anon_inode:dmabuf)\s*$/;
const DMABUF_TARGET = /^\/dmabuf:(.*)$|^anon_inode:dmabuf$/;

function linkOf(line: string): RegExpExecArray | null {
  return LINK.exec(line) ?? SHORT.exec(line);
}

/** The pid of a `/proc/<pid>/fd` path (the directory or one of its links); null for any other path (`fdinfo/…` included). */
function fdDirPid(path: string): number | null {
  const p = procPath(path);
  return p && p.kind === 'fd' ? p.pid : null;
}

export const fdLinksImporter: TextImporter = {
  name: 'fd_links',
  description: 'ls -l /proc/<pid>/fd listings: DMA-BUF fds (-> /dmabuf:<name>) per process, without inodes',

  sniff(head: string): boolean {
    const lines = head.split(/\r?\n/, 400);
    let links = 0;
    let dmabufLinks = 0;
    let headers = 0;
    for (const l of lines) {
      const m = linkOf(l);
      if (m) {
        links++;
        if (DMABUF_TARGET.test(m[2])) dmabufLinks++;
      } else if (/^\s*\S*\/proc\/\d+\/fd:?\s*$/.test(l)) headers++;
    }
    return dmabufLinks > 0 || (headers > 0 && links > 0);
  },

  importText(text: string, ctx: ImportContext): void {
    guarded(ctx, 'fd_links', (c) => importFdLinks(text, c));
  },
};

function importFdLinks(text: string, ctx: ImportContext): void {
  let pid = fdDirPid(ctx.path);
  let count = 0;
  let noPid = 0;
  const pids = new Set<number>();
  const denied: string[] = [];
  let deniedLine: number | null = null;
  const lines = new LineReader(text);
  for (let raw = lines.next(); raw !== undefined; raw = lines.next()) {
    const lineNo = lines.count;
    const m = linkOf(raw);
    if (!m) {
      const dp = deniedPath(raw);
      if (dp !== undefined) {
        if (denied.length === 0) deniedLine = lineNo;
        denied.push(dp);
        continue;
      }
      const hp = headerPath(raw);
      if (hp !== undefined) pid = fdDirPid(hp);
      continue;
    }
    const t = DMABUF_TARGET.exec(m[2]);
    if (!t) continue;
    let linkPid = pid;
    let fd: number | null = null;
    const nameTok = m[1];
    if (/^\d+$/.test(nameTok)) fd = Number(nameTok);
    else {
      // `ls -l /proc/<pid>/fd/*` names each link by its full path.
      const full = procPath(nameTok);
      if (full && full.kind === 'fd' && full.fd !== null) {
        linkPid = full.pid;
        fd = full.fd;
      }
    }
    const name = t[1] !== undefined && t[1] !== '' ? t[1] : null;
    ctx.insert('dmabuf_fd', { line: lineNo, pid: linkPid, fd, inode: null, name });
    count++;
    if (linkPid === null) noPid++;
    else pids.add(linkPid);
  }
  if (count > 0) {
    ctx.diag(
      'info',
      'fd_links_without_inode',
      `${plural(count, 'DMA-BUF fd link')} of ${plural(pids.size, 'process', 'processes')} kept in dmabuf_fd: a link listing names no inode, so they are not counted as holders`,
    );
  }
  if (noPid > 0) ctx.diag('warning', 'no_pid', `${plural(noPid, 'DMA-BUF fd link')} without a /proc/<pid>/fd header: process unknown`);
  noteDenied(ctx, denied, deniedLine);
}
