// Decodes Perfetto `TracePacket`s into trace-table rows. Field numbers: ../shared/formats.md
// §6 and proto/perfetto_trimmed.proto (upstream: google/perfetto protos/perfetto/trace/).
//
// The hot path — ftrace bundles, which are nearly all of a trace's bytes — is a walk in
// WebAssembly (walker.ts, bundle.wat) that reads each FtraceEvent's timestamp, pid and
// event-field tag, decodes the usual dma_heap_stat and binder events itself and hands over the
// other few events we store, decoded here with a hand-rolled wire reader (wire.ts); every other
// event, and each bundle's `compact_sched`, is skipped by its length without being
// materialized. Where the trace worker reads the file into the walk's memory, whole packets of
// bundles are walked there too (`packets`), and only the others come here one by one. The process tree, the first packet of nearly every trace,
// is read with the same reader (protobufjs and the schema would otherwise be loaded before the
// first event is decoded). Rare packets (process stats, sys stats, GPU totals, generic events)
// are decoded with protobufjs against the trimmed schema.
import zlib from 'node:zlib';
import type { ImportContext } from '../types.js';
import { add, Cursor, negate, toNumber, WT_LEN, WT_VARINT, type Int64 } from './wire.js';
import type protobuf from 'protobufjs';
import { longValue, perfettoTypes, type PerfettoTypes } from './proto.js';
import type { FtraceCpuCounters, ServiceLoss, TraceSink } from './sink.js';
import { PacketFramer } from './framer.js';
import { zstdBound } from './zstd.js';
import { BundleWalker, ROW_VALUES, type BundleReader } from './walker.js';

// TracePacket fields.
const P_FTRACE_EVENTS = 1;
const P_PROCESS_TREE = 2;
const P_SYS_STATS = 7;
const P_TIMESTAMP = 8;
const P_PROCESS_STATS = 9;
const P_TRUSTED_SEQUENCE_ID = 10;
const P_FTRACE_STATS = 34;
const P_TRACE_STATS = 35;
const P_PREVIOUS_PACKET_DROPPED = 42;
const P_COMPRESSED = 50;
const P_GPU_MEM_TOTAL = 71;
const P_ZSTD_COMPRESSED = 133;
// FtraceEventBundle fields.
const B_LOST_EVENTS = 3;
// FtraceEvent fields.
const E_TIMESTAMP = 1;
const E_PID = 2;
const E_BINDER_TRANSACTION = 50;
const E_BINDER_RECEIVED = 51;
const E_TASK_NEWTASK = 235;
const E_TASK_RENAME = 236;
const E_SCHED_PROCESS_FREE = 240;
const E_ION_HEAP_SHRINK = 314;
const E_ION_HEAP_GROW = 315;
const E_GENERIC = 327;
const E_ION_STAT = 335;
const E_GPU_MEM_TOTAL = 340;
const E_DMA_HEAP_STAT = 351;
const E_DMABUF_RSS_STAT = 579;
/** First byte of FtraceEvent.timestamp and pid. */
const TS_TAG = (E_TIMESTAMP << 3) | WT_VARINT;
const PID_TAG = (E_PID << 3) | WT_VARINT;
/** FtraceEvent payload fields we decode (1 = ours), indexed by field number (those of a 2-byte tag). */
const OUR_EVENTS = new Uint8Array(2048);
for (const f of [
  E_DMA_HEAP_STAT,
  E_DMABUF_RSS_STAT,
  E_ION_HEAP_GROW,
  E_ION_HEAP_SHRINK,
  E_ION_STAT,
  E_GPU_MEM_TOTAL,
  E_BINDER_TRANSACTION,
  E_BINDER_RECEIVED,
  E_TASK_NEWTASK,
  E_TASK_RENAME,
  E_SCHED_PROCESS_FREE,
  E_GENERIC,
]) OUR_EVENTS[f] = 1;
// sys_stats MeminfoCounters we keep.
const MEMINFO_KEYS: Record<number, string> = { 34: 'GPU', 37: 'ION_HEAP', 38: 'ION_HEAP_POOL' };

/** clone(2) flag: the new task is a thread of its creator's process (kernel sched.h). */
const CLONE_THREAD = 0x10000;
/** Largest decompressed size accepted for one compressed packet. */
const MAX_INFLATED = 256 * 1024 * 1024;

/**
 * zlib options for one compressed packet: output buffers large enough for the usual ratio, so
 * that node does not inflate in 16 KiB pieces and concatenate them.
 */
function inflateOptions(bytes: Uint8Array): zlib.ZlibOptions {
  const guess = Math.min(16 * 1024 * 1024, Math.max(64 * 1024, bytes.length * 4));
  return { maxOutputLength: MAX_INFLATED, chunkSize: guess };
}

/** Thrown inside the decoder for a malformed packet; caught per packet (any other exception is a bug and propagates). */
class Malformed extends Error {}

const BUNDLE_OVERRUN = 'ftrace event runs past its bundle';

/** A packet waiting for earlier compressed packets, or compressed packets being decompressed. */
type Queued =
  | { buf: Uint8Array; start: number; end: number; offset: number }
  | { inflating: Promise<Uint8Array | Error>; bytes: Uint8Array; kind: 'zlib' | 'zstd' };

/** The walker of this thread's decoders that are not given one (a walk is synchronous: they can share). */
let sharedWalker: BundleWalker | undefined;

/**
 * A walker of ftrace bundles for `PerfettoDecoder`, with `regionBytes` of memory to read a trace
 * into (and, for tests, `scratchBytes` of scratch area).
 */
export function bundleWalker(regionBytes: number, scratchBytes?: number): BundleWalker {
  return new BundleWalker(OUR_EVENTS, regionBytes, scratchBytes);
}

