// Plumbing shared by the importers (the text ones — dmabuf_dump, dmabuf_dump -b, meminfo, the
// kernel captures of ./kernel/ — and the streaming ones): the never-throw wrappers with capped diagnostics,
// line splitting that survives CRLF, a BOM and a missing final newline, safe decimal,
// hexadecimal and kB conversion, the excerpt of an offending line quoted in a diagnostic,
// dumpstate's marker lines as they appear inside a section, the head text the streaming
// importers (bugreport, systrace-text) sniff, and the lines a terminal or a script adds around
// a capture saved by hand (prompts, a command's complaint about a file).
import type { ImportContext, Row } from './types.js';

/** Most diagnostics one source records before summarizing the rest (garbage input must not flood the table). */
const MAX_DIAGS = 200;
/** Rows of one table an importer's `insert` calls gather before they are written as one batch. */
const BATCH_ROWS = 1000;

/**
 * Run an importer body so that no exception escapes: a bug or an impossible input becomes an
 * `error` diagnostic `importer_failed` whose message is `<label>: <exception message>`. The
 * body gets a context whose diagnostics are capped at MAX_DIAGS (a diagnostic that cannot be
 * written is dropped silently; the number dropped is recorded at the end as one
 * `too_many_diagnostics` warning) and whose `insert` rows are written in batches (`batching`).
 */
export function guarded(ctx: ImportContext, label: string, body: (ctx: ImportContext) => void): void {
  const b = batching(ctx);
  const c = capped(b.ctx);
  try {
    body(c.ctx);
  } catch (e) {
    failed(ctx, label, e);
  } finally {
    flushed(b, ctx, label);
    c.finish();
  }
}

/** `guarded` for a streaming importer's body. */
export async function guardedStream(ctx: ImportContext, label: string, body: (ctx: ImportContext) => Promise<void>): Promise<void> {
  const b = batching(ctx);
  const c = capped(b.ctx);
  try {
    await body(c.ctx);
  } catch (e) {
    failed(ctx, label, e);
  } finally {
    flushed(b, ctx, label);
    c.finish();
  }
}

/**
 * `ctx` with the rows its `insert` writes gathered per table, in order, and written as
 * `insertMany` batches: a row at a time, sql.js takes about twice as long (a statement run per
 * row). The rows and their rowids are those of writing them one by one; they are written when
 * a batch is full, before any other write into the table (an `insertMany`, a row of other
 * columns), before a child source is made, and by `flush`.
 */
function batching(ctx: ImportContext): { ctx: ImportContext; flush(): void } {
  const pending = new Map<string, { columns: string[]; rows: Row[string][][] }>();
  const flushTable = (table: string) => {
    const p = pending.get(table);
    if (!p) return;
    pending.delete(table);
    ctx.insertMany(table, p.columns, p.rows);
  };
  const flush = () => {
    for (const table of [...pending.keys()]) flushTable(table);
  };
  const insert: ImportContext['insert'] = (table, row) => {
    const columns = Object.keys(row).filter((k) => row[k] !== undefined);
    let p = pending.get(table);
    if (p && (p.columns.length !== columns.length || p.columns.some((c, i) => c !== columns[i]))) {
      flushTable(table);
      p = undefined;
    }
    if (!p) pending.set(table, (p = { columns, rows: [] }));
    p.rows.push(columns.map((c) => row[c]));
    if (p.rows.length >= BATCH_ROWS) flushTable(table);
  };
  const insertMany: ImportContext['insertMany'] = (table, columns, rows) => {
    flushTable(table);
    ctx.insertMany(table, columns, rows);
  };
  const child: ImportContext['child'] = (...args) => {
    flush();
    return ctx.child(...args);
  };
  const batched: ImportContext = Object.assign(Object.create(ctx) as ImportContext, { insert, insertMany, child });
  return { ctx: batched, flush };
}

