// Who is charged for each DMA-BUF heap event of a trace, and the totals the trace analyses
// report, computed once per snapshot when it is merged (src/db/merge.ts) into the tables
// `dma_heap_charge` and `dma_heap_totals` (src/db/schema/20-trace.sql).
//
// The rules are those of the views `_dmabuf_gralloc_served` (the gralloc spans: gralloc.ts),
// `_dmabuf_attributed`, `_dmabuf_charged` and `_dmabuf_trace_totals`
// (src/queries/android_dmabuf_allocs.sql, dmabuf_trace_summary.sql): window functions over every
// event, which in sql.js cost a sort per window and a JS↔wasm round trip per row. Here the events are held as records in a
// WebAssembly memory, taken as they are written while a session loads (`EventCapture`) or
// read back once, and the pass is a few loops over them in WebAssembly (charge.wat): trace
// order (ts, then event_id; events of several traces one trace after another), the charged
// thread and the next charged event on each inode, the running sums per responsible process and
// per trace, the buffers outstanding at the end of each trace and the heaps' total over each
// trace's time, to its own end. The totals go back with a multi-row INSERT; the per-event rows too,
// but on first use (`Db.defer`): only the trace views read them, the summary does not.
//
// The SQL views remain the statement of the rules and the fallback: a snapshot with more
// events than the pass may hold (memory stays bounded whatever the trace size), or with a
// value a JS number cannot hold exactly (beyond 2^53), is computed by INSERT … SELECT from them.
import fs from 'node:fs';
import type { Db } from './database.js';
import type { Rows } from '../importers/types.js';
import { isExact, rowCount, valueAt } from './packed.js';
import { TableCapture } from './capture.js';
import { grallocSpans, type Spans } from './gralloc.js';
import { heldBy, processInstances, type Instances, type ProcessInstances } from './instances.js';

/**
 * Events the pass holds in memory, at most: it needs some 120 bytes per event, up to 250 when
 * inodes and threads are spread too thin for direct tables (under 130 MB here, a trace of some
 * 3 GB); a snapshot with more is computed by the SQL views instead.
 */
export const MAX_PASS_EVENTS = 500_000;

const CHARGE_COLUMNS = ['event_id', 'snapshot_id', 'tid', 'pid', 'cumulative_bytes', 'next_event_id', 'upid'] as const;
const TOTALS_COLUMNS = [
  'snapshot_id',
  'scope',
  'pid',
  'tid',
  'allocs',
  'frees',
  'allocated_bytes',
  'freed_bytes',
  'net_delta_bytes',
  'outstanding_buffers',
  'outstanding_bytes',
  'outstanding_max_bytes',
  'outstanding_max_inode',
  'outstanding_first_ts',
  'outstanding_last_ts',
  'peak_outstanding_bytes',
  'first_ts',
  'last_ts',
  'dropped_free_bytes',
  'heap_avg_bytes',
  'heap_min_bytes',
  'heap_max_bytes',
  'heap_end_bytes',
  'trace_end_ts',
  'upid',
  'source_id',
] as const;

export interface ChargeOptions {
  /** Largest number of events the in-memory pass takes (default MAX_PASS_EVENTS); 0 forces the SQL views. */
  maxPassEvents?: number;
  /** The events as they were written, when captured (else they are read back). */
  capture?: EventCapture;
}

/** How a snapshot's charges were computed: no event, the in-memory pass, or the SQL views. */
export type ChargeMethod = 'none' | 'pass' | 'sql';