/** fzstd (pure-JS zstd), loaded when a trace first holds zstd-compressed packets. */
let fzstd: Promise<typeof import('fzstd')> | undefined;

export class PerfettoDecoder implements BundleReader {
  /** The caller reuses the memory of the buffers it hands over: copy what is kept for later. */
  copyRetained = false;
  private readonly queue: Queued[] = [];
  private readonly cur = new Cursor(new Uint8Array(0));
  private readonly ctx: ImportContext;
  /**
   * While a queued packet is decoded: where the compressed packets it holds join the queue (in
   * its place, ahead of the packets that were queued behind it), so that trace order is kept.
   */
  private insertAt = -1;
  private readonly fields = new EventFields();

  private readonly walker: BundleWalker;

  constructor(
    private readonly sink: TraceSink,
    walker?: BundleWalker,
  ) {
    this.ctx = sink.ctx;
    this.walker = walker ?? (sharedWalker ??= bundleWalker(0));
  }

  /**
   * A top-level TracePacket at `buf[start..end)` (from the framer). Decoded now, unless
   * compressed packets are still being decompressed: then it waits its turn in the queue, so
   * that packets are always decoded in trace order (the caller calls drain()).
   */
  packet(buf: Uint8Array, start: number, end: number, offset: number): void {
    if (this.queue.length > 0 && !this.onlyCompressed(buf, start, end)) {
      if (this.copyRetained) this.queue.push({ buf: copyOf(buf, start, end), start: 0, end: end - start, offset });
      else this.queue.push({ buf, start, end, offset });
      return;
    }
    this.decodeNow(buf, start, end, offset, false);
  }

  /**
   * Whether a packet holds compressed packets and nothing else that is decoded: then it can be
   * handled before the packets queued ahead of it (its decompression joins the queue behind
   * them), so that the compressed packets of a chunk all start decompressing at once.
   */
  private onlyCompressed(buf: Uint8Array, start: number, end: number): boolean {
    const c = this.cur;
    c.reset(buf, start);
    let compressed = false;
    while (c.pos < end) {
      const tag = c.u32();
      const field = tag >>> 3;
      if ((tag & 7) === WT_LEN) {
        if (field === P_COMPRESSED || field === P_ZSTD_COMPRESSED) compressed = true;
        else if (
          field === P_FTRACE_EVENTS ||
          field === P_PROCESS_TREE ||
          field === P_PROCESS_STATS ||
          field === P_SYS_STATS ||
          field === P_GPU_MEM_TOTAL ||
          field === P_FTRACE_STATS ||
          field === P_TRACE_STATS
        ) {
          return false;
        }
      }
      if (!c.skip(tag & 7) || c.bad) return false;
    }
    return compressed && c.pos === end;
  }

  /** Decode one TracePacket now; never throws on bad content. */
  private decodeNow(buf: Uint8Array, start: number, end: number, offset: number, nested: boolean): void {
    this.sink.packets++;
    try {
      this.decodePacket(buf, start, end, nested);
    } catch (e) {
      if (!(e instanceof Malformed)) throw e;
      this.skipped(offset, end - start, nested, e.message);
    }
  }

  private skipped(offset: number, bytes: number, nested: boolean, why: string): void {
    this.ctx.diag('warning', 'malformed_packet', `packet at byte ${offset}${nested ? ' (inside a compressed packet)' : ''} (${bytes} bytes) skipped: ${why}`);
  }

  /** Stream offset of `buf[0]` during a walk of whole packets (`packets`). */
  private packetsOffset = 0;

  /**
   * The whole top-level packets at `buf[start, end)`, stream offset `offset`, decoded at once:
   * in WebAssembly when the chunk lies in the walker's memory (read there by the trace worker)
   * and no packet is waiting its turn, as `packet` would one by one (walker.ts, `packets`).
   * Returns where the framer is to go on (`start`: nothing was decoded).
   */
  packets(buf: Uint8Array, start: number, end: number, offset: number): number {
    if (this.queue.length > 0) return start;
    const w = this.walker;
    this.packetsOffset = offset - start;
    let stop: number;
    this.walking = true;
    try {
      stop = w.packets(buf, start, end, this);
    } catch (e) {
      if (!(e instanceof Malformed)) throw e;
      // An event or bundle field of the packet being decoded was malformed.
      const [s, e2] = w.packetAt;
      this.skipped(this.packetsOffset + s, e2 - s, false, e.message);
      this.walkFailed.push(s);
      stop = e2;
    } finally {
      this.walking = false;
    }
    if (stop > start) this.walkedPackets(buf, start, stop);
    this.walkHanded.length = 0;
    this.walkFailed.length = 0;
    if (stop === start) return start;
    const sink = this.sink;
    const { packets, events, minTsAt, maxTsAt } = w.walked;
    sink.packets += packets;
    sink.ftraceEvents += events;
    const c = this.cur;
    for (const at of [minTsAt, maxTsAt]) {
      if (at < 0) continue;
      c.reset(w.bytes, at);
      sink.noteTs(c.u64());
    }
    return stop;
  }

  /** A packet a walk of whole packets hands over (see `BundleReader`): decoded now; the walk goes on while none waits. */
  otherPacket(buf: Uint8Array, start: number, end: number): boolean {
    this.walkHanded.push(start, -1, 0);
    // The latest time read so far includes the packets walked before this one (`latestTs`).
    const { maxTsAt } = this.walker.walked;
    if (maxTsAt >= 0) {
      this.cur.reset(this.walker.bytes, maxTsAt);
      this.sink.noteTs(this.cur.u64());
    }
    this.decodeNow(buf, start, end, this.packetsOffset + start, false);
    return this.queue.length === 0;
  }

  /** A packet of a walk of whole packets stopped at an event running past its bundle (see `BundleReader`). */
  failedPacket(buf: Uint8Array, start: number, end: number): void {
    this.walkFailed.push(start);
    this.skipped(this.packetsOffset + start, end - start, false, BUNDLE_OVERRUN);
  }

