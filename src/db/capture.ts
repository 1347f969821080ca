// Rows of one table kept per snapshot as the importers write them (`Db.observe`), so that a pass
// over them at the merge (the trace charges, charge.ts; the RSS totals, rss.ts) need not read
// them back from sql.js. What is kept is the subclass's; a snapshot's capture is used only when
// it is complete: every batch taken, with consecutive rowids up to the table's last.
import type { Db } from './database.js';
import type { Rows } from '../importers/types.js';

/** What a capture keeps of one snapshot: at least where its rows start and how many it saw. */
export interface Captured {
  firstRowid: number;
  n: number;
}

export abstract class TableCapture<T extends Captured> {
  private readonly snapshots = new Map<number, T | 'unusable'>();
  private readonly stop: () => void;

  constructor(
    protected readonly db: Db,
    private readonly table: string,
  ) {
    this.stop = db.observe(table, (columns, rows, fixed, first) => {
      const id = fixed.find(([c]) => c === 'snapshot_id')?.[1];
      if (id === undefined) return; // not attributable: the snapshot's rowids will not match
      let s = this.snapshots.get(id);
      if (s === 'unusable') return;
      if (s === undefined) this.snapshots.set(id, (s = this.start(first)));
      if (!this.add(s, columns, rows, first, fixed.find(([c]) => c === 'source_id')?.[1] ?? null)) this.snapshots.set(id, 'unusable');
    });
  }

  /** What is kept of a snapshot whose first row has rowid `firstRowid`. */
  protected abstract start(firstRowid: number): T;

  /**
   * Keep one batch (its first row has rowid `firstRowid`; `source` its source_id, when the batch
   * gives it every row alike); false: the snapshot's capture is not to be used.
   */
  protected abstract add(s: T, columns: readonly string[], rows: Rows, firstRowid: number, source: number | null): boolean;

  /** Stop capturing (and let go of what was not taken). */
  close(): void {
    this.stop();
    this.snapshots.clear();
  }

  /** A snapshot's capture, if it saw every row of the snapshot (checked with the table's largest rowid). Taken once. */
  protected taken(id: number): T | undefined {
    const s = this.snapshots.get(id);
    this.snapshots.delete(id);
    if (s === undefined || s === 'unusable') return undefined;
    return this.db.maxRowid(this.table) - s.firstRowid + 1 === s.n ? s : undefined;
  }
}
