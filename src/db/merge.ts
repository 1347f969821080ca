// Builds the merged tables from what the importers observed: one `dmabuf` row per
// (snapshot, inode) whatever the number of sources, one `dmabuf_holder` row per
// (snapshot, inode, pid). Where sources disagree the most exact value wins and a
// `merge_conflict` diagnostic names the sources and their values.
import type { Db } from './database.js';

interface Observation {
  source_id: number;
  importer: string;
  line: number | null;
  inode: number | null;
  size: number | null;
  size_exact: number;
  exporter: string | null;
  name: string | null;
  file_count: number | null;
  global_list: number;
}

/** Merge every snapshot not merged yet. Idempotent per snapshot. */
export function mergeSnapshot(db: Db, snapshotId: number): void {
  db.transaction(() => {
    db.exec(`DELETE FROM dmabuf WHERE snapshot_id = ${snapshotId}; DELETE FROM dmabuf_holder WHERE snapshot_id = ${snapshotId};`);
    db.exec(`DELETE FROM diagnostic WHERE snapshot_id = ${snapshotId} AND code = 'merge_conflict'`);
    mergeBuffers(db, snapshotId);
    mergeHolders(db, snapshotId);
    db.exec(`
      UPDATE dmabuf_attachment SET dmabuf_id = (
        SELECT d.id FROM dmabuf d WHERE d.snapshot_id = dmabuf_attachment.snapshot_id AND d.inode = dmabuf_attachment.inode)
      WHERE snapshot_id = ${snapshotId} AND inode IS NOT NULL;`);
  });
}

function mergeBuffers(db: Db, snapshotId: number): void {
  const rows = db.query(
    `SELECT o.source_id, s.importer, o.line, o.inode, o.size, o.size_exact, o.exporter, o.name, o.file_count, o.global_list
     FROM dmabuf_observation o JOIN source s ON s.id = o.source_id
     WHERE o.snapshot_id = ? ORDER BY o.inode, o.source_id, o.line`,
    [snapshotId],
  ) as unknown as Observation[];
  const byInode = new Map<number, Observation[]>();
  for (const r of rows) {
    if (r.inode === null) {
      // No identity to merge on (pre-5.3 bufinfo): every row is its own buffer.
      const id = insertBuffer(db, snapshotId, null, [r]);
      db.exec(
        `UPDATE dmabuf_attachment SET dmabuf_id = ${id} WHERE snapshot_id = ${snapshotId} AND inode IS NULL AND source_id = ${r.source_id} AND buffer_line IS ${r.line ?? 'NULL'}`,
      );
      continue;
    }
    let list = byInode.get(r.inode);
    if (!list) byInode.set(r.inode, (list = []));
    list.push(r);
  }
  // Buffers known only from holders (a mapping, an fd link) still get a row.
  for (const r of db.query(
    `SELECT DISTINCT h.inode, s.importer, h.source_id FROM dmabuf_holder_observation h JOIN source s ON s.id = h.source_id
     WHERE h.snapshot_id = ? ORDER BY h.inode`,
    [snapshotId],
  )) {
    const inode = Number(r.inode);
    if (!byInode.has(inode)) byInode.set(inode, []);
    const list = byInode.get(inode)!;
    if (list.length === 0 || list.every((o) => o.size === null && o.exporter === null)) {
      list.push({ source_id: Number(r.source_id), importer: String(r.importer), line: null, inode, size: null, size_exact: 0, exporter: null, name: null, file_count: null, global_list: 0 });
    }
  }
  for (const [inode, list] of byInode) insertBuffer(db, snapshotId, inode, list);
}

function insertBuffer(db: Db, snapshotId: number, inode: number | null, obs: Observation[]): number {
  const exact = obs.filter((o) => o.size !== null && o.size_exact);
  const rounded = obs.filter((o) => o.size !== null && !o.size_exact);
  const size = exact.length ? mostCommon(exact.map((o) => o.size!)) : rounded.length ? Math.max(...rounded.map((o) => o.size!)) : null;
  if (inode !== null) {
    conflict(db, snapshotId, inode, 'size', exact, (o) => o.size);
    if (size !== null && exact.length) {
      const bad = rounded.filter((o) => Math.floor(o.size! / 1024) !== Math.floor(size / 1024));
      if (bad.length) conflict(db, snapshotId, inode, 'size', [...exact, ...bad], (o) => o.size, true);
    }
    conflict(db, snapshotId, inode, 'exporter', obs, (o) => o.exporter);
    conflict(db, snapshotId, inode, 'name', obs, (o) => o.name);
  }
  const importers = [...new Set(obs.map((o) => o.importer))];
  const counts = obs.map((o) => o.file_count).filter((c): c is number => c !== null);
  return db.insertWithId('dmabuf', {
    snapshot_id: snapshotId,
    inode,
    size,
    size_exact: exact.length ? 1 : 0,
    exporter: mostCommon(obs.map((o) => o.exporter).filter((x): x is string => x !== null)),
    name: mostCommon(obs.map((o) => o.name).filter((x): x is string => x !== null)),
    file_count: counts.length ? Math.max(...counts) : null,
    in_global_list: obs.some((o) => o.global_list) ? 1 : 0,
    seen_by: importers.join(','),
    source_count: new Set(obs.map((o) => o.source_id)).size,
  });
}

/** The most frequent value (the first seen among equals); null for an empty list. */
function mostCommon<T>(values: T[]): T | null {
  if (values.length === 0) return null;
  const n = new Map<T, number>();
  for (const v of values) n.set(v, (n.get(v) ?? 0) + 1);
  let best = values[0];
  for (const [v, c] of n) if (c > n.get(best)!) best = v;
  return best;
}

function conflict(db: Db, snapshotId: number, inode: number, what: string, obs: Observation[], get: (o: Observation) => unknown, force = false): void {
  const values = obs.filter((o) => get(o) !== null && get(o) !== undefined);
  if (!force && new Set(values.map(get)).size < 2) return;
  const said = values.map((o) => `${o.importer}${o.line ? `:${o.line}` : ''} says ${String(get(o))}`).join('; ');
  db.insert('diagnostic', {
    source_id: values[0]?.source_id ?? null,
    snapshot_id: snapshotId,
    severity: 'warning',
    code: 'merge_conflict',
    message: `buffer ${inode}: sources disagree on ${what}: ${said}`,
  });
}

function mergeHolders(db: Db, snapshotId: number): void {
  // Within one importer, counts from several sources add up (one fdinfo file per fd);
  // across importers, the largest count wins (two views of the same references).
  db.exec(`
    INSERT INTO dmabuf_holder (snapshot_id, inode, pid, fd_refs, map_refs, reported_pss, seen_by)
    SELECT snapshot_id, inode, pid, max(fd_refs), max(map_refs), max(reported_pss), group_concat(importer, ',')
    FROM (
      SELECT h.snapshot_id, h.inode, h.pid, s.importer,
             sum(h.fd_refs) AS fd_refs, sum(h.map_refs) AS map_refs, max(h.reported_pss) AS reported_pss
      FROM dmabuf_holder_observation h JOIN source s ON s.id = h.source_id
      WHERE h.snapshot_id = ${snapshotId}
      GROUP BY h.snapshot_id, h.inode, h.pid, s.importer
      ORDER BY min(h.source_id)
    )
    GROUP BY snapshot_id, inode, pid;`);
}