  /** While a walk of whole packets runs (`packets`): its packets' sequences are noted after it (`walkedPackets`). */
  private walking = false;
  /**
   * The packets of the current walk that went to `otherPacket`, in trace order: where each starts,
   * its sequence (-1: none, or it was malformed) and its `previous_packet_dropped`, as
   * `decodePacket` read them; and where those that failed start.
   */
  private readonly walkHanded: number[] = [];
  private readonly walkFailed: number[] = [];

  /**
   * After a walk of whole packets over `buf[start, stop)`, what the walk skips in the packets it
   * decoded itself, read here at the top level of each (their bundles are jumped over):
   * `ftrace_stats` and `trace_stats`, which those packets may hold (bundle.wat, `plain`, leaves
   * them to the walk), and its sequence and `previous_packet_dropped`, noted in trace order with
   * those `decodePacket` read of the packets handed over (`walkHanded`). The walk took these
   * packets whole and with possible wire types only. A trace_stats or ftrace_stats that is
   * malformed makes its packet a skipped one, as in `decodePacket`.
   */
  private walkedPackets(buf: Uint8Array, start: number, stop: number): void {
    const c = this.cur;
    const handed = this.walkHanded;
    const failed = this.walkFailed;
    let h = 0;
    let f = 0;
    let p = start;
    while (p < stop) {
      c.reset(buf, p + 1); // the tag of Trace.packet, one byte
      const len = c.u32();
      const s = c.pos;
      const e = s + len;
      p = e;
      if (f < failed.length && failed[f] === s) {
        f++;
        continue;
      }
      if (h < handed.length && handed[h] === s) {
        if (handed[h + 1] >= 0) this.sink.sequencePacket(handed[h + 1], handed[h + 2] !== 0);
        h += 3;
        continue;
      }
      let seq = -1;
      let dropped = 0;
      let stats = false;
      while (c.pos < e) {
        const tag = c.u32();
        const wt = tag & 7;
        if (wt === WT_LEN) {
          const l = c.u32();
          const field = tag >>> 3;
          if (field === P_FTRACE_STATS || field === P_TRACE_STATS) stats = true;
          c.pos += l;
        } else if (tag === ((P_TRUSTED_SEQUENCE_ID << 3) | WT_VARINT)) {
          seq = c.u32();
        } else if (tag === ((P_PREVIOUS_PACKET_DROPPED << 3) | WT_VARINT)) {
          dropped = c.u32();
        } else if (!c.skip(wt)) {
          break;
        }
      }
      if (seq >= 0) this.sink.sequencePacket(seq, dropped !== 0);
      if (stats) this.walkedStats(buf, s, e);
    }
  }

  /** The `ftrace_stats` and `trace_stats` of a packet a walk decoded (see `walkedPackets`), at `buf[s, e)`. */
  private walkedStats(buf: Uint8Array, s: number, e: number): void {
    const fields: number[] = [];
    messageFields(buf, s, e, (field, wt, c, end) => {
      if (wt === WT_LEN && (field === P_FTRACE_STATS || field === P_TRACE_STATS)) fields.push(field, c.pos, end);
      return false;
    });
    try {
      for (let i = 0; i < fields.length; i += 3) this.rarePacket(fields[i], buf, fields[i + 1], fields[i + 2], null, false);
    } catch (err) {
      if (!(err instanceof Malformed)) throw err;
      this.skipped(this.packetsOffset + s, e - s, false, err.message);
    }
  }

  /**
   * Wait until at most `limit` queued items remain, decoding them in order. zlib-compressed
   * packets are inflated on the thread pool while earlier ones are decoded, which hides most
   * of the decoding behind the inflating (zstd ones are decompressed here, by fzstd).
   */
  async drain(limit: number): Promise<void> {
    while (this.queue.length > limit) {
      const item = this.queue[0];
      if ('inflating' in item) {
        const out = await item.inflating;
        this.queue.shift();
        if (out instanceof Error) this.decompressFailed(item.kind, item.bytes, out);
        else this.innerPackets(out);
      } else {
        this.queue.shift();
        this.insertAt = 0;
        try {
          this.decodeNow(item.buf, item.start, item.end, item.offset, false);
        } finally {
          this.insertAt = -1;
        }
      }
    }
  }

  /** Queue compressed packets being decompressed, in trace order (see `insertAt`). */
  private enqueue(item: Queued): void {
    if (this.insertAt < 0) this.queue.push(item);
    else this.queue.splice(this.insertAt++, 0, item);
  }

  private decodePacket(buf: Uint8Array, start: number, end: number, nested: boolean): void {
    const c = this.cur;
    c.reset(buf, start);
    let ts: Int64 | null = null;
    let seq = -1;
    let dropped = 0;
    // Rare payloads are decoded after the loop, once the packet timestamp (field 8, which
    // serializers write after the payload) is known.
    let rare: number[] | null = null;
    while (c.pos < end) {
      const tag = c.u32();
      const field = tag >>> 3;
      const wt = tag & 7;
      if (wt === WT_LEN) {
        const len = c.u32();
        const s = c.pos;
        const e = s + len;
        if (e > end || c.bad) throw new Malformed(`field ${field} runs past the packet end`);
        if (field === P_FTRACE_EVENTS) {
          this.bundle(buf, s, e);
        } else if (
          field === P_PROCESS_TREE ||
          field === P_PROCESS_STATS ||
          field === P_SYS_STATS ||
          field === P_GPU_MEM_TOTAL ||
          field === P_COMPRESSED ||
          field === P_ZSTD_COMPRESSED ||
          field === P_FTRACE_STATS ||
          field === P_TRACE_STATS
        ) {
          (rare ??= []).push(field, s, e);
        }
        c.reset(buf, e);
      } else if (wt === WT_VARINT && field === P_TIMESTAMP) {
        ts = c.u64();
      } else if (wt === WT_VARINT && field === P_TRUSTED_SEQUENCE_ID) {
        seq = c.u32();
      } else if (wt === WT_VARINT && field === P_PREVIOUS_PACKET_DROPPED) {
        dropped = c.u32();
      } else if (!c.skip(wt)) {
        throw new Malformed(`impossible wire type ${wt} for field ${field}`);
      }
      if (c.bad || c.pos > end) throw new Malformed('truncated field');
    }
    if (ts !== null) this.sink.noteTs(ts);
    if (seq >= 0) {
      if (!this.walking) {
        this.sink.sequencePacket(seq, dropped !== 0);
      } else {
        // Handed over by a walk of whole packets: noted in trace order after it (`walkedPackets`).
        const h = this.walkHanded;
        h[h.length - 2] = seq;
        h[h.length - 1] = dropped;
      }
    }
    if (rare) {
      for (let i = 0; i < rare.length; i += 3) this.rarePacket(rare[i], buf, rare[i + 1], rare[i + 2], ts, nested);
    }
  }

