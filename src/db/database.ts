// The sql.js database of one session: the documented schema (src/db/schema/*.sql), the
// analysis views (src/queries/*.sql), cached statements, rows held back until first use, and query helpers.
import fs from 'node:fs';
import { createRequire } from 'node:module';
import type { Database, SqlJsStatic, Statement, SqlValue } from 'sql.js';
import { packagePath } from '../paths.js';
import { params, parseSqlFile, type SqlStatement } from './sqlfile.js';
import { readImage, schemaHash } from './image.js';
import type { Row, Rows } from '../importers/types.js';
import { pack, rowCount, valueAt } from './packed.js';

/** A row returned by a query: column name → value. */
export type ResultRow = Record<string, SqlValue>;

/** What `Db.observe` is called with: the columns and rows (as given) of one `insertMany`, its fixed columns, and the rowid of its first row (the others follow). */
export type BatchObserver = (
  columns: readonly string[],
  rows: Rows,
  fixed: readonly (readonly [string, number])[],
  firstRowid: number,
) => void;

/** Rows of one `insertMany` call. */
interface Batch {
  columns: readonly string[];
  /** As given; or, held back, packed when every value is a number or NULL (packed.ts). */
  rows: Rows;
  fixed: readonly (readonly [string, number])[];
  /** Held back: the rowid of its first row. */
  first?: number;
}

/** A batch of rows held back (`Db.heldRows`): packed, with the values given every row alike and its first rowid. */
export interface HeldBatch {
  columns: readonly string[];
  rows: Float64Array;
  fixed: readonly (readonly [string, number])[];
  first: number;
}

/** Rows held back for one table (see `holdInserts`). */
interface Held {
  max: number;
  batches: Batch[];
  rows: number;
  /** Rowid the next row gets (the table's largest + 1, counting the rows held). */
  next: number;
}

/** One SQL file of the package, parsed. */
export interface SqlFile {
  /** File name without folder, e.g. `dmabuf_exporters.sql`. */
  file: string;
  statements: SqlStatement[];
}

// The wasm module and the package's SQL files are immutable: loading them once per process
// is safe with any number of sessions. sql.js is loaded on first use (a session's inputs start
// loading, a large trace on a worker thread, while it is), with `require`: it is a CommonJS
// module, and importing it as ESM would first scan its 47 KB for export names.
let sqlJs: Promise<SqlJsStatic> | undefined;
const loadSqlJs = (): Promise<SqlJsStatic> =>
  (sqlJs ??= Promise.resolve().then(() => (createRequire(import.meta.url)('sql.js') as (config?: object) => Promise<SqlJsStatic>)()));
const sqlFiles = new Map<string, SqlFile[]>();

/** Parsed SQL files of a package folder, in name order. */
export function packageSqlFiles(folder: 'src/db/schema' | 'src/queries'): SqlFile[] {
  let files = sqlFiles.get(folder);
  if (!files) {
    const dir = packagePath(folder);
    files = fs
      .readdirSync(dir)
      .filter((f) => f.endsWith('.sql'))
      .sort()
      .map((file) => ({ file, statements: parseSqlFile(fs.readFileSync(`${dir}/${file}`, 'utf8')) }));
    sqlFiles.set(folder, files);
  }
  return files;
}

export class Db {
  /** Prepared statements kept for reuse (inserts and `write`s), by table and columns or by SQL. */
  private readonly statements = new Map<string, Statement>();
  private readonly tableColumns = new Map<string, Set<string>>();
  private inTransaction = false;
  /** Listeners of the batches `insertMany` writes, by table (see `observe`). */
  private readonly observers = new Map<string, Set<BatchObserver>>();
  /** Rows computed but not written yet (see `defer`), by key. */
  private readonly deferred = new Map<string, { readers: Set<string>; write: () => void }>();
  /** Tables whose `insertMany` rows are held back (see `holdInserts`). */
  private readonly held = new Map<string, Held>();

  private constructor(readonly raw: Database) {}

  /**
   * A new in-memory database with the whole schema, the analysis views and their docs: opened
   * from the schema image written at build time (image.ts) when it is that of the current SQL
   * files, else created from them.
   */
  static async create(imageFile?: string): Promise<Db> {
    const SQL = await loadSqlJs();
    const image = readImage(imageFile);
    if (image) {
      const db = new Db(new SQL.Database(image));
      if (db.raw.exec('PRAGMA user_version')[0]?.values[0][0] === schemaHash()) {
        db.configure();
        return db;
      }
      db.close();
    }
    return Db.createFromSql();
  }

