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
import { excerpt, guarded, isShellNoise, splitLines, toInt } from '../common.js';

const NUM = /^\d+$/;
const ONE_LINE = /^\s*ino:(\d+) size:(\d+) name:(.*?) exp_name:(.*?)\s*$/;
// An exporter is a driver or heap name (`system`, `qcom,system`, `mali`, `i915`, `virtio-gpu`).
const EXPORTER = /^[A-Za-z_][\w.,:+\- ]*$/;

function isRecord(l: readonly string[], i: number): boolean {
  return (
    i + 3 < l.length &&
    NUM.test(l[i].trim()) &&
    NUM.test(l[i + 1].trim()) &&
    Number(l[i].trim()) > 0 &&
    (EXPORTER.test(l[i + 3].trim()) || l[i + 3].trim() === '')
  );
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
    if (!isRecord(rec, 0)) break;
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
    const lines = all.slice(preamble(all));
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
function preamble(lines: readonly string[]): number {
  let i = 0;
  while (i < lines.length && i < 8 && (lines[i].trim() === '' || isShellNoise(lines[i]))) i++;
  return i < lines.length && NUM.test(lines[i].trim()) ? i : 0;
}

/** Whether the lines from `i` on are only a prompt (or blank): what a terminal prints after the output. */
function onlyTrailer(lines: readonly string[], i: number): boolean {
  return lines.slice(i).every((l) => l.trim() === '' || isShellNoise(l));
}

function importBpfIter(text: string, ctx: ImportContext): void {
  const { lines, complete } = splitLines(text);
  const first = lines.find((l) => l.trim() !== '' && !isShellNoise(l));
  if (first !== undefined && ONE_LINE.test(first)) return importOneLine(lines, complete, ctx);
  // Lines known whole: all but a last line not followed by a newline.
  const wholeCount = complete ? lines.length : lines.length - 1;
  let lastNonBlank = lines.length - 1;
  while (lastNonBlank >= 0 && lines[lastNonBlank].trim() === '') lastNonBlank--;
  let i = preamble(lines);
  while (i < lines.length) {
    if (i + 3 < wholeCount && isRecord(lines, i)) {
      const exporter = lines[i + 3].trim();
      const name = lines[i + 2].trim();
      if (exporter === '') ctx.diag('warning', 'empty_exporter', `buffer ${lines[i].trim()} has an empty exporter line`, i + 4);
      ctx.insert('dmabuf_observation', {
        line: i + 1,
        inode: toInt(lines[i])!,
        size: toInt(lines[i + 1])!,
        size_exact: 1,
        exporter: exporter === '' ? null : exporter,
        name: name === '' ? null : name,
        file_count: null,
        global_list: 1,
      });
      i += 4;
      continue;
    }
    if (i > lastNonBlank || onlyTrailer(lines, i)) break;
    const rest = lines.length - i;
    if (rest < 4 || i + 3 >= wholeCount) {
      // The last record, cut short.
      if (i < wholeCount && NUM.test(lines[i].trim()) && Number(lines[i].trim()) > 0) {
        const sizeWhole = i + 1 < wholeCount && NUM.test(lines[i + 1].trim());
        const nameWhole = i + 2 < wholeCount;
        ctx.insert('dmabuf_observation', {
          line: i + 1,
          inode: toInt(lines[i])!,
          size: sizeWhole ? toInt(lines[i + 1])! : null,
          size_exact: 1,
          exporter: null,
          name: nameWhole && lines[i + 2].trim() !== '' ? lines[i + 2].trim() : null,
          file_count: null,
          global_list: 1,
        });
        ctx.diag('warning', 'truncated', `BPF iterator output ends inside the record of buffer ${lines[i].trim()}: kept with what it has`, i + 1);
      } else {
        ctx.diag('warning', 'truncated', `BPF iterator output ends inside a record (line ${i + 1}): ${excerpt(lines.slice(i).join('\n'))}`, i + 1);
      }
      break;
    }
    // Out of step (a lost or extra line): skip to the next line that starts a record.
    let j = i + 1;
    while (j < lines.length && !(j + 3 < wholeCount && isRecord(lines, j))) j++;
    if (j >= lines.length) {
      ctx.diag('warning', 'malformed_row', `BPF iterator output out of step from line ${i + 1} to its end`, i + 1);
      break;
    }
    ctx.diag('warning', 'malformed_row', `BPF iterator output out of step: lines ${i + 1}–${j} skipped`, i + 1);
    i = j;
  }
}

/** The one-line-per-buffer format of the first selftest: `ino:%lu size:%llu name:%s exp_name:%s`. */
function importOneLine(lines: string[], complete: boolean, ctx: ImportContext): void {
  for (let i = 0; i < lines.length; i++) {
    if (lines[i].trim() === '' || isShellNoise(lines[i])) continue;
    const m = ONE_LINE.exec(lines[i]);
    const cut = i === lines.length - 1 && !complete;
    if (!m || cut) {
      ctx.diag('warning', cut ? 'truncated' : 'malformed_row', `not a BPF iterator line: ${excerpt(lines[i])}`, i + 1);
      continue;
    }
    if (m[4] === '') ctx.diag('warning', 'empty_exporter', `buffer ${m[1]} has an empty exporter`, i + 1);
    ctx.insert('dmabuf_observation', {
      line: i + 1,
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