  private rarePacket(field: number, buf: Uint8Array, s: number, e: number, packetTs: Int64 | null, nested: boolean): void {
    const bytes = buf.subarray(s, e);
    // A packet without a timestamp is at the latest time read before it, as Perfetto times it
    // (ProtoTraceReader: max(latest_timestamp_, sorter max_timestamp());
    // src/trace_processor/importers/proto/proto_trace_reader.cc @ 9c596adf5d9684ada0cee7fae3ebf6be975366a6).
    const ts = packetTs ?? this.sink.latestTs;
    switch (field) {
      case P_PROCESS_TREE: {
        const tree = readProcessTree(buf, s, e);
        const pids: number[] = [];
        const tids: number[] = [];
        for (const p of tree.processes) {
          if (p.pid === undefined) continue;
          const cmd = p.cmdline.filter((x) => x !== '');
          this.sink.process(
            p.pid,
            {
              name: cmd[0] ?? null,
              cmdline: cmd.length ? cmd.join(' ') : null,
              ppid: p.ppid ?? null,
              uid: p.uid ?? null,
            },
            ts,
          );
          pids.push(p.pid);
        }
        for (const t of tree.threads) {
          if (t.tid === undefined) continue;
          this.sink.thread(t.tid, t.tgid ? t.tgid : null, t.name ?? null, ts);
          tids.push(t.tid);
        }
        this.sink.treeRead(pids, tids);
        return;
      }
      case P_PROCESS_STATS: {
        const stats = decoded<{ processes?: { pid?: number; dmabufRssKb?: unknown }[] }>((t) => t.ProcessStats, bytes);
        for (const p of stats.processes ?? []) {
          // dmabuf_rss_kb is sent only when it changes: absent means "no news", not zero.
          if (!has(p, 'pid') || !has(p, 'dmabufRssKb')) continue;
          const kb = longValue(p.dmabufRssKb);
          if (kb !== null) this.sink.rssPolled(ts, p.pid!, mul1024(kb));
        }
        return;
      }
      case P_SYS_STATS: {
        const stats = decoded<{ meminfo?: { key?: number; value?: unknown }[] }>((t) => t.SysStats, bytes);
        for (const m of stats.meminfo ?? []) {
          if (!has(m, 'key') || !has(m, 'value')) continue;
          const name = MEMINFO_KEYS[m.key!];
          const kb = longValue(m.value);
          if (name && kb !== null) this.sink.meminfo(ts, name, mul1024(kb));
        }
        return;
      }
      case P_GPU_MEM_TOTAL: {
        const g = decoded<{ gpuId?: number; pid?: number; size?: unknown }>((t) => t.GpuMemTotalEvent, bytes);
        if (!has(g, 'size')) return;
        const size = longValue(g.size);
        if (size !== null) this.sink.gpuMemTotal(ts, has(g, 'gpuId') ? g.gpuId! : null, has(g, 'pid') ? g.pid! : 0, size, 'gpu_mem_total_event');
        return;
      }
      case P_FTRACE_STATS: {
        const stats = readFtraceStats(buf, s, e);
        this.sink.ftraceStats(stats.phase, stats.cpus);
        return;
      }
      case P_TRACE_STATS:
        this.sink.traceStats(readTraceStats(buf, s, e));
        return;
      case P_COMPRESSED:
      case P_ZSTD_COMPRESSED: {
        this.sink.compressedPackets++;
        if (nested) throw new Malformed('compressed packets nested inside compressed packets');
        // Decompressed off this path (zlib on the thread pool); drain() decodes them in trace order.
        const input = this.copyRetained ? copyOf(bytes, 0, bytes.length) : bytes;
        if (field === P_COMPRESSED) {
          const inflating = new Promise<Uint8Array | Error>((resolve) =>
            zlib.inflate(input, inflateOptions(input), (err, out) => resolve(err ?? out)),
          );
          this.enqueue({ inflating, bytes: input, kind: 'zlib' });
        } else {
          const bound = zstdBound(input);
          const inflating =
            bound > MAX_INFLATED
              ? Promise.resolve(new Error(`they would decompress to up to ${bound} bytes, over the ${MAX_INFLATED}-byte limit`))
              : (fzstd ??= import('fzstd')).then((z) => {
                  try {
                    return z.decompress(input);
                  } catch (err) {
                    return err as Error;
                  }
                });
          this.enqueue({ inflating, bytes: input, kind: 'zstd' });
        }
        return;
      }
    }
  }

  private decompressFailed(kind: string, bytes: Uint8Array, err: Error): void {
    this.ctx.diag('error', 'decompress_failed', `${kind} compressed packets (${bytes.length} bytes) could not be decompressed: ${err.message}`);
  }