  /** A new in-memory database made by running the package's SQL files. */
  static async createFromSql(): Promise<Db> {
    const db = new Db(new (await loadSqlJs()).Database());
    db.configure();
    const schema = packageSqlFiles('src/db/schema');
    const queries = packageSqlFiles('src/queries');
    // One transaction: SQLite re-reads its schema after each change outside of one.
    db.begin();
    for (const f of [...schema, ...queries]) {
      for (const s of f.statements) {
        try {
          db.raw.run(s.sql);
        } catch (e) {
          throw new Error(`${f.file}:${s.line}: ${(e as Error).message}`);
        }
      }
    }
    db.writeDocs([...schema, ...queries]);
    db.commit();
    return db;
  }

  /** Open an exported database file (a `.sqlite` written by `export` or `exportSqlite()`). */
  static async fromBytes(bytes: Uint8Array): Promise<Db> {
    const db = new Db(new (await loadSqlJs()).Database(bytes));
    db.configure();
    return db;
  }

  /**
   * The connection's settings, which the file does not keep. sql.js keeps the database in a file
   * of its in-memory file system, every page read and written through JavaScript: with SQLite's
   * defaults (a 2 MiB page cache, the rollback journal and the sorts' temporary files in that file
   * system too) a 70 MB fdinfo capture (190,000 fds) spent some 0.7 s copying pages to and from
   * it, 0.06 s with these, and peaked 30 MB higher.
   */
  private configure(): void {
    this.raw.run('PRAGMA foreign_keys = OFF');
    this.raw.run(`PRAGMA cache_size = -${CACHE_KIB}`);
    this.raw.run('PRAGMA temp_store = MEMORY');
    this.raw.exec('PRAGMA journal_mode = MEMORY');
  }

  private writeDocs(files: SqlFile[]): void {
    this.transaction(() => {
      for (const f of files) {
        for (const s of f.statements) {
          if (!s.name || s.kind === 'other') continue;
          this.insert('schema_doc', { object: s.name, column_name: null, kind: s.kind, doc: s.description });
          for (const c of s.columns) {
            this.insert('schema_doc', { object: s.name, column_name: c.name, kind: s.kind, doc: c.doc });
          }
          for (const p of params(s)) {
            this.insert('analysis_param', {
              analysis: p.analysis,
              name: p.name,
              value: p.default,
              default_value: p.default,
              description: p.description,
            });
          }
        }
      }
    });
  }

  /** Columns of a table (cached). */
  columns(table: string): Set<string> {
    let cols = this.tableColumns.get(table);
    if (!cols) {
      const res = this.raw.exec(`PRAGMA table_info(${quoteIdent(table)})`);
      cols = new Set((res[0]?.values ?? []).map((v) => String(v[1])));
      if (cols.size === 0) throw new Error(`no such table: ${table}`);
      this.tableColumns.set(table, cols);
    }
    return cols;
  }

  /** Insert one row; unknown columns are an error (a bug in an importer). */
  insert(table: string, row: Row): void {
    this.writeHeld(table);
    const keys = Object.keys(row).filter((k) => row[k] !== undefined);
    const cacheKey = `${table}\u0000${keys.join('\u0000')}`;
    let st = this.statements.get(cacheKey);
    if (!st) {
      const cols = this.columns(table);
      for (const k of keys) if (!cols.has(k)) throw new Error(`table ${table} has no column ${k}`);
      st = this.raw.prepare(
        `INSERT INTO ${quoteIdent(table)} (${keys.map(quoteIdent).join(', ')}) VALUES (${keys.map(() => '?').join(', ')})`,
      );
      this.statements.set(cacheKey, st);
    }
    st.run(keys.map((k) => toSqlValue(row[k])));
  }

