// The WebAssembly walk of ftrace bundles (bundle.wat, assembled into bundle.wasm by the build)
// and the memory it walks. A bundle the decoder hands over is walked where it lies when it is
// already in that memory (the worker reads the trace file into regions of it, worker.ts), and
// is copied into the walker's scratch area otherwise (a packet assembled across chunks, the
// packets of compressed_packets, a trace decoded in memory); a bundle larger than that area, as
// large as a packet may be, by a walker made for it. A chunk read into the regions is
// walked a whole packet at a time (`packets`), the decoder given only the packets the walk does
// not decode itself.
import fs from 'node:fs';
import { MAX_PACKET_BYTES } from './framer.js';

/** The decoder side of a walk: the imports of bundle.wat, over `BundleWalker.bytes`, and the rows it decoded. */
export interface BundleReader {
  /** Decode the event at `buf[start, end)`; returns where its timestamp varint starts (-1: none). */
  event(buf: Uint8Array, start: number, end: number): number;
  /** Read or skip the bundle field at `buf[at..]`, not an event; returns where the next one starts. */
  bundleField(buf: Uint8Array, at: number, end: number): number;
  /**
   * `dma_heap_stat` events the walk decoded, in trace order: `count` rows of `ROW_VALUES`
   * values (ts, inode, len, total_allocated or NaN when absent, FtraceEvent.pid: the thread),
   * all exact integers.
   */
  heapRows(rows: Float64Array, count: number): void;
  /**
   * `binder_transaction` and `binder_transaction_received` events the walk decoded, in trace
   * order: `count` rows of `BINDER_ROW_VALUES` values (ts, FtraceEvent.pid: the thread, 1 for
   * received else 0, debug_id, reply, flags, to_proc, to_thread; NaN for NULL), exact integers.
   */
  binderRows(rows: Float64Array, count: number): void;
  /**
   * `dmabuf_rss_stat` events the walk decoded, in trace order: `count` rows of `ROW_VALUES`
   * values (ts, rss, rss_delta, i_ino, FtraceEvent.pid: the thread; NaN for NULL), exact integers.
   */
  rssRows(rows: Float64Array, count: number): void;
  /**
   * Decode the packet at `buf[start, end)` that a walk of whole packets (`BundleWalker.packets`)
   * leaves to the reader; returns whether that walk may go on.
   */
  otherPacket(buf: Uint8Array, start: number, end: number): boolean;
  /** The packet at `buf[start, end)` of a walk of whole packets has an event that runs past its bundle: it stopped there. */
  failedPacket(buf: Uint8Array, start: number, end: number): void;
}

/** Values per row of `BundleReader.heapRows` and `rssRows`. */
export const ROW_VALUES = 5;
/** Values per row of `BundleReader.binderRows`. */
const BINDER_ROW_VALUES = 8;

/** Memory layout, as bundle.wat uses it: results of a walk, the table of payload fields of ours, the rows it decoded. */
const FIRST_TS_AT = 0;
const LAST_TS_AT = 4;
const ROW_COUNT_AT = 8;
const BINDER_COUNT_AT = 12;
const OURS_AT = 16;
/**
 * Results of a walk of whole packets: packets and events it decoded, where the varints of the
 * smallest and largest timestamps start, the bounds of the packet it was decoding.
 */
const PACKETS_AT = 2064;
const EVENTS_AT = 2068;
const MIN_TS_AT = 2072;
const MAX_TS_AT = 2076;
const PACKET_AT = 2080;
const RSS_COUNT_AT = 2088;
const ROWS_AT = 4096;
const MAX_ROWS = 1536;
const BINDER_ROWS_AT = 65536;
const MAX_BINDER_ROWS = 1024;
const RSS_ROWS_AT = 131072;
const MAX_RSS_ROWS = 1024;
/** Payload field numbers the table covers (those of a 2-byte tag). */
const OURS_FIELDS = 2048;
/** Regions start at the fourth page; the scratch area follows them. */
const PAGE = 65536;
const REGIONS_AT = 3 * PAGE;
/** Bytes kept after any bundle: the walk may read that far past its end (bundle.wat). */
const SLACK = 32;
/**
 * Bytes of a walker's scratch area: a bundle copied there is at most this large (ftrace bundles
 * are a kernel page or a few). V8 counts the whole memory as allocated outside its heap: one of
 * the largest packet's size (128 MiB) made it collect garbage at once, a few ms of the walk.
 */