  /** The packets of a decompressed `Trace` (complete in memory). */
  private innerPackets(buf: Uint8Array): void {
    const framer = new PacketFramer(
      (b, start, end, offset) => this.decodeNow(b, start, end, offset, true),
      (err) => this.ctx.diag('warning', 'malformed_packet', err.message),
      true,
    );
    framer.push(buf);
    framer.end();
  }

  /**
   * An FtraceEventBundle: the hot path, walked in WebAssembly (walker.ts, bundle.wat). The walk
   * counts the events, decodes the usual `dma_heap_stat` and binder events itself (`heapRows`,
   * `binderRows`), and hands to `event` the other events of ours and those laid out otherwise
   * than traced writes them; other bundle fields the walk does not skip (lost_events) go to
   * `bundleField`.
   */
  private bundle(buf: Uint8Array, start: number, end: number): void {
    const w = this.walker;
    const events = w.bundle(buf, start, end, this);
    if (events < 0) throw new Malformed(BUNDLE_OVERRUN);
    this.sink.ftraceEvents += events;
    // A bundle holds one CPU's events in time order: its first and last events bound it.
    const c = this.cur;
    const first = w.firstTsAt;
    const last = w.lastTsAt;
    if (first >= 0) {
      c.reset(w.walkedBytes, first);
      this.sink.noteTs(c.u64());
    }
    if (last >= 0 && last !== first) {
      c.reset(w.walkedBytes, last);
      this.sink.noteTs(c.u64());
    }
  }

  /** `dma_heap_stat` events the walk decoded (see `BundleReader`): as `event` would store them. */
  heapRows(rows: Float64Array, count: number): void {
    const sink = this.sink;
    for (let i = 0, o = 0; i < count; i++, o += ROW_VALUES) {
      const total = rows[o + 3];
      sink.dmaHeap(rows[o], rows[o + 4], rows[o + 1], rows[o + 2], total === total ? total : null);
    }
  }

  /** Binder events the walk decoded (see `BundleReader`): as `event` would store them. */
  binderRows(rows: Float64Array, count: number): void {
    this.sink.binderRows(rows, count);
  }

  /** `dmabuf_rss_stat` events the walk decoded (see `BundleReader`): as `event` would store them. */
  rssRows(rows: Float64Array, count: number): void {
    const sink = this.sink;
    for (let i = 0, o = 0; i < count; i++, o += ROW_VALUES) {
      const delta = rows[o + 2];
      const inode = rows[o + 3];
      sink.rssEvent(rows[o], rows[o + 4], rows[o + 1], delta === delta ? delta : null, inode === inode ? inode : null);
    }
  }

  /** The bundle field at `p` that is not an event: read (lost_events) or skipped. Returns where the next field starts. */
  bundleField(buf: Uint8Array, p: number, end: number): number {
    const c = this.cur;
    c.reset(buf, p);
    const tag = c.u32();
    const wt = tag & 7;
    if (tag === ((B_LOST_EVENTS << 3) | WT_VARINT)) {
      if (c.u32() !== 0) this.sink.lostEventBundles++;
    } else if (!c.skip(wt)) {
      throw new Malformed(`impossible wire type ${wt} in an ftrace bundle`);
    }
    if (c.bad || c.pos > end) throw new Malformed('truncated ftrace bundle field');
    return c.pos;
  }

  /**
   * The FtraceEvent at `buf[p..e)`, walked field by field, whatever its layout, and decoded
   * when it is one of ours. Returns where its timestamp varint starts (-1: it has none).
   */
  event(buf: Uint8Array, p: number, e: number): number {
    const c = this.cur;
    let tsAt = -1;
    let pidAt = -1;
    let kind = 0;
    let ks = 0;
    let ke = 0;
    let b = 0;
    while (p < e) {
      const t = buf[p++];
      if (t === TS_TAG) {
        tsAt = p;
        while (buf[p++] >= 0x80);
      } else if (t === PID_TAG) {
        pidAt = p;
        while (buf[p++] >= 0x80);
      } else {
        // Any other field: full tag, then skip (or locate) its value.
        let tag = t;
        if (t >= 0x80) {
          b = buf[p++];
          tag = (t & 0x7f) | ((b & 0x7f) << 7);
          if (b >= 0x80) {
            c.reset(buf, p - 2);
            tag = c.u32();
            p = c.pos;
          }
        }
        const wt = tag & 7;
        if (wt === WT_LEN) {
          b = buf[p++];
          let l = b & 0x7f;
          if (b >= 0x80) {
            b = buf[p++];
            l |= (b & 0x7f) << 7;
            if (b >= 0x80) {
              c.reset(buf, p - 2);
              l = c.u32();
              p = c.pos;
            }
          }
          const f = tag >>> 3;
          if (OUR_EVENTS[f] === 1) {
            kind = f;
            ks = p;
            ke = p + l;
          }
          p += l;
        } else {
          c.reset(buf, p);
          if (!c.skip(wt) || c.bad) throw new Malformed(`impossible wire type ${wt} in an ftrace event`);
          p = c.pos;
        }
      }
    }
    if (p !== e) throw new Malformed('ftrace event field runs past the event');
    if (kind !== 0) {
      // Without its time or the thread that emitted it, an event is not read, as Perfetto reads
      // none: FtraceTokenizer::TokenizeFtraceEvent, "Timestamp field not found in FtraceEvent"
      // (src/trace_processor/importers/ftrace/ftrace_tokenizer.cc @ 65ef46f1569c405b3af0c5e0a084314a6ded723d);
      // FtraceParser::ParseFtraceEvent, "Pid field not found in ftrace packet"
      // (src/trace_processor/importers/ftrace/ftrace_parser.cc @ 8d2a9ab275b5761104956281bf07a41f4ecb143a).
      if (tsAt < 0 || pidAt < 0) {
        this.sink.unreadEvents++;
        return tsAt;
      }
      c.reset(buf, tsAt);
      const ts = c.u64();
      c.reset(buf, pidAt);
      this.ourEvent(kind, buf, ks, ke, ts, c.u32());
    }
    return tsAt;
  }

