// DMA-BUF RSS over a trace per process, what the `rss_growth` leak findings read: computed once
// per snapshot when it is merged (src/db/merge.ts) into `dmabuf_rss_totals`
// (src/db/schema/20-trace.sql). The rules are those of the view `_dmabuf_rss_totals`
// (src/queries/dmabuf_leak_suspects_trace.sql): two window functions and a grouping over every
// sample, which sql.js takes some 2 s to run over 260,000 samples. Here the samples are summed up
// as they are written while a session loads (`RssCapture`), in one pass, per trace and pid; at
// the merge each pid's sums go to the process that held it (`process_instance`, instances.ts).
// Each trace is summed on its own: a pid or thread two traces of a snapshot sampled is two rows.
// A pid held by several processes, or by one for part of the trace, has its samples sorted
// out by the same rule as the charges, from the samples held back (`Db.heldRows`) or read
// back, those of such pids only. A snapshot whose samples were not all seen that way, or hold a
// value a JS number cannot hold exactly, is computed from the view.
import type { Db } from './database.js';
import type { Rows } from '../importers/types.js';
import { isExact, nullableExact, rowCount, valueAt } from './packed.js';
import { TableCapture, type Captured } from './capture.js';
import { heldBy, processInstances, type Instances } from './instances.js';

const COLUMNS = ['snapshot_id', 'pid', 'tid', 'samples', 'first_ts', 'first_bytes', 'last_ts', 'last_bytes', 'peak_bytes', 'origins', 'upid', 'source_id'] as const;

/** The samples of one process (or pid, or thread whose process is unknown) so far. */
interface Owner {
  /** The trace (`source_id`) of the samples. */
  source: number;
  pid: number | null;
  tid: number | null;
  upid: number | null;
  samples: number;
  firstTs: number;
  firstBytes: number;
  /** Rowid of the first sample and of the last (ties at one ts: the lower rowid is first, the higher last). */
  firstSeq: number;
  lastTs: number;
  lastBytes: number;
  lastSeq: number;
  peak: number;
  origins: Set<string>;
}

const origin = (polled: number) => (polled === 1 ? 'process_stats' : 'dmabuf_rss_stat');

function owner(source: number, pid: number | null, tid: number | null, upid: number | null, seq: number, ts: number, bytes: number, polled: number): Owner {
  return { source, pid, tid, upid, samples: 1, firstTs: ts, firstBytes: bytes, firstSeq: seq, lastTs: ts, lastBytes: bytes, lastSeq: seq, peak: bytes, origins: new Set([origin(polled)]) };
}

/** Add `b`'s samples to `a`'s (either may have come first). */
function merge(a: Owner, b: Owner): void {
  a.samples += b.samples;
  if (b.firstTs < a.firstTs || (b.firstTs === a.firstTs && b.firstSeq < a.firstSeq)) (a.firstTs = b.firstTs), (a.firstBytes = b.firstBytes), (a.firstSeq = b.firstSeq);
  if (b.lastTs > a.lastTs || (b.lastTs === a.lastTs && b.lastSeq > a.lastSeq)) (a.lastTs = b.lastTs), (a.lastBytes = b.lastBytes), (a.lastSeq = b.lastSeq);
  if (b.peak > a.peak) a.peak = b.peak;
  for (const o of b.origins) a.origins.add(o);
}

/** Add `o` to the owner at `key` of `owners`. */
function addTo(owners: Map<string, Owner>, key: string, o: Owner): void {
  const w = owners.get(key);
  if (w === undefined) owners.set(key, o);
  else merge(w, o);
}

/** One snapshot's samples as they were written: per trace and pid (`s<source>p<pid>`) or thread (`s<source>t<tid>`), in rowid order from `firstRowid`. */
interface Samples extends Captured {
  owners: Map<string, Owner>;
}

/** `dmabuf_rss_sample` rows summed up as the importers write them: used when exact and complete. */
export class RssCapture extends TableCapture<Samples> {
  constructor(db: Db) {
    super(db, 'dmabuf_rss_sample');
  }

  protected start(firstRowid: number): Samples {
    return { owners: new Map(), n: 0, firstRowid };
  }

  protected add(s: Samples, columns: readonly string[], rows: Rows, firstRowid: number, source: number | null): boolean {
    // The batch's trace: given every row alike (the importers' way), else not taken.
    if (source === null || !isExact(source)) return false;
    const width = columns.length;
    const [ts, pid, tid, bytes, polled] = ['ts', 'pid', 'tid', 'rss_bytes', 'polled'].map((c) => columns.indexOf(c));
    const value = (r: number, c: number) => (c < 0 ? null : valueAt(rows, width, r, c));
    const count = rowCount(rows, width);
    for (let r = 0; r < count; r++) {
      const t = value(r, ts);
      const b = value(r, bytes);
      const p = value(r, pid) ?? null;
      const th = value(r, tid) ?? null;
      const pl = value(r, polled);
      if (!isExact(t) || !isExact(b) || !nullableExact(p) || !nullableExact(th) || !isExact(pl)) return false;
      const key = p !== null ? `s${source}p${p}` : `s${source}t${th}`;
      const w = s.owners.get(key);
      if (w === undefined) {
        s.owners.set(key, owner(source, p, p === null ? th : null, null, firstRowid + r, t, b, pl));
        continue;
      }
      w.samples++;
      // Rows come in rowid order: among samples at one ts the first written stays first, the last written becomes last.
      if (t < w.firstTs) (w.firstTs = t), (w.firstBytes = b), (w.firstSeq = firstRowid + r);
      if (t >= w.lastTs) (w.lastTs = t), (w.lastBytes = b), (w.lastSeq = firstRowid + r);
      if (b > w.peak) w.peak = b;
      w.origins.add(origin(pl));
    }
    s.n += count;
    return true;
  }

