// Helpers only the kernel-capture importers (src/importers/kernel/*) use: the
// `/proc/<pid>/…` path shapes that captures put in front of a file's content, bigint-safe
// map keys and plural wording. The plumbing every importer shares (guarded, splitLines,
// toInt, …) is in ../common.js.

/** Key of an integer that may be a bigint (for maps keyed by inode). */
export function intKey(v: number | bigint): string {
  return typeof v === 'bigint' ? v.toString() : String(v);
}

/**
 * A path naming a per-process file: `/proc/1234/fdinfo/12`, `proc/1234/maps`,
 * `/proc/1234/task/1240/fdinfo/3` (the thread's table is the process's), `./1234/fd`.
 * Returns the pid and the rest after the pid directory, or undefined.
 */
export function procPath(path: string): { pid: number; rest: string } | undefined {
  const m = /(?:^|\/)(\d+)\/(?:task\/\d+\/)?((?:fdinfo|fd)(?:\/\d+)?|s?maps)\/?$/.exec(path.trim());
  if (!m) return undefined;
  const pid = Number(m[1]);
  if (!Number.isSafeInteger(pid) || pid <= 0) return undefined;
  return { pid, rest: m[2] };
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
