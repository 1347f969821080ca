// Packed rows: the rows of one `insertMany` as a single row-major Float64Array (NaN for NULL),
// possible when every value is a number or NULL. One object instead of one per row: cheap to
// hold (the garbage collector sees one object) and to pass between threads (its memory is
// transferred, not copied). Kept free of other imports: the trace worker loads it too.
import type { Row, Rows } from '../importers/types.js';

/** Rows packed when every value is a number or NULL (undefined counts as NULL); else as they are. */
export function pack(rows: Rows, width: number): Rows {
  if (rows instanceof Float64Array) return rows;
  const out = new Float64Array(rows.length * width);
  let k = 0;
  for (const r of rows) {
    for (let c = 0; c < width; c++) {
      const v = r[c];
      if (typeof v === 'number') out[k++] = v;
      else if (v === null || v === undefined) out[k++] = NaN;
      else return rows;
    }
  }
  return out;
}

/** Number of rows. */
export function rowCount(rows: Rows, width: number): number {
  return rows instanceof Float64Array ? rows.length / width : rows.length;
}

/** Value `c` of row `r` (NULL as null). */
export function valueAt(rows: Rows, width: number, r: number, c: number): Row[string] {
  if (!(rows instanceof Float64Array)) return rows[r][c];
  const v = rows[r * width + c];
  return v === v ? v : null;
}

/** A number that is an integer a double holds exactly (below 2^53 in magnitude): what the passes over rows take as they come. */
export const isExact = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v);
/** `isExact`, or NULL. */
export const nullableExact = (v: unknown): v is number | null => v === null || isExact(v);
