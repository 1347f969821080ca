// Who is charged for each DMA-BUF heap event of a trace, and the totals the trace analyses
// report, computed once per snapshot when it is merged (src/db/merge.ts) into the tables
// `dma_heap_charge` and `dma_heap_totals` (src/db/schema/20-trace.sql).
//
// The rules are those of the views `_dmabuf_gralloc_served`, `_dmabuf_attributed`,
// `_dmabuf_charged` and `_dmabuf_trace_totals` (src/queries/android_dmabuf_allocs.sql,
// dmabuf_trace_summary.sql): window functions over every event, which in sql.js cost a sort
// per window and a JS↔wasm round trip per row. Here the events are read once into typed
// arrays and put in trace order (ts, then event_id) once; short loops over them compute the
// charged thread, the next charged event on each inode, the running sums per responsible
// process and overall, the buffers outstanding at the end and the heaps' total over time.
// The totals go back with multi-row INSERTs; the per-event rows too, but on first use
// (`Db.defer`): only the trace views read them, the summary does not. Each loop is its own
// function: V8 optimizes a small function with one hot loop quickly, and a pass runs once per
// trace. While a session loads, the events are taken as they are written (`EventCapture`).
//
// The SQL views remain the statement of the rules and the fallback: a snapshot with more
// events than the pass may hold (memory stays bounded whatever the trace size), or with a
// value a JS number cannot hold exactly (beyond 2^53), is computed by INSERT … SELECT from them.
import type { Db } from './database.js';
import type { Rows } from '../importers/types.js';
import { rowCount, valueAt } from './packed.js';

/**
 * Events the pass holds in memory, at most: it needs about 150 bytes per event (under 80 MB
 * here, a trace of some 3 GB); a snapshot with more is computed by the SQL views instead.
 */
export const MAX_PASS_EVENTS = 500_000;

const CHARGE_COLUMNS = ['event_id', 'snapshot_id', 'tid', 'pid', 'cumulative_bytes', 'next_event_id'] as const;
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
  if (events === 'too_many' || events === 'inexact') {
    db.exec(`
      INSERT INTO dma_heap_charge (${CHARGE_COLUMNS.join(', ')})
      SELECT ${CHARGE_COLUMNS.join(', ')} FROM _dmabuf_charged WHERE snapshot_id = ${id} ORDER BY event_id;
      INSERT INTO dma_heap_totals (${TOTALS_COLUMNS.join(', ')})
      SELECT ${TOTALS_COLUMNS.join(', ')} FROM _dmabuf_trace_totals WHERE snapshot_id = ${id};`);
    return 'sql';
  }
  pass(db, id, events);
  return 'pass';
}

// ---- reading ----------------------------------------------------------------------------

/**
 * `dma_heap_event` rows kept as the importers write them (`Db.observe`), so that the pass
 * need not read them back (a JS↔wasm round trip per value). A snapshot's capture is used only
 * when it is complete: exact values, as many as the table holds, with consecutive rowids.
 */
export class EventCapture {
  private readonly events = new Map<number, Events | 'unusable'>();
  private readonly stop: () => void;

  constructor(private readonly db: Db) {
    this.stop = db.observe('dma_heap_event', (columns, rows, fixed, first) => this.add(columns, rows, fixed, first));
  }

  /** Stop capturing (and let go of what was not taken). */
  close(): void {
    this.stop();
    this.events.clear();
  }