/** (Re)compute `dma_heap_charge` and `dma_heap_totals` for one snapshot. Idempotent. */
export function chargeTrace(db: Db, snapshotId: number, opts: ChargeOptions = {}): ChargeMethod {
  const id = Number(snapshotId);
  db.dropDeferred(`dma_heap_charge:${id}`);
  db.exec(`DELETE FROM dma_heap_charge WHERE snapshot_id = ${id}; DELETE FROM dma_heap_totals WHERE snapshot_id = ${id};`);
  const max = opts.maxPassEvents ?? MAX_PASS_EVENTS;
  const events = opts.capture?.take(id, max) ?? readEvents(db, id, max);
  if (events === 'none') return 'none';
  const k = events === 'too_many' || events === 'inexact' ? null : known(db, id);
  if (k === null || k === 'inexact') {
    db.exec(`
      INSERT INTO dma_heap_charge (${CHARGE_COLUMNS.join(', ')})
      SELECT ${CHARGE_COLUMNS.join(', ')} FROM _dmabuf_charged WHERE snapshot_id = ${id} ORDER BY event_id;
      INSERT INTO dma_heap_totals (${TOTALS_COLUMNS.join(', ')})
      SELECT ${TOTALS_COLUMNS.join(', ')} FROM _dmabuf_trace_totals WHERE snapshot_id = ${id};`);
    return 'sql';
  }
  pass(db, id, events as Events, k);
  return 'pass';
}

// ---- reading ----------------------------------------------------------------------------

/** Bytes of an event's record in the memory of the pass (charge.wat says its fields). */
const EVENT_BYTES = 112;
/** Where the pass's inputs are in a record, in f64s. */
const ROWID = 0;
const TS = 1;
const INODE = 2;
const SIZE = 3;
const HEAP = 4;
const TID = 5;
const ATTR = 6;
const PAGE = 65536;

/** The smallest and largest of some numbers (NaN aside). */
class Range {
  min = Infinity;
  max = -Infinity;

  add(v: number): void {
    if (v < this.min) this.min = v;
    if (v > this.max) this.max = v;
  }
}

/** Write an event's inputs into its record, `at` f64s into the memory. */
function setRecord(v: Float64Array, at: number, rowid: number, ts: number, inode: number, size: number, heap: number, tid: number): void {
  v[at + ROWID] = rowid;
  v[at + TS] = ts;
  v[at + INODE] = inode;
  v[at + SIZE] = size;
  v[at + HEAP] = heap;
  v[at + TID] = tid;
}

/**
 * One snapshot's `dma_heap_event` rows as the pass takes them: a record each, in rowid order,
 * from the start of a WebAssembly memory (which grows as they come). NaN stands for NULL.
 */
class Events {
  n = 0;
  /** Rowid of the first event (captured events: the others follow it). */
  firstRowid = 0;
  /** Bytes moved in all: every running sum stays exact when this does. */
  moved = 0;
  /** Whether the events are in trace order (ts never decreases). */
  sorted = true;
  /** The range of their inodes and of their threads (NULL aside; min > max: none). */
  readonly inodes = new Range();
  readonly tids = new Range();
  /** The events' sources (`source_id`), as runs: from the event with rowid runRowids[i] on, runSources[i] (NaN: unknown). */
  readonly runRowids: number[] = [];
  readonly runSources: number[] = [];
  readonly memory = new WebAssembly.Memory({ initial: 16 });
  /** The memory as f64s (a new view after it grows). */
  values = new Float64Array(this.memory.buffer);

  private end = 0;

  /** The events from rowid `rowid` on are of `source` (until another run starts). */
  source(rowid: number, source: number): void {
    if (this.runSources.length === 0 || !Object.is(this.runSources[this.runSources.length - 1], source)) {
      this.runRowids.push(rowid);
      this.runSources.push(source);
    }
  }

  /**
   * Room for `bytes` (zeroed) after the events and what was reserved before, for the pass
   * (once the events are all in); returns where it starts.
   */
  reserve(bytes: number): number {
    const at = Math.max(this.end, this.n * EVENT_BYTES);
    this.end = at + Math.ceil(bytes / 8) * 8;
    const pages = Math.ceil(this.end / PAGE) - this.memory.buffer.byteLength / PAGE;
    if (pages > 0) {
      this.memory.grow(pages);
      this.values = new Float64Array(this.memory.buffer);
    }
    return at;
  }

