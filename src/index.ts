// dmabuf-triage as a library: `const s = await open(['bugreport.zip']); s.run('dmabuf_exporters')`.
// A session owns one in-memory database; sessions share nothing, so a bot can hold many.
import { Db, type ResultRow } from './db/database.js';
import { mergeSnapshot } from './db/merge.js';
import { loadInput, makeEnv, type InputSpec } from './input/load.js';
import { catalogue, runAnalysis, type AnalysisInfo } from './analyses.js';
import { summarize, type Summary } from './summary.js';
import { TRACE_WORKER_BYTES, TraceWorkers } from './importers/perfetto/remote.js';
import { EventCapture, MAX_PASS_EVENTS } from './db/charge.js';
import { RssCapture } from './db/rss.js';

export type { InputSpec } from './input/load.js';
export type { AnalysisInfo, AnalysisParam } from './analyses.js';
export type { ResultRow } from './db/database.js';
export type { Summary } from './summary.js';
import { isKnownError, UsageError } from './errors.js';
export { InputError, UsageError } from './errors.js';

export interface OpenOptions {
  /** Called with progress messages (file being read). Default: silent. */
  progress?: (message: string) => void;
  /**
   * Perfetto trace files at least this many bytes long are decoded on a worker thread, in
   * parallel with the database work (default 32 MiB; `Infinity`: everything on the calling thread).
   */
  traceWorkerBytes?: number;
}

export interface SchemaObject {
  name: string;
  kind: 'table' | 'view';
  doc: string;
  columns: { name: string; doc: string }[];
}

export class Session {
  private closed = false;

  /** @internal */
  constructor(private readonly db: Db) {}

  /** The database, while the session is open. */
  private get live(): Db {
    this.assertOpen();
    return this.db;
  }

  private assertOpen(): void {
    if (this.closed) throw new UsageError('the session is closed');
  }

  /**
   * Run one SQL statement; `params` bind `:name` (object) or `?` (array), values as given. Rows
   * are plain objects keyed by column name. SQL that fails, no statement or several are a UsageError.
   */
  query(sql: string, params?: Record<string, unknown> | unknown[]): ResultRow[] {
    const db = this.live;
    if (params !== undefined && (params === null || typeof params !== 'object')) {
      throw new UsageError(`query parameters are an object ({ name: value } for :name) or an array (for ?), got ${String(params)}`);
    }
    return userSql(() => {
      oneStatement(db, sql);
      // Rows written on first use, once the user's transaction is open, would go with its ROLLBACK
      // (and could not be written: a transaction is open): all are written before it opens.
      if (OPENS_TRANSACTION.test(sql)) db.settle();
      return db.query(sql, params);
    });
  }

  /** Column names a query returns, even when it returns no row. */
  columns(sql: string): string[] {
    const db = this.live;
    return userSql(() => {
      oneStatement(db, sql);
      return db.queryColumns(sql);
    });
  }

  /** Run a catalogue analysis with named parameters. */
  run(analysis: string, params?: Record<string, unknown>): ResultRow[] {
    return runAnalysis(this.live, analysis, params ?? {});
  }

  /** The analysis catalogue. */
  analyses(): AnalysisInfo[] {
    return catalogue();
  }

  /** Every table and view with its documentation. */
  schema(): SchemaObject[] {
    return schemaOf(this.live);
  }

  /** The triage summary `analyze` prints. */
  summary(opts: { top?: number } = {}): Summary {
    // The summary reports a failing analysis in its `errors`: a closed session must fail first.
    this.assertOpen();
    // A negative number would slice all but the last rows off the end.
    if (opts.top !== undefined && !(Number.isInteger(opts.top) && opts.top > 0)) throw new UsageError(`summary's top is a positive whole number, got ${String(opts.top)}`);
    return summarize(this, opts);
  }

  /** The whole database as a SQLite file. */
  exportSqlite(): Uint8Array {
    return this.live.export();
  }