  private add(columns: readonly string[], rows: Rows, fixed: readonly (readonly [string, number])[], firstRowid: number): void {
    const id = fixed.find(([c]) => c === 'snapshot_id')?.[1];
    if (id === undefined) return; // not attributable: the snapshot's rowids will not match
    let e = this.events.get(id);
    if (e === 'unusable') return;
    if (e === undefined) {
      e = allocEvents(1024);
      e.firstRowid = firstRowid;
    }
    const at = (c: string) => columns.indexOf(c);
    const [ts, inode, size, heap, tid] = [at('ts'), at('inode'), at('size_delta'), at('heap_total'), at('tid')];
    const nullable = (v: unknown) => v === null || v === undefined || isExact(v);
    const width = columns.length;
    const value = (r: number, c: number) => (c < 0 ? null : valueAt(rows, width, r, c));
    const count = rowCount(rows, width);
    let n = e.n;
    for (let r = 0; r < count; r++) {
      const t = value(r, ts);
      const sz = value(r, size);
      const ino = value(r, inode);
      const h = value(r, heap);
      const th = value(r, tid);
      if (ts < 0 || size < 0 || !isExact(t) || !isExact(sz) || !nullable(ino) || !nullable(h) || !nullable(th)) {
        this.events.set(id, 'unusable');
        return;
      }
      if (n === MAX_PASS_EVENTS) {
        this.events.set(id, 'unusable'); // read by the SQL views anyway
        return;
      }
      if (n === e.ts.length) e = growEvents(e, n * 2);
      e.ts[n] = t;
      e.size[n] = sz;
      e.inode[n] = typeof ino === 'number' ? ino : NaN;
      e.heap[n] = typeof h === 'number' ? h : NaN;
      e.tid[n] = typeof th === 'number' ? th : NaN;
      n++;
    }
    e.n = n;
    this.events.set(id, e);
  }

  /**
   * A snapshot's events in rowid order, if the capture holds all of them: its rows are the
   * table's last ones, consecutive from the first captured (nothing else writes this table
   * while a snapshot loads; checked with the table's largest rowid). Taken once.
   */
  take(id: number, max: number): Events | undefined {
    const e = this.events.get(id);
    this.events.delete(id);
    if (e === undefined || e === 'unusable' || e.n > max) return undefined;
    if (this.db.maxRowid('dma_heap_event') - e.firstRowid + 1 !== e.n) return undefined;
    let moved = 0;
    for (let i = 0; i < e.n; i++) {
      e.rowid[i] = e.firstRowid + i;
      moved += Math.abs(e.size[i]);
    }
    return Number.isSafeInteger(moved) ? e : undefined;
  }
}

/** One snapshot's `dma_heap_event` rows as columns, in rowid order. NaN stands for NULL. */
interface Events {
  n: number;
  /** Rowid of the first event (captured events: the others follow it). */
  firstRowid: number;
  rowid: Float64Array;
  ts: Float64Array;
  inode: Float64Array;
  size: Float64Array;
  heap: Float64Array;
  tid: Float64Array;
}

const isExact = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v);

function readEvents(db: Db, id: number, max: number): Events | 'none' | 'too_many' | 'inexact' {
  const sql = 'SELECT rowid, ts, inode, size_delta, heap_total, tid FROM dma_heap_event WHERE snapshot_id = ? LIMIT ?';
  db.settle(sql);
  const st = db.raw.prepare(sql);
  try {
    st.bind([id, max + 1]);
    let e = allocEvents(1024);
    let n = 0;
    // Bytes moved in all: every running sum stays exact when this does.
    let moved = 0;
    while (st.step()) {
      if (n === max) return 'too_many';
      const r = st.get();
      const rowid = r[0];
      const ts = r[1];
      const inode = r[2];
      const size = r[3];
      const heap = r[4];
      const tid = r[5];
      if (
        !isExact(rowid) ||
        !isExact(ts) ||
        !isExact(size) ||
        (inode !== null && !isExact(inode)) ||
        (heap !== null && !isExact(heap)) ||
        (tid !== null && !isExact(tid))
      ) {
        return 'inexact';
      }
      if (n === e.rowid.length) e = growEvents(e, n * 2);
      e.rowid[n] = rowid;
      e.ts[n] = ts;
      e.inode[n] = inode === null ? NaN : inode;
      e.size[n] = size;
      e.heap[n] = heap === null ? NaN : heap;
      e.tid[n] = tid === null ? NaN : tid;
      moved += Math.abs(size);
      n++;
    }
    if (n === 0) return 'none';
    if (!Number.isSafeInteger(moved)) return 'inexact';
    e.n = n;
    return e;
  } finally {
    st.free();
  }
}

