// Shared test helpers: load inputs into a real session and compare query results.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { open, type Session } from '../src/index.js';
import { Db } from '../src/db/database.js';
import { SourceContext } from '../src/importers/context.js';
import type { TextImporter } from '../src/importers/types.js';
import { packagePath } from '../src/paths.js';
import { Rng } from './fixtures/generate-scenario.js';

/** Open a session over texts or bytes given as named inputs (detection by content, as for files). */
export async function openTexts(files: Record<string, string | Uint8Array>): Promise<Session> {
  return open(
    Object.entries(files).map(([name, content]) => ({
      name,
      bytes: typeof content === 'string' ? new TextEncoder().encode(content) : content,
    })),
  );
}

/** Import a text straight through one importer (no sniffing, no merge) into a fresh database. */
export async function importDirect(importer: TextImporter, text: string, path = 'capture.txt'): Promise<Db> {
  const db = await Db.create();
  importer.importText(text, SourceContext.topLevel(db, path, importer.name, 'capture', path));
  return db;
}

/** What `csv` and `assertRows` need of a session; a bare Db qualifies through `asSession`. */
type Queryable = Pick<Session, 'query' | 'columns'>;

export function asSession(db: Db): Queryable {
  return { query: (sql, params) => db.query(sql, params), columns: (sql) => db.queryColumns(sql) };
}

/** Rows of a query rendered as CSV lines (header first): the form golden expectations are written in. */
export function csv(session: Queryable, sql: string, params?: Record<string, unknown>): string[] {
  const rows = session.query(sql, params);
  const cols = session.columns(sql);
  const cell = (v: unknown) => (v === null || v === undefined ? '' : typeof v === 'string' && /[",\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : String(v));
  return [cols.join(','), ...rows.map((r) => cols.map((c) => cell(r[c])).join(','))];
}

/** Assert a query's rows equal the expected CSV lines (header included). */
export function assertRows(session: Queryable, sql: string, expected: string[], params?: Record<string, unknown>): void {
  assert.deepEqual(csv(session, sql, params), expected);
}

/** Diagnostics of a session as `severity code` strings, for assertions. */
export function diagnostics(session: Session): { severity: string; code: string; message: string; line: number | null }[] {
  return session.query('SELECT severity, code, message, line FROM diagnostic ORDER BY id') as never;
}

/** A fresh temporary folder, removed when the process exits. */
export function tempDir(prefix = 'dmabuf-triage-test-'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Absolute path of ../shared beside the package (peer tests, formats). */
export const sharedDir = path.resolve(packagePath(), '..', 'shared');

/** A seeded pseudo-random generator in [0, 1) for mutation tests (the fixtures' Rng). */
export function rng(seed: number): () => number {
  const r = new Rng(seed);
  return () => r.next();
}