const SCRATCH_BYTES = 8 * 1024 * 1024;

let compiled: WebAssembly.Module | null = null;

/**
 * One WebAssembly memory and an instance walking it. The memory never grows, so the views of
 * it stay valid. Untouched pages cost no memory (they are mapped on first write), so the
 * scratch costs what is copied there.
 */
export class BundleWalker {
  /** The whole memory, for the reader to decode from. */
  readonly bytes: Uint8Array;
  private readonly i32: Int32Array;
  private readonly rows: Float64Array;
  private readonly binderRows: Float64Array;
  private readonly rssRows: Float64Array;
  private readonly walk: (start: number, end: number) => number;
  private readonly walkPackets: (start: number, end: number, maxPacket: number) => number;
  private reader: BundleReader | null = null;
  /** The buffer a walk of whole packets is over (where its packets are handed over from). */
  private packetsOf: Uint8Array | null = null;
  /** Where in the memory the buffer of the last walk of whole packets starts. */
  private packetsAt = 0;
  private readonly regionBytes: number;
  private readonly scratchAt: number;
  /** The walker of bundles larger than the scratch area (made when one comes). */
  private large: BundleWalker | null = null;
  /** The walker of the last bundle: this one or `large`. */
  private last: BundleWalker = this;

  /**
   * `ours[f]` is 1 for a payload field number f the reader decodes (events with another payload
   * and the usual layout are only counted). `regionBytes`: memory to lend out (`region`).
   */
  constructor(
    private readonly ours: Uint8Array,
    regionBytes = 0,
    private readonly scratchBytes = SCRATCH_BYTES,
  ) {
    this.regionBytes = regionBytes;
    this.scratchAt = REGIONS_AT + Math.ceil(regionBytes / PAGE) * PAGE;
    const memory = new WebAssembly.Memory({ initial: Math.ceil((this.scratchAt + scratchBytes + SLACK) / PAGE) });
    compiled ??= new WebAssembly.Module(fs.readFileSync(new URL('./bundle.wasm', import.meta.url)));
    const instance = new WebAssembly.Instance(compiled, {
      walker: {
        memory,
        event: (start: number, end: number) => {
          this.takeRows();
          return this.reader!.event(this.bytes, start, end);
        },
        field: (at: number, end: number) => this.reader!.bundleField(this.bytes, at, end),
        packet: (start: number, end: number) => {
          this.takeRows();
          const buf = this.packetsOf!;
          return this.reader!.otherPacket(buf, start - buf.byteOffset, end - buf.byteOffset) ? 1 : 0;
        },
        failed: (start: number, end: number) => {
          this.takeRows();
          const buf = this.packetsOf!;
          this.reader!.failedPacket(buf, start - buf.byteOffset, end - buf.byteOffset);
        },
      },
    });
    this.walk = instance.exports.bundle as (start: number, end: number) => number;
    this.walkPackets = instance.exports.packets as (start: number, end: number, maxPacket: number) => number;
    this.bytes = new Uint8Array(memory.buffer);
    this.i32 = new Int32Array(memory.buffer);
    this.rows = new Float64Array(memory.buffer, ROWS_AT, MAX_ROWS * ROW_VALUES);
    this.binderRows = new Float64Array(memory.buffer, BINDER_ROWS_AT, MAX_BINDER_ROWS * BINDER_ROW_VALUES);
    this.rssRows = new Float64Array(memory.buffer, RSS_ROWS_AT, MAX_RSS_ROWS * ROW_VALUES);
    this.bytes.set(ours.subarray(0, OURS_FIELDS), OURS_AT);
  }

  /** Memory lent for the caller's data (read into it, it is walked in place): `regionBytes` from `offset`. */
  region(offset: number, length: number): Buffer {
    if (offset < 0 || length < 0 || offset + length > this.regionBytes) throw new RangeError('outside the walker’s regions');
    return Buffer.from(this.bytes.buffer, REGIONS_AT + offset, length);
  }

  /** Whether `buf[start, end)` lies in the regions lent out (`region`). */
  private inRegions(buf: Uint8Array, start: number, end: number): boolean {
    return buf.buffer === this.bytes.buffer && buf.byteOffset + start >= REGIONS_AT && buf.byteOffset + end <= this.scratchAt;
  }

