// Shared test helpers: load inputs into a real session and compare query results.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { open, type Session } from '../src/index.js';
import { Db } from '../src/db/database.js';
import { SourceContext } from '../src/importers/context.js';
import type { StreamImporter, TextImporter } from '../src/importers/types.js';
import { makeEnv } from '../src/input/load.js';
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

/**
 * Feed bytes to a streaming importer in chunks of `size` bytes (as a file read piece by piece),
 * in one transaction, into a fresh database whose one source is `path`.
 */
export async function importChunked(importer: StreamImporter, bytes: Uint8Array, size: number, path = 'capture.bin'): Promise<Db> {
  const db = await Db.create();
  db.begin();
  const ctx = SourceContext.topLevel(db, path, importer.name, importer.snapshotKind, path, bytes.length);
  async function* chunks(): AsyncIterable<Uint8Array> {
    for (let i = 0; i < bytes.length; i += size) yield bytes.slice(i, i + size);
  }
  await importer.importStream(chunks(), ctx, makeEnv(() => {}));
  db.commit();
  return db;
}

/** Write files (relative path → content) into a fresh temporary folder and open the folder as one input. */
export async function openFolder(files: Record<string, string | Uint8Array>): Promise<Session> {
  const dir = tempDir();
  for (const [rel, content] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    fs.writeFileSync(path.join(dir, rel), content);
  }
  return open(dir);
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
  return csvLines(cols, rows.map((r) => cols.map((c) => r[c])));
}

/** CSV lines (header first) of given rows, quoted as `csv` quotes: for expectations built by hand or from a scenario. */
export function csvLines(header: string[], rows: unknown[][]): string[] {
  const cell = (v: unknown) => (v === null || v === undefined ? '' : typeof v === 'string' && /[",\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : String(v));
  return [header.join(','), ...rows.map((r) => r.map(cell).join(','))];
}

/** Assert a query's rows equal the expected CSV lines (header included). */
export function assertRows(session: Queryable, sql: string, expected: string[], params?: Record<string, unknown>): void {
  assert.deepEqual(csv(session, sql, params), expected);
}

/** Diagnostics of a session (or of a bare Db) in the order they were recorded, for assertions. */
export function diagnostics(session: Pick<Session, 'query'>): { severity: string; code: string; message: string; line: number | null }[] {
  return session.query('SELECT severity, code, message, line FROM diagnostic ORDER BY id') as never;
}

/**
 * What a JavaScript error's message looks like: an importer that reports one as a diagnostic
 * (rather than something about the input) hid a bug of its own behind the input's fault.
 */
const INTERNAL_ERROR = /TypeError|ReferenceError|RangeError|Cannot read|is not a function|is not defined|undefined/;

/**
 * After an import of mutated input: every diagnostic has one of `codes` and a message about the
 * input (not a JavaScript error's). The codes met are added to `seen`.
 */
export function assertInputDiagnostics(session: Pick<Session, 'query'>, codes: readonly string[], label: string, seen: Set<string>): void {
  for (const d of diagnostics(session)) {
    const what = `${label}: ${d.severity} ${d.code} ${d.message}`;
    assert.ok(codes.includes(d.code), what);
    assert.doesNotMatch(d.message, INTERNAL_ERROR, what);
    seen.add(d.code);
  }
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

/** Run the command line (bin/dmabuf-triage.js) in a child process, as a user does. */
export function cli(args: string[], input?: string): { code: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, [packagePath('bin', 'dmabuf-triage.js'), ...args], { encoding: 'utf8', input });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

/** The observation rows kernel-capture tests compare (by inode). */
export const OBS_BY_INODE = 'SELECT inode, size, size_exact, exporter, name, file_count, global_list FROM dmabuf_observation ORDER BY inode';
/** The holder rows kernel-capture tests compare. */
export const HOLDERS = 'SELECT pid, inode, fd_refs, map_refs FROM dmabuf_holder_observation ORDER BY inode, pid';
/** The totals the sources printed, by process (NULL pid first). */
export const TOTALS_BY_PID = 'SELECT origin, pid, total_bytes, buffer_count, in_kb FROM dmabuf_reported_total ORDER BY pid';
