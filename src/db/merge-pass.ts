// The merge of a snapshot's buffers and holders (merge.ts) computed here, from the
// observations read once: in sql.js, the merge's SQL costs a sort per buffer and field (the
// value most sources gave). On the benchmark's bugreport the merge went from some 185 to 105 ms.
// Its rules are those of merge.ts's SQL, which remains their statement and the fallback: a
// value this pass does not take as it comes (a number beyond 2^53, text where a number
// belongs) leaves the merge to the SQL. The same rows come out either way, with the same
// rowids (test/merge-pass.test.ts).
import type { Db } from './database.js';
import type { Row } from '../importers/types.js';
import { isExact, nullableExact } from './packed.js';

type Value = Row[string];

const BUFFER_COLUMNS = ['inode', 'size', 'size_exact', 'exporter', 'name', 'file_count', 'in_global_list', 'seen_by', 'source_count'];
const HOLDER_COLUMNS = ['inode', 'pid', 'fd_refs', 'map_refs', 'reported_pss', 'seen_by'];

const textOrNull = (v: unknown): v is string | null => v === null || typeof v === 'string';

/**
 * The rows of a query as value arrays. They cross from sql.js as one JSON text: read value by
 * value, they took longer than the merge's SQL (a JS↔wasm round trip per value). A number
 * beyond 2^53 comes out inexact, which the passes check for; undefined when a value cannot be
 * JSON (a blob).
 */
function values(db: Db, sql: string, columns: number): unknown[][] | undefined {
  const list = Array.from({ length: columns }, (_, i) => `c${i}`);
  const json = `SELECT json_group_array(json_array(${list.join(', ')})) FROM (${sql})`;
  db.settle(json);
  try {
    return JSON.parse(String(db.raw.exec(json)[0].values[0][0])) as unknown[][];
  } catch {
    return undefined;
  }
}

/** The larger of two values, NULL aside (SQL `max` over rows). */
const maxOf = (a: number | null, b: number | null): number | null => (a === null ? b : b === null || a >= b ? a : b);

type Obs = [inode: number, source: number, size: number | null, exact: 0 | 1, exporter: string | null, name: string | null, files: number | null, global: number, importer: string | null];

/**
 * Of rows[start, end), the value of column `col` most rows gave (only rows of an exact size
 * with `exactOnly`), NULL aside; among equals, the one seen first (rows come in rowid order);
 * and whether the rows gave different values.
 */
function mostCommon(rows: readonly Obs[], start: number, end: number, col: 2 | 4 | 5, exactOnly: boolean): { value: Value; differ: boolean } {
  let first: Value = null;
  let differ = false;
  for (let i = start; i < end; i++) {
    const v = rows[i][col];
    if (v === null || (exactOnly && rows[i][3] !== 1)) continue;
    if (first === null) first = v;
    else if (v !== first) differ = true;
  }
  if (!differ) return { value: first, differ };
  // Sources disagree: count (a Map iterates in the order its keys were first set).
  const counts = new Map<Value, number>();
  for (let i = start; i < end; i++) {
    const v = rows[i][col];
    if (v !== null && !(exactOnly && rows[i][3] !== 1)) counts.set(v, (counts.get(v) ?? 0) + 1);
  }
  let best: Value = null;
  let most = 0;
  for (const [v, n] of counts) {
    if (n > most) {
      best = v;
      most = n;
    }
  }
  return { value: best, differ };
}

/**
 * Of rows[start, end), the importers (NULL aside), each once, in the order of their first
 * source, comma-separated (NULL when none), and how many sources (importers are few).
 */
function seenBy(rows: readonly Obs[], start: number, end: number): { seen: string | null; sources: number } {
  const order: [string, number][] = [];
  const sources = new Set<number>();
  for (let i = start; i < end; i++) {
    const source = rows[i][1];
    const name = rows[i][8];
    sources.add(source);
    if (name === null) continue;
    const o = order.find((x) => x[0] === name);
    if (!o) order.push([name, source]);
    else if (source < o[1]) o[1] = source;
  }
  order.sort((a, b) => a[1] - b[1]);
  return { seen: order.length === 0 ? null : order.map((x) => x[0]).join(','), sources: sources.size };
}

/**
 * Merge the snapshot's buffers that have an inode into `dmabuf` (the first INSERT of
 * merge.ts's `mergeBuffers`). Returns whether the sources disagree on any of them (so that
 * the conflicts are looked for), or undefined, having written nothing, when a value is not
 * what this pass takes.
 */