  /** Room for `more` events after the `n` held (the memory at least doubles when it grows). */
  private room(more: number): void {
    const bytes = (this.n + more) * EVENT_BYTES;
    const have = this.memory.buffer.byteLength;
    if (bytes <= have) return;
    this.memory.grow(Math.ceil(Math.max(bytes - have, have) / PAGE));
    this.values = new Float64Array(this.memory.buffer);
  }

  /** Add an event (its values exact integers or NaN). */
  push(rowid: number, ts: number, inode: number, size: number, heap: number, tid: number): void {
    this.room(1);
    const v = this.values;
    const at = (this.n++ * EVENT_BYTES) / 8;
    setRecord(v, at, rowid, ts, inode, size, heap, tid);
    this.moved += Math.abs(size);
    if (this.n > 1 && ts < v[at - EVENT_BYTES / 8 + TS]) this.sorted = false;
    this.inodes.add(inode);
    this.tids.add(tid);
  }

  /**
   * Add the packed rows of one batch (`width` values a row; `ts`… the columns' indexes, each
   * present), the first with rowid `firstRowid`: the usual way events arrive, so one plain loop
   * without a call per row. False when a value is not what the pass takes (ts and size exact
   * integers, the others exact integers or NULL) or the rows are too many: the events are then
   * not to be used.
   */
  pushPacked(rows: Float64Array, width: number, ts: number, inode: number, size: number, heap: number, tid: number, firstRowid: number): boolean {
    const count = rows.length / width;
    if (this.n + count > MAX_PASS_EVENTS) return false;
    this.room(count);
    const v = this.values;
    const step = EVENT_BYTES / 8;
    let at = this.n * step;
    let last = this.n > 0 ? v[at - step + TS] : -Infinity;
    let { moved, sorted } = this;
    const inodes = this.inodes;
    const tids = this.tids;
    for (let o = 0, r = firstRowid; o < rows.length; o += width, r++, at += step) {
      const t = rows[o + ts];
      const sz = rows[o + size];
      const i = rows[o + inode];
      const h = rows[o + heap];
      const th = rows[o + tid];
      if (!Number.isSafeInteger(t) || !Number.isSafeInteger(sz)) return false;
      if ((i === i && !Number.isSafeInteger(i)) || (h === h && !Number.isSafeInteger(h)) || (th === th && !Number.isSafeInteger(th))) return false;
      setRecord(v, at, r, t, i, sz, h, th);
      moved += Math.abs(sz);
      if (t < last) sorted = false;
      last = t;
      if (i < inodes.min) inodes.min = i;
      if (i > inodes.max) inodes.max = i;
      if (th < tids.min) tids.min = th;
      if (th > tids.max) tids.max = th;
    }
    this.n += count;
    this.moved = moved;
    this.sorted = sorted;
    return true;
  }
}

/**
 * `dma_heap_event` rows kept as the importers write them (capture.ts), so that the pass need
 * not read them back (a JS↔wasm round trip per value); they are written where the pass reads
 * them, while the trace loads. Used when complete and exact, and no more than the pass holds.
 */
export class EventCapture extends TableCapture<Events> {
  constructor(db: Db) {
    super(db, 'dma_heap_event');
  }

  protected start(firstRowid: number): Events {
    const e = new Events();
    e.firstRowid = firstRowid;
    return e;
  }

