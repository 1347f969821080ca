// Builds the merged tables from what the importers observed: one `dmabuf` row per
// (snapshot, inode) whatever the number of sources, one `dmabuf_holder` row per
// (snapshot, inode, pid), the charge of every trace allocation (`dma_heap_charge`) and the
// DMA-BUF RSS totals of a trace (`dmabuf_rss_totals`). Where sources disagree the most exact
// value wins (a byte size over a kB size; among equals, the value most sources gave) and a
// `merge_conflict` diagnostic names the sources and their values. Set-based SQL: a bugreport
// has thousands of buffers. The buffers with an inode and the holders are merged in
// JavaScript where the values allow (merge-pass.ts); the SQL here states the rules.
import type { Db } from './database.js';
import { chargeTrace, type EventCapture } from './charge.js';
import { rssTotals, type RssCapture } from './rss.js';
import { mergeBuffersPass, mergeHoldersPass } from './merge-pass.js';

/** What the importers wrote, kept as they wrote it: the merge then need not read it back. */
export interface Captures {
  events?: EventCapture;
  rss?: RssCapture;
}

/**
 * How the buffers and holders of a snapshot were merged: nothing to merge, in JavaScript
 * (merge-pass.ts), or (in part) with the SQL.
 */
export type MergeMethod = 'none' | 'pass' | 'sql';

/** (Re)build the merged rows of one snapshot. Idempotent. `sqlOnly`: merge with the SQL alone. */
export function mergeSnapshot(db: Db, id: number, captures: Captures = {}, sqlOnly = false): MergeMethod {
  let method: MergeMethod = 'none';
  db.transaction(() => {
    db.exec(`DELETE FROM dmabuf WHERE snapshot_id = ${id}; DELETE FROM dmabuf_holder WHERE snapshot_id = ${id};
             DELETE FROM diagnostic WHERE snapshot_id = ${id} AND code IN ('merge_conflict', 'pid_reused_across_traces');`);
    // A snapshot with nothing observed per buffer (a trace, say) has nothing to merge.
    if (observed(db, id)) {
      const pass = sqlOnly ? undefined : mergeBuffersPass(db, id);
      if (!pass) mergeBuffers(db, id);
      mergeBuffersFromHolders(db, id);
      mergeBuffersWithoutInode(db, id);
      const holders = !sqlOnly && mergeHoldersPass(db, id);
      if (!holders) mergeHolders(db, id);
      method = pass && holders ? 'pass' : 'sql';
      db.exec(`
        UPDATE dmabuf_attachment SET dmabuf_id = (
          SELECT d.id FROM dmabuf d WHERE d.snapshot_id = dmabuf_attachment.snapshot_id AND d.inode = dmabuf_attachment.inode)
        WHERE snapshot_id = ${id} AND inode IS NOT NULL;`);
      if (!pass || pass.disagree) recordConflicts(db, id);
    }
    // A pid two traces of the snapshot each saw is of two processes, named apart as a reused one.
    db.exec(`UPDATE process_instance SET reused = 1 WHERE snapshot_id = ${id} AND reused = 0
               AND pid IN (SELECT pid FROM process_instance WHERE snapshot_id = ${id} GROUP BY pid HAVING count(*) > 1)`);
    recordPidsAcrossTraces(db, id);
    // Trace attribution, running sums and totals (ordered passes over every event) are computed
    // once here, into dma_heap_charge and dma_heap_totals, not by every view.
    chargeTrace(db, id, { capture: captures.events });
    rssTotals(db, id, captures.rss);
  });
  return method;
}

/** Pids a `pid_reused_across_traces` diagnostic names, at most. */
const MAX_PIDS_NAMED = 20;

/**
 * The `pid_reused_across_traces` diagnostic: pids that a trace of the snapshot saw as a process
 * and another trace saw as another (their names differ), the other of the same snapshot or of an
 * input loaded before it (a snapshot of the same device, as far as the build fingerprints tell:
 * one of them unknown, or both equal). Two traces of one device at different times each have
 * their own processes: a pid is not one process across them. Once per snapshot, naming each
 * such pid and each trace's names for it.
 */
