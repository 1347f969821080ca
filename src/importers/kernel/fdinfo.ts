// `/proc/<pid>/fdinfo/<fd>` captures (fs/proc/fd.c seq_show: "pos:\t%lli\nflags:\t0%o\n
// mnt_id:\t%i\nino:\t%lu\n"; drivers/dma-buf/dma-buf.c dma_buf_show_fdinfo: "size:\t%zu\n
// count:\t%ld\nexp_name:\t%s\n" and "name:\t%s\n" when the buffer is named). A file is a
// DMA-BUF when it has `exp_name:`; other fdinfo entries are skipped silently.
// Shapes accepted (../shared/formats.md §3a):
//   - `head`/`tail` of several files: `==> /proc/1234/fdinfo/12 <==` before each;
//   - a path and a colon on its own line (`/proc/1234/fdinfo/12:`), the bare path
//     (`for f in /proc/*/fdinfo/*; do echo $f; cat $f; done`), or the path in a loop's
//     banner (`--- /proc/1234/fdinfo/12`, `=== /proc/1234/fdinfo/12 ===`, `# /proc/…`);
//   - `grep -r . /proc/1234/fdinfo` (`/proc/1234/fdinfo/12:exp_name:\tsystem` on every line);
//   - one pulled file whose pid and fd come from its path (`…/proc/<pid>/fdinfo/<fd>`);
//   - several files concatenated without headers (a new `pos:` starts a new entry).
// A `…: Permission denied` line (a capture not run as root) is one `entry_unreadable` warning.
// Rows: one `dmabuf_observation` per inode (first entry wins), one
// `dmabuf_holder_observation` per (pid, inode) with `fd_refs` = the number of distinct fds
// of the pid that refer to the inode, `map_refs` NULL (fdinfo says nothing of mappings).
// Also `dmabuf_fd` (30-kernel.sql): one row per DMA-BUF fd, so fds pulled as separate files
// (one source each, so one fd each) can still be counted per process across sources.
import type { ImportContext, TextImporter } from '../types.js';
import { guarded, LineReader, toInt } from '../common.js';
import { deniedPath, headerPath, noteDenied, procPath } from './common.js';

interface Entry {
  pid: number | null;
  fd: number | null;
  line: number;
  /** A `pos:` line was read: the next one starts another entry. */
  pos: boolean;
  // The fields the rows are made of; the others (`flags:`, `mnt_id:`, an eventfd's …) are not kept.
  exp?: string;
  ino?: string;
  size?: string;
  count?: string;
  name?: string;
}

interface Holder {
  pid: number;
  inode: number | bigint;
  /** Line of its first entry. */
  line: number;
  /** Its first fd: its number, or the line of an entry that names none. */
  fd: number | string;
  /** Its fds when it has several. */
  fds: Set<number | string> | undefined;
}

/** Set field `key` of `e` (a `pos:` line is remembered as read); `keep`: a value read before stays. */
function setField(e: Entry, key: string, value: string, keep: boolean): void {
  switch (key) {
    case 'pos':
      e.pos = true;
      return;
    case 'exp_name':
      if (!keep || e.exp === undefined) e.exp = value;
      return;
    case 'ino':
      if (!keep || e.ino === undefined) e.ino = value;
      return;
    case 'size':
      if (!keep || e.size === undefined) e.size = value;
      return;
    case 'count':
      if (!keep || e.count === undefined) e.count = value;
      return;
    case 'name':
      if (!keep || e.name === undefined) e.name = value;
      return;
  }
}

const KEY_LINE = /^([a-z_][a-z0-9_-]*):\s?(.*)$/i;
const GREP_LINE = /^(\S*?\/fdinfo\/\d+):([a-z_][a-z0-9_-]*):\s?(.*)$/i;

function pathIds(path: string): { pid: number | null; fd: number | null } {
  const p = procPath(path);
  return p && p.kind === 'fdinfo' ? { pid: p.pid, fd: p.fd } : { pid: null, fd: null };
}

export const fdinfoImporter: TextImporter = {
  name: 'fdinfo',
  description: '/proc/<pid>/fdinfo/<fd> captures (head/tail, path headers, loops, grep -r, pulled files): DMA-BUF fds per process',

  sniff(head: string, path: string): boolean {
    if (/^==>\s*\S*\/fdinfo\/\d+\s*<==/m.test(head)) return true;
    if (/^\S*\/fdinfo\/\d+:(?:pos|flags|exp_name):/m.test(head)) return true;
    const hasExp = /^exp_name:[ \t]/m.test(head);
    const generic = /^pos:[ \t]*-?\d+\s*$/m.test(head) && /^flags:[ \t]*\d+\s*$/m.test(head);
    if (hasExp && (generic || /^count:[ \t]*-?\d+\s*$/m.test(head))) return true;
    // A pulled fdinfo file of another kind of fd: ours to skip, not an unknown file.
    if (generic && /(?:^|\/)\d+\/fdinfo\/\d+$/.test(path) && /^pos:/.test(head.trimStart())) return true;
    return false;
  },

  importText(text: string, ctx: ImportContext): void {
    guarded(ctx, 'fdinfo', (c) => importFdinfo(text, c));
  },
};

