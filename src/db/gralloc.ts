// The gralloc allocator's serving spans of a trace, what the charge pass (charge.ts) re-attributes
// allocations with: per gralloc thread, from the arrival of a synchronous binder transaction to
// the thread's next reply, its allocations are the client's. The rules are those of the view
// `_dmabuf_gralloc_served` (src/queries/android_dmabuf_allocs.sql). While the snapshot's binder
// events are held back (src/index.ts holds them: a summary never writes them), the spans are
// found here in two passes over them (`servedFromHeld`); else the view is read.
import type { Db } from './database.js';

/** A gralloc thread's serving spans: from `start` to `end` (inclusive), its allocations are the client's. */
export class Spans {
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

/** The spans of each gralloc thread of a snapshot, by thread. */
export function grallocSpans(db: Db, id: number): Map<number, Spans> {
  const spans = new Map<number, Spans>();
  const served = servedFromHeld(db, id) ?? db.query('SELECT server_tid, client_tid, start_ts, end_ts FROM _dmabuf_gralloc_served WHERE snapshot_id = ?', [id]);
  for (const r of served) {
    if (r.end_ts === null || r.start_ts === null) continue; // covers nothing
    const server = r.server_tid as number;
    let list = spans.get(server);
    if (!list) spans.set(server, (list = new Spans()));
    list.add(Number(r.start_ts), Number(r.end_ts), r.client_tid === null ? NaN : Number(r.client_tid));
  }
  for (const list of spans.values()) list.seal();
  return spans;
}

/** A set of int32 keys with a slot each (open addressing): what a Map does, without a boxed key per lookup. */
class IdTable {
  private readonly keys: Int32Array;
  private readonly used: Uint8Array;
  private readonly mask: number;

  constructor(count: number) {
    const size = 2 ** Math.max(4, Math.ceil(Math.log2(2 * count + 1)));
    this.keys = new Int32Array(size);
    this.used = new Uint8Array(size);
    this.mask = size - 1;
  }

  private slot(key: number): number {
    let h = Math.imul(key, 0x9e3779b1) >>> 0 & this.mask;
    while (this.used[h] === 1 && this.keys[h] !== key) h = (h + 1) & this.mask;
    return h;
  }

  add(key: number): void {
    const h = this.slot(key);
    this.used[h] = 1;
    this.keys[h] = key;
  }

  /** The key's slot, or -1. */
  find(key: number): number {
    const h = this.slot(key);
    return this.used[h] === 1 ? h : -1;
  }
}

/**
 * The rows of `_dmabuf_gralloc_served` for a snapshot whose binder events are all held back
 * (`Db.heldRows`), found here without writing them: the received events of the gralloc
 * threads, the synchronous transaction each is the arrival of (by debug_id), the thread's next
 * reply. Undefined when the events are not held or a value is not an exact integer.
 */
function servedFromHeld(db: Db, id: number): { server_tid: number; client_tid: number; start_ts: number; end_ts: number | null }[] | undefined {
  const batches = db.heldRows('binder_event', id);
  if (!batches) return undefined;
  if (batches.length === 0) return [];
  const servers = db.query('SELECT tid FROM _dmabuf_gralloc_thread WHERE snapshot_id = ?', [id]).map((r) => r.tid as number);
  if (servers.some((t) => t < 0 || t >= 2 ** 24)) return undefined;
  /** 1 at the gralloc threads (a byte a tid up to the largest: no hash per event). */
  const isServer = new Uint8Array(Math.max(-1, ...servers) + 1);
  for (const t of servers) isServer[t] = 1;
  /** Received events of each gralloc thread: ts, debug_id, ts, debug_id… */
  const received = new Map<number, number[]>();
  /** Replies of each gralloc thread: their ts. */
  const replies = new Map<number, number[]>();
  const list = (m: Map<number, number[]>, k: number) => {
    let l = m.get(k);
    if (!l) m.set(k, (l = []));
    return l;
  };
  const fields = batches.map(({ columns, rows }) => ({ rows, width: columns.length, at: ['ts', 'tid', 'received', 'debug_id', 'reply', 'flags'].map((c) => columns.indexOf(c)) }));
  if (fields.some(({ at }) => Math.min(...at) < 0)) return undefined;
  // First the gralloc threads' received events and replies, then the transactions they received.
  // The values these take must be exact (a value beyond 2^53 equals no exact one); threads and
  // transaction ids are 32-bit.
  let count = 0;
  for (const { rows, width, at } of fields) {
    const [ts, tid, rec, debugId, reply] = at;
    for (let o = 0; o < rows.length; o += width) {
      const th = rows[o + tid];
      if (isServer[th] !== 1) continue;
      const t = rows[o + ts];
      const d = rows[o + debugId];
      if (!Number.isSafeInteger(t) || (d | 0) !== d) return undefined;
      if (rows[o + rec] === 1) {
        list(received, th).push(t, d);
        count++;
      } else if (rows[o + rec] === 0 && rows[o + reply] === 1) list(replies, th).push(t);
    }
  }
  // Threads that sent the synchronous transactions (not one-way, not a reply) they received, by
  // debug_id: a typed table, as every transaction of the trace is looked up in it.
  const ids = new IdTable(count);
  for (const events of received.values()) for (let k = 1; k < events.length; k += 2) ids.add(events[k]);
  const senders: number[][] = [];
  for (const { rows, width, at } of fields) {
    const [, tid, rec, debugId, reply, flags] = at;
    for (let o = 0; o < rows.length; o += width) {
      // (flags & 1) = 0 in SQL: NULL flags are not.
      const f = rows[o + flags];
      const d = rows[o + debugId];
      if (rows[o + rec] !== 0 || rows[o + reply] !== 0 || !(f % 2 === 0) || (d | 0) !== d) continue;
      const slot = ids.find(d);
      if (slot < 0) continue;
      if (!Number.isSafeInteger(rows[o + tid])) return undefined;
      (senders[slot] ??= []).push(rows[o + tid]);
    }
  }
  const out: { server_tid: number; client_tid: number; start_ts: number; end_ts: number | null }[] = [];
  for (const [server, events] of received) {
    const ends = (replies.get(server) ?? []).sort((a, b) => a - b);
    for (let k = 0; k < events.length; k += 2) {
      const start = events[k];
      // The thread's first reply at or after start.
      let lo = 0;
      let hi = ends.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (ends[mid] < start) lo = mid + 1;
        else hi = mid;
      }
      const end = lo < ends.length ? ends[lo] : null;
      for (const client of senders[ids.find(events[k + 1])] ?? []) out.push({ server_tid: server, client_tid: client, start_ts: start, end_ts: end });
    }
  }
  return out;
}