  /** Where `buf[start, end)` is in the memory: where it lies, else copied into the scratch area. */
  private place(buf: Uint8Array, start: number, end: number): number {
    if (this.inRegions(buf, start, end)) return buf.byteOffset + start;
    this.bytes.set(buf.subarray(start, end), this.scratchAt);
    return this.scratchAt;
  }

  /**
   * Walk the bundle at `buf[start, end)` for `reader`, which gets its events of ours (as rows
   * or to decode) in order. Returns the number of events (-1: an event runs past the bundle);
   * `firstTsAt` and `lastTsAt` then say where in `walkedBytes` the timestamps of its first and
   * last events start.
   */
  bundle(buf: Uint8Array, start: number, end: number, reader: BundleReader): number {
    if (end - start > MAX_PACKET_BYTES) throw new RangeError('a bundle larger than a packet');
    if (end - start > this.scratchBytes && !this.inRegions(buf, start, end)) {
      if (this.reader) this.takeRows(); // an outer walk's rows come first
      this.large ??= new BundleWalker(this.ours, 0, MAX_PACKET_BYTES);
      this.last = this.large;
      return this.large.bundle(buf, start, end, reader);
    }
    this.last = this;
    const at = this.place(buf, start, end);
    // A bundle of a packet a walk of whole packets handed over is walked inside that walk.
    const outer = this.reader;
    if (outer) this.takeRows();
    this.reader = reader;
    try {
      return this.walk(at, at + (end - start));
    } finally {
      this.takeRows();
      this.reader = outer;
    }
  }

  /**
   * Walk the whole `Trace.packet` fields at `buf[start, end)` (a chunk read into the regions;
   * elsewhere nothing is walked) for `reader`: packets of ftrace bundles and fields skipped are
   * decoded in WebAssembly, any other goes to `reader.otherPacket` (bundle.wat, `packets`). Returns
   * where the walk stopped (a field that is not a whole packet, or `end`); `walked` then says
   * what it decoded.
   */
  packets(buf: Uint8Array, start: number, end: number, reader: BundleReader): number {
    if (this.reader || !this.inRegions(buf, start, end)) return start;
    const at = (this.packetsAt = buf.byteOffset);
    this.reader = reader;
    this.packetsOf = buf;
    try {
      return this.walkPackets(at + start, at + end, MAX_PACKET_BYTES) - at;
    } finally {
      this.takeRows();
      this.reader = null;
      this.packetsOf = null;
    }
  }

  /** Hand the rows the walk decoded so far to the reader. */
  private takeRows(): void {
    const count = this.i32[ROW_COUNT_AT >> 2];
    if (count > 0) {
      this.i32[ROW_COUNT_AT >> 2] = 0;
      this.reader!.heapRows(this.rows, count);
    }
    const binder = this.i32[BINDER_COUNT_AT >> 2];
    if (binder > 0) {
      this.i32[BINDER_COUNT_AT >> 2] = 0;
      this.reader!.binderRows(this.binderRows, binder);
    }
    const rss = this.i32[RSS_COUNT_AT >> 2];
    if (rss > 0) {
      this.i32[RSS_COUNT_AT >> 2] = 0;
      this.reader!.rssRows(this.rssRows, rss);
    }
  }

  /** The memory the last bundle was walked in (`bytes`, or the large bundles' walker's). */
  get walkedBytes(): Uint8Array {
    return this.last.bytes;
  }

  get firstTsAt(): number {
    return this.last.i32[FIRST_TS_AT >> 2];
  }

  get lastTsAt(): number {
    return this.last.i32[LAST_TS_AT >> 2];
  }

  /**
   * What the last walk of whole packets (`packets`) decoded: packets, their ftrace events, and
   * where in `bytes` the varints of the smallest and largest timestamps it noted start (-1: none).
   */
  get walked(): { packets: number; events: number; minTsAt: number; maxTsAt: number } {
    const i = this.i32;
    return { packets: i[PACKETS_AT >> 2], events: i[EVENTS_AT >> 2], minTsAt: i[MIN_TS_AT >> 2], maxTsAt: i[MAX_TS_AT >> 2] };
  }

  /** The bounds, in the buffer walked, of the packet a walk of whole packets was decoding when the reader threw. */
  get packetAt(): [number, number] {
    const at = this.packetsAt;
    return [this.i32[PACKET_AT >> 2] - at, this.i32[(PACKET_AT >> 2) + 1] - at];
  }
}