  /** Free the database; every later call but `close` is a UsageError. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.db.close();
  }
}

/** Load inputs (paths or named bytes) into a new session: one snapshot per input. */
export async function open(inputs: InputSpec | InputSpec[], options: OpenOptions = {}): Promise<Session> {
  const list = Array.isArray(inputs) ? inputs : [inputs];
  for (const i of list) {
    const named = typeof i === 'object' && i !== null && typeof i.name === 'string' && i.bytes instanceof Uint8Array;
    if (typeof i !== 'string' && !named) throw new UsageError(`an input is a path or { name, bytes } with bytes a Uint8Array, got ${inputShape(i)}`);
  }
  const workers = new TraceWorkers(options.traceWorkerBytes ?? TRACE_WORKER_BYTES);
  // Large traces start decoding while the database is created.
  workers.prestart(list.filter((i): i is string => typeof i === 'string'));
  let db: Db;
  try {
    db = await Db.create();
  } catch (e) {
    workers.close();
    throw e;
  }
  const env = makeEnv(options.progress ?? (() => {}), workers);
  // Trace events as they are written: the merge's passes then need not read them back. They are
  // written into the database on first use, as are the binder events the charge pass finds its
  // gralloc spans in: the summary reads their totals only. Held, a binder event or an RSS sample
  // costs some 60 bytes; written, sql.js takes some 8 µs and, with its file's growth, three times
  // the memory (a 1 GB trace of 4.6 million binder events: 36.6 s and 886 MB with 2 million held
  // at most, 2.3 s and 473 MB with all): all are held.
  const captures = { events: new EventCapture(db), rss: new RssCapture(db) };
  db.holdInserts('dma_heap_event', MAX_PASS_EVENTS);
  db.holdInserts('binder_event', Infinity);
  db.holdInserts('dmabuf_rss_sample', Infinity);
  try {
    for (const input of list) {
      const before = db.query('SELECT coalesce(max(id), 0) AS id FROM snapshot')[0].id as number;
      db.begin();
      await loadInput(db, input, env);
      for (const r of db.query('SELECT id FROM snapshot WHERE id > ?', [before])) mergeSnapshot(db, r.id as number, captures);
      db.commit();
    }
  } catch (e) {
    db.close();
    throw e;
  } finally {
    captures.events.close();
    captures.rss.close();
    workers.close();
  }
  return new Session(db);
}

/** What a value that is not an input is, for the error that refuses it. */
function inputShape(v: unknown): string {
  if (v === null || typeof v !== 'object') return typeof v === 'string' ? 'a string' : String(v);
  return `{ ${Object.entries(v).map(([k, x]) => `${k}: ${x instanceof Uint8Array ? 'Uint8Array' : typeof x}`).join(', ')} }`;
}

/** Run a user's SQL: a failure is the user's to fix (a UsageError), not a bug. */
function userSql<T>(f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (isKnownError(e)) throw e;
    // sql.js throws some failures as strings (a value it cannot bind).
    throw new UsageError(`SQL error: ${e instanceof Error ? e.message : String(e)}`);
  }
}

/** A statement that opens a transaction (after any comments). */
const OPENS_TRANSACTION = /^(?:\s|--[^\n]*|\/\*[\s\S]*?\*\/)*(?:BEGIN|SAVEPOINT)\b/i;

/** What may follow the last statement: blanks, semicolons, comments. */
const NO_STATEMENT = /^(?:\s|;|--[^\n]*|\/\*[\s\S]*?(?:\*\/|$))*$/;

/** A user's SQL must be one statement: sql.js runs the first of several and drops the rest unsaid. */
function oneStatement(db: Db, sql: string): void {
  const it = db.raw.iterateStatements(sql);
  try {
    if (it.next().done) throw new UsageError('no SQL statement to run');
    const rest = it.getRemainingSQL().trim();
    if (!NO_STATEMENT.test(rest)) {
      throw new UsageError(`one SQL statement at a time: '${rest.length > 60 ? `${rest.slice(0, 60)}…` : rest}' follows the first`);
    }
  } finally {
    (it as { return?: () => void }).return?.();
  }
}

function schemaOf(db: Db): SchemaObject[] {
  const rows = db.query('SELECT object, column_name, kind, doc FROM schema_doc ORDER BY rowid');
  const out = new Map<string, SchemaObject>();
  for (const r of rows) {
    const name = String(r.object);
    let o = out.get(name);
    if (!o) out.set(name, (o = { name, kind: r.kind as 'table' | 'view', doc: '', columns: [] }));
    if (r.column_name === null) o.doc = String(r.doc);
    else o.columns.push({ name: String(r.column_name), doc: String(r.doc) });
  }
  return [...out.values()];
}