  protected add(e: Events, columns: readonly string[], rows: Rows, firstRowid: number, source: number | null): boolean {
    // The batch's source: given to every row alike (the importers' way), else not one the pass takes.
    if (source === null || !isExact(source)) return false;
    e.source(firstRowid, source);
    const at = (c: string) => columns.indexOf(c);
    const [ts, inode, size, heap, tid] = [at('ts'), at('inode'), at('size_delta'), at('heap_total'), at('tid')];
    const width = columns.length;
    if (rows instanceof Float64Array && Math.min(ts, inode, size, heap, tid) >= 0) return e.pushPacked(rows, width, ts, inode, size, heap, tid, firstRowid);
    const nullable = (v: unknown) => v === null || v === undefined || isExact(v);
    const value = (r: number, c: number) => (c < 0 ? null : valueAt(rows, width, r, c));
    const count = rowCount(rows, width);
    for (let r = 0; r < count; r++) {
      const t = value(r, ts);
      const sz = value(r, size);
      const ino = value(r, inode);
      const h = value(r, heap);
      const th = value(r, tid);
      // Read by the SQL views anyway, past MAX_PASS_EVENTS.
      if (ts < 0 || size < 0 || !isExact(t) || !isExact(sz) || !nullable(ino) || !nullable(h) || !nullable(th) || e.n === MAX_PASS_EVENTS) return false;
      e.push(firstRowid + r, t, typeof ino === 'number' ? ino : NaN, sz, typeof h === 'number' ? h : NaN, typeof th === 'number' ? th : NaN);
    }
    return true;
  }

  /** A snapshot's events in rowid order, if the capture holds all of them (at most `max`). Taken once. */
  take(id: number, max: number): Events | undefined {
    const e = this.taken(id);
    return e !== undefined && e.n <= max && Number.isSafeInteger(e.moved) ? e : undefined;
  }
}

function readEvents(db: Db, id: number, max: number): Events | 'none' | 'too_many' | 'inexact' {
  const sql = 'SELECT rowid, ts, inode, size_delta, heap_total, tid, source_id FROM dma_heap_event WHERE snapshot_id = ? ORDER BY rowid LIMIT ?';
  db.settle(sql);
  const st = db.raw.prepare(sql);
  try {
    st.bind([id, max + 1]);
    const e = new Events();
    while (st.step()) {
      if (e.n === max) return 'too_many';
      const [rowid, ts, inode, size, heap, tid, source] = st.get();
      if (
        !isExact(rowid) ||
        !isExact(source) ||
        !isExact(ts) ||
        !isExact(size) ||
        (inode !== null && !isExact(inode)) ||
        (heap !== null && !isExact(heap)) ||
        (tid !== null && !isExact(tid))
      ) {
        return 'inexact';
      }
      e.source(rowid, source);
      e.push(rowid, ts, inode ?? NaN, size, heap ?? NaN, tid ?? NaN);
    }
    if (e.n === 0) return 'none';
    return Number.isSafeInteger(e.moved) ? e : 'inexact';
  } finally {
    st.free();
  }
}

// ---- helpers ----------------------------------------------------------------------------

/** The traces of some events, in the order met. */
const traces = (e: Events): number[] => [...new Set(e.runSources)];

const nullIfNaN = (v: number): number | null => (v === v ? v : null);
const finiteOrNull = (v: number): number | null => (Number.isFinite(v) ? v : null);

// ---- the pass ---------------------------------------------------------------------------

/** What the snapshot's other tables say: thread → process, the processes of each pid, gralloc spans, end of the trace. */
interface Known {
  /** Per trace (`source_id`), thread → its process in that trace (`thread` rows are per trace). */
  pidOf: Map<number, Map<number, number | null>>;
  /** The processes that held each pid, per trace (`process_instance`). */
  instances: ProcessInstances;
  spans: Map<number, Spans>;
  /** Per trace (`source_id`), its end: `trace_info.end_ts` (no entry, or NaN, when unknown). */
  traceEnds: Map<number, number>;
}