function recordPidsAcrossTraces(db: Db, id: number): void {
  const rows = db.query(
    `SELECT pi.snapshot_id, pi.source_id, s.path, pi.pid, pi.name
     FROM process_instance pi
     JOIN source s ON s.id = pi.source_id
     JOIN snapshot o ON o.id = pi.snapshot_id
     JOIN snapshot me ON me.id = ?
     WHERE pi.pid IN (SELECT pid FROM process_instance WHERE snapshot_id = me.id)
       AND (o.id = me.id OR (o.id < me.id AND (o.build_fingerprint IS NULL OR me.build_fingerprint IS NULL OR o.build_fingerprint = me.build_fingerprint)))
     ORDER BY pi.pid, pi.snapshot_id, pi.source_id, pi.instance, pi.upid`,
    [id],
  );
  /** Per pid, per trace: where it is and the names of its processes (in time order). */
  const byPid = new Map<number, Map<number, { snapshot: number; path: string; names: string[] }>>();
  for (const r of rows) {
    const pid = r.pid as number;
    let traces = byPid.get(pid);
    if (traces === undefined) byPid.set(pid, (traces = new Map()));
    let t = traces.get(r.source_id as number);
    if (t === undefined) traces.set(r.source_id as number, (t = { snapshot: r.snapshot_id as number, path: String(r.path), names: [] }));
    if (r.name !== null && !t.names.includes(String(r.name))) t.names.push(String(r.name));
  }
  const named: string[] = [];
  for (const [pid, traces] of byPid) {
    const list = [...traces.values()].filter((t) => t.names.length > 0);
    const differ = (a: string[], b: string[]) => a.length !== b.length || a.some((n) => !b.includes(n));
    // A trace of this snapshot and another trace that saw the pid as another process.
    const reused = list.some((a, i) => a.snapshot === id && list.some((b, j) => j !== i && differ(a.names, b.names)));
    if (!reused) continue;
    const where = (t: (typeof list)[number]) => (t.snapshot === id ? t.path : `${t.path} of snapshot ${t.snapshot}`);
    named.push(`${pid} (${list.map((t) => `${t.names.join(', ')} in ${where(t)}`).join('; ')})`);
  }
  if (named.length === 0) return;
  const more = named.length > MAX_PIDS_NAMED ? ` and ${named.length - MAX_PIDS_NAMED} more` : '';
  const [snapshot] = db.query('SELECT source_id FROM snapshot WHERE id = ?', [id]);
  db.insert('diagnostic', {
    source_id: snapshot?.source_id ?? null,
    snapshot_id: id,
    severity: 'info',
    code: 'pid_reused_across_traces',
    message:
      `${named.length === 1 ? '1 pid was a different process' : `${named.length} pids were each a different process`} in different traces (their names differ): each trace's processes are its own ` +
      `in the trace analyses (process_instance), so compare the traces' rows by process name, not by pid: ${named.slice(0, MAX_PIDS_NAMED).join(', ')}${more}`,
  });
}

/** Whether a buffer, a holder or an attachment was observed in the snapshot. */
function observed(db: Db, id: number): boolean {
  const [r] = db.query(`
    SELECT EXISTS (SELECT 1 FROM dmabuf_observation WHERE snapshot_id = ${id})
        OR EXISTS (SELECT 1 FROM dmabuf_holder_observation WHERE snapshot_id = ${id})
        OR EXISTS (SELECT 1 FROM dmabuf_attachment WHERE snapshot_id = ${id}) AS any`);
  return r.any === 1;
}

/** The value of `col` most observations of the buffer `o` agree on (first seen among equals). */
const mostCommon = (col: string, extra = '') => `(
  SELECT x.${col} FROM dmabuf_observation x
  WHERE x.snapshot_id = o.snapshot_id AND x.inode = o.inode AND x.${col} IS NOT NULL ${extra}
  GROUP BY x.${col} ORDER BY count(*) DESC, min(x.rowid) LIMIT 1)`;

/** Importer names of the sources that saw a buffer, in reading order. */
const seenBy = (table: string, alias: string) => `(
  SELECT group_concat(importer, ',') FROM (
    SELECT s.importer FROM ${table} x JOIN source s ON s.id = x.source_id
    WHERE x.snapshot_id = ${alias}.snapshot_id AND x.inode = ${alias}.inode
    GROUP BY s.importer ORDER BY min(x.source_id)))`;

/** The buffers with an inode, from their observations. */
function mergeBuffers(db: Db, id: number): void {
  db.exec(`
    INSERT INTO dmabuf (snapshot_id, inode, size, size_exact, exporter, name, file_count, in_global_list, seen_by, source_count)
    SELECT o.snapshot_id, o.inode,
           coalesce(${mostCommon('size', 'AND x.size_exact = 1')}, max(CASE WHEN o.size_exact = 0 THEN o.size END)),
           max(o.size_exact = 1 AND o.size IS NOT NULL),
           ${mostCommon('exporter')}, ${mostCommon('name')},
           max(o.file_count), max(o.global_list),
           ${seenBy('dmabuf_observation', 'o')},
           count(DISTINCT o.source_id)
    FROM dmabuf_observation o
    WHERE o.snapshot_id = ${id} AND o.inode IS NOT NULL
    GROUP BY o.inode;`);
}

/** Buffers known only from holders (a mapping, an fd link) still get a row. */
function mergeBuffersFromHolders(db: Db, id: number): void {
  db.exec(`
    INSERT INTO dmabuf (snapshot_id, inode, size, size_exact, seen_by, source_count)
    SELECT h.snapshot_id, h.inode, NULL, 0, ${seenBy('dmabuf_holder_observation', 'h')}, count(DISTINCT h.source_id)
    FROM dmabuf_holder_observation h
    WHERE h.snapshot_id = ${id}
      -- The inodes no buffer observation has, found once each: not looked up once per holder
      -- observation (186,000 on a 70 MB fdinfo capture, 0.1 s).
      AND h.inode IN (SELECT inode FROM dmabuf_holder_observation WHERE snapshot_id = ${id}
                      EXCEPT SELECT inode FROM dmabuf_observation WHERE snapshot_id = ${id})
    GROUP BY h.inode;`);
}