export function mergeBuffersPass(db: Db, id: number): { disagree: boolean } | undefined {
  if (copyBuffers(db, id)) return { disagree: false };
  const rows = values(
    db,
    `SELECT o.inode AS c0, o.source_id AS c1, o.size AS c2, o.size_exact AS c3, o.exporter AS c4, o.name AS c5, o.file_count AS c6,
            o.global_list AS c7, s.importer AS c8
     FROM dmabuf_observation o LEFT JOIN source s ON s.id = o.source_id
     WHERE o.snapshot_id = ${id} AND o.inode IS NOT NULL ORDER BY o.inode, o.rowid`,
    9,
  );
  if (!rows) return undefined;
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i];
    if (!isExact(r[0]) || !isExact(r[1]) || !nullableExact(r[2]) || (r[3] !== 0 && r[3] !== 1) || !textOrNull(r[4]) || !textOrNull(r[5])) return undefined;
    if (!nullableExact(r[6]) || !isExact(r[7]) || !textOrNull(r[8])) return undefined;
  }
  const obs = rows as Obs[];
  const out: Value[][] = [];
  let disagree = false;
  for (let start = 0; start < obs.length; ) {
    const inode = obs[start][0];
    let end = start + 1;
    while (end < obs.length && obs[end][0] === inode) end++;
    let kbSize: number | null = null;
    let files: number | null = null;
    let global = 0;
    let sizeExact: 0 | 1 = 0;
    for (let i = start; i < end; i++) {
      const r = obs[i];
      if (r[3] === 0) kbSize = maxOf(kbSize, r[2]);
      else if (r[2] !== null) sizeExact = 1;
      files = maxOf(files, r[6]);
      global = Math.max(global, r[7]);
    }
    const size = (mostCommon(obs, start, end, 2, true).value as number | null) ?? kbSize;
    const exporter = mostCommon(obs, start, end, 4, false);
    const name = mostCommon(obs, start, end, 5, false);
    const { seen, sources: sourceCount } = end - start === 1 ? { seen: obs[start][8], sources: 1 } : seenBy(obs, start, end);
    out.push([inode, size, sizeExact, exporter.value, name.value, files, global, seen, sourceCount]);
    // What merge.ts's `recordConflicts` looks for: two byte sizes, a kB size that does not round
    // from the byte size, two exporters or two names.
    if (!disagree && end - start > 1) {
      disagree = exporter.differ || name.differ;
      for (let i = start; i < end && !disagree && size !== null; i++) {
        const o = obs[i][2];
        if (o === null) continue;
        disagree = obs[i][3] === 1 ? o !== size : sizeExact === 1 && Math.trunc(o / 1024) !== Math.trunc(size / 1024);
      }
    }
    start = end;
  }
  if (out.length > 0) db.insertMany('dmabuf', BUFFER_COLUMNS, out, [['snapshot_id', id]]);
  return { disagree };
}

/**
 * Merge the snapshot's holders into `dmabuf_holder` (merge.ts's `mergeHolders`): within one
 * importer, counts from several sources add up; across importers, the largest wins. False,
 * having written nothing, when a value is not what this pass takes.
 */
export function mergeHoldersPass(db: Db, id: number): boolean {
  if (copyHolders(db, id)) return true;
  const rows = values(
    db,
    `SELECT h.inode AS c0, h.pid AS c1, h.source_id AS c2, h.fd_refs AS c3, h.map_refs AS c4, h.reported_pss AS c5, s.importer AS c6
     FROM dmabuf_holder_observation h JOIN source s ON s.id = h.source_id
     WHERE h.snapshot_id = ${id} ORDER BY h.inode, h.pid, h.source_id`,
    7,
  );
  if (!rows) return false;
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i];
    if (!isExact(r[0]) || !isExact(r[1]) || !isExact(r[2]) || !nullableExact(r[3]) || !nullableExact(r[4]) || !nullableExact(r[5]) || typeof r[6] !== 'string') return false;
  }
  const obs = rows as [number, number, number, number | null, number | null, number | null, string][];
  const out: Value[][] = [];
  for (let start = 0; start < obs.length; ) {
    const inode = obs[start][0];
    const pid = obs[start][1];
    let end = start + 1;
    while (end < obs.length && obs[end][0] === inode && obs[end][1] === pid) end++;
    // Per importer, in the order of their first source (rows come in source order): the sums, then the largest.
    const importers: string[] = [];
    const fds: (number | null)[] = [];
    const maps: (number | null)[] = [];
    let pss: number | null = null;
    for (let i = start; i < end; i++) {
      const r = obs[i];
      const fd = r[3];
      const map = r[4];
      const importer = r[6];
      let k = importers.indexOf(importer);
      if (k < 0) {
        k = importers.push(importer) - 1;
        fds.push(null);
        maps.push(null);
      }
      if (fd !== null) fds[k] = (fds[k] ?? 0) + fd;
      if (map !== null) maps[k] = (maps[k] ?? 0) + map;
      pss = maxOf(pss, r[5]);
    }
    const fd = fds.reduce(maxOf, null);
    const map = maps.reduce(maxOf, null);
    // Sums beyond 2^53 are the SQL's to add.
    if (!nullableExact(fd) || !nullableExact(map)) return false;
    out.push([inode, pid, fd, map, pss, importers.join(',')]);
    start = end;
  }
  if (out.length > 0) db.insertMany('dmabuf_holder', HOLDER_COLUMNS, out, [['snapshot_id', id]]);
  return true;
}