function allocEvents(cap: number): Events {
  return {
    n: 0,
    firstRowid: 0,
    rowid: new Float64Array(cap),
    ts: new Float64Array(cap),
    inode: new Float64Array(cap),
    size: new Float64Array(cap),
    heap: new Float64Array(cap),
    tid: new Float64Array(cap),
  };
}

function growEvents(e: Events, cap: number): Events {
  const g = allocEvents(cap);
  g.n = e.n;
  g.firstRowid = e.firstRowid;
  g.rowid.set(e.rowid);
  g.ts.set(e.ts);
  g.inode.set(e.inode);
  g.size.set(e.size);
  g.heap.set(e.heap);
  g.tid.set(e.tid);
  return g;
}

// ---- helpers ----------------------------------------------------------------------------

/**
 * Dense ids 0, 1, 2… for the distinct values of a column (integers; NaN for NULL): a direct
 * table when the values span a compact range (inodes usually do), else open addressing over
 * typed arrays. No per-key object, unlike a Map of doubles, and cache-friendly.
 */
class DenseIds {
  count = 0;
  private nanId = -1;
  /** Direct table: ids by value − base (-1: none yet). */
  private direct: Int32Array | null = null;
  private base = 0;
  private keys = new Float64Array(0);
  private slots = new Int32Array(0);
  private mask = 0;

  /** Ids for `values[0..n)`: a direct table when their range (NaN aside) is less than `directLimit` wide. */
  static over(values: Float64Array, n: number, directLimit: number): DenseIds {
    let lo = Infinity;
    let hi = -Infinity;
    for (let i = 0; i < n; i++) {
      const v = values[i];
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    return new DenseIds(lo, hi, directLimit);
  }

  /** `min`..`max`: range of the values (NaN aside); a direct table is used when it is less than `directLimit` wide. */
  private constructor(min: number, max: number, directLimit: number) {
    if (max >= min && max - min < directLimit) {
      this.base = min;
      this.direct = new Int32Array(max - min + 1).fill(-1);
    } else {
      this.rehash(1024);
    }
  }

  id(v: number): number {
    if (v !== v) {
      if (this.nanId < 0) this.nanId = this.count++;
      return this.nanId;
    }
    const d = this.direct;
    if (d !== null) {
      const k = v - this.base;
      const q = d[k];
      if (q >= 0) return q;
      return (d[k] = this.count++);
    }
    let h = hash(v) & this.mask;
    for (;;) {
      const s = this.slots[h];
      if (s < 0) {
        this.slots[h] = this.count;
        this.keys[h] = v;
        if ((this.count + 1) * 2 > this.slots.length) this.rehash(this.slots.length * 2);
        return this.count++;
      }
      if (this.keys[h] === v) return s;
      h = (h + 1) & this.mask;
    }
  }

  private rehash(cap: number): void {
    const keys = this.keys;
    const slots = this.slots;
    this.keys = new Float64Array(cap);
    this.slots = new Int32Array(cap).fill(-1);
    this.mask = cap - 1;
    for (let j = 0; j < slots.length; j++) {
      if (slots[j] < 0) continue;
      let h = hash(keys[j]) & this.mask;
      while (this.slots[h] >= 0) h = (h + 1) & this.mask;
      this.slots[h] = slots[j];
      this.keys[h] = keys[j];
    }
  }
}

/** Hash of an integer below 2^53 (both 32-bit halves mixed). */
function hash(v: number): number {
  return Math.imul((v >>> 0) ^ Math.imul((v / 4294967296) | 0, 0x9e3779b1), 0x85ebca6b) >>> 15;
}

/** A gralloc thread's serving spans: from `start` to `end` (inclusive), its allocations are the client's. */
class Spans {
  private readonly list: { start: number; end: number; client: number }[] = [];
  /** maxEnd[j]: latest end among the spans 0..j (earlier spans cannot contain a time past it). */
  private maxEnd: number[] = [];