/** Without an inode (pre-5.3 bufinfo) there is no identity to merge on: each row is its own buffer. */
function mergeBuffersWithoutInode(db: Db, id: number): void {
  // Rows get the ids after the largest, in observation order: the n-th observation is first + n.
  const first = db.maxRowid('dmabuf') + 1;
  db.exec(`
    INSERT INTO dmabuf (snapshot_id, inode, size, size_exact, exporter, name, file_count, in_global_list, seen_by, source_count)
    SELECT o.snapshot_id, NULL, o.size, CASE WHEN o.size IS NULL THEN 0 ELSE o.size_exact END, o.exporter, o.name,
           o.file_count, o.global_list, s.importer, 1
    FROM dmabuf_observation o JOIN source s ON s.id = o.source_id
    WHERE o.snapshot_id = ${id} AND o.inode IS NULL
    ORDER BY o.rowid;
    -- An attachment belongs to the buffer of its source and line (the last such, if several).
    UPDATE dmabuf_attachment SET dmabuf_id = b.dmabuf_id
    FROM (
      SELECT source_id, line, ${first} - 1 + max(n) AS dmabuf_id
      FROM (SELECT o.source_id, o.line, row_number() OVER (ORDER BY o.rowid) AS n
            FROM dmabuf_observation o JOIN source s ON s.id = o.source_id
            WHERE o.snapshot_id = ${id} AND o.inode IS NULL)
      GROUP BY source_id, line
    ) b
    WHERE dmabuf_attachment.snapshot_id = ${id} AND dmabuf_attachment.inode IS NULL
      AND b.source_id = dmabuf_attachment.source_id AND b.line IS dmabuf_attachment.buffer_line;`);
}

function mergeHolders(db: Db, id: number): void {
  // Within one importer, counts from several sources add up (one fdinfo file per fd);
  // across importers, the largest count wins (two views of the same references).
  db.exec(`
    INSERT INTO dmabuf_holder (snapshot_id, inode, pid, fd_refs, map_refs, reported_pss, seen_by)
    SELECT snapshot_id, inode, pid, max(fd_refs), max(map_refs), max(reported_pss), group_concat(importer, ',')
    FROM (
      SELECT h.snapshot_id, h.inode, h.pid, s.importer,
             sum(h.fd_refs) AS fd_refs, sum(h.map_refs) AS map_refs, max(h.reported_pss) AS reported_pss
      FROM dmabuf_holder_observation h JOIN source s ON s.id = h.source_id
      WHERE h.snapshot_id = ${id}
      GROUP BY h.snapshot_id, h.inode, h.pid, s.importer
      ORDER BY min(h.source_id)
    )
    GROUP BY snapshot_id, inode, pid;`);
}

/**
 * One diagnostic per buffer and field where sources disagree: two byte sizes, a kB size
 * that does not round from the byte size, two exporters or two names.
 */
function recordConflicts(db: Db, id: number): void {
  db.exec(`
    WITH conflict AS (
      SELECT d.inode, 'size' AS what FROM dmabuf d JOIN dmabuf_observation o ON o.snapshot_id = d.snapshot_id AND o.inode = d.inode
      WHERE d.snapshot_id = ${id} AND o.size IS NOT NULL AND d.size IS NOT NULL
        AND ((o.size_exact = 1 AND o.size <> d.size) OR (o.size_exact = 0 AND d.size_exact = 1 AND o.size / 1024 <> d.size / 1024))
      GROUP BY d.inode
      UNION ALL
      SELECT o.inode, 'exporter' FROM dmabuf_observation o WHERE o.snapshot_id = ${id} AND o.inode IS NOT NULL
      GROUP BY o.inode HAVING count(DISTINCT o.exporter) > 1
      UNION ALL
      SELECT o.inode, 'name' FROM dmabuf_observation o WHERE o.snapshot_id = ${id} AND o.inode IS NOT NULL
      GROUP BY o.inode HAVING count(DISTINCT o.name) > 1
    ),
    said AS (
      SELECT c.inode, c.what, o.source_id, o.line, s.importer,
             CASE c.what WHEN 'size' THEN o.size WHEN 'exporter' THEN o.exporter ELSE o.name END AS value
      FROM conflict c
      JOIN dmabuf_observation o ON o.snapshot_id = ${id} AND o.inode = c.inode
      JOIN source s ON s.id = o.source_id
    )
    INSERT INTO diagnostic (source_id, snapshot_id, severity, code, message)
    SELECT min(source_id), ${id}, 'warning', 'merge_conflict',
           'buffer ' || inode || ': sources disagree on ' || what || ': ' ||
           group_concat(importer || CASE WHEN line THEN ':' || line ELSE '' END || ' says ' || value, '; ' ORDER BY source_id, line)
    FROM said
    WHERE value IS NOT NULL
    GROUP BY inode, what
    ORDER BY inode, what;`);
}