  /** A snapshot's sums, if the capture saw every one of its samples. Taken once. */
  take(id: number): Samples | undefined {
    return this.taken(id);
  }
}

/** How a snapshot's RSS totals were computed: no sample, the in-memory pass, or the SQL view. */
export type RssMethod = 'none' | 'pass' | 'sql';

/**
 * (Re)compute `dmabuf_rss_totals` for one snapshot, from its samples as captured or else with the
 * view. Idempotent.
 */
export function rssTotals(db: Db, snapshotId: number, capture?: RssCapture): RssMethod {
  const id = Number(snapshotId);
  db.exec(`DELETE FROM dmabuf_rss_totals WHERE snapshot_id = ${id}`);
  const s = capture?.take(id);
  const owners = s === undefined ? undefined : byProcess(db, id, s);
  if (owners === undefined) {
    // No sample held back or written: nothing to sum up (and nothing held is written to know it).
    if (s === undefined && db.heldRows('dmabuf_rss_sample', id)?.length === 0) return 'none';
    db.exec(`INSERT INTO dmabuf_rss_totals (${COLUMNS.join(', ')}) SELECT ${COLUMNS.join(', ')} FROM _dmabuf_rss_totals WHERE snapshot_id = ${id}`);
    return 'sql';
  }
  const rows = [...owners.values()].map((w) => [
    id,
    w.pid,
    w.tid,
    w.samples,
    w.firstTs,
    w.firstBytes,
    w.lastTs,
    w.lastBytes,
    w.peak,
    [...w.origins].sort().join(','),
    w.upid,
    w.source,
  ]);
  db.insertMany('dmabuf_rss_totals', COLUMNS, rows);
  return rows.length === 0 ? 'none' : 'pass';
}

/**
 * The captured sums per owner as the view groups samples: per process that held the pid at the
 * sample's time (`process_instance` of the sample's trace), per trace and pid when none did or
 * the trace has no process for it, per trace and thread when the pid is unknown. The samples of a pid that is not
 * one process's for the whole trace are gone through again, one by one. Undefined when a value
 * is not exact or those samples cannot be read exactly.
 */
function byProcess(db: Db, id: number, s: Samples): Map<string, Owner> | undefined {
  const instances = processInstances(db, id);
  if (instances === 'inexact') return undefined;
  const owners = new Map<string, Owner>();
  /** The pids to go through again, per source. */
  const again = new Map<number, Map<number, Instances>>();
  for (const [key, w] of s.owners) {
    if (w.pid === null) {
      addTo(owners, key, w);
      continue;
    }
    const source = w.source;
    const list = instances.bySource.get(source)?.get(w.pid);
    if (list === undefined) addTo(owners, key, w);
    else if (list.simple) addTo(owners, `u${list.upids[0]}`, { ...w, upid: list.upids[0] });
    else {
      let pids = again.get(source);
      if (pids === undefined) again.set(source, (pids = new Map()));
      pids.set(w.pid, list);
    }
  }
  if (again.size === 0) return owners;
  const sample = (source: number, seq: number, pid: number, ts: number, bytes: number, polled: number) => {
    const list = again.get(source)?.get(pid);
    if (list === undefined) return;
    const i = heldBy(list, ts);
    const upid = i < 0 ? null : list.upids[i];
    addTo(owners, upid === null ? `s${source}p${pid}` : `u${upid}`, owner(source, pid, null, upid, seq, ts, bytes, polled));
  };
  const held = db.heldRows('dmabuf_rss_sample', id);
  if (held !== undefined) {
    for (const b of held) {
      const source = b.fixed.find(([c]) => c === 'source_id')?.[1];
      const width = b.columns.length;
      const [ts, pid, bytes, polled] = ['ts', 'pid', 'rss_bytes', 'polled'].map((c) => b.columns.indexOf(c));
      if (source === undefined || !again.has(source) || pid < 0) continue;
      // Exact: the capture took these very rows.
      for (let o = 0, seq = b.first; o < b.rows.length; o += width, seq++) sample(source, seq, b.rows[o + pid], b.rows[o + ts], b.rows[o + bytes], b.rows[o + polled]);
    }
    return owners;
  }
  const pids = [...new Set([...again.values()].flatMap((m) => [...m.keys()]))];
  for (const r of db.query(`SELECT rowid, source_id, pid, ts, rss_bytes, polled FROM dmabuf_rss_sample WHERE snapshot_id = ? AND pid IN (${pids.join(', ')}) ORDER BY rowid`, [id])) {
    if (![r.rowid, r.source_id, r.ts, r.rss_bytes, r.polled].every(isExact)) return undefined;
    sample(r.source_id as number, r.rowid as number, r.pid as number, r.ts as number, r.rss_bytes as number, r.polled as number);
  }
  return owners;
}