  add(start: number, end: number, client: number): void {
    this.list.push({ start, end, client });
  }

  seal(): void {
    this.list.sort((a, b) => a.start - b.start);
    let m = -Infinity;
    this.maxEnd = this.list.map((s) => (m = Math.max(m, s.end)));
  }

  /** Client of the span with the latest start containing `t` (the innermost when spans nest), or NaN. */
  clientAt(t: number): number {
    const list = this.list;
    // Last span starting at or before t.
    let lo = 0;
    let hi = list.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (list[mid].start <= t) lo = mid + 1;
      else hi = mid;
    }
    for (let j = lo - 1; j >= 0 && this.maxEnd[j] >= t; j--) {
      if (list[j].end >= t) return list[j].client;
    }
    return NaN;
  }
}

/** Kahan–Babuška–Neumaier sum, as SQLite's sum() of REAL values (same order, same result). */
class ExactSum {
  private s = 0;
  private err = 0;
  add(r: number): void {
    const t = this.s + r;
    if (Math.abs(this.s) > Math.abs(r)) this.err += this.s - t + r;
    else this.err += r - t + this.s;
    this.s = t;
  }
  get value(): number {
    return this.s + this.err;
  }
}

const nullIfNaN = (v: number): number | null => (v === v ? v : null);
const finiteOrNull = (v: number): number | null => (Number.isFinite(v) ? v : null);

// ---- the pass ---------------------------------------------------------------------------

/** What the snapshot's other tables say: thread → process, gralloc spans, end of the trace. */
interface Known {
  pidOf: Map<number, number | null>;
  spans: Map<number, Spans>;
  /** max(trace_info.end_ts), NaN when unknown. */
  traceEnd: number;
}

function known(db: Db, id: number): Known {
  const pidOf = new Map<number, number | null>();
  for (const r of db.query('SELECT tid, pid FROM thread WHERE snapshot_id = ?', [id])) {
    pidOf.set(r.tid as number, (r.pid as number | null) ?? null);
  }
  const spans = new Map<number, Spans>();
  for (const r of db.query('SELECT server_tid, client_tid, start_ts, end_ts FROM _dmabuf_gralloc_served WHERE snapshot_id = ?', [id])) {
    if (r.end_ts === null || r.start_ts === null) continue; // covers nothing
    const server = r.server_tid as number;
    let list = spans.get(server);
    if (!list) spans.set(server, (list = new Spans()));
    list.add(Number(r.start_ts), Number(r.end_ts), r.client_tid === null ? NaN : Number(r.client_tid));
  }
  for (const list of spans.values()) list.seal();
  const end = db.query('SELECT max(end_ts) AS end_ts FROM trace_info WHERE snapshot_id = ?', [id])[0];
  return { pidOf, spans, traceEnd: end === undefined || end.end_ts === null ? NaN : Number(end.end_ts) };
}

/** Event indices in trace order: ts, then event_id (the events are in rowid order). */
function traceOrder(ts: Float64Array, n: number): Uint32Array {
  const order = new Uint32Array(n);
  let sorted = true;
  for (let i = 0; i < n; i++) {
    order[i] = i;
    if (i > 0 && ts[i] < ts[i - 1]) sorted = false;
  }
  if (!sorted) order.sort((a, b) => ts[a] - ts[b] || a - b);
  return order;
}

