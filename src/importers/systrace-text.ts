// Text ftrace / systrace captures: `cat /sys/kernel/tracing/trace`, `trace_pipe`, `atrace`
// output, and the ftrace text a systrace HTML file or a JSON trace carries. Lines look like
// (kernel/trace/trace_output.c, print_trace_header / trace_print_context):
//
//   <comm>-<tid> [(<tgid>)] [<cpu>] [<irq flags>] <seconds>.<micros>: <event>: <fields>
//   e.g. `  allocator@4.0-s-612   (  612) [003] ...1  1234.567890: dma_heap_stat: inode=123 len=4096B total_allocated=8192B`
//
// Events read (their TP_printk formats, ../shared/formats.md §6): `dma_heap_stat`
// (`inode=%lu len=%ldB total_allocated=%luB`), `dmabuf_rss_stat`, `ion_heap_grow`,
// `ion_heap_shrink`, `ion_stat`, `gpu_mem_total`, `binder_transaction`,
// `binder_transaction_received` — parsed as `key=value` pairs, so field order and the `B`
// suffix do not matter. Rows go to the same tables as the `perfetto` importer's.
//
// Containers of the text:
// - systrace HTML (catapult's systrace.py): megabytes of trace viewer, then one
//   `<script class="trace-data" …>` block per tracing agent: the atrace text, a `PROCESS DUMP`
//   (`ps` output: process names and thread → process), JSON. Only the blocks are read.
// - a JSON trace (chrome://tracing format, as `traceconv json` and Perfetto's "open with legacy
//   UI" write it): the ftrace text is the string `systemTraceEvents`, the `PROCESS DUMP` the
//   string `androidProcessDump`; a JSON block of a systrace HTML file is read the same way.
// Lines the kernel writes when its ring buffer overran (`CPU:2 [LOST 120 EVENTS]`,
// `##### CPU 2 buffer started ####`, an `entries-in-buffer/entries-written` header whose counts
// differ) are counted as lost-event reports, as a Perfetto bundle's `lost_events` is.
// Captures can be large: the text is streamed line by line.
import type { ImportContext, ImportEnv, StreamImporter } from './types.js';
import { TraceSink } from './perfetto/sink.js';
import { add, negate, type Int64 } from './perfetto/wire.js';
import { guardedStream, headText, toInt } from './common.js';

