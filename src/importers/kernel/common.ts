// Helpers the kernel-capture importers (src/importers/kernel/*) use: the `/proc/<pid>/…` path
// shapes that captures put in front of a file's content, the files a capture could not read
// (`…: Permission denied`), and plural wording. The plumbing every importer shares (guarded,
// splitLines, toInt, the shell prompts around a capture, …) is in ../common.js.
import type { ImportContext } from '../types.js';
import { fileError } from '../common.js';

/** Which per-process file a path names: the fd or fdinfo directory (or one entry of it), maps or smaps. */
export type ProcFileKind = 'fd' | 'fdinfo' | 'maps' | 'smaps';

/**
 * A path naming a per-process file: `/proc/1234/fdinfo/12`, `proc/1234/maps`,
 * `/proc/1234/task/1240/fdinfo/3` (the thread's table is the process's), `./1234/fd`.
 * Returns the pid, the kind of file and the fd number (an entry of `fd/` or `fdinfo/`; null
 * for the directory itself and for maps), or undefined.
 */
export function procPath(path: string): { pid: number; kind: ProcFileKind; fd: number | null } | undefined {
  const m = /(?:^|\/)(\d+)\/(?:task\/\d+\/)?(?:(fdinfo|fd)(?:\/(\d+))?|(s?maps))\/?$/.exec(path.trim());
  if (!m) return undefined;
  const pid = Number(m[1]);
  if (!Number.isSafeInteger(pid) || pid <= 0) return undefined;
  const kind = (m[2] ?? m[4]) as ProcFileKind;
  return { pid, kind, fd: m[3] !== undefined ? Number(m[3]) : null };
}

/**
 * The decorations a capture loop prints around a path (`echo "--- $f"`, `echo "=== $f ==="`,
 * `echo "# $f"`, `echo "***** $f *****"`): a run of dashes, equals signs or asterisks (two or
 * more) or of hashes, before the path and optionally after it.
 */
const BANNER = /^(?:-{2,}|={2,}|\*{2,}|#+)[ \t]*(\S+?)[ \t]*(?:-{2,}|={2,}|\*{2,}|#+)?$/;

/**
 * A header line naming the file that follows, in the shapes capture scripts print:
 * `==> /proc/1/maps <==` (head/tail), `/proc/1/maps:` (a path and a colon), the bare path on
 * its own line (`for f in …; do echo $f; cat $f; done`), or the path in a banner
 * (`--- /proc/1/fdinfo/5`, `=== /proc/1/fdinfo/5 ===`, `# /proc/1/maps`, a colon after the
 * path allowed). Only a path-shaped word is a header (`/…`, `./…`, `proc/…`, `<pid>/…`, no
 * other colon in it), so a separator line or a line of text is not. Returns the path.
 */
export function headerPath(line: string): string | undefined {
  const t = line.trim();
  let m = /^==>\s*(.+?)\s*<==$/.exec(t);
  if (m) return m[1];
  m = BANNER.exec(t) ?? /^(\S*\/\S*?)$/.exec(t);
  if (!m) return undefined;
  const p = m[1].endsWith(':') ? m[1].slice(0, -1) : m[1];
  return p.includes('/') && /^(?:\.{0,2}\/|proc\/|\d+\/)/.test(p) && !p.includes(':') ? p : undefined;
}

/**
 * The path of a command's `Permission denied` (or `Operation not permitted`) line: a file the
 * capture could not read because it did not run as root, so what it holds is missing. Other
 * errors (`No such file or directory`: the process exited meanwhile) are not a loss.
 */
export function deniedPath(line: string): string | undefined {
  const m = fileError(line.trim());
  return m && (m[2] === 'Permission denied' || m[2] === 'Operation not permitted') ? m[1] : undefined;
}

/**
 * Record, once per source, the files a capture could not read (`deniedPath` lines): their
 * DMA-BUFs are missing from it. `paths` are in the order met.
 */
export function noteDenied(ctx: ImportContext, paths: readonly string[], firstLine: number | null): void {
  if (paths.length === 0) return;
  ctx.diag(
    'warning',
    'entry_unreadable',
    `${plural(paths.length, 'file')} could not be read when captured (Permission denied: the capture did not run as root), first ${paths[0]}: what they hold is missing`,
    firstLine,
  );
}

/** `n` items, singular or plural word. */
export function plural(n: number, word: string, pluralWord = `${word}s`): string {
  return `${n} ${n === 1 ? word : pluralWord}`;
}