/** attr_tid of each event: the client when a gralloc thread makes it inside a serving span, else its thread. */
function attribute(e: Events, spans: Map<number, Spans>): Float64Array {
  if (spans.size === 0) return e.tid;
  const attr = new Float64Array(e.tid);
  for (let i = 0; i < e.n; i++) {
    const served = spans.get(e.tid[i]);
    if (served === undefined) continue;
    // coalesce(client, emitter): a span's NULL client leaves the emitter.
    const client = served.clientAt(e.ts[i]);
    if (client === client) attr[i] = client;
  }
  return attr;
}

/** Per event, the charged thread (NaN: dropped) and the next charged event on its inode; per inode, its last event. */
interface Charges {
  charged: Float64Array;
  next: Int32Array;
  /** Per inode: the first event (in order) at its latest ts, the row `max(ts)` picks. */
  lastEvent: Int32Array;
  inodes: number;
}

/**
 * An allocation is charged to its attribution; a free (size <= 0) to the attribution of the
 * latest strictly earlier event on its inode (the last in order among those at the greatest
 * earlier ts), and dropped when there is none.
 */
function charge(e: Events, order: Uint32Array, attr: Float64Array): Charges {
  const n = e.n;
  const { ts, inode, size } = e;
  const ids = DenseIds.over(inode, n, 4 * n + 4096);
  // Per inode q: [3q] latest ts, [3q+1] attribution of the last event at it, [3q+2] of the last one before it.
  const state = new Float64Array(3 * n);
  const lastCharged = new Int32Array(n);
  const lastEvent = new Int32Array(n);
  const charged = new Float64Array(n);
  const next = new Int32Array(n).fill(-1);
  for (let k = 0; k < n; k++) {
    const i = order[k];
    const t = ts[i];
    const a = attr[i];
    const alloc = size[i] > 0;
    const fresh = ids.count;
    const q = ids.id(inode[i]);
    const f = 3 * q;
    let c: number;
    if (q === fresh) {
      c = alloc ? a : NaN;
      state[f] = t;
      state[f + 1] = a;
      state[f + 2] = NaN;
      lastCharged[q] = -1;
      lastEvent[q] = i;
    } else if (state[f] < t) {
      c = alloc ? a : state[f + 1];
      state[f + 2] = state[f + 1];
      state[f] = t;
      state[f + 1] = a;
      lastEvent[q] = i;
    } else {
      c = alloc ? a : state[f + 2];
      state[f + 1] = a;
    }
    charged[i] = c;
    if (c === c) {
      const prev = lastCharged[q];
      if (prev >= 0) next[prev] = i;
      lastCharged[q] = i;
    }
  }
  return { charged, next, lastEvent, inodes: ids.count };
}

/** The responsible processes (threads when the process is unknown) and which one each event is charged to. */
interface Responsibles {
  /** Per event: index in pid/tid, -1 when the event is not charged. */
  of: Int32Array;
  /** Per responsible: its process, or null with its thread. */
  pid: (number | null)[];
  tid: (number | null)[];
  /** Responsible of a thread (creating it when new). */
  lookup(t: number): number;
}

function responsibles(charged: Float64Array, n: number, pidOf: Map<number, number | null>): Responsibles {
  const pid: (number | null)[] = [];
  const tid: (number | null)[] = [];
  const byPid = new Map<number, number>();
  const tids = DenseIds.over(charged, n, 4 * n + 65536);
  const ofTid: number[] = [];
  const lookup = (t: number): number => {
    const k = tids.id(t);
    if (k < ofTid.length) return ofTid[k];
    const p = pidOf.get(t) ?? null;
    let w: number | undefined;
    if (p !== null) {
      w = byPid.get(p);
      if (w === undefined) {
        byPid.set(p, (w = pid.length));
        pid.push(p);
        tid.push(null);
      }
    } else {
      w = pid.length;
      pid.push(null);
      tid.push(t);
    }
    ofTid.push(w);
    return w;
  };
  const of = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const c = charged[i];
    of[i] = c === c ? lookup(c) : -1;
  }
  return { of, pid, tid, lookup };
}

