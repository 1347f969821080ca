// Text ftrace / systrace captures: `cat /sys/kernel/tracing/trace`, `atrace` output, and the
// ftrace text embedded in a systrace HTML file. Lines look like (kernel/trace/trace_output.c,
// print_trace_header / trace_print_context):
//
//   <comm>-<tid> [(<tgid>)] [<cpu>] [<irq flags>] <seconds>.<micros>: <event>: <fields>
//   e.g. `  allocator@4.0-s-612   (  612) [003] ...1  1234.567890: dma_heap_stat: inode=123 len=4096B total_allocated=8192B`
//
// Events read (their TP_printk formats, ../shared/formats.md §6): `dma_heap_stat`
// (`inode=%lu len=%ldB total_allocated=%luB`), `dmabuf_rss_stat`, `ion_heap_grow`,
// `ion_heap_shrink`, `ion_stat`, `gpu_mem_total`, `binder_transaction`,
// `binder_transaction_received` — parsed as `key=value` pairs, so field order and the `B`
// suffix do not matter. Rows go to the same tables as the `perfetto` importer's.
// Captures can be large: the text is streamed line by line.
import type { ImportContext, ImportEnv, StreamImporter } from './types.js';
import { TraceSink } from './perfetto/sink.js';
import { add, negate, type Int64 } from './perfetto/wire.js';
import { guardedStream, headText, toInt } from './common.js';

/** An ftrace text line: comm, tid, tgid (optional column), cpu, seconds, fraction, event, payload. */
const LINE = /^\s*(.*?)-(\d+)\s+(?:\(\s*([\d-]+)\s*\)\s+)?\[(\d+)\]\s+(?:\S+\s+)?(\d+)\.(\d+):\s+([\w.-]+):\s?(.*)$/;
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
const KV = /([A-Za-z_]\w*)=([^\s,]*)/g;
/** Longest line read (ftrace lines are a few hundred bytes); the rest of a longer one is dropped. */
const MAX_LINE = 64 * 1024;

/** Content detection: an ftrace `# tracer:` header, or ftrace event lines. */
export function looksLikeFtraceText(head: string): boolean {
  if (/^(?:TRACE:\s*\n)?# tracer: /m.test(head.slice(0, 8192))) return true;
  let hits = 0;
  let lines = 0;
  for (const line of head.split('\n')) {
    if (++lines > 2000) break;
    if (LINE.test(line.replace(/\r$/, '')) && ++hits >= 2) return true;
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

/**
 * Lines (without their `\n`) of a UTF-8 byte stream, each scanned once: a line spanning chunks
 * is kept in pieces until its end arrives; beyond MAX_LINE characters the rest is dropped.
 */
class LineSplitter {
  private readonly decoder = new TextDecoder('utf-8');
  private readonly pieces: string[] = [];
  private pending = 0;
  cutLines = 0;
  private cutting = false;

  constructor(private readonly onLine: (line: string) => void) {}

  push(chunk: Uint8Array): void {
    this.text(this.decoder.decode(chunk, { stream: true }));
  }

  end(): void {
    this.text(this.decoder.decode());
    if (this.pending > 0 || this.pieces.length > 0) this.emit();
  }

  private text(t: string): void {
    let start = 0;
    for (;;) {
      const nl = t.indexOf('\n', start);
      if (nl < 0) break;
      this.keep(t, start, nl);
      this.emit();
      start = nl + 1;
    }
    this.keep(t, start, t.length);
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

  private emit(): void {
    const line = this.pieces.length === 1 ? this.pieces[0] : this.pieces.join('');
    this.pieces.length = 0;
    this.pending = 0;
    if (this.cutting) this.cutLines++;
    this.cutting = false;
    this.onLine(line);
  }
}

class TextTraceReader {
  private readonly sink: TraceSink;
  private line = 0;

  constructor(private readonly ctx: ImportContext) {
    this.sink = new TraceSink(ctx, 'systrace_text');
  }

  readLine(raw: string): void {
    this.line++;
    this.sink.packets++;
    const text = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (text.length === 0 || text.charCodeAt(0) === 0x23 /* # */ || !text.includes(']')) return;
    const m = LINE.exec(text);
    if (!m) return;
    this.sink.ftraceEvents++;
    const frac = m[6].length >= 9 ? m[6].slice(0, 9) : m[6].padEnd(9, '0');
    let ts: Int64 = Number(m[5]) * 1e9 + Number(frac);
    if (!Number.isSafeInteger(ts)) ts = BigInt(m[5]) * 1_000_000_000n + BigInt(frac);
    this.sink.noteTs(ts);
    const event = m[7];
    if (!EVENTS.has(event)) return;
    const tid = Number(m[2]);
    const tgid = m[3] !== undefined && /^\d+$/.test(m[3]) ? Number(m[3]) : null;
    const comm = m[1].trim();
    this.sink.thread(tid, tgid, comm && comm !== '<...>' ? comm : null);
    if (tgid !== null && tgid === tid && comm && comm !== '<...>') this.sink.process(tgid, { name: comm });
    const kv = new Map<string, string>();
    for (const f of m[8].matchAll(KV)) kv.set(f[1], f[2]);
    if (!this.event(event, kv, ts, tid)) this.bad(event, m[8]);
  }

  /** Store one event; false when its fields are missing or not numbers. */
  private event(event: string, kv: Map<string, string>, ts: Int64, tid: number): boolean {
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

  private bad(event: string, payload: string): void {
    this.ctx.diag('warning', 'malformed_event', `${event} event without the fields it needs: ${payload.slice(0, 200)}`, this.line);
  }

  finish(): void {
    this.sink.finish();
  }
}

export const systraceText: StreamImporter = {
  name: 'systrace_text',
  description: 'Text ftrace / systrace capture (trace file, atrace output, systrace HTML): dma_heap_stat, dmabuf_rss_stat, ION, GPU memory and binder lines',
  snapshotKind: 'trace',
  lines: true,

  sniffBytes(head: Uint8Array): boolean {
    const text = headText(head);
    return looksLikeFtraceText(text);
  },

  async importStream(chunks: AsyncIterable<Uint8Array>, ctx: ImportContext, _env: ImportEnv): Promise<void> {
    await guardedStream(ctx, 'systrace_text', async (capped) => {
      const reader = new TextTraceReader(capped);
      const lines = new LineSplitter((line) => reader.readLine(line));
      let bytes = 0;
      try {
        for await (const chunk of chunks) {
          bytes += chunk.length;
          lines.push(chunk);
        }
      } catch (e) {
        capped.diag('error', 'read_failed', `reading stopped after ${bytes} bytes: ${(e as Error).message}; the lines before were kept`);
      }
      lines.end();
      if (lines.cutLines > 0) {
        capped.diag('warning', 'long_line', `${lines.cutLines} lines longer than ${MAX_LINE} characters were cut to that length`);
      }
      reader.finish();
      capped.describe('systrace_text', bytes);
    });
  },
};