/** Write the rows `b` holds; a batch that cannot be written is the importer's failure. */
function flushed(b: { flush(): void }, ctx: ImportContext, label: string): void {
  try {
    b.flush();
  } catch (e) {
    failed(ctx, label, e);
  }
}

/** `ctx` with its diagnostics capped at MAX_DIAGS; `finish` records how many were dropped. */
function capped(ctx: ImportContext): { ctx: ImportContext; finish(): void } {
  let count = 0;
  let dropped = 0;
  const diag: ImportContext['diag'] = (severity, code, message, line) => {
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
  };
  // Every other member is ctx's own, reached through the prototype, so a member added to
  // ImportContext later is forwarded without being listed here (its methods run with `this`
  // = the capped context, which reads every field of ctx).
  const cappedCtx: ImportContext = Object.assign(Object.create(ctx) as ImportContext, { diag });
  const finish = () => {
    if (dropped === 0) return;
    try {
      ctx.diag('warning', 'too_many_diagnostics', `${dropped} more diagnostics of this source were not recorded`);
    } catch {
      // ignore
    }
  };
  return { ctx: cappedCtx, finish };
}

function failed(ctx: ImportContext, label: string, e: unknown): void {
  try {
    ctx.diag('error', 'importer_failed', `${label}: ${(e as Error)?.message ?? String(e)}`);
  } catch {
    // The context itself failed; nothing more can be recorded.
  }
}

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

/**
 * The lines `splitLines` gives, one at a time, and where each starts: for the texts of tens or
 * hundreds of megabytes a capture can be (a 70 MB capture of fdinfo files has 4 million lines),
 * which as an array of strings the garbage collector then walks again and again while the
 * text is read.
 */
export class LineReader {
  /** The text without its BOM, every CR LF and CR made LF: the lines are its pieces between LFs. */
  readonly text: string;
  /** As `SplitText.complete`. */
  readonly complete: boolean;
  /** How many lines `next` has given. */
  count = 0;
  /** Where the line `next` returned last starts in `text`. */
  start = 0;
  /** Where the line after it starts. */
  private at = 0;

  constructor(text: string) {
    let t = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
    this.complete = t.length === 0 || t.endsWith('\n') || t.endsWith('\r');
    if (t.includes('\r')) t = t.replace(/\r\n?/g, '\n');
    this.text = t;
  }

  /** Whether `next` has a line to give. */
  get more(): boolean {
    return this.at < this.text.length;
  }

  /** The next line, undefined after the last. */
  next(): string | undefined {
    if (!this.more) return undefined;
    const t = this.text;
    const end = t.indexOf('\n', this.at);
    this.start = this.at;
    this.at = end < 0 ? t.length + 1 : end + 1;
    this.count++;
    return t.slice(this.start, end < 0 ? t.length : end);
  }