  /** Decode one of the events we store (not the hot path). */
  private ourEvent(kind: number, buf: Uint8Array, s: number, e: number, ts: Int64, tid: number): void {
    const sink = this.sink;
    if (kind === E_GENERIC) {
      this.generic(buf.subarray(s, e), ts, tid);
      return;
    }
    const f = this.fields;
    f.read(buf, s, e);
    switch (kind) {
      case E_DMA_HEAP_STAT:
        // inode=1 uint64, len=2 int64, total_allocated=3 uint64
        if (this.lacks(2, 'dma_heap_stat', 'len')) return;
        sink.dmaHeap(ts, tid, f.u64(1), f.i64(2), f.has(3) ? f.u64(3) : null);
        return;
      case E_DMABUF_RSS_STAT:
        // rss=1 uint64, rss_delta=2 int64, i_ino=3 uint64
        if (this.lacks(1, 'dmabuf_rss_stat', 'rss')) return;
        sink.rssEvent(ts, tid, f.u64(1), f.has(2) ? f.i64(2) : null, f.has(3) ? f.u64(3) : null);
        return;
      case E_ION_HEAP_GROW:
      case E_ION_HEAP_SHRINK: {
        // heap_name=1 string, len=2 uint64, total_allocated=3 int64 (the total before the change).
        // len is taken as an int64, as Perfetto takes it (ParseIonHeapGrowOrShrink:
        // static_cast<int64_t>(ion.len()); ftrace_parser.cc @ 8d2a9ab275b5761104956281bf07a41f4ecb143a).
        const grow = kind === E_ION_HEAP_GROW;
        if (this.lacks(2, grow ? 'ion_heap_grow' : 'ion_heap_shrink', 'len')) return;
        const len = f.i64(2);
        const delta = grow ? len : negate(len);
        const reported = f.has(3) ? f.i64(3) : null;
        const total = reported === null ? null : add(reported, delta);
        sink.ion(ts, tid, grow ? 'ion_heap_grow' : 'ion_heap_shrink', f.string(1), null, delta, total, reported);
        return;
      }
      case E_ION_STAT: {
        // buffer_id=1 uint32, len=2 int64, total_allocated=3 uint64
        if (this.lacks(2, 'ion_stat', 'len')) return;
        const total = f.has(3) ? f.u64(3) : null;
        sink.ion(ts, tid, 'ion_stat', null, f.has(1) ? toNumber(f.u64(1)) : null, f.i64(2), total, total);
        return;
      }
      case E_GPU_MEM_TOTAL:
        // gpu_id=1 uint32, pid=2 uint32, size=3 uint64
        if (this.lacks(3, 'gpu_mem_total', 'size')) return;
        sink.gpuMemTotal(ts, f.has(1) ? toNumber(f.u64(1)) : null, f.has(2) ? toNumber(f.u64(2)) : 0, f.u64(3), 'gpu_mem_total');
        return;
      case E_BINDER_TRANSACTION: {
        // debug_id=1, target_node=2, to_proc=3, to_thread=4, reply=5 (int32), code=6, flags=7 (uint32)
        if (!f.has(1)) return;
        sink.binderTransaction(
          ts,
          tid,
          f.i32(1),
          f.has(5) && f.i32(5) !== 0 ? 1 : 0,
          f.has(7) ? toNumber(f.u64(7)) : 0,
          f.has(3) ? f.i32(3) : null,
          f.has(4) ? f.i32(4) : null,
        );
        return;
      }
      case E_BINDER_RECEIVED:
        if (!f.has(1)) return;
        sink.binderReceived(ts, tid, f.i32(1));
        return;
      case E_TASK_NEWTASK: {
        // pid=1 int32 (the new task), comm=2 string, clone_flags=3 uint64; the emitter creates it.
        const task = f.i32(1);
        if (task <= 0) return; // pid 0: the idle tasks a boot-time trace sees created
        const flags = f.u64(3);
        const thread = typeof flags === 'bigint' ? (flags & BigInt(CLONE_THREAD)) !== 0n : Math.floor(flags / CLONE_THREAD) % 2 === 1;
        sink.newTask(ts, tid, task, f.string(2), thread);
        return;
      }
      case E_TASK_RENAME:
        // pid=1 int32, newcomm=3 string
        if (f.has(1)) sink.renameTask(ts, f.i32(1), f.string(3));
        return;
      case E_SCHED_PROCESS_FREE:
        // comm=1 string, pid=2 int32 (the task freed), prio=3
        if (f.has(2)) sink.taskFree(ts, f.i32(2));
        return;
    }
  }

  /** Whether the event just read lacks the field its row cannot do without (recorded, not stored as zero). */
  private lacks(field: number, event: string, name: string): boolean {
    if (this.fields.has(field)) return false;
    this.ctx.diag('warning', 'malformed_event', `${event} event without its ${name} field`);
    return true;
  }

  /** A generic event of ours without the field its row needs: reported as `lacks` reports a typed one. */
  private genericLacks(event: string, name: string): void {
    this.ctx.diag('warning', 'malformed_event', `${event} event without its ${name} field`);
  }