/** Totals of a set of charged events, with the highest running sum of their sizes. */
class Totals {
  allocs = 0;
  frees = 0;
  allocated = 0;
  freed = 0;
  peak = -Infinity;
  firstTs = NaN;
  lastTs = NaN;
}

/**
 * In trace order: the running sum of each responsible (per row, for its peak; and per
 * timestamp, events at the same ts included, for Perfetto's cumulative value) and overall,
 * and the totals of each responsible and of the trace.
 */
function runningSums(e: Events, order: Uint32Array, who: Int32Array, count: number): { cumulative: Float64Array; per: Totals[]; trace: Totals } {
  const n = e.n;
  const { ts, size } = e;
  const sum = new Float64Array(count);
  const per: Totals[] = [];
  for (let w = 0; w < count; w++) per.push(new Totals());
  const trace = new Totals();
  const cumulative = new Float64Array(n);
  let all = 0;
  let groupStart = 0;
  for (let k = 0; k < n; k++) {
    const i = order[k];
    const t = ts[i];
    if (k > 0 && t !== ts[order[k - 1]]) {
      // A new timestamp: the previous one's events get their responsible's sum after all of it.
      for (let g = groupStart; g < k; g++) {
        const j = order[g];
        if (who[j] >= 0) cumulative[j] = sum[who[j]];
      }
      groupStart = k;
    }
    const w = who[i];
    if (w < 0) continue;
    const sz = size[i];
    const p = per[w];
    const s = (sum[w] += sz);
    if (s > p.peak) p.peak = s;
    if (p.firstTs !== p.firstTs) p.firstTs = t;
    p.lastTs = t;
    all += sz;
    if (all > trace.peak) trace.peak = all;
    if (sz > 0) {
      p.allocs++;
      p.allocated += sz;
      trace.allocs++;
      trace.allocated += sz;
    } else {
      p.frees++;
      p.freed -= sz;
      trace.frees++;
      trace.freed -= sz;
    }
  }
  for (let g = groupStart; g < n; g++) {
    const j = order[g];
    if (who[j] >= 0) cumulative[j] = sum[who[j]];
  }
  return { cumulative, per, trace };
}

/** Buffers still allocated at the end of a trace, by responsible. */
class Outstanding {
  buffers = 0;
  bytes = 0;
  maxBytes = -Infinity;
  maxInode = -Infinity;
  firstTs = Infinity;
  lastTs = -Infinity;

  add(size: number, inode: number, ts: number): void {
    this.buffers++;
    this.bytes += size;
    if (size > this.maxBytes) this.maxBytes = size;
    if (inode > this.maxInode) this.maxInode = inode; // NaN (NULL) never is
    if (ts < this.firstTs) this.firstTs = ts;
    if (ts > this.lastTs) this.lastTs = ts;
  }
}

/** The heaps' total over time: each value lasts until the next event, the last until the end of the trace. */
function heapStats(e: Events, order: Uint32Array, traceEnd: number) {
  const n = e.n;
  const { ts, size, heap } = e;
  const weighted = new ExactSum();
  let dur = 0;
  let values = 0;
  let min = Infinity;
  let max = -Infinity;
  let allFreed = 0;
  for (let k = 0; k < n; k++) {
    const i = order[k];
    const t = ts[i];
    if (size[i] <= 0) allFreed -= size[i];
    const h = heap[i];
    if (h !== h) continue;
    const d = k + 1 < n ? ts[order[k + 1]] - t : Math.max(traceEnd === traceEnd ? traceEnd : t, t) - t;
    weighted.add(h * d);
    dur += d;
    values++;
    if (h < min) min = h;
    if (h > max) max = h;
  }
  return {
    avg: values > 0 && dur !== 0 ? weighted.value / dur : null,
    min: finiteOrNull(min),
    max: finiteOrNull(max),
    end: nullIfNaN(heap[order[n - 1]]),
    allFreed,
  };
}

