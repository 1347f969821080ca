// Output of the BPF dmabuf iterator (Linux 6.16+, `iter/dmabuf`; Android 16's program and the
// kernel selftest tools/testing/selftests/bpf/progs/dmabuf_iter.c print
// "%lu\n%llu\n%s\n%s\n": inode, size in bytes, name (empty line when unnamed; newlines in
// names become spaces; the name is read into a 32-byte buffer, so at most 31 characters),
// exporter). See ../shared/formats.md §3e. The first posted version of that selftest
// printed one line per buffer, "ino:%lu size:%llu name:%s exp_name:%s\n": read too.
// Rows: one `dmabuf_observation` per buffer (exact size, exporter, name; global_list 1).
// An empty exporter line is an error of the producer: the buffer is kept with no exporter
// and a `empty_exporter` diagnostic. A last record cut short is kept when its inode line is
// whole (size only when its line is whole too) and flagged `truncated`. Before the fix
// "bpf: Fix truncated dmabuf iterator reads", output longer than a page stopped silently at
// a record boundary: that cannot be seen here, only against another source's total
// (`dmabuf_consistency`). A capture by hand may have blank lines, a prompt or the command
// before the first record and a prompt after the last: skipped without a diagnostic.
import type { ImportContext, TextImporter } from '../types.js';
import { excerpt, guarded, isShellNoise, LineReader, toInt } from '../common.js';

const NUM = /^\d+$/;
const ONE_LINE = /^\s*ino:(\d+) size:(\d+) name:(.*?) exp_name:(.*?)\s*$/;
// An exporter is a driver or heap name (`system`, `qcom,system`, `mali`, `i915`, `virtio-gpu`).
const EXPORTER = /^[A-Za-z_][\w.,:+\- ]*$/;

/** Whether the four lines `line(0)` to `line(3)` (undefined past the end) are a record. */
function isRecord(line: (k: number) => string | undefined): boolean {
  const exporter = line(3);
  if (exporter === undefined) return false;
  const inode = line(0)!.trim();
  return NUM.test(inode) && NUM.test(line(1)!.trim()) && Number(inode) > 0 && (EXPORTER.test(exporter.trim()) || exporter.trim() === '');
}

/** A line of digits alone: where a record may start. */
export function isBpfInodeLine(line: string): boolean {
  return NUM.test(line.trim());
}

/**
 * The whole four-line records that start at `from` in `text` (at a line start; LF line ends):
 * distinct inodes, at least half of them, and at least one, with an exporter line. `lines`: how
 * many lines they take, 0 when they are not taken; `examined`: the lines of records read, taken
 * or not (no record starts inside a run that was not taken: kernel_captures skips them). Lets
 * kernel_captures (./captures.ts) tell this output apart inside a text of other captures,
 * reading ahead only as far as the records go, a record at a time.
 */
export function bpfRecordsAt(text: string, from: number): { lines: number; examined: number } {
  const inodes = new Set<string>();
  const rec: string[] = [];
  let at = from;
  let named = 0;
  for (;;) {
    rec.length = 0;
    while (rec.length < 4 && at <= text.length) {
      const nl = text.indexOf('\n', at);
      rec.push(text.slice(at, nl < 0 ? text.length : nl));
      at = nl < 0 ? text.length + 1 : nl + 1;
    }
    if (!isRecord((k) => rec[k])) break;
    const inode = rec[0].trim();
    if (inodes.has(inode)) break;
    inodes.add(inode);
    if (rec[3].trim() !== '') named++;
  }
  const examined = inodes.size * 4;
  return { lines: named > 0 && named * 2 >= inodes.size ? examined : 0, examined };
}

/** A line of the first selftest's one-line format (`ino:… size:… name:… exp_name:…`). */
export function isBpfOneLine(line: string): boolean {
  return ONE_LINE.test(line);
}

export const bpfIterImporter: TextImporter = {
  name: 'bpf_dmabuf_iter',
  description: 'BPF dmabuf iterator output (4 lines per buffer: inode, size, name, exporter)',

  sniff(head: string): boolean {
    const oneLine = head.split(/\r?\n/, 64).filter((l) => l.trim() !== '' && !isShellNoise(l));
    if (oneLine.length > 0 && oneLine.slice(0, -1).every((l) => ONE_LINE.test(l)) && ONE_LINE.test(oneLine[0])) return true;
    const all = head.replace(/\r/g, '').split('\n');
    if (all[all.length - 1] === '') all.pop();
    const lines = all.slice(preamble((k) => all[k]));
    // The head may end inside a record: judge whole records only.
    const whole = Math.floor(lines.length / 4);
    if (whole < 1) return false;
    const n = Math.min(whole, 64);
    let named = 0;
    for (let r = 0; r < n; r++) {
      const i = r * 4;
      if (!NUM.test(lines[i]) || !NUM.test(lines[i + 1])) return false;
      if (Number(lines[i]) <= 0) return false;
      const exp = lines[i + 3];
      // The exporter is a name, never a number; empty only as a producer error.
      if (exp === '') continue;
      if (!EXPORTER.test(exp)) return false;
      named++;
    }
    // Inodes of one capture are distinct.
    const inodes = new Set<string>();
    for (let r = 0; r < n; r++) inodes.add(lines[r * 4]);
    return named > 0 && named * 2 >= n && inodes.size === n;
  },

  importText(text: string, ctx: ImportContext): void {
    guarded(ctx, 'bpf_dmabuf_iter', (c) => importBpfIter(text, c));
  },
};