  /**
   * Insert many rows of the same columns: one multi-row INSERT per 100 rows (several times
   * faster than row by row in sql.js). `rows` are value arrays in `columns` order, or numbers
   * packed row after row in a Float64Array (NaN for NULL); `fixed` columns take the same
   * integer in every row (written into the statement, not bound).
   */
  insertMany(
    table: string,
    columns: readonly string[],
    given: Rows,
    fixed: readonly (readonly [string, number])[] = [],
  ): void {
    const count = rowCount(given, columns.length);
    if (count === 0) return;
    const cols = this.columns(table);
    for (const c of columns) if (!cols.has(c)) throw new Error(`table ${table} has no column ${c}`);
    for (const [c, v] of fixed) {
      if (!cols.has(c)) throw new Error(`table ${table} has no column ${c}`);
      if (!Number.isSafeInteger(v)) throw new Error(`fixed value of ${table}.${c} is not an integer: ${v}`);
    }
    const observers = this.observers.get(table);
    const h = this.held.get(table);
    if (h && h.rows + count <= h.max) {
      if (h.rows === 0) {
        h.next = this.maxRowid(table) + 1;
        this.defer(`held:${table}`, [table], () => this.writeHeld(table));
      }
      const first = h.next;
      h.batches.push({ columns, rows: pack(given, columns.length), fixed, first });
      h.rows += count;
      h.next += count;
      if (observers?.size) for (const f of observers) f(columns, given, fixed, first);
      return;
    }
    this.writeHeld(table);
    this.writeMany(table, { columns, rows: given, fixed });
    if (observers?.size) {
      const first = this.lastInsertRowid() - count + 1;
      for (const f of observers) f(columns, given, fixed, first);
    }
  }

  /**
   * Hold back the rows `insertMany` writes into `table` (up to `maxRows` at a time; a batch
   * beyond writes them all, then itself) and write them on first use, as `defer` does: before
   * a statement that may read the table, an export, or another write into it. Their rowids are
   * those they would have had (observers are told them at once). A summary that never reads
   * the table then never pays for writing it.
   */
  holdInserts(table: string, maxRows: number): void {
    if (!this.held.has(table)) this.held.set(table, { max: maxRows, batches: [], rows: 0, next: 0 });
  }

  /**
   * The rows of `table` held back for one snapshot, when all of that snapshot's rows are held
   * and packed: the batches' columns and packed rows, in order ([] when the snapshot has none).
   * Undefined when some were written already (held rows beyond the limit are) or are not
   * packed: then read the table. Reading them here writes nothing.
   */
  heldRows(table: string, snapshotId: number): HeldBatch[] | undefined {
    const mine = (this.held.get(table)?.batches ?? []).filter((b) => b.fixed.some(([c, v]) => c === 'snapshot_id' && v === snapshotId));
    if (mine.some((b) => !(b.rows instanceof Float64Array))) return undefined;
    if (this.raw.exec(`SELECT 1 FROM ${quoteIdent(table)} WHERE snapshot_id = ${Number(snapshotId)} LIMIT 1`).length > 0) return undefined;
    return mine.map((b) => ({ columns: b.columns, rows: b.rows as Float64Array, fixed: b.fixed, first: b.first as number }));
  }

  /** The largest rowid of `table` (0 when empty), rows held back included. */
  maxRowid(table: string): number {
    const h = this.held.get(table);
    if (h && h.rows > 0) return h.next - 1;
    return Number(this.raw.exec(`SELECT coalesce(max(rowid), 0) FROM ${quoteIdent(table)}`)[0].values[0][0]);
  }

  /** Write the rows held back for `table`, in order; they get the rowids they were given. */
  private writeHeld(table: string): void {
    const h = this.held.get(table);
    if (!h || h.rows === 0) return;
    const batches = h.batches;
    const last = h.next - 1;
    h.batches = [];
    h.rows = 0;
    this.dropDeferred(`held:${table}`);
    for (const b of batches) this.writeMany(table, b);
    if (this.lastInsertRowid() !== last) throw new Error(`rows held back for ${table} were written with other rowids`);
  }

  private writeMany(table: string, { columns, rows, fixed }: Batch): void {
    const width = columns.length;
    const n = rowCount(rows, width);
    const row = (r: number, out: SqlValue[], at: number): void => {
      for (let c = 0; c < width; c++) out[at + c] = toSqlValue(valueAt(rows, width, r, c));
    };
    const per = Math.max(1, Math.min(MANY_ROWS, Math.floor(MAX_VARIABLES / width)));
    let i = 0;
    if (n >= per) {
      const st = this.manyStatement(table, columns, fixed, per);
      const values: SqlValue[] = new Array(per * width);
      for (; i + per <= n; i += per) {
        for (let r = 0; r < per; r++) row(i + r, values, r * width);
        st.run(values);
      }
    }
    if (i === n) return;
    const st = this.manyStatement(table, columns, fixed, 1);
    const one: SqlValue[] = new Array(width);
    for (; i < n; i++) {
      row(i, one, 0);
      st.run(one);
    }
  }

