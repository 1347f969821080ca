// The ImportContext importers write through: one per source row, all sharing the session's Db.
import type { Db } from '../db/database.js';
import type { SqlValue } from 'sql.js';
import type { ImportContext, ProcessFields, Row, Rows, Severity, SnapshotFields, ThreadFields } from './types.js';
import type { DiagnosticCode } from '../diagnostics.js';

/**
 * An upsert of `width` values a row, as statements of 256, 16 and 1 rows (largest first: few
 * statements, each prepared once): [rows, SQL] each.
 */
function upserts(width: number, sql: (rows: string) => string): [number, string][] {
  const one = `(${Array(width).fill('?').join(', ')})`;
  return [256, 16, 1].map((n) => [n, sql(Array(n).fill(one).join(', '))]);
}

const PROCESS_UPSERTS = upserts(
  6,
  (rows) => `INSERT INTO process (snapshot_id, pid, name, cmdline, ppid, uid) VALUES ${rows}
  ON CONFLICT (snapshot_id, pid) DO UPDATE SET
    name = CASE WHEN excluded.name IS NOT NULL AND length(excluded.name) > length(coalesce(process.name, ''))
                THEN excluded.name ELSE process.name END,
    cmdline = coalesce(excluded.cmdline, process.cmdline),
    ppid = coalesce(excluded.ppid, process.ppid),
    uid = coalesce(excluded.uid, process.uid)`,
);

/** `PROCESS_UPSERTS` for a process whose fields replace the row's (`ProcessFields.replace`). */
const PROCESS_REPLACES = upserts(
  6,
  (rows) => `INSERT INTO process (snapshot_id, pid, name, cmdline, ppid, uid) VALUES ${rows}
  ON CONFLICT (snapshot_id, pid) DO UPDATE SET name = excluded.name, cmdline = excluded.cmdline, ppid = excluded.ppid, uid = excluded.uid`,
);

/** Thread rows are per trace: the source is part of the key. */
const THREAD_UPSERTS = upserts(
  5,
  (rows) => `INSERT INTO thread (snapshot_id, source_id, tid, pid, name) VALUES ${rows}
  ON CONFLICT (snapshot_id, source_id, tid) DO UPDATE SET
    pid = coalesce(excluded.pid, thread.pid),
    name = coalesce(excluded.name, thread.name)`,
);

export class SourceContext implements ImportContext {
  constructor(
    private readonly db: Db,
    readonly snapshotId: number,
    readonly sourceId: number,
    readonly path: string,
  ) {}

  /** Create the source row of a top-level input and its snapshot; returns its context. */
  static topLevel(db: Db, path: string, importer: string, kind: string, label: string, bytes?: number): SourceContext {
    const sourceId = db.insertWithId('source', { path, importer, bytes });
    const snapshotId = db.insertWithId('snapshot', { source_id: sourceId, kind, label });
    db.exec(`UPDATE source SET snapshot_id = ${snapshotId} WHERE id = ${sourceId}`);
    return new SourceContext(db, snapshotId, sourceId, path);
  }

  insert(table: string, row: Row): void {
    const cols = this.db.columns(table);
    if (cols.has('snapshot_id') && row.snapshot_id === undefined) row.snapshot_id = this.snapshotId;
    if (cols.has('source_id') && row.source_id === undefined) row.source_id = this.sourceId;
    this.db.insert(table, row);
  }

  insertMany(table: string, columns: readonly string[], rows: Rows): void {
    const cols = this.db.columns(table);
    const fixed: [string, number][] = [];
    if (cols.has('snapshot_id') && !columns.includes('snapshot_id')) fixed.push(['snapshot_id', this.snapshotId]);
    if (cols.has('source_id') && !columns.includes('source_id')) fixed.push(['source_id', this.sourceId]);
    this.db.insertMany(table, columns, rows, fixed);
  }

  diag(severity: Severity, code: DiagnosticCode, message: string, line?: number | null): void {
    this.db.insert('diagnostic', {
      source_id: this.sourceId,
      snapshot_id: this.snapshotId,
      line: line ?? null,
      severity,
      code,
      message,
    });
  }

  process(pid: number, f: ProcessFields): void {
    this.processes([[pid, f]]);
  }

  processes(list: readonly (readonly [number, ProcessFields])[]): void {
    const fill = ([pid, f]: readonly [number, ProcessFields], out: SqlValue[], at: number) => {
      out[at] = this.snapshotId;
      out[at + 1] = pid;
      out[at + 2] = f.name || null;
      out[at + 3] = f.cmdline || null;
      out[at + 4] = f.ppid ?? null;
      out[at + 5] = f.uid ?? null;
    };
    // In order: runs of rows that improve the row, and of rows that replace it.
    for (let i = 0; i < list.length; ) {
      const replace = list[i][1].replace === true;
      let j = i + 1;
      while (j < list.length && (list[j][1].replace === true) === replace) j++;
      this.upsert(i === 0 && j === list.length ? list : list.slice(i, j), 6, replace ? PROCESS_REPLACES : PROCESS_UPSERTS, fill);
      i = j;
    }
  }

  thread(tid: number, pid: number | null, name?: string | null): void {
    this.threads([[tid, pid, name]]);
  }

  threads(list: readonly ThreadFields[]): void {
    this.upsert(list, 5, THREAD_UPSERTS, ([tid, pid, name], out, at) => {
      out[at] = this.snapshotId;
      out[at + 1] = this.sourceId;
      out[at + 2] = tid;
      out[at + 3] = pid;
      out[at + 4] = name || null;
    });
  }

  /**
   * Write `list` in order with `statements` (`upserts`), the largest that each run of rows fills
   * first: a row that meets an earlier one of the same list is merged into it as one upsert
   * after the other would.
   */
  private upsert<T>(list: readonly T[], width: number, statements: [number, string][], fill: (item: T, out: SqlValue[], at: number) => void): void {
    let i = 0;
    for (const [per, text] of statements) {
      if (list.length - i < per) continue;
      const values: SqlValue[] = new Array(per * width);
      for (; i + per <= list.length; i += per) {
        for (let r = 0; r < per; r++) fill(list[i + r], values, r * width);
        this.db.write(text, values);
      }
    }
  }

  snapshot(fields: SnapshotFields): void {
    const entries = Object.entries(fields).filter(([, v]) => v !== undefined && v !== null && v !== '');
    if (entries.length === 0) return;
    const cols = this.db.columns('snapshot');
    for (const [k] of entries) if (!cols.has(k)) throw new Error(`snapshot has no column ${k}`);
    this.db.raw.run(`UPDATE snapshot SET ${entries.map(([k]) => `${k} = ?`).join(', ')} WHERE id = ?`, [
      ...entries.map(([, v]) => v as string | number),
      this.snapshotId,
    ]);
  }

  child(path: string, importer: string, opts: { bytes?: number; lineStart?: number; lineEnd?: number } = {}): SourceContext {
    const id = this.db.insertWithId('source', {
      parent_id: this.sourceId,
      path,
      importer,
      bytes: opts.bytes,
      line_start: opts.lineStart,
      line_end: opts.lineEnd,
      snapshot_id: this.snapshotId,
    });
    return new SourceContext(this.db, this.snapshotId, id, path);
  }

  describe(importer: string, bytes?: number): void {
    this.db.raw.run('UPDATE source SET importer = ?, bytes = coalesce(?, bytes) WHERE id = ?', [
      importer,
      bytes ?? null,
      this.sourceId,
    ]);
  }
}