function importFdinfo(text: string, ctx: ImportContext): void {
  const fromPath = pathIds(ctx.path);
  let cur: Entry | undefined;
  let sawHeader = false;
  const denied: string[] = [];
  let deniedLine: number | null = null;
  // One observation per inode, fds counted per (pid, inode), distinct fds only.
  const seenInode = new Set<number | bigint>();
  /** The holders in the order they were met, and by pid then inode. */
  const holders: Holder[] = [];
  const byPid = new Map<number, Map<number | bigint, Holder>>();
  let withoutInode = 0;
  let withoutPid = 0;

  /** The rows of an entry, once it has all its lines (entries are read in order, one at a time). */
  const entryRows = (e: Entry) => {
    const exp = e.exp;
    if (exp === undefined) return; // not a DMA-BUF
    const inode = toInt(e.ino);
    if (inode === undefined) {
      withoutInode++;
      return;
    }
    const name = e.name?.trim();
    if (!seenInode.has(inode)) {
      seenInode.add(inode);
      const exporter = exp.trim();
      ctx.insert('dmabuf_observation', {
        line: e.line,
        inode,
        size: toInt(e.size),
        size_exact: 1,
        exporter: exporter === '' ? null : exporter,
        name: name ? name : null,
        file_count: toInt(e.count),
        global_list: 0,
      });
    }
    ctx.insert('dmabuf_fd', { line: e.line, pid: e.pid, fd: e.fd, inode, name: name ? name : null });
    if (e.pid === null) {
      withoutPid++;
      return;
    }
    // An fd of unknown number is told apart by its entry's line.
    const fd = e.fd ?? `line${e.line}`;
    let ofPid = byPid.get(e.pid);
    if (!ofPid) byPid.set(e.pid, (ofPid = new Map()));
    const h = ofPid.get(inode);
    if (!h) {
      const created: Holder = { pid: e.pid, inode, line: e.line, fd, fds: undefined };
      ofPid.set(inode, created);
      holders.push(created);
    } else if (fd !== h.fd) (h.fds ??= new Set([h.fd])).add(fd);
  };
  const close = () => {
    if (cur) entryRows(cur);
    cur = undefined;
  };
  const start = (pid: number | null, fd: number | null, line: number): Entry => {
    close();
    return (cur = { pid, fd, line, pos: false });
  };

  const lines = new LineReader(text);
  for (let raw = lines.next(); raw !== undefined; raw = lines.next()) {
    const lineNo = lines.count;
    const t = raw.trim();
    const dp = deniedPath(t);
    if (dp !== undefined) {
      // `cat: /proc/1/fdinfo/3: Permission denied`: not a line of the entry.
      if (denied.length === 0) deniedLine = lineNo;
      denied.push(dp);
      continue;
    }
    // A grep line and a header name a path: a line without a slash is neither (nor `==> … <==`).
    const slash = t.includes('/');
    const g = slash ? GREP_LINE.exec(t) : null;
    if (g) {
      const ids = pathIds(g[1]);
      const e = !cur || cur.pid !== ids.pid || cur.fd !== ids.fd || (g[2] === 'pos' && cur.pos) ? start(ids.pid, ids.fd, lineNo) : cur;
      sawHeader = true;
      setField(e, g[2], g[3], false);
      continue;
    }
    const hp = slash || t.startsWith('==>') ? headerPath(t) : undefined;
    if (hp !== undefined) {
      const ids = pathIds(hp);
      if (ids.fd !== null || /\/fdinfo\//.test(hp)) {
        start(ids.pid, ids.fd, lineNo);
        sawHeader = true;
        continue;
      }
      // A header for some other file (a loop over several kinds): close the entry.
      close();
      continue;
    }
    const kv = KEY_LINE.exec(t);
    if (!kv) continue; // blank lines, `cat: …: No such file or directory`, prompts
    const key = kv[1];
    // Content without a header: a single pulled file, or files concatenated with `cat`.
    const e = !cur || (key === 'pos' && cur.pos) ? start(sawHeader ? null : fromPath.pid, sawHeader ? null : fromPath.fd, lineNo) : cur;
    setField(e, key, kv[2], true);
  }
  close();

  for (const h of holders) {
    ctx.insert('dmabuf_holder_observation', { line: h.line, inode: h.inode, pid: h.pid, fd_refs: h.fds?.size ?? 1, map_refs: null });
  }
  if (withoutInode > 0) {
    ctx.diag(
      'warning',
      'no_inode',
      `${withoutInode} DMA-BUF fdinfo entries have no \`ino:\` line (kernel before 5.12?): they cannot be matched to a buffer and were skipped`,
    );
  }
  if (withoutPid > 0) {
    ctx.diag('warning', 'no_pid', `${withoutPid} DMA-BUF fdinfo entries name no /proc/<pid>/fdinfo/<fd> path: buffers kept, holders unknown`);
  }
  noteDenied(ctx, denied, deniedLine);
}
