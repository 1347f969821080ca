// Helpers only the kernel-capture importers (src/importers/kernel/*) use: the
// `/proc/<pid>/…` path shapes that captures put in front of a file's content and plural
// wording. The plumbing every importer shares (guarded, splitLines, toInt, …) is in
// ../common.js.

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
 * A header line naming the file that follows, in the shapes capture scripts print:
 * `==> /proc/1/maps <==` (head/tail), `/proc/1/maps:` (a path and a colon), or the bare
 * path on its own line (`for f in …; do echo $f; cat $f; done`). Returns the path.
 */
export function headerPath(line: string): string | undefined {
  const t = line.trim();
  let m = /^==>\s*(.+?)\s*<==$/.exec(t);
  if (m) return m[1];
  m = /^(\S*\/\S*?):?$/.exec(t);
  if (m && /^(?:\.{0,2}\/|proc\/|\d+\/)/.test(m[1]) && !m[1].includes(':')) return m[1];
  return undefined;
}

/** `n` items, singular or plural word. */
export function plural(n: number, word: string, pluralWord = `${word}s`): string {
  return `${n} ${n === 1 ? word : pluralWord}`;
}