  /**
   * Call `f` with every batch `insertMany` writes into `table` (or holds back), in order.
   * Returns the function that stops it.
   */
  observe(table: string, f: BatchObserver): () => void {
    let set = this.observers.get(table);
    if (!set) this.observers.set(table, (set = new Set()));
    set.add(f);
    return () => set.delete(f);
  }

  private manyStatement(table: string, columns: readonly string[], fixed: readonly (readonly [string, number])[], n: number): Statement {
    const key = `${table}\u0000${n}\u0000${columns.join('\u0000')}\u0000${fixed.flat().join('\u0000')}`;
    let st = this.statements.get(key);
    if (!st) {
      const one = `(${[...columns.map(() => '?'), ...fixed.map(([, v]) => String(v))].join(', ')})`;
      const names = [...columns, ...fixed.map(([c]) => c)];
      st = this.raw.prepare(`INSERT INTO ${quoteIdent(table)} (${names.map(quoteIdent).join(', ')}) VALUES ${Array(n).fill(one).join(', ')}`);
      this.statements.set(key, st);
    }
    return st;
  }

  /**
   * Run one writing statement with parameters, prepared once per database (for statements an
   * importer runs once per row: thread and process upserts, say). Reads use `query`.
   */
  write(sql: string, params: SqlValue[]): void {
    let st = this.statements.get(sql);
    if (!st) this.statements.set(sql, (st = this.raw.prepare(sql)));
    st.run(params);
  }

  /** Insert one row and return its rowid. */
  insertWithId(table: string, row: Row): number {
    this.insert(table, row);
    return this.lastInsertRowid();
  }

  /** Rowid of the last row inserted. */
  lastInsertRowid(): number {
    return Number(this.raw.exec('SELECT last_insert_rowid()')[0].values[0][0]);
  }

  /**
   * Write rows on first use: `write` runs before the first statement that may read one of
   * `tables` — one that names them, or a view that reads them — and before an export. Rows a
   * summary never reads then cost nothing. A later call with the same key replaces this one.
   */
  defer(key: string, tables: string[], write: () => void): void {
    this.deferred.set(key, { readers: this.readersOf(tables), write });
  }

  /** Forget a deferred write (its rows are being recomputed). */
  dropDeferred(key: string): void {
    this.deferred.delete(key);
  }

  /**
   * Lower-cased names of `tables` and of every view that reads them, directly or through
   * other views. A view created later that reads them names one of these, so the statement
   * creating it writes the deferred rows first.
   */
  private readersOf(tables: string[]): Set<string> {
    const names = new Set(tables.map((t) => t.toLowerCase()));
    const views = this.raw.exec("SELECT lower(name), lower(sql) FROM sqlite_master WHERE type = 'view'")[0]?.values ?? [];
    const words = views.map(([name, sql]) => [String(name), new Set(identifiers(String(sql)))] as const);
    for (let grew = true; grew; ) {
      grew = false;
      for (const [name, used] of words) {
        if (!names.has(name) && [...names].some((n) => used.has(n))) {
          names.add(name);
          grew = true;
        }
      }
    }
    return names;
  }

  /**
   * Write the deferred rows `sql` may read (all of them without `sql`). `query`, `exec` and
   * `export` do this themselves; a statement prepared on `raw` must be settled first.
   */
  settle(sql?: string): void {
    if (this.deferred.size === 0) return;
    const used = sql === undefined ? null : new Set(identifiers(sql));
    for (const [key, d] of [...this.deferred]) {
      if (used && ![...d.readers].some((n) => used.has(n))) continue;
      // Dropped once written: a write that fails leaves them to the next use.
      this.transaction(d.write);
      this.deferred.delete(key);
    }
  }

  /** Run SQL that returns nothing (several statements allowed). */
  exec(sql: string): void {
    this.settle(sql);
    this.raw.run(sql);
  }

