// Small helpers shared by the kernel-capture importers (src/importers/kernel/*): line
// splitting that survives CRLF and a missing final newline, safe integer conversion, and
// the `/proc/<pid>/…` path shapes that captures put in front of a file's content.
import type { ImportContext } from '../types.js';

/** The lines of a text (CR, LF or CRLF), without a BOM; `complete` is false when the text did not end with a newline (its last line may be cut). */
export interface SplitText {
  lines: string[];
  complete: boolean;
}

export function splitLines(text: string): SplitText {
  let t = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  const complete = t.length === 0 || t.endsWith('\n') || t.endsWith('\r');
  t = t.replace(/\r\n?/g, '\n');
  const lines = t.split('\n');
  if (lines.length > 0 && lines[lines.length - 1] === '' && complete) lines.pop();
  return { lines, complete };
}

/** A decimal integer (leading zeros allowed) as a number, or a bigint when it exceeds 2^53; undefined when `s` is not one. */
export function toInt(s: string | undefined): number | bigint | undefined {
  if (s === undefined) return undefined;
  const t = s.trim();
  if (!/^-?\d+$/.test(t)) return undefined;
  const n = Number(t);
  if (Number.isSafeInteger(n)) return n;
  try {
    return BigInt(t);
  } catch {
    return undefined;
  }
}

/** A decimal integer as a plain number (precision may be lost above 2^53), or undefined. */
export function toNum(s: string | undefined): number | undefined {
  if (s === undefined) return undefined;
  const t = s.trim();
  if (!/^-?\d+$/.test(t)) return undefined;
  return Number(t);
}

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

/** Most diagnostics one source records before summarizing the rest (garbage input must not flood the table). */
export const MAX_DIAGS = 200;

/**
 * Run an importer body so that no exception escapes: a bug or an impossible input becomes an
 * `error` diagnostic. The body gets a context whose diagnostics are capped at MAX_DIAGS.
 */
export function guarded(ctx: ImportContext, importer: string, body: (ctx: ImportContext) => void): void {
  let count = 0;
  let dropped = 0;
  const capped: ImportContext = {
    snapshotId: ctx.snapshotId,
    sourceId: ctx.sourceId,
    path: ctx.path,
    insert: (table, row) => ctx.insert(table, row),
    insertMany: (table, columns, rows) => ctx.insertMany(table, columns, rows),
    diag: (severity, code, message, line) => {
      if (count >= MAX_DIAGS) {
        dropped++;
        return;
      }
      count++;
      try {
        ctx.diag(severity, code, message, line);
      } catch {
        // A diagnostic that cannot be written must not stop the import.
      }
    },
    process: (pid, fields) => ctx.process(pid, fields),
    thread: (tid, pid, name) => ctx.thread(tid, pid, name),
    snapshot: (fields) => ctx.snapshot(fields),
    child: (path, importer, opts) => ctx.child(path, importer, opts),
    describe: (importer, bytes) => ctx.describe(importer, bytes),
  };
  try {
    body(capped);
  } catch (e) {
    try {
      ctx.diag('error', 'importer_failed', `${importer}: ${(e as Error)?.message ?? String(e)}`);
    } catch {
      // The context itself failed; nothing more can be recorded.
    }
  } finally {
    if (dropped > 0) {
      try {
        ctx.diag('warning', 'too_many_diagnostics', `${dropped} more diagnostics of this source were not recorded`);
      } catch {
        // ignore
      }
    }
  }
}

/** `n` items, singular or plural word. */
export function plural(n: number, word: string, pluralWord = `${word}s`): string {
  return `${n} ${n === 1 ? word : pluralWord}`;
}