function pass(db: Db, id: number, e: Events): void {
  const n = e.n;
  const k = known(db, id);
  const order = traceOrder(e.ts, n);
  const attr = attribute(e, k.spans);
  const { charged, next, lastEvent, inodes } = charge(e, order, attr);
  const who = responsibles(charged, n, k.pidOf);

  // Buffers outstanding at the end: the inode's last event is an allocation, charged (as an
  // allocation) to its attribution; one made by a thread-less event counts for the trace only.
  const outTrace = new Outstanding();
  const outBy = new Map<number, Outstanding>();
  for (let q = 0; q < inodes; q++) {
    const i = lastEvent[q];
    const sz = e.size[i];
    if (!(sz > 0)) continue;
    outTrace.add(sz, e.inode[i], e.ts[i]);
    const a = attr[i];
    if (a !== a) continue;
    const w = who.lookup(a);
    let o = outBy.get(w);
    if (!o) outBy.set(w, (o = new Outstanding()));
    o.add(sz, e.inode[i], e.ts[i]);
  }
  const { cumulative, per, trace } = runningSums(e, order, who.of, who.pid.length);
  const heap = heapStats(e, order, k.traceEnd);

  // Only the trace views read the per-event rows (the summary reads the totals): written on first use.
  db.defer(`dma_heap_charge:${id}`, ['dma_heap_charge'], () => writeCharges(db, id, e, charged, who, cumulative, next));

  const out = (o: Outstanding | undefined) =>
    o === undefined
      ? [0, 0, null, null, null, null]
      : [o.buffers, o.bytes, finiteOrNull(o.maxBytes), finiteOrNull(o.maxInode), finiteOrNull(o.firstTs), finiteOrNull(o.lastTs)];
  const rows: (number | string | null)[][] = [
    [
      id,
      'trace',
      null,
      null,
      trace.allocs,
      trace.frees,
      trace.allocated,
      trace.freed,
      trace.allocated - trace.freed,
      ...out(outTrace),
      trace.allocs + trace.frees > 0 ? trace.peak : null,
      e.ts[order[0]],
      e.ts[order[n - 1]],
      heap.allFreed - trace.freed,
      heap.avg,
      heap.min,
      heap.max,
      heap.end,
      nullIfNaN(k.traceEnd),
    ],
  ];
  for (let w = 0; w < per.length; w++) {
    const p = per[w];
    if (p.allocs + p.frees === 0) continue; // no charged event
    rows.push([
      id,
      'process',
      who.pid[w],
      who.tid[w],
      p.allocs,
      p.frees,
      p.allocated,
      p.freed,
      p.allocated - p.freed,
      ...out(outBy.get(w)),
      p.peak,
      p.firstTs,
      p.lastTs,
      null,
      null,
      null,
      null,
      null,
      null,
    ]);
  }
  db.insertMany('dma_heap_totals', TOTALS_COLUMNS, rows);
}

/** The `dma_heap_charge` rows, in event_id order (appends to the table's b-tree). */
function writeCharges(db: Db, id: number, e: Events, charged: Float64Array, who: Responsibles, cumulative: Float64Array, next: Int32Array): void {
  // Every value is an exact integer (or NULL): packed, NaN for NULL.
  const columns = CHARGE_COLUMNS.filter((c) => c !== 'snapshot_id');
  const width = columns.length;
  const packed = new Float64Array(e.n * width);
  let v = 0;
  for (let i = 0; i < e.n; i++) {
    const c = charged[i];
    if (c !== c) continue;
    const nx = next[i];
    packed[v++] = e.rowid[i];
    packed[v++] = c;
    packed[v++] = who.pid[who.of[i]] ?? NaN;
    packed[v++] = cumulative[i];
    packed[v++] = nx >= 0 ? e.rowid[nx] : NaN;
  }
  db.insertMany('dma_heap_charge', columns, packed.subarray(0, v), [['snapshot_id', id]]);
}