/** An ftrace text line: comm, tid, tgid (optional column), cpu, seconds, fraction, event, payload. */
const LINE = /^\s*(\S.*?)?-(\d+)\s+(?:\(\s*([\d-]+)\s*\)\s+)?\[(\d+)\]\s+(?:\S+\s+)?(\d+)\.(\d+):\s+([\w.-]+):\s?(.*)$/;
const EVENTS = new Set([
  'dma_heap_stat',
  'dmabuf_rss_stat',
  'ion_heap_grow',
  'ion_heap_shrink',
  'ion_stat',
  'gpu_mem_total',
  'binder_transaction',
  'binder_transaction_received',
]);
/** One of EVENTS named as an event line names it (`: dma_heap_stat: `). */
const OUR_EVENT_NAMED = /:\s(dma_heap_stat|dmabuf_rss_stat|ion_heap_grow|ion_heap_shrink|ion_stat|gpu_mem_total|binder_transaction|binder_transaction_received):\s/;
const KV = /([A-Za-z_]\w*)=([^\s,]*)/g;
/** Longest line a sniff tries as an event line. */
const MAX_SNIFF_LINE = 4096;
/** Longest line read (ftrace lines are a few hundred bytes); the rest of a longer one is dropped. */
const MAX_LINE = 64 * 1024;
/** Task names that name no one: the kernel's for a pid whose comm it no longer has, traceconv's for a thread it never named. */
const NO_NAME = new Set(['<...>', '<unknown>']);
/** Ring buffer overrun reports (kernel/trace/trace.c, print_trace_line and the annotate mode of `trace`). */
const LOST = /^CPU:\s*\d+ \[LOST (?:\d+ )?EVENTS\]/;
const BUFFER_STARTED = /^#+ CPU \d+ buffer started/;
const ENTRIES = /^# entries-in-buffer\/entries-written: (\d+)\/(\d+)/;
/** The first line of a systrace HTML file (catapult's prefix.html: `<!DOCTYPE HTML>`), or of any HTML. */
const HTML_START = /^\s*<(?:!doctype\s+html|html)\b/i;
/** What a systrace HTML file's head shows (its title; the trace viewer's timeline element). */
const SYSTRACE_HTML = /<title>Android System Trace<\/title>|tr-ui-timeline-view|class=["']trace-data["']/;
/** The opening tag of a trace-data block of a systrace HTML file. */
const TRACE_DATA = /<script\b[^>]*\bclass=["']trace-data["'][^>]*>/;
/** A JSON trace (chrome://tracing's object form) that may carry ftrace text. */
const JSON_TRACE = /"(?:traceEvents|systemTraceEvents)"\s*:/;
/** Strings of a JSON trace that hold trace text: ftrace text and `ps` output. */
const JSON_TEXT_KEYS = new Set(['systemTraceEvents', 'androidProcessDump']);

/**
 * Content detection: an ftrace `# tracer:` header, ftrace event lines, a systrace HTML file (its
 * trace data comes after the trace viewer, megabytes in), or a JSON trace.
 */
export function looksLikeFtraceText(head: string): boolean {
  if (/^(?:TRACE:\s*\n)?# tracer: /m.test(head.slice(0, 8192))) return true;
  if (HTML_START.test(head.slice(0, 1024)) && SYSTRACE_HTML.test(head)) return true;
  if (/^\s*\{/.test(head) && JSON_TRACE.test(head)) return true;
  let hits = 0;
  let lines = 0;
  for (const line of head.split('\n')) {
    if (++lines > 2000) break;
    // An event line is short and holds its CPU in brackets: longer lines (a page of HTML or JSON) are not tried.
    if (line.length <= MAX_SNIFF_LINE && line.includes(']') && LINE.test(line.replace(/\r$/, '')) && ++hits >= 2) return true;
  }
  return false;
}

/** `123`, `-45`, `4096B`, `0x1f` → number (or bigint when beyond 2^53); undefined when not a number. */
function num(v: string | undefined): Int64 | undefined {
  if (v === undefined) return undefined;
  const s = v.endsWith('B') ? v.slice(0, -1) : v;
  const decimal = toInt(s);
  if (decimal !== undefined) return decimal;
  if (/^0x[0-9a-f]+$/i.test(s)) {
    const n = Number.parseInt(s.slice(2), 16);
    return Number.isSafeInteger(n) ? n : BigInt(s);
  }
  return undefined;
}

/** A line handler: the line (without its `\n`), whether it was cut to MAX_LINE, whether a line end ended it. */
type OnLine = (line: string, cut: boolean, ended: boolean) => void;

/**
 * Lines (without their `\n`) of a UTF-8 byte stream or of text, each scanned once: a line
 * spanning chunks is kept in pieces until its end arrives; beyond MAX_LINE characters the rest
 * is dropped. Where the line handler asks for it (`jsonNext`), the first character that is not
 * blank is offered to `startJson`: a JSON document starting there is not split into lines but
 * handed whole to the scanner it returns, and lines go on after its end.
 */
class LineSplitter {
  private readonly decoder = new TextDecoder('utf-8');
  private readonly pieces: string[] = [];
  private pending = 0;
  private cutting = false;
  /** Set by the line handler: a JSON document may start at the next character that is not blank. */
  jsonNext = false;
  private json: JsonTraceStrings | null = null;

  constructor(
    private readonly onLine: OnLine,
    private readonly startJson?: (first: number) => JsonTraceStrings | null,
  ) {}

  push(chunk: Uint8Array): void {
    this.text(this.decoder.decode(chunk, { stream: true }));
  }

  /** The stream ended; `cut`: before its end (a line it ends inside is then dropped, not handed over). */
  end(cut = false): void {
    this.text(this.decoder.decode());
    if (this.json) {
      this.json.end();
      this.json = null;
    } else if (cut) {
      this.pieces.length = 0;
      this.pending = 0;
      this.cutting = false;
    } else if (this.pending > 0 || this.pieces.length > 0) {
      this.emit(false);
    }
  }

  /** Text of the stream, as it comes. */
  text(t: string): void {
    let start = 0;
    while (start < t.length) {
      if (this.json) {
        const end = this.json.push(t, start);
        if (end < 0) return;
        this.json = null;
        start = end;
        continue;
      }
      if (this.jsonNext && this.startJson) {
        start = this.blank(t, start);
        if (start === t.length) return;
        this.jsonNext = false;
        this.json = this.startJson(t.charCodeAt(start));
        continue;
      }
      const nl = t.indexOf('\n', start);
      if (nl < 0) {
        this.keep(t, start, t.length);
        return;
      }
      this.keep(t, start, nl);
      this.emit(true);
      start = nl + 1;
    }
  }

  /** Skip blank characters from `t[s]` (each line end a blank line handed over); returns where the others start. */
  private blank(t: string, s: number): number {
    for (; s < t.length; s++) {
      const c = t.charCodeAt(s);
      if (c === 0x0a) {
        this.keep(t, s, s);
        this.emit(true);
      } else if (c !== 0x20 && c !== 0x09 && c !== 0x0d) {
        break;
      }
    }
    return s;
  }

  /** Add `t[s..e)` to the line being assembled, up to MAX_LINE characters. */
  private keep(t: string, s: number, e: number): void {
    const room = MAX_LINE - this.pending;
    if (e - s > room) {
      this.cutting = true;
      e = s + Math.max(0, room);
    }
    if (e > s) {
      this.pieces.push(t.slice(s, e));
      this.pending += e - s;
    }
  }

  private emit(ended: boolean): void {
    const line = this.pieces.length === 1 ? this.pieces[0] : this.pieces.join('');
    this.pieces.length = 0;
    this.pending = 0;
    const cut = this.cutting;
    this.cutting = false;
    this.onLine(line, cut, ended);
  }
}

/**
 * A streaming scan of a JSON document for the strings of a trace that hold trace text (the
 * values of the top-level keys JSON_TEXT_KEYS), handed over unescaped as they come; the rest of
 * the document (a chrome://tracing `traceEvents` array may be most of it) is skipped. Line ends
 * in the document (outside strings: inside, JSON escapes them) are counted.
 */
class JsonTraceStrings {
  /** Line ends of the document seen so far. */
  newlines = 0;
  private depth = 0;
  private inString = false;
  /** What the string being read is: a top-level key, the trace text of one, or neither. */
  private role: 'key' | 'text' | 'skip' = 'skip';
  /** At depth 1 of an object, the next string is a key. */
  private keyNext = false;
  private key = '';
  /** An escape sequence cut by a chunk boundary, as far as it came. */
  private escape = '';
  private readonly special = /["\\]/g;

  constructor(
    /** A text string starts (`key`: its key), goes on, ends (`whole`: its closing quote was seen). */
    private readonly onStart: (key: string) => void,
    private readonly onText: (t: string) => void,
    private readonly onEnd: (whole: boolean) => void,
  ) {}

  /** Scan `t` from `s`; returns where the document ends in it (-1: past its end). */
  push(t: string, s: number): number {
    let i = s;
    while (i < t.length) {
      if (this.inString) {
        i = this.stringPart(t, i);
        continue;
      }
      const c = t.charCodeAt(i++);
      if (c === 0x22 /* " */) {
        this.openString();
      } else if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
        this.depth++;
        this.keyNext = c === 0x7b && this.depth === 1;
      } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
        if (--this.depth <= 0) return i;
      } else if (c === 0x2c /* , */) {
        if (this.depth === 1) this.keyNext = true;
      } else if (c === 0x0a) {
        this.newlines++;
      }
    }
    return -1;
  }

  /** The document ended before its end. */
  end(): void {
    if (this.inString && this.role === 'text') this.onEnd(false);
  }

  private openString(): void {
    this.inString = true;
    if (this.depth === 1 && this.keyNext) {
      this.role = 'key';
      this.keyNext = false;
      this.key = '';
    } else if (this.depth === 1 && JSON_TEXT_KEYS.has(this.key)) {
      this.role = 'text';
      this.onStart(this.key);
    } else {
      this.role = 'skip';
    }
  }

  /** Read the string from `t[i]` up to its end or the end of `t`; returns where it stopped. */
  private stringPart(t: string, i: number): number {
    if (this.escape !== '') return this.escapePart(t, i);
    this.special.lastIndex = i;
    const m = this.special.exec(t);
    const at = m ? m.index : t.length;
    if (at > i) this.content(t.slice(i, at));
    if (!m) return t.length;
    if (t.charCodeAt(at) === 0x22) {
      this.inString = false;
      if (this.role === 'text') this.onEnd(true);
      return at + 1;
    }
    this.escape = '\\';
    return this.escapePart(t, at + 1);
  }

  /** Complete the escape sequence begun (`\n`, `\"`, `\u00e9`…) from `t[i]`; returns where it stopped. */
  private escapePart(t: string, i: number): number {
    while (i < t.length) {
      this.escape += t[i++];
      const e = this.escape;
      if (e.length === 2 && e[1] !== 'u') {
        this.content(ESCAPES[e[1]] ?? e[1]);
        this.escape = '';
        return i;
      }
      if (e.length === 6) {
        const code = Number.parseInt(e.slice(2), 16);
        this.content(Number.isNaN(code) ? '' : String.fromCharCode(code));
        this.escape = '';
        return i;
      }
    }
    return i;
  }

  private content(text: string): void {
    if (this.role === 'text') this.onText(text);
    else if (this.role === 'key' && this.key.length < 64) this.key += text;
  }
}

/** JSON's one-character escapes. */
const ESCAPES: Record<string, string> = { n: '\n', t: '\t', r: '\r', b: '\b', f: '\f', '/': '/', '\\': '\\', '"': '"' };

/**
 * What the reader reads of a `ps` dump (`PROCESS DUMP`, systrace's android_process_data agent:
 * `ps -A -o USER,PID,PPID,VSIZE,RSS,WCHAN,ADDR=PC,S,NAME,COMM && ps -AT -o USER,PID,TID,CMD`):
 * the process table (`long`) or the thread table (`short`).
 */
type DumpTable = 'long' | 'short' | null;
/** The CMD column of a `ps` dump's thread table: what follows USER, PID and TID. */
const DUMP_THREAD_NAME = /^\s*\S+\s+\S+\s+\S+\s+(.*)$/;

class TextTraceReader {
  private readonly sink: TraceSink;
  /** Lines of the input read. */
  private line = 0;
  /** Where the input stands: before its first line, a text capture, a systrace HTML file. */
  private doc: 'start' | 'text' | 'html' = 'start';
  /** Inside a trace-data block of an HTML file. */
  private inBlock = false;
  /** Inside a `PROCESS DUMP` (to the end of its block or string), and which of its tables. */
  private inDump = false;
  private dumpTable: DumpTable = null;
  /** Threads whose process an event line's TGID column gave (a `ps` dump does not override it). */
  private readonly tgidFromLine = new Set<number>();
  /** Processes a `ps` dump named (its NAME, the full `argv[0]`, wins over a 15-character comm). */
  private readonly namedByDump = new Set<number>();
  /** The JSON document being read, and the input line it started on. */
  private json: JsonTraceStrings | null = null;
  private jsonLine = 0;
  private readonly inner = new LineSplitter((line, cut, ended) => this.textLine(line, cut, ended, this.jsonLine + (this.json?.newlines ?? 0)));
  private readonly outer = new LineSplitter(
    (line, cut, ended) => this.readLine(line, cut, ended),
    (first) => this.startJson(first),
  );
  /** Trace lines read that were longer than MAX_LINE, cut to it. */
  cutLines = 0;
  /** Reports of lost events: `CPU:n [LOST …]` and `buffer started` lines, a header whose counts differ. */
  private overwritten = 0;

  constructor(private readonly ctx: ImportContext) {
    this.sink = new TraceSink(ctx, 'systrace_text');
    this.outer.jsonNext = true;
  }

  push(chunk: Uint8Array): void {
    this.outer.push(chunk);
  }

  /** The input ended: read what is left of it. */
  end(): void {
    this.outer.end();
  }

  /** Write what waits, the trace_info row and the reports of lost events. */
  finish(): void {
    this.sink.lostEventBundles = this.overwritten;
    this.sink.finish();
  }

  /**
   * A scanner for the JSON document starting with character `first` at the start of the input (a
   * JSON trace is an object) or of a trace-data block (any JSON); null when none starts there.
   */
  private startJson(first: number): JsonTraceStrings | null {
    if (first !== 0x7b /* { */ && !(first === 0x5b /* [ */ && this.inBlock)) return null;
    this.jsonLine = this.line + 1;
    const json = new JsonTraceStrings(
      () => {
        this.inDump = false;
      },
      (t) => this.inner.text(t),
      (whole) => {
        this.inner.end(!whole);
        this.inDump = false;
        if (!whole) this.ctx.diag('warning', 'truncated', 'the input ends inside the trace text of a JSON trace: every whole line before was read', this.jsonLine + json.newlines);
      },
    );
    this.json = json;
    return json;
  }

  /** A line of the input. */
  private readLine(raw: string, cut: boolean, ended: boolean): void {
    if (this.json) {
      // The JSON document before this line ended: count its lines.
      this.line = this.jsonLine + this.json.newlines - 1;
      this.json = null;
    }
    this.line++;
    const text = trimCr(raw);
    if (this.doc === 'start') {
      if (text.trim() === '') return;
      this.doc = HTML_START.test(text) ? 'html' : 'text';
    }
    if (this.doc === 'html') this.htmlLine(text, cut, ended);
    else this.textLine(text, cut, ended, this.line);
  }

  /** A line of an HTML file: only the trace-data blocks hold trace text. */
  private htmlLine(text: string, cut: boolean, ended: boolean): void {
    if (!this.inBlock) {
      const open = TRACE_DATA.exec(text);
      if (!open) return;
      this.inBlock = true;
      this.inDump = false;
      // The block may hold JSON rather than text.
      this.outer.jsonNext = true;
      const rest = text.slice(open.index + open[0].length);
      if (rest.trim() !== '') this.htmlLine(rest, cut, ended);
      return;
    }
    const close = text.indexOf('</script>');
    if (close < 0) {
      this.textLine(text, cut, ended, this.line);
      return;
    }
    const before = text.slice(0, close);
    if (before.trim() !== '') this.textLine(before, cut, true, this.line);
    this.inBlock = false;
    this.inDump = false;
  }

  /** A line of trace text (`line`: its input line, for diagnostics). */
  private textLine(text: string, cut: boolean, ended: boolean, line: number): void {
    text = trimCr(text);
    this.sink.packets++;
    if (cut) this.cutLines++;
    if (text.length === 0) return;
    const first = text.charCodeAt(0);
    if (first === 0x23 /* # */) {
      this.comment(text);
      return;
    }
    if (first === 0x50 /* P */ && text.startsWith('PROCESS DUMP')) {
      this.inDump = true;
      this.dumpTable = null;
      return;
    }
    if (first === 0x43 /* C */ && LOST.test(text)) {
      this.overwritten++;
      return;
    }
    const m = text.includes(']') ? LINE.exec(text) : null;
    if (!m) {
      if (this.inDump) this.dumpLine(text);
      else this.unreadable(text, line);
      return;
    }
    this.event(m, ended, line);
  }

  /** A line that is not an event line: reported when it names an event of ours (its task, CPU or time are unreadable). */
  private unreadable(text: string, line: number): void {
    const named = OUR_EVENT_NAMED.exec(text);
    if (named) this.ctx.diag('warning', 'malformed_event', `${named[1]} line without a readable task, CPU or time: ${text.trim().slice(0, 200)}`, line);
  }

  /** A `#` line: the header's entry counts, a CPU whose older events were overwritten. */
  private comment(text: string): void {
    if (BUFFER_STARTED.test(text)) {
      this.overwritten++;
      return;
    }
    const entries = ENTRIES.exec(text);
    if (entries && Number(entries[2]) > Number(entries[1])) this.overwritten++;
  }

  /** An ftrace event line, matched by LINE. */
  private event(m: RegExpExecArray, ended: boolean, line: number): void {
    this.sink.ftraceEvents++;
    const frac = m[6].length >= 9 ? m[6].slice(0, 9) : m[6].padEnd(9, '0');
    let ts: Int64 = Number(m[5]) * 1e9 + Number(frac);
    if (!Number.isSafeInteger(ts)) ts = BigInt(m[5]) * 1_000_000_000n + BigInt(frac);
    this.sink.noteTs(ts);
    const event = m[7];
    if (!EVENTS.has(event)) return;
    if (!ended) {
      // The input ends inside this line: its last field may be cut (`total_allocated=163` of `…=16384B`).
      this.ctx.diag('warning', 'truncated', `the input ends inside a line, which was not read: ${m[0].trim().slice(0, 200)}`, line);
      return;
    }
    const tid = Number(m[2]);
    const tgid = m[3] !== undefined && /^\d+$/.test(m[3]) ? Number(m[3]) : null;
    const comm = (m[1] ?? '').trim();
    const named = comm !== '' && !NO_NAME.has(comm);
    if (tgid !== null) this.tgidFromLine.add(tid);
    this.sink.thread(tid, tgid, named ? comm : null);
    // A main thread's comm names its process, unless a `ps` dump gave the full name.
    if (tgid !== null && tgid === tid && named && !this.namedByDump.has(tgid)) this.sink.process(tgid, { name: comm });
    const kv = new Map<string, string>();
    for (const f of m[8].matchAll(KV)) kv.set(f[1], f[2]);
    if (!this.store(event, kv, ts, tid)) this.bad(event, m[8], line);
  }

  /**
   * A line of a `ps` dump: a table header, a process (USER PID PPID VSZ RSS WCHAN PC S NAME
   * COMM: its name, the full one of its main thread's `argv[0]`) or a thread (USER PID TID CMD:
   * its process, unless an event line's TGID column gave it, and its name).
   */
  private dumpLine(text: string): void {
    const tokens = text.trim().split(/\s+/);
    if (tokens[0] === 'USER' && tokens[1] === 'PID') {
      this.dumpTable = tokens[2] === 'PPID' ? 'long' : tokens[2] === 'TID' ? 'short' : null;
      return;
    }
    const a = toInt(tokens[1]);
    const b = toInt(tokens[2]);
    if (typeof a !== 'number' || typeof b !== 'number' || a <= 0) return;
    if (this.dumpTable === 'long' && tokens.length >= 10) {
      this.sink.process(a, { name: tokens[8], ppid: b });
      this.namedByDump.add(a);
    } else if (this.dumpTable === 'short' && tokens.length >= 4 && b > 0) {
      // The thread name may hold spaces: it is the rest of the line.
      const name = DUMP_THREAD_NAME.exec(text)?.[1].trim();
      this.sink.thread(b, this.tgidFromLine.has(b) ? null : a, name || null);
    }
  }

  /** Store one event; false when its fields are missing or not numbers. */
  private store(event: string, kv: Map<string, string>, ts: Int64, tid: number): boolean {
    const sink = this.sink;
    switch (event) {
      case 'dma_heap_stat': {
        const len = num(kv.get('len'));
        if (len === undefined) return false;
        sink.dmaHeap(ts, tid, num(kv.get('inode')) ?? 0, len, num(kv.get('total_allocated')) ?? null);
        return true;
      }
      case 'dmabuf_rss_stat': {
        const rss = num(kv.get('rss'));
        if (rss === undefined) return false;
        sink.rssEvent(ts, tid, rss, num(kv.get('rss_delta') ?? kv.get('delta')) ?? null, num(kv.get('i_ino') ?? kv.get('inode')) ?? null);
        return true;
      }
      case 'ion_heap_grow':
      case 'ion_heap_shrink': {
        const len = num(kv.get('len'));
        if (len === undefined) return false;
        const grow = event === 'ion_heap_grow';
        const delta = grow ? len : negate(len);
        const reported = num(kv.get('total_allocated'));
        const total = reported === undefined ? null : add(reported, delta);
        sink.ion(ts, tid, grow ? 'ion_heap_grow' : 'ion_heap_shrink', kv.has('heap_name') ? kv.get('heap_name')! : null, null, delta, total, reported ?? null);
        return true;
      }
      case 'ion_stat': {
        const len = num(kv.get('len'));
        if (len === undefined) return false;
        const total = num(kv.get('total_allocated')) ?? null;
        const id = num(kv.get('buffer_id'));
        sink.ion(ts, tid, 'ion_stat', null, id === undefined ? null : Number(id), len, total, total);
        return true;
      }
      case 'gpu_mem_total': {
        const size = num(kv.get('size'));
        if (size === undefined) return false;
        const gpu = num(kv.get('gpu_id'));
        sink.gpuMemTotal(ts, gpu === undefined ? null : Number(gpu), Number(num(kv.get('pid')) ?? 0), size, 'gpu_mem_total');
        return true;
      }
      case 'binder_transaction': {
        const id = num(kv.get('transaction'));
        if (id === undefined) return false;
        const reply = num(kv.get('reply'));
        const flags = num(kv.get('flags'));
        const proc = num(kv.get('dest_proc'));
        const thread = num(kv.get('dest_thread'));
        sink.binderTransaction(
          ts,
          tid,
          Number(id),
          reply !== undefined && Number(reply) !== 0 ? 1 : 0,
          flags === undefined ? 0 : Number(flags),
          proc === undefined ? null : Number(proc),
          thread === undefined ? null : Number(thread),
        );
        return true;
      }
      case 'binder_transaction_received': {
        const id = num(kv.get('transaction'));
        if (id === undefined) return false;
        sink.binderReceived(ts, tid, Number(id));
        return true;
      }
    }
    return true;
  }

  private bad(event: string, payload: string, line: number): void {
    this.ctx.diag('warning', 'malformed_event', `${event} event without the fields it needs: ${payload.slice(0, 200)}`, line);
  }
}

/** A line without the CRs before its end (a terminal's CR LF; adb on Windows writes CR CR LF). */
function trimCr(line: string): string {
  let e = line.length;
  while (e > 0 && line.charCodeAt(e - 1) === 0x0d) e--;
  return e === line.length ? line : line.slice(0, e);
}

export const systraceText: StreamImporter = {
  name: 'systrace_text',
  description: 'Text ftrace / systrace capture (trace file, trace_pipe, atrace output, systrace HTML, JSON trace with systemTraceEvents): dma_heap_stat, dmabuf_rss_stat, ION, GPU memory and binder lines',
  snapshotKind: 'trace',
  lines: true,

  sniffBytes(head: Uint8Array): boolean {
    const text = headText(head);
    return looksLikeFtraceText(text);
  },

  async importStream(chunks: AsyncIterable<Uint8Array>, ctx: ImportContext, _env: ImportEnv): Promise<void> {
    await guardedStream(ctx, 'systrace_text', async (capped) => {
      const reader = new TextTraceReader(capped);
      let bytes = 0;
      try {
        for await (const chunk of chunks) {
          bytes += chunk.length;
          reader.push(chunk);
        }
      } catch (e) {
        capped.diag('error', 'read_failed', `reading stopped after ${bytes} bytes: ${(e as Error).message}; the lines before were kept`);
      }
      reader.end();
      if (reader.cutLines > 0) {
        capped.diag('warning', 'long_line', `${reader.cutLines} lines longer than ${MAX_LINE} characters were cut to that length`);
      }
      reader.finish();
      capped.describe('systrace_text', bytes);
    });
  },
};