  /** A `generic` ftrace event: the DMA-BUF events an older traced had no typed proto for. */
  private generic(bytes: Uint8Array, ts: Int64, tid: number): void {
    // event_name = 1: most generic events are a vendor's others, skipped before decoding.
    let eventName = '';
    messageFields(bytes, 0, bytes.length, (field, wt, c, end) => {
      if (field === 1 && wt === WT_LEN) eventName = DECODER.decode(bytes.subarray(c.pos, end));
      return false;
    });
    if (eventName !== 'dma_heap_stat' && eventName !== 'dmabuf_rss_stat') return;
    const g = decoded<{ field?: { name?: string; strValue?: string; intValue?: unknown; uintValue?: unknown }[] }>((t) => t.GenericFtraceEvent, bytes);
    const v = new Map<string, Int64>();
    for (const fld of g.field ?? []) {
      if (!fld.name) continue;
      const x = has(fld, 'intValue') ? longValue(fld.intValue) : has(fld, 'uintValue') ? longValue(fld.uintValue) : null;
      if (x !== null) v.set(fld.name, x);
    }
    if (eventName === 'dma_heap_stat') {
      const len = v.get('len');
      if (len === undefined) return this.genericLacks('dma_heap_stat', 'len');
      this.sink.dmaHeap(ts, tid, v.get('inode') ?? 0, len, v.get('total_allocated') ?? null);
    } else {
      const rss = v.get('rss');
      if (rss === undefined) return this.genericLacks('dmabuf_rss_stat', 'rss');
      this.sink.rssEvent(ts, tid, rss, v.get('rss_delta') ?? null, v.get('i_ino') ?? null);
    }
  }
}

const DECODER = new TextDecoder();

/** A rare message decoded by protobufjs against the trimmed schema; what it throws is malformed content. */
function decoded<T>(type: (t: PerfettoTypes) => protobuf.Type, bytes: Uint8Array): T {
  const t = type(perfettoTypes());
  try {
    return t.decode(bytes) as unknown as T;
  } catch (err) {
    throw new Malformed(`${t.name}: ${(err as Error).message}`);
  }
}

interface TreeProcess {
  pid?: number;
  ppid?: number;
  cmdline: string[];
  uid?: number;
}

interface TreeThread {
  tid?: number;
  name?: string;
  tgid?: number;
}

/**
 * A `ProcessTree` at `buf[s..e)`: processes (1) { pid 1, ppid 2, cmdline 3 (repeated), uid 5 }
 * and threads (2) { tid 1, name 2, tgid 3 }, int32 values (proto/perfetto_trimmed.proto). As
 * protobufjs decodes it: the last value of a field wins, a field with an unexpected wire type
 * is skipped; a field running past its message throws.
 */
function readProcessTree(buf: Uint8Array, s: number, e: number): { processes: TreeProcess[]; threads: TreeThread[] } {
  const processes: TreeProcess[] = [];
  const threads: TreeThread[] = [];
  messageFields(buf, s, e, (field, wt, c, end) => {
    if (wt !== WT_LEN || (field !== 1 && field !== 2)) return false;
    if (field === 1) {
      const p: TreeProcess = { cmdline: [] };
      messageFields(buf, c.pos, end, (f, w, r, fend) => {
        if (w === WT_VARINT && (f === 1 || f === 2 || f === 5)) {
          const v = r.i32();
          if (f === 1) p.pid = v;
          else if (f === 2) p.ppid = v;
          else p.uid = v;
        } else if (w === WT_LEN && f === 3) {
          p.cmdline.push(DECODER.decode(buf.subarray(r.pos, fend)));
        } else {
          return false;
        }
        return true;
      });
      processes.push(p);
    } else {
      const t: TreeThread = {};
      messageFields(buf, c.pos, end, (f, w, r, fend) => {
        if (w === WT_VARINT && (f === 1 || f === 3)) {
          if (f === 1) t.tid = r.i32();
          else t.tgid = r.i32();
        } else if (w === WT_LEN && f === 2) {
          t.name = DECODER.decode(buf.subarray(r.pos, fend));
        } else {
          return false;
        }
        return true;
      });
      threads.push(t);
    }
    return true;
  });
  return { processes, threads };
}

/**
 * An `FtraceStats` at `buf[s..e)` (protos/perfetto/trace/ftrace/ftrace_stats.proto): phase (1)
 * and cpu_stats (2, repeated) { cpu 1, overrun 3, commit_overrun 4, dropped_events 8 }, uint64
 * values; the rest is skipped. Read as `readProcessTree` reads (the last value of a field wins).
 */
function readFtraceStats(buf: Uint8Array, s: number, e: number): { phase: number; cpus: FtraceCpuCounters[] } {
  let phase = 0;
  const cpus: FtraceCpuCounters[] = [];
  messageFields(buf, s, e, (field, wt, c, end) => {
    if (field === 1 && wt === WT_VARINT) {
      phase = c.u32();
      return true;
    }
    if (field !== 2 || wt !== WT_LEN) return false;
    const cpu: FtraceCpuCounters = { cpu: 0, overrun: 0, commitOverrun: 0, droppedEvents: 0 };
    messageFields(buf, c.pos, end, (f, w, r) => {
      if (w !== WT_VARINT) return false;
      if (f === 1) cpu.cpu = toNumber(r.u64());
      else if (f === 3) cpu.overrun = toNumber(r.u64());
      else if (f === 4) cpu.commitOverrun = toNumber(r.u64());
      else if (f === 8) cpu.droppedEvents = toNumber(r.u64());
      else return false;
      return true;
    });
    cpus.push(cpu);
    return true;
  });
  return { phase, cpus };
}

/**
 * The data-loss counters of a `TraceStats` at `buf[s..e)` (protos/perfetto/common/trace_stats.proto):
 * of each buffer_stats (1, repeated), chunks_overwritten 3, chunks_discarded 18,
 * trace_writer_packet_loss 19 and abi_violations 9, summed; the service's chunks_discarded 8
 * (added to the buffers'), flushes_failed 14, and final_flush_outcome 15 (2: FINAL_FLUSH_FAILED,
 * counted as a failed flush when flushes_failed does not count it). uint64 values.
 */