  /**
   * The first line, from the one `next` would give on, that passes `test` (given the line and
   * where it starts in `text`), without moving on; undefined when none does.
   */
  lookAhead(test: (line: string, start: number) => boolean): string | undefined {
    const t = this.text;
    for (let at = this.at; at < t.length; ) {
      const end = t.indexOf('\n', at);
      const line = t.slice(at, end < 0 ? t.length : end);
      if (test(line, at)) return line;
      at = end < 0 ? t.length : end + 1;
    }
    return undefined;
  }
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

/**
 * A hexadecimal integer (`1f`, `0x1f`, or printf-padded `0x       3`: an optional `0x` and any
 * whitespace are ignored) as a number, or a bigint when it exceeds 2^53; undefined when `s` is
 * not one.
 */
export function hexToInt(s: string | undefined): number | bigint | undefined {
  if (s === undefined) return undefined;
  const t = s.trim().replace(/^0x\s*/i, '').replace(/\s+/g, '');
  if (!/^[0-9a-fA-F]+$/.test(t)) return undefined;
  return fromBigInt(BigInt(`0x${t}`));
}

/** A bigint as a number when that is exact (within ±2^53), else as it is: what a row's integer column takes. */
export function fromBigInt(b: bigint): number | bigint {
  return b <= BigInt(Number.MAX_SAFE_INTEGER) && b >= -BigInt(Number.MAX_SAFE_INTEGER) ? Number(b) : b;
}

/** Bytes from a decimal kB integer (kB × 1024, a bigint when it exceeds 2^53); undefined when `s` is not one. */
export function kbToBytes(s: string | undefined): number | bigint | undefined {
  const kb = toInt(s);
  if (kb === undefined) return undefined;
  if (typeof kb === 'bigint') return kb * 1024n;
  const n = kb * 1024;
  return Number.isSafeInteger(n) ? n : BigInt(kb) * 1024n;
}

/** Short, single-line excerpt of an offending line for a diagnostic message (trimmed, at most 160 characters, quoted). */
export function excerpt(line: string): string {
  const t = line.trim();
  return JSON.stringify(t.length > 160 ? `${t.slice(0, 160)}…` : t);
}

/**
 * dumpstate's line for a command that failed or timed out (`*** command '…' failed: …`,
 * `*** Error dumping …`, `*** SERVICE '…' DUMP TIMEOUT (…) EXPIRED ***`) as it appears inside a
 * section's text (../shared/formats.md §1). Test a trimmed line.
 */
export const COMMAND_FAILED = /^\*\*\* (command .*(failed|timed out)|Error dumping|.*DUMP TIMEOUT)/;

/** A dumpstate section header (`------ TITLE (COMMAND) ------`) inside a section's text. Test a trimmed line. */
export const SECTION_MARK = /^------ .* ------$/;

/** The first 64 KiB of a stream's head as text, for a streaming importer's sniff (latin1: any byte decodes). */
export function headText(head: Uint8Array): string {
  return Buffer.from(head.buffer, head.byteOffset, Math.min(head.byteLength, 64 * 1024)).toString('latin1');
}

// A prompt, alone or with the command typed after it: `console:/ # cat …`, `sargo:/ $`,
// `root@android:/ #`, `# cat …`, `$ adb shell …`, `C:\work> adb shell …`.
const PROMPT = /^(?:[\w.-]*(?:[:@][^\s#$]*)?\s?[#$]|[A-Za-z]:\\[^>]*>)(?:\s.*)?$/;
// A command's complaint about a file it could not read: `cat: /proc/1/maps: Permission denied`,
// `ls: cannot open directory '/proc/1/fd': Permission denied`, `sh: can't open …`, `grep: …: No such file or directory`.
const FILE_ERROR = /^(?:[\w./-]+: )+(?:can't open |cannot (?:open|access) (?:directory )?)?['"]?(\/?\S+?)['"]?(?: for reading)?: (Permission denied|Operation not permitted|No such file or directory|No such process|Is a directory|Not a directory)\s*$/;
const FILE_ERROR_ENDS = ['Permission denied', 'Operation not permitted', 'No such file or directory', 'No such process', 'Is a directory', 'Not a directory'];

/** FILE_ERROR's match of a trimmed line; the line's end is looked at first (captures run to millions of lines, nearly none an error). */
export function fileError(t: string): RegExpExecArray | null {
  // Every FILE_ERROR_ENDS ends with `d`, `s` or `y`: most lines are refused by their last character.
  const last = t.charCodeAt(t.length - 1);
  if (last !== 0x64 && last !== 0x73 && last !== 0x79) return null;
  for (const e of FILE_ERROR_ENDS) if (t.endsWith(e)) return FILE_ERROR.exec(t);
  return null;
}

/**
 * A line a terminal or a capture script adds around a capture, not part of any file it shows:
 * a shell prompt (alone or followed by the command typed), or a command's error about a
 * file it could not read. Capture importers skip these lines without a diagnostic of their own.
 */
export function isShellNoise(line: string): boolean {
  const t = line.trim();
  return t !== '' && (PROMPT.test(t) || fileError(t) !== null);
}
