// Query results in the output formats every command shares: table, csv, json (an array of
// objects keyed by column name), ndjson (one object per line).
import type { ResultRow } from '../db/database.js';
import { align, cell } from './format.js';

export type RowFormat = 'table' | 'csv' | 'json' | 'ndjson';
export const ROW_FORMATS: RowFormat[] = ['table', 'csv', 'json', 'ndjson'];

export function renderRows(rows: ResultRow[], columns: string[], format: RowFormat, opts: { headers?: boolean } = {}): string {
  const headers = opts.headers ?? true;
  switch (format) {
    case 'json':
      return JSON.stringify(rows.map((r) => pick(r, columns)), jsonValue, 2) + '\n';
    case 'ndjson':
      return rows.map((r) => JSON.stringify(pick(r, columns), jsonValue) + '\n').join('');
    case 'csv': {
      const lines = rows.map((r) => columns.map((c) => csvCell(r[c])).join(','));
      if (headers) lines.unshift(columns.map(csvCell).join(','));
      return lines.map((l) => l + '\n').join('');
    }
    case 'table': {
      const body = rows.map((r) => columns.map((c) => cell(r[c])));
      const numeric = columns.map((c) => rows.length > 0 && rows.every((r) => r[c] === null || typeof r[c] === 'number'));
      const all = headers ? [columns, columns.map((c) => '-'.repeat(c.length)), ...body] : body;
      if (all.length === 0) return '';
      return align(all, numeric).join('\n') + '\n' + (headers ? `(${rows.length} row${rows.length === 1 ? '' : 's'})\n` : '');
    }
  }
}

function pick(r: ResultRow, columns: string[]): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  for (const c of columns) o[c] = r[c];
  return o;
}

function jsonValue(_k: string, v: unknown): unknown {
  if (v instanceof Uint8Array) return Buffer.from(v).toString('base64');
  return v;
}

function csvCell(v: unknown): string {
  const s = cell(v);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