function readTraceStats(buf: Uint8Array, s: number, e: number): ServiceLoss {
  const loss: ServiceLoss = { chunksOverwritten: 0, chunksDiscarded: 0, writerPacketLoss: 0, abiViolations: 0, flushesFailed: 0 };
  let serviceDiscarded = 0;
  let finalFlushFailed = false;
  messageFields(buf, s, e, (field, wt, c, end) => {
    if (field === 1 && wt === WT_LEN) {
      const b = { overwritten: 0, discarded: 0, writerLoss: 0, abi: 0 };
      messageFields(buf, c.pos, end, (f, w, r) => {
        if (w !== WT_VARINT) return false;
        if (f === 3) b.overwritten = toNumber(r.u64());
        else if (f === 18) b.discarded = toNumber(r.u64());
        else if (f === 19) b.writerLoss = toNumber(r.u64());
        else if (f === 9) b.abi = toNumber(r.u64());
        else return false;
        return true;
      });
      loss.chunksOverwritten += b.overwritten;
      loss.chunksDiscarded += b.discarded;
      loss.writerPacketLoss += b.writerLoss;
      loss.abiViolations += b.abi;
      return true;
    }
    if (wt !== WT_VARINT) return false;
    if (field === 8) serviceDiscarded = toNumber(c.u64());
    else if (field === 14) loss.flushesFailed = toNumber(c.u64());
    else if (field === 15) finalFlushFailed = c.u32() === 2;
    else return false;
    return true;
  });
  loss.chunksDiscarded += serviceDiscarded;
  if (finalFlushFailed && loss.flushesFailed === 0) loss.flushesFailed = 1;
  return loss;
}

/**
 * Walk the fields of the message at `buf[s..e)`. For each, `f` gets its number, wire type and
 * a cursor at its value (for a length-delimited field, at its first byte, with `end` its end)
 * and returns whether it read it; a field it did not read is skipped.
 */
function messageFields(
  buf: Uint8Array,
  s: number,
  e: number,
  f: (field: number, wt: number, c: Cursor, end: number) => boolean,
  c: Cursor = new Cursor(buf, s),
): void {
  c.reset(buf, s);
  while (c.pos < e) {
    const tag = c.u32();
    const wt = tag & 7;
    let end = e;
    if (wt === WT_LEN) {
      const len = c.u32();
      end = c.pos + len;
      if (end > e || c.bad) throw new Malformed(`field ${tag >>> 3} runs past its message`);
      f(tag >>> 3, wt, c, end);
      c.pos = end;
    } else {
      const at = c.pos;
      if (!f(tag >>> 3, wt, c, e)) {
        c.pos = at;
        if (!c.skip(wt)) throw new Malformed(`impossible wire type ${wt} for field ${tag >>> 3}`);
      }
    }
    if (c.bad || c.pos > e) throw new Malformed('a field runs past its message');
  }
}

/** A copy of `buf[s..e)` (a Buffer, like the chunks: the hot path then sees one kind of array). */
function copyOf(buf: Uint8Array, s: number, e: number): Uint8Array {
  const out = Buffer.allocUnsafe(e - s);
  out.set(buf.subarray(s, e));
  return out;
}

/** Whether a protobufjs-decoded message carries a field (defaults live on the prototype). */
function has(msg: object, field: string): boolean {
  return Object.prototype.hasOwnProperty.call(msg, field);
}

const F_VARINT = 1;
const F_BYTES = 2;

/**
 * Fields 1..7 of a small event message, located (a varint by the position of its first byte, a
 * length-delimited field by its bounds) and decoded on demand with the right signedness. One
 * instance is reused for every event: nothing is allocated per event.
 */
class EventFields {
  private readonly kind = new Uint8Array(8);
  private readonly start = new Int32Array(8);
  private readonly end = new Int32Array(8);
  private readonly c = new Cursor(new Uint8Array(0));
  private readonly walker = new Cursor(new Uint8Array(0));
  private readonly locate = (field: number, wt: number, c: Cursor, end: number): boolean => {
    if (field < 1 || field > 7) return false;
    if (wt === WT_VARINT) {
      this.kind[field] = F_VARINT;
      this.start[field] = c.pos;
    } else if (wt === WT_LEN) {
      this.kind[field] = F_BYTES;
      this.start[field] = c.pos;
      this.end[field] = end;
    }
    return false; // skipped by the walk
  };

  /** Locate the fields of the message at `buf[s..e)`. */
  read(buf: Uint8Array, s: number, e: number): void {
    this.kind.fill(0);
    this.c.reset(buf, s);
    messageFields(buf, s, e, this.locate, this.walker);
  }

  has(f: number): boolean {
    return this.kind[f] !== 0;
  }

  /** An unsigned varint field; 0 when absent or not a varint. */
  u64(f: number): Int64 {
    if (this.kind[f] !== F_VARINT) return 0;
    this.c.pos = this.start[f];
    return this.c.u64();
  }

  i64(f: number): Int64 {
    if (this.kind[f] !== F_VARINT) return 0;
    this.c.pos = this.start[f];
    return this.c.i64();
  }

  i32(f: number): number {
    if (this.kind[f] !== F_VARINT) return 0;
    this.c.pos = this.start[f];
    return this.c.i32();
  }

  /** A length-delimited field as UTF-8 text; null when absent or not length-delimited. */
  string(f: number): string | null {
    if (this.kind[f] !== F_BYTES) return null;
    return DECODER.decode(this.c.buf.subarray(this.start[f], this.end[f]));
  }
}

function mul1024(v: number | bigint): Int64 {
  if (typeof v === 'number') {
    const r = v * 1024;
    return Number.isSafeInteger(r) ? r : BigInt(v) * 1024n;
  }
  return v * 1024n;
}
