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
  /** @internal */
  constructor(private readonly db: Db) {}

  /**
   * Run SQL; `params` bind `:name` (object) or `?` (array), values as given. Rows are plain
   * objects keyed by column name. SQL that fails is a UsageError.
   */
  query(sql: string, params?: Record<string, unknown> | unknown[]): ResultRow[] {
    return userSql(() => this.db.query(sql, params));
  }

  /** Column names a query returns, even when it returns no row. */
  columns(sql: string): string[] {
    return userSql(() => this.db.queryColumns(sql));
  }

  /** Run a catalogue analysis with named parameters. */
  run(analysis: string, params?: Record<string, unknown>): ResultRow[] {
    return runAnalysis(this.db, analysis, params);
  }

  /** The analysis catalogue. */
  analyses(): AnalysisInfo[] {
    return catalogue();
  }

  /** Every table and view with its documentation. */
  schema(): SchemaObject[] {
    return schemaOf(this.db);
  }

  /** The triage summary `analyze` prints. */
  summary(opts: { top?: number } = {}): Summary {
    return summarize(this, opts);
  }

  /** The whole database as a SQLite file. */
  exportSqlite(): Uint8Array {
    return this.db.export();
  }

  close(): void {
    this.db.close();
  }
}

/** Load inputs (paths or named bytes) into a new session: one snapshot per input. */
export async function open(inputs: InputSpec | InputSpec[], options: OpenOptions = {}): Promise<Session> {
  const list = Array.isArray(inputs) ? inputs : [inputs];
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

/** Run a user's SQL: a failure is the user's to fix (a UsageError), not a bug. */
function userSql<T>(f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (isKnownError(e)) throw e;
    throw new UsageError(`SQL error: ${(e as Error).message}`);
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