/** Lines before the first record: blank lines, a prompt, the command typed (at most a few). */
function preamble(line: (k: number) => string | undefined): number {
  let i = 0;
  for (let l = line(0); l !== undefined && i < 8 && (l.trim() === '' || isShellNoise(l)); l = line(i)) i++;
  const l = line(i);
  return l !== undefined && NUM.test(l.trim()) ? i : 0;
}

/** A line a terminal prints after the output: a prompt, or blank. */
function trailer(l: string): boolean {
  return l.trim() === '' || isShellNoise(l);
}

/**
 * The lines of a LineReader from line `i` (0-based) on, read ahead only as far as asked (a
 * record's four lines, the few before the first record), so that no array of all the lines is made.
 */
class Ahead {
  i = 0;
  private readonly held: string[] = [];

  constructor(private readonly lines: LineReader) {}

  /** Line `i + k`; undefined past the end. */
  at(k: number): string | undefined {
    while (this.held.length <= k) {
      const l = this.lines.next();
      if (l === undefined) return undefined;
      this.held.push(l);
    }
    return this.held[k];
  }

  /** Whether line `i + k` is there and whole (not a last line without its newline). */
  whole(k: number): boolean {
    if (this.at(k) === undefined) return false;
    return this.lines.complete || this.lines.more || k < this.held.length - 1;
  }

  /** Whether there is no line from `i` on. */
  get done(): boolean {
    return this.at(0) === undefined;
  }

  /** Move on by `n` lines. */
  skip(n: number): void {
    for (let k = 0; k < n; k++) if (this.held.shift() === undefined) this.lines.next();
    this.i += n;
  }

  /** Whether the lines from `i` on are only what a terminal prints after the output. */
  onlyTrailer(): boolean {
    return this.held.every(trailer) && this.lines.lookAhead((l) => !trailer(l)) === undefined;
  }

  /** The lines from `i` on (few: only at the end of the text), one a line. */
  rest(): string {
    while (this.at(this.held.length) !== undefined);
    return this.held.join('\n');
  }
}

function importBpfIter(text: string, ctx: ImportContext): void {
  const lines = new LineReader(text);
  const first = lines.lookAhead((l) => l.trim() !== '' && !isShellNoise(l));
  if (first !== undefined && ONE_LINE.test(first)) return importOneLine(lines, ctx);
  const w = new Ahead(lines);
  const line = (k: number) => w.at(k);
  w.skip(preamble(line));
  while (!w.done) {
    const i = w.i;
    if (w.whole(3) && isRecord(line)) {
      const exporter = w.at(3)!.trim();
      const name = w.at(2)!.trim();
      if (exporter === '') ctx.diag('warning', 'empty_exporter', `buffer ${w.at(0)!.trim()} has an empty exporter line`, i + 4);
      ctx.insert('dmabuf_observation', {
        line: i + 1,
        inode: toInt(w.at(0))!,
        size: toInt(w.at(1))!,
        size_exact: 1,
        exporter: exporter === '' ? null : exporter,
        name: name === '' ? null : name,
        file_count: null,
        global_list: 1,
      });
      w.skip(4);
      continue;
    }
    if (w.onlyTrailer()) break;
    if (!w.whole(3)) {
      // The last record, cut short.
      if (w.whole(0) && NUM.test(w.at(0)!.trim()) && Number(w.at(0)!.trim()) > 0) {
        const sizeWhole = w.whole(1) && NUM.test(w.at(1)!.trim());
        const nameWhole = w.whole(2);
        ctx.insert('dmabuf_observation', {
          line: i + 1,
          inode: toInt(w.at(0))!,
          size: sizeWhole ? toInt(w.at(1))! : null,
          size_exact: 1,
          exporter: null,
          name: nameWhole && w.at(2)!.trim() !== '' ? w.at(2)!.trim() : null,
          file_count: null,
          global_list: 1,
        });
        ctx.diag('warning', 'truncated', `BPF iterator output ends inside the record of buffer ${w.at(0)!.trim()}: kept with what it has`, i + 1);
      } else {
        ctx.diag('warning', 'truncated', `BPF iterator output ends inside a record (line ${i + 1}): ${excerpt(w.rest())}`, i + 1);
      }
      break;
    }
    // Out of step (a lost or extra line): skip to the next line that starts a record.
    w.skip(1);
    while (!w.done && !(w.whole(3) && isRecord(line))) w.skip(1);
    if (w.done) {
      ctx.diag('warning', 'malformed_row', `BPF iterator output out of step from line ${i + 1} to its end`, i + 1);
      break;
    }
    ctx.diag('warning', 'malformed_row', `BPF iterator output out of step: lines ${i + 1}–${w.i} skipped`, i + 1);
  }
}

/** The one-line-per-buffer format of the first selftest: `ino:%lu size:%llu name:%s exp_name:%s`. */
function importOneLine(lines: LineReader, ctx: ImportContext): void {
  for (let l = lines.next(); l !== undefined; l = lines.next()) {
    const lineNo = lines.count;
    if (l.trim() === '' || isShellNoise(l)) continue;
    const m = ONE_LINE.exec(l);
    const cut = !lines.more && !lines.complete;
    if (!m || cut) {
      ctx.diag('warning', cut ? 'truncated' : 'malformed_row', `not a BPF iterator line: ${excerpt(l)}`, lineNo);
      continue;
    }
    if (m[4] === '') ctx.diag('warning', 'empty_exporter', `buffer ${m[1]} has an empty exporter`, lineNo);
    ctx.insert('dmabuf_observation', {
      line: lineNo,
      inode: toInt(m[1])!,
      size: toInt(m[2])!,
      size_exact: 1,
      exporter: m[4] === '' ? null : m[4],
      name: m[3] === '' ? null : m[3],
      file_count: null,
      global_list: 1,
    });
  }
}