/** What `known` reads, or 'inexact' when a process's start or end is beyond what the pass holds exactly. */
function known(db: Db, id: number): Known | 'inexact' {
  const pidOf = new Map<number, Map<number, number | null>>();
  for (const r of db.query('SELECT source_id, tid, pid FROM thread WHERE snapshot_id = ?', [id])) {
    let threads = pidOf.get(r.source_id as number);
    if (threads === undefined) pidOf.set(r.source_id as number, (threads = new Map()));
    threads.set(r.tid as number, (r.pid as number | null) ?? null);
  }
  const instances = processInstances(db, id);
  // A unit holds a process's index (UNIT): exact while there are fewer than 2^20 of them.
  if (instances === 'inexact' || instances.upids.length >= 2 ** 20) return 'inexact';
  const spans = grallocSpans(db, id);
  const traceEnds = new Map<number, number>();
  for (const r of db.query('SELECT source_id, max(end_ts) AS end_ts FROM trace_info WHERE snapshot_id = ? GROUP BY source_id', [id])) {
    traceEnds.set(r.source_id as number, r.end_ts === null ? NaN : Number(r.end_ts));
  }
  return { pidOf, instances, spans, traceEnds };
}

/**
 * A thread's events are charged to a unit: the thread, and, when the snapshot's processes are
 * complex (`ProcessInstances.complex`, or events of several traces), the process that held its
 * pid in the event's trace when the event was made, as `tid + k * UNIT`: 2 + its index in
 * `ProcessInstances.upids` for that process; when the trace has no process for the pid (or the
 * pid is unknown), 2 + the number of upids + the index of the event's trace among the events'
 * traces (a thread is of its trace: the same tid in another trace is another thread); when no
 * process held it then, that plus the number of the events' traces. Otherwise (one trace, simple
 * processes) k = 0. A free follows its allocation's unit (of its own trace: a free is matched
 * with the events of its trace only).
 */
const UNIT = 2 ** 32;

let compiled: WebAssembly.Module | null = null;

/** Bytes of a responsible's record (charge.wat says its fields). */
const RECORD_BYTES = 112;
/** Values of a dma_heap_charge row as the pass packs them (CHARGE_COLUMNS without snapshot_id). */
const PACKED_VALUES = 5;

interface PassExports {
  identity(order: number, n: number): void;
  charge(n: number, ev: number, attr: number, order: number, table: number, mask: number, direct: number, base: number, first: number): number;
  responsibles(n: number, ev: number, table: number, mask: number, direct: number, base: number): void;
  clear(per: number, count: number): void;
  sums(n: number, ev: number, order: number, per: number, trace: number, traceEnd: number, out: number): void;
  outstanding(from: number, to: number, ev: number, per: number, trace: number): void;
  pack(n: number, ev: number, pids: number, out: number): number;
}