/**
 * The buffers of a snapshot whose every inode was observed once, with integer (or NULL) sizes
 * and counts, a size_exact and global_list of 0 or 1 and text (or NULL) names, by a source with
 * an importer: merged, each is its observation (one value is the most common, the largest and
 * the only one; sources cannot disagree), so one INSERT … SELECT writes them, in the inode order
 * the pass writes them in. A hand capture's buffers are such (one fdinfo file). False, having
 * written nothing, when they are not.
 */
function copyBuffers(db: Db, id: number): boolean {
  const [r] = db.query(`
    SELECT (SELECT count(*) FROM dmabuf_observation WHERE snapshot_id = ${id} AND inode IS NOT NULL) AS n,
           EXISTS (SELECT 1 FROM dmabuf_observation WHERE snapshot_id = ${id} AND inode IS NOT NULL GROUP BY inode HAVING count(*) > 1) AS repeated`);
  if (r.repeated !== 0 || r.n === 0) return false;
  db.exec(`
    INSERT INTO dmabuf (snapshot_id, inode, size, size_exact, exporter, name, file_count, in_global_list, seen_by, source_count)
    SELECT o.snapshot_id, o.inode, o.size, o.size_exact = 1 AND o.size IS NOT NULL, o.exporter, o.name, o.file_count, o.global_list, s.importer, 1
    FROM dmabuf_observation o JOIN source s ON s.id = o.source_id
    WHERE o.snapshot_id = ${id} AND o.inode IS NOT NULL AND typeof(s.importer) = 'text'
      AND typeof(o.inode) = 'integer' AND typeof(o.size) IN ('integer', 'null') AND typeof(o.file_count) IN ('integer', 'null')
      AND typeof(o.size_exact) = 'integer' AND o.size_exact IN (0, 1) AND typeof(o.global_list) = 'integer' AND o.global_list IN (0, 1)
      AND typeof(o.exporter) IN ('text', 'null') AND typeof(o.name) IN ('text', 'null')
    ORDER BY o.inode`);
  if (db.raw.getRowsModified() === r.n) return true;
  // An observation the copy left out (a value of another type, a source without importer): the pass's.
  db.exec(`DELETE FROM dmabuf WHERE snapshot_id = ${id}`);
  return false;
}

/**
 * The holders of a snapshot whose every (inode, pid) was observed once, with integer or NULL
 * counts, by a source with an importer: merged, each is its observation (a sum or a largest of
 * one value is that value, the importers one name), so one INSERT … SELECT writes them, in the
 * (inode, pid) order the pass writes them in. A hand capture's holders are such (one fdinfo
 * file): on the benchmark's 70 MB fdinfo capture (186,000 holders) this took some 0.7 s of CPU
 * where the pass (reading them back as JSON, then writing them) took 1.1 s. False, having
 * written nothing, when they are not.
 */
function copyHolders(db: Db, id: number): boolean {
  const [r] = db.query(`
    SELECT (SELECT count(*) FROM dmabuf_holder_observation WHERE snapshot_id = ${id}) AS n,
           EXISTS (SELECT 1 FROM dmabuf_holder_observation WHERE snapshot_id = ${id} GROUP BY inode, pid HAVING count(*) > 1) AS repeated`);
  if (r.repeated !== 0 || r.n === 0) return false;
  const exactOrNull = (col: string) => `typeof(h.${col}) IN ('integer', 'null')`;
  db.exec(`
    INSERT INTO dmabuf_holder (snapshot_id, inode, pid, fd_refs, map_refs, reported_pss, seen_by)
    SELECT h.snapshot_id, h.inode, h.pid, h.fd_refs, h.map_refs, h.reported_pss, s.importer
    FROM dmabuf_holder_observation h JOIN source s ON s.id = h.source_id
    WHERE h.snapshot_id = ${id} AND typeof(s.importer) = 'text'
      AND ${exactOrNull('fd_refs')} AND ${exactOrNull('map_refs')} AND ${exactOrNull('reported_pss')}
    ORDER BY h.inode, h.pid`);
  if (db.raw.getRowsModified() === r.n) return true;
  // An observation the copy left out (a count of another type, a source without importer): the pass's.
  db.exec(`DELETE FROM dmabuf_holder WHERE snapshot_id = ${id}`);
  return false;
}