  /**
   * Run one statement with positional or named (`:name`) parameters; rows as plain objects.
   * A failure is thrown as sql.js throws it: the session turns failures of a user's SQL into a UsageError.
   */
  query(sql: string, params?: Record<string, unknown> | unknown[]): ResultRow[] {
    this.settle(sql);
    const st = this.raw.prepare(sql);
    try {
      if (params) st.bind(bindParams(sql, params));
      const rows: ResultRow[] = [];
      let names: string[] | undefined;
      while (st.step()) {
        names ??= uniqueNames(st.getColumnNames());
        const values = st.get();
        const row: ResultRow = {};
        for (let i = 0; i < names.length; i++) row[names[i]] = values[i];
        rows.push(row);
      }
      return rows;
    } finally {
      st.free();
    }
  }

  /** Column names a statement returns (also when it returns no row). */
  queryColumns(sql: string): string[] {
    const st = this.raw.prepare(sql);
    try {
      return uniqueNames(st.getColumnNames());
    } finally {
      st.free();
    }
  }

  /** Run `fn` inside one transaction (nested calls join the outer one). */
  transaction<T>(fn: () => T): T {
    if (this.inTransaction) return fn();
    this.begin();
    try {
      const r = fn();
      this.commit();
      return r;
    } catch (e) {
      this.rollback();
      throw e;
    }
  }

  begin(): void {
    if (this.inTransaction) return;
    this.raw.run('BEGIN');
    this.inTransaction = true;
  }

  commit(): void {
    if (!this.inTransaction) return;
    this.raw.run('COMMIT');
    this.inTransaction = false;
  }

  rollback(): void {
    if (!this.inTransaction) return;
    this.raw.run('ROLLBACK');
    this.inTransaction = false;
  }

  /** The database as a SQLite file. */
  export(): Uint8Array {
    this.settle();
    this.commit();
    this.freeStatements();
    const bytes = this.raw.export();
    // sql.js exported the file by closing and reopening it: the settings are those of a new connection.
    this.configure();
    return bytes;
  }

  close(): void {
    this.deferred.clear();
    this.held.clear();
    this.freeStatements();
    this.raw.close();
  }

  private freeStatements(): void {
    for (const st of this.statements.values()) st.free();
    this.statements.clear();
  }
}

/**
 * Largest page cache (KiB), allocated as it is used. Every sql.js database of a process shares
 * one WebAssembly heap, which never shrinks, so the cache is bounded per session: on a 70 MB
 * fdinfo capture 32 MiB did as well as 256 MiB (7.9 s, 257 MB peak), where SQLite's default
 * 2 MiB took 8.2 s and peaked at 315–341 MB.
 */
const CACHE_KIB = 32 * 1024;

/** Rows per multi-row INSERT, and the bound-parameter limit of the SQLite build. */
const MANY_ROWS = 100;
const MAX_VARIABLES = 32766;

/** The words of a SQL text that can be names (lower-cased; quoted names included). */
function identifiers(sql: string): string[] {
  return sql.toLowerCase().match(/[a-z_][a-z0-9_$]*/g) ?? [];
}

/**
 * Column names made distinct as SQLite makes them for a view (`seen_by`, `seen_by:1`, …): rows are
 * objects keyed by name, where a second `seen_by` (a `SELECT *` over a join) would overwrite the first.
 */
function uniqueNames(names: string[]): string[] {
  const seen = new Set(names);
  if (seen.size === names.length) return names;
  const used = new Set<string>();
  return names.map((n) => {
    let name = n;
    for (let i = 1; used.has(name); i++) name = `${n}:${i}`;
    used.add(name);
    return name;
  });
}

function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

function toSqlValue(v: Row[string]): SqlValue {
  if (v === undefined || v === null) return null;
  if (typeof v === 'bigint') return Number.isSafeInteger(Number(v)) ? Number(v) : v.toString();
  return v as SqlValue;
}

/** Named parameters: accept `{name: v}` for `:name`, `@name`, `$name` in the SQL; values bound as given. */
function bindParams(sql: string, params: Record<string, unknown> | unknown[]): SqlValue[] | Record<string, SqlValue> {
  if (Array.isArray(params)) return params.map((v) => toSqlValue(v as Row[string]));
  const out: Record<string, SqlValue> = {};
  for (const [k, v] of Object.entries(params)) {
    const bare = k.replace(/^[:@$]/, '');
    for (const prefix of [':', '@', '$']) {
      if (sql.includes(prefix + bare)) out[prefix + bare] = toSqlValue(v as Row[string]);
    }
  }
  return out;
}