function pass(db: Db, id: number, e: Events, k: Known): void {
  const n = e.n;

  // The responsibles: a thread's process (its `process_instance`, else its pid), or the thread
  // itself when its process is unknown. `t` is a unit (UNIT).
  const pid: (number | null)[] = [];
  const tid: (number | null)[] = [];
  const upid: (number | null)[] = [];
  /** The responsible's trace (`source_id`): a responsible is of one trace. */
  const src: number[] = [];
  // By pid, by thread: per trace (index in eventSources); by upid (of one trace).
  const eventSources = traces(e);
  const byPid = eventSources.map(() => new Map<number, number>());
  const byUpid = new Map<number, number>();
  const byTid = eventSources.map(() => new Map<number, number>());
  // Processes looked up by pid alone, without units, when the events' trace is the one trace
  // with processes, each holding its pid for the whole trace (`only`); else by unit (UNIT).
  const sources = k.instances.bySource;
  const complex = k.instances.complex || eventSources.length > 1 || (sources.size === 1 && e.runSources.some((s) => !sources.has(s)));
  const only = complex ? undefined : [...sources.values()][0];
  /** Thread → process in the events' one trace, when not complex. */
  const onlyPids = complex ? undefined : k.pidOf.get(eventSources[0]);
  /** k of the units of the first trace's threads whose process that trace does not have (UNIT). */
  const sourceUnits = 2 + k.instances.upids.length;
  /** k of the units of the first trace's threads whose pid no process held then. */
  const heldNoneUnits = sourceUnits + eventSources.length;
  const sourceIndex = new Map(eventSources.map((s, i) => [s, i]));
  const responsible = (t: number): number => {
    const k_ = Math.floor(t / UNIT);
    const thread = t - k_ * UNIT;
    /** The unit's trace (index in eventSources): 0 for one trace, or a process's unit (a upid is of one trace). */
    const s = k_ >= heldNoneUnits ? k_ - heldNoneUnits : k_ >= sourceUnits ? k_ - sourceUnits : 0;
    // The thread's process: in the events' one trace; else as its unit says (its process's pid, or
    // the thread's in the unit's trace).
    const p = !complex
      ? (onlyPids?.get(thread) ?? null)
      : k_ >= heldNoneUnits
        ? null
        : k_ >= sourceUnits
          ? (k.pidOf.get(eventSources[s])?.get(thread) ?? null)
          : k_ >= 2
            ? k.instances.pids[k_ - 2]
            : null;
    // Simple processes (one trace's, each for the whole trace): looked up by pid; else the unit says.
    const u = k_ >= 2 && k_ < sourceUnits ? k.instances.upids[k_ - 2] : k_ === 0 && p !== null && only !== undefined ? only.get(p)?.upids[0] : undefined;
    if (p === null) {
      // A thread whose process is unknown: one responsible per tid of a trace (as the SQL groups them).
      let w = byTid[s].get(thread);
      if (w === undefined) byTid[s].set(thread, (w = pid.length)), tid.push(thread), upid.push(null), pid.push(null), src.push(eventSources[s]);
      return w;
    }
    if (u === undefined) {
      let w = byPid[s].get(p);
      if (w === undefined) byPid[s].set(p, (w = pid.length)), pid.push(p), tid.push(null), upid.push(null), src.push(eventSources[s]);
      return w;
    }
    let w = byUpid.get(u);
    if (w === undefined) {
      byUpid.set(u, (w = pid.length)), pid.push(p), tid.push(null), upid.push(u);
      src.push(k_ >= 2 ? k.instances.sources[k_ - 2] : eventSources[s]);
    }
    return w;
  };
  compiled ??= new WebAssembly.Module(fs.readFileSync(new URL('./charge.wasm', import.meta.url)));
  const x = new WebAssembly.Instance(compiled, { pass: { memory: e.memory, responsible } }).exports as unknown as PassExports;

  const f64 = (at: number, length: number) => new Float64Array(e.memory.buffer, at, length);
  // The heaps' statistics of each trace (`sums`).
  const outs = e.reserve(64 * eventSources.length);
  /** A table for keys (charge.wat) in `range`: direct when that is under `directLimit` wide. */
  const table = ({ min, max }: Range, directLimit: number) => {
    if (max >= min && max - min < directLimit) return { at: e.reserve(4 * (max - min + 1)), bytes: 4 * (max - min + 1), mask: 0, direct: 1, base: min };
    const entries = 2 ** Math.max(4, Math.ceil(Math.log2(2 * n)));
    return { at: e.reserve(12 * entries), bytes: 12 * entries, mask: entries - 1, direct: 0, base: 0 };
  };

  // Trace order: ts, then event_id (the events are in rowid order). Events of several traces:
  // one trace after another (in the order of eventSources), each in trace order, so that the
  // pass takes each trace on its own: `segments[j]` is where trace j's events start in the order.
  const orderAt = e.reserve(4 * n);
  x.identity(orderAt, n);
  const segments = [0, n];
  if (eventSources.length > 1) {
    const v = e.values;
    const traceOf = new Uint32Array(n);
    const { runRowids, runSources } = e;
    const sizes = eventSources.map(() => 0);
    for (let i = 0, run = 0; i < n; i++) {
      while (run < runRowids.length && runRowids[run] <= v[(i * EVENT_BYTES) / 8 + ROWID]) run++;
      sizes[(traceOf[i] = sourceIndex.get(runSources[run - 1]) as number)]++;
    }
    segments.length = 0;
    for (let j = 0, at = 0; j <= sizes.length; at += sizes[j++]) segments.push(at);
    const ts = (i: number) => v[(i * EVENT_BYTES) / 8 + TS];
    new Uint32Array(e.memory.buffer, orderAt, n).sort((a, b) => traceOf[a] - traceOf[b] || ts(a) - ts(b) || a - b);
  } else if (!e.sorted) {
    const v = e.values;
    const ts = (i: number) => v[(i * EVENT_BYTES) / 8 + TS];
    new Uint32Array(e.memory.buffer, orderAt, n).sort((a, b) => ts(a) - ts(b) || a - b);
  }
  // attr_tid: the client when a gralloc thread makes the event inside a serving span, else its
  // thread; as a unit with the process that held its pid then, where that varies (UNIT).
  let attr = TID;
  let attrs = e.tids;
  if (k.spans.size > 0 || complex) {
    attr = ATTR;
    attrs = new Range();
    const v = e.values;
    // The events' sources, run by run (the events are in rowid order).
    const { runRowids, runSources } = e;
    let run = 0;
    let pids: Map<number, Instances> | undefined;
    let threadPids: Map<number, number | null> | undefined;
    /** The event's trace (index in eventSources). */
    let own = 0;
    for (let at = 0; at < (n * EVENT_BYTES) / 8; at += EVENT_BYTES / 8) {
      if (complex && (run === 0 || (run < runRowids.length && runRowids[run] <= v[at + ROWID]))) {
        while (run < runRowids.length && runRowids[run] <= v[at + ROWID]) run++;
        pids = k.instances.bySource.get(runSources[run - 1]);
        threadPids = k.pidOf.get(runSources[run - 1]);
        own = sourceIndex.get(runSources[run - 1]) as number;
      }
      // coalesce(client, emitter): a span's NULL client leaves the emitter.
      const client = k.spans.size > 0 ? (k.spans.get(v[at + TID])?.clientAt(v[at + TS]) ?? NaN) : NaN;
      let a = client === client ? client : v[at + TID];
      if (complex && a === a) {
        const p = threadPids?.get(a) ?? null;
        const list = p === null ? undefined : pids?.get(p);
        if (list !== undefined) {
          const i = list.simple ? 0 : heldBy(list, v[at + TS]);
          a += (i < 0 ? heldNoneUnits + own : list.first + i + 2) * UNIT;
        } else a += (sourceUnits + own) * UNIT;
      }
      attrs.add((v[at + ATTR] = a));
    }
  }
  // Inodes usually span a compact range, threads too.
  const inodes = table(e.inodes, 4 * n + 4096);
  // Trace by trace: its inodes are ids inodeEnds[j - 1] (0 for the first) to inodeEnds[j] - 1.
  // The inode table is emptied between traces: a free is matched with the earlier events of its
  // own trace only (an inode another trace used is a new one).
  const inodeEnds: number[] = [];
  for (let j = 0; j < eventSources.length; j++) {
    const [from, to] = [segments[j], segments[j + 1]];
    if (j > 0) new Uint8Array(e.memory.buffer, inodes.at, inodes.bytes).fill(0);
    inodeEnds.push(x.charge(to - from, 0, 8 * attr, orderAt + 4 * from, inodes.at, inodes.mask, inodes.direct, inodes.base, inodeEnds[j - 1] ?? 0));
  }
  const threads = table(attrs, 4 * n + 65536);
  x.responsibles(n, 0, threads.at, threads.mask, threads.direct, threads.base);
  const count = pid.length;
  // Each event's responsible, packed (`pack` writes the value at its index): then its pid and upid.
  const indexes = e.reserve(8 * count);
  // The responsibles' records, then a record per trace.
  const per = e.reserve(RECORD_BYTES * (count + eventSources.length));
  const traceRecord = (j: number) => per + RECORD_BYTES * (count + j);
  f64(indexes, count).set(pid.map((_, w) => w));
  x.clear(per, count + eventSources.length);
  for (let j = 0; j < eventSources.length; j++) {
    const from = segments[j];
    x.sums(segments[j + 1] - from, 0, orderAt + 4 * from, per, traceRecord(j), k.traceEnds.get(eventSources[j]) ?? NaN, outs + 64 * j);
    x.outstanding(inodeEnds[j - 1] ?? 0, inodeEnds[j], 0, per, traceRecord(j));
  }
  // Only the trace views read the per-event rows (the summary reads the totals): packed and
  // written on first use, from this memory, kept until then.
  db.defer(`dma_heap_charge:${id}`, ['dma_heap_charge'], () => {
    const packed = e.reserve(8 * PACKED_VALUES * n);
    const values = x.pack(n, 0, indexes, packed);
    const from = f64(packed, values);
    // (event_id, unit, responsible, cumulative_bytes, next_event_id) → the columns of CHARGE_COLUMNS.
    const rows = new Float64Array((values / PACKED_VALUES) * (PACKED_VALUES + 1));
    for (let i = 0, o = 0; i < values; i += PACKED_VALUES, o += PACKED_VALUES + 1) {
      const unit = from[i + 1];
      const w = from[i + 2];
      rows[o] = from[i];
      rows[o + 1] = unit - Math.floor(unit / UNIT) * UNIT;
      rows[o + 2] = pid[w] ?? NaN;
      rows[o + 3] = from[i + 3];
      rows[o + 4] = from[i + 4];
      rows[o + 5] = upid[w] ?? NaN;
    }
    db.insertMany('dma_heap_charge', CHARGE_COLUMNS.filter((c) => c !== 'snapshot_id'), rows, [['snapshot_id', id]]);
  });

  const order = new Uint32Array(e.memory.buffer, orderAt, n);
  const event = (i: number, field: number) => e.values[(i * EVENT_BYTES) / 8 + field];
  const records = f64(per, (RECORD_BYTES / 8) * (count + eventSources.length));
  // A record's fields (charge.wat): running sum, peak, first ts, last ts, allocs, frees, allocated,
  // freed; then the buffers outstanding at the end: count, bytes, largest, largest inode, first ts, last ts.
  const record = (w: number) => Array.from(records.subarray((w * RECORD_BYTES) / 8, ((w + 1) * RECORD_BYTES) / 8));
  const outstanding = (r: number[]) =>
    r[8] === 0 ? [0, 0, null, null, null, null] : [r[8], r[9], finiteOrNull(r[10]), finiteOrNull(r[11]), finiteOrNull(r[12]), finiteOrNull(r[13])];
  const totals: (number | string | null)[][] = [];
  // A `trace` row per trace: its events (order[first, last]), to its own end.
  for (let j = 0; j < eventSources.length; j++) {
    const t = record(count + j);
    const [first, last] = [order[segments[j]], order[segments[j + 1] - 1]];
    const [weighted, error, dur, values, heapMin, heapMax, allFreed] = f64(outs + 64 * j, 7);
    const traceEnd = k.traceEnds.get(eventSources[j]) ?? NaN;
    totals.push([
      id,
      'trace',
      null,
      null,
      t[4],
      t[5],
      t[6],
      t[7],
      t[6] - t[7],
      ...outstanding(t),
      t[4] + t[5] > 0 ? t[1] : null,
      event(first, TS),
      event(last, TS),
      allFreed - t[7],
      values > 0 && dur !== 0 ? (weighted + error) / dur : null,
      finiteOrNull(heapMin),
      finiteOrNull(heapMax),
      nullIfNaN(event(last, HEAP)),
      nullIfNaN(traceEnd),
      null,
      eventSources[j],
    ]);
  }
  for (let w = 0; w < count; w++) {
    const r = record(w);
    if (r[4] + r[5] === 0) continue; // no charged event
    totals.push([id, 'process', pid[w], tid[w], r[4], r[5], r[6], r[7], r[6] - r[7], ...outstanding(r), r[1], r[2], r[3], null, null, null, null, null, null, upid[w], src[w]]);
  }
  db.insertMany('dma_heap_totals', TOTALS_COLUMNS, totals);
}
