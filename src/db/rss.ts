// DMA-BUF RSS over a trace per process, what the `rss_growth` leak findings read: computed once
// per snapshot when it is merged (src/db/merge.ts) into `dmabuf_rss_totals`
// (src/db/schema/20-trace.sql). The rules are those of the view `_dmabuf_rss_totals`
// (src/queries/dmabuf_leak_suspects_trace.sql): two window functions and a grouping over every
// sample, which sql.js takes some 2 s to run over 260,000 samples. Here the samples are summed up
// as they are written while a session loads (`RssCapture`), in one pass; a snapshot whose
// samples were not all seen that way, or hold a value a JS number cannot hold exactly, is
// computed from the view.
import type { Db } from './database.js';
import type { Rows } from '../importers/types.js';
import { isExact, nullableExact, rowCount, valueAt } from './packed.js';
import { TableCapture, type Captured } from './capture.js';

const COLUMNS = ['snapshot_id', 'pid', 'tid', 'samples', 'first_ts', 'first_bytes', 'last_ts', 'last_bytes', 'peak_bytes', 'origins', 'upid'] as const;

/** The samples of one process (or of one thread whose process is unknown) so far. */
interface Owner {
  pid: number | null;
  tid: number | null;
  samples: number;
  firstTs: number;
  firstBytes: number;
  lastTs: number;
  lastBytes: number;
  peak: number;
  origins: Set<string>;
}

/** One snapshot's samples as they were written: per owner, in rowid order from `firstRowid`. */
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

  protected add(s: Samples, columns: readonly string[], rows: Rows): boolean {
    const width = columns.length;
    const [ts, pid, tid, bytes, polled] = ['ts', 'pid', 'tid', 'rss_bytes', 'polled'].map((c) => columns.indexOf(c));
    const value = (r: number, c: number) => (c < 0 ? null : valueAt(rows, width, r, c));
    const count = rowCount(rows, width);
    for (let r = 0; r < count; r++) {
      const t = value(r, ts);
      const b = value(r, bytes);
      const p = value(r, pid) ?? null;
      const th = value(r, tid) ?? null;
      // The origin as `dmabuf_rss_sample.origin` names it.
      const o = value(r, polled) === 1 ? 'process_stats' : 'dmabuf_rss_stat';
      if (!isExact(t) || !isExact(b) || !nullableExact(p) || !nullableExact(th) || !isExact(value(r, polled))) return false;
      const key = p !== null ? `p${p}` : `t${th}`;
      const w = s.owners.get(key);
      if (w === undefined) {
        s.owners.set(key, { pid: p, tid: p === null ? th : null, samples: 1, firstTs: t, firstBytes: b, lastTs: t, lastBytes: b, peak: b, origins: new Set([o]) });
        continue;
      }
      w.samples++;
      // Rows come in rowid order: among samples at one ts the first written stays first, the last written becomes last.
      if (t < w.firstTs) (w.firstTs = t), (w.firstBytes = b);
      if (t >= w.lastTs) (w.lastTs = t), (w.lastBytes = b);
      if (b > w.peak) w.peak = b;
      w.origins.add(o);
    }
    s.n += count;
    return true;
  }

  /** A snapshot's sums, if the capture saw every one of its samples. Taken once. */
  take(id: number): Samples | undefined {
    return this.taken(id);
  }
}

/**
 * (Re)compute `dmabuf_rss_totals` for one snapshot, from its samples as captured or else with the
 * view (also when a pid of the snapshot was held by more than one process, or by one for part of
 * the trace: the samples are then summed per process, which the capture, per pid, cannot do).
 * Idempotent.
 */
export function rssTotals(db: Db, snapshotId: number, capture?: RssCapture): void {
  const id = Number(snapshotId);
  db.exec(`DELETE FROM dmabuf_rss_totals WHERE snapshot_id = ${id}`);
  const s = capture?.take(id);
  // The process of each pid, when one held it for the whole trace (else the pid is not simple).
  const upids = new Map<number, number>();
  let simple = true;
  for (const r of db.query('SELECT pid, count(*) AS n, max(upid) AS upid, max(start_ts IS NOT NULL OR end_ts IS NOT NULL) AS partial FROM process_instance WHERE snapshot_id = ? GROUP BY pid', [id])) {
    if (r.n !== 1 || r.partial === 1) simple = false;
    upids.set(r.pid as number, r.upid as number);
  }
  if (s === undefined || !simple) {
    // No sample held back or written: nothing to sum up (and nothing held is written to know it).
    if (s === undefined && db.heldRows('dmabuf_rss_sample', id)?.length === 0) return;
    db.exec(`INSERT INTO dmabuf_rss_totals (${COLUMNS.join(', ')}) SELECT ${COLUMNS.join(', ')} FROM _dmabuf_rss_totals WHERE snapshot_id = ${id}`);
    return;
  }
  const rows = [...s.owners.values()].map((w) => [
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
    w.pid === null ? null : (upids.get(w.pid) ?? null),
  ]);
  db.insertMany('dmabuf_rss_totals', COLUMNS, rows);
}
