// The importer contract. An importer turns one source format into normalized rows of the
// documented schema (src/db/schema/*.sql). Importers never read each other's rows: they
// write observations, and src/db/merge.ts builds the merged `dmabuf` / `dmabuf_holder`.
import type { TraceWorkers } from './perfetto/remote.js';
import type { DiagnosticCode } from '../diagnostics.js';

export type Severity = 'info' | 'warning' | 'error';

/** A row to insert: column name → value (undefined and null both store NULL). */
export type Row = Record<string, string | number | bigint | null | undefined | Uint8Array>;

/**
 * The rows of one `insertMany`: value arrays in `columns` order, or packed (src/db/packed.ts):
 * one row-major Float64Array of `columns.length` values per row, NaN for NULL.
 */
export type Rows = readonly (readonly Row[string][])[] | Float64Array;

export interface SnapshotFields {
  captured_at?: string | null;
  build_fingerprint?: string | null;
  build_id?: string | null;
  kernel_release?: string | null;
  android_sdk?: number | null;
  uptime?: string | null;
}

export interface ProcessFields {
  name?: string | null;
  cmdline?: string | null;
  ppid?: number | null;
  uid?: number | null;
  /**
   * The fields are all of one process's, NULL included: they replace what was recorded of the
   * pid (a trace's pid another process held before: the row is the last one's, not a mix).
   */
  replace?: boolean;
}

/** A thread as `ImportContext.thread` takes it: tid, pid (null: unknown), name. */
export type ThreadFields = readonly [number, number | null, (string | null)?];

/** Where an importer writes. One context per source (file, zip entry or bugreport section). */
export interface ImportContext {
  readonly snapshotId: number;
  readonly sourceId: number;
  /** Path of the source as the user sees it (file path, zip entry path, or `file#section`). */
  readonly path: string;
  /** Insert one row into a table of the schema; `snapshot_id` and `source_id` are filled in when the table has them and the row does not. */
  insert(table: string, row: Row): void;
  /** Insert many rows of the same columns (value arrays in `columns` order, or packed); `snapshot_id` and `source_id` are filled in as for `insert`. The rows are the context's from then on: the caller does not change them. */
  insertMany(table: string, columns: readonly string[], rows: Rows): void;
  /** Record a recoverable problem; `line` is 1-based within this source. */
  diag(severity: Severity, code: DiagnosticCode, message: string, line?: number | null): void;
  /** Record (or improve) what is known of a process: a longer name or a cmdline wins. */
  process(pid: number, fields: ProcessFields): void;
  /** `process` for each, in order, at once (a trace ends with hundreds or thousands). */
  processes(list: readonly (readonly [number, ProcessFields])[]): void;
  /** Record (or improve) what is known of a thread of this source (a trace: each trace has its own threads). */
  thread(tid: number, pid: number | null, name?: string | null): void;
  /** `thread` for each (tid, pid, name), in order, at once. */
  threads(list: readonly ThreadFields[]): void;
  /** Fill snapshot fields (only those given and not null). */
  snapshot(fields: SnapshotFields): void;
  /** A child source (a section of this text, an entry of this zip) sharing this snapshot. */
  child(path: string, importer: string, opts?: { bytes?: number; lineStart?: number; lineEnd?: number }): ImportContext;
  /** Set the importer name and size of this source once known. */
  describe(importer: string, bytes?: number): void;
}

/** A text importer: a format small enough to hold as one string (a section, a capture file). */
export interface TextImporter {
  /** Stored in `source.importer`; short, snake_case. */
  readonly name: string;
  /** One line saying which format this importer reads (listed by `dmabuf-triage --help`). */
  readonly description: string;
  /**
   * Content detection: does this text (the first ~64 KiB of a file, already decoded) look like
   * this format? `path` (as in ImportContext) decides only for pulled `/proc` and sysfs files
   * whose content is too little to tell: a bare value (sysfs `size`), the fdinfo of an fd that
   * is not a DMA-BUF (`/proc/<pid>/fdinfo/<fd>`, ours to skip), a `/proc/<pid>/maps` with no
   * DMA-BUF mapping and fewer than three vmas. Otherwise detection is by content alone.
   */
  sniff(head: string, path: string): boolean;
  /**
   * Content detection that needs the whole text, asked of a file's text longer than the head the
   * sniffs saw when another importer recognized the head: when the text is this importer's after
   * all (several captures one after another may show only the first in the head), what reads it,
   * keeping what the look found (it is not looked at twice); else undefined.
   */
  sniffWhole?(text: string, path: string): ((ctx: ImportContext) => void) | undefined;
  /** Parse the whole text into rows. Must not throw on malformed input: record diagnostics. */
  importText(text: string, ctx: ImportContext): void;
}

/** A streaming importer: a format that can be hundreds of megabytes (bugreport text, trace). */
export interface StreamImporter {
  /** As TextImporter's. */
  readonly name: string;
  /** As TextImporter's. */
  readonly description: string;
  /** Snapshot kind this importer's input makes when it is the top-level input. */
  readonly snapshotKind: 'bugreport' | 'trace' | 'capture';
  /** Content detection on the first bytes of the (decompressed) file. */
  sniffBytes(head: Uint8Array, path: string): boolean;
  /** It reads lines of text: of a compressed file cut short, it is given the whole lines only. */
  readonly lines?: boolean;
  /**
   * Consume the stream. Must not throw on malformed content: record diagnostics. `file` is set
   * when the stream is the whole of a plain file on disk (not decompressed, not a zip entry):
   * the importer may read that file itself instead (the stream is then closed for it).
   */
  importStream(chunks: AsyncIterable<Uint8Array>, ctx: ImportContext, env: ImportEnv, file?: { path: string; bytes: number }): Promise<void>;
}

/** Services the input layer hands a streaming importer. */
export interface ImportEnv {
  /** Find the text importer that recognizes `text` (by sniffing), if any. */
  sniffText(text: string, path: string): TextImporter | undefined;
  /** Look up a text importer by name. */
  textImporter(name: string): TextImporter;
  /** Progress messages (stderr in the CLI, silent in the library by default). */
  progress(message: string): void;
  /** Which Perfetto trace files are decoded on a worker thread (src/importers/perfetto/remote.ts); none when absent. */
  traceWorkers?: TraceWorkers;
}
