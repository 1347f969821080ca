// Decoding a large Perfetto trace file on a worker thread (worker.ts). Decoding is pure
// computation over the file's bytes and writing the rows is sql.js work: on a worker, the two
// run on separate cores, and the decoding can start before the database exists (`prestart`,
// called while the session creates its schema). The worker's writes arrive as messages and
// are applied, in order, to the importer's context on this thread; the result is the same
// database as decoding here (test/perfetto.test.ts).
import fs from 'node:fs';
import { Worker } from 'node:worker_threads';
import type { ImportContext, ProcessFields, Row, Rows, Severity, ThreadFields } from '../types.js';
import type { DiagnosticCode } from '../../diagnostics.js';
import { rowCount } from '../../db/packed.js';
import { looksLikePerfettoTrace } from './sniff.js';
import { readHead } from '../../input/head.js';

/** What the worker is started with. */
export interface TraceWorkerData {
  path: string;
  /** Rows posted and not yet written here, at most: the worker pauses beyond (bounds the memory held in messages). */
  maxUnackedRows: number;
  /** Bytes per read. */
  chunkBytes: number;
}

/** A write or event of the worker, in the order the importer made it. */
export type TraceMessage =
  | ['loaded']
  | ['insert', string, Row]
  | ['insertMany', string, readonly string[], Rows]
  | ['diag', Severity, DiagnosticCode, string, number | null]
  | ['processes', readonly (readonly [number, ProcessFields])[]]
  | ['threads', readonly ThreadFields[]]
  | ['describe', string, number | null]
  | ['progress', string]
  | ['end']
  | ['failed', string];

/** Trace files at least this large are decoded on a worker thread unless a session says otherwise. */
export const TRACE_WORKER_BYTES = 32 * 1024 * 1024;
/** Defaults of `TraceWorkerData`. */
const MAX_UNACKED_ROWS = 100_000;
const CHUNK_BYTES = 2 * 1024 * 1024;
/** Bytes of the head read to recognize a trace before starting a worker early. */
const SNIFF_BYTES = 64 * 1024;

/** One trace file being decoded on a worker thread. */
export class TraceWorker {
  private readonly worker: Worker;
  /** Messages that arrived before `run` (the database was not ready). */
  private readonly early: TraceMessage[] = [];
  private deliver: ((m: TraceMessage) => void) | null = null;
  private stopped = false;
  /** Rows written here before the worker is told (less than it may have outstanding). */
  private readonly ackRows: number;
  /** Settles once the worker has loaded its code (or has failed or exited). */
  readonly loaded: Promise<void>;
  private markLoaded!: () => void;

  constructor(path: string, opts: Partial<Omit<TraceWorkerData, 'path'>> = {}) {
    const data: TraceWorkerData = { path, maxUnackedRows: opts.maxUnackedRows ?? MAX_UNACKED_ROWS, chunkBytes: opts.chunkBytes ?? CHUNK_BYTES };
    this.ackRows = Math.max(1, Math.floor(data.maxUnackedRows / 5));
    this.loaded = new Promise((resolve) => (this.markLoaded = resolve));
    this.worker = new Worker(new URL('./worker.js', import.meta.url), { workerData: data });
    this.worker.on('message', (m: TraceMessage) => this.receive(m));
    this.worker.on('error', (e) => this.receive(['failed', e.message]));
    this.worker.on('exit', (code) => {
      if (!this.stopped) this.receive(['failed', `the trace decoder thread exited (code ${code}) before the end of the trace`]);
    });
  }

  private receive(m: TraceMessage): void {
    // Any message comes after 'loaded'; a failure or an exit may come instead of it.
    this.markLoaded();
    if (m[0] === 'loaded' || this.stopped) return;
    if (this.deliver) this.deliver(m);
    else this.early.push(m);
  }

  /** Apply the worker's writes to `ctx` until the end of the trace. */
  run(ctx: ImportContext, progress: (message: string) => void): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      let written = 0;
      const apply = (m: TraceMessage): void => {
        switch (m[0]) {
          case 'insert':
            return ctx.insert(m[1], m[2]);
          case 'insertMany':
            ctx.insertMany(m[1], m[2], m[3]);
            written += rowCount(m[3], m[2].length);
            if (written >= this.ackRows) {
              this.worker.postMessage(['ack', written]);
              written = 0;
            }
            return;
          case 'diag':
            return ctx.diag(m[1], m[2], m[3], m[4]);
          case 'processes':
            return ctx.processes(m[1]);
          case 'threads':
            return ctx.threads(m[1]);
          case 'describe':
            return ctx.describe(m[1], m[2] ?? undefined);
          case 'progress':
            return progress(m[1]);
          case 'end':
            this.stop();
            return resolve();
          case 'failed':
            this.stop();
            return reject(new Error(`decoding the trace failed: ${m[1]}`));
        }
      };
      this.deliver = (m) => {
        try {
          apply(m);
        } catch (e) {
          this.stop();
          reject(e);
        }
      };
      for (const m of this.early.splice(0)) this.deliver(m);
    });
  }

  /** Whether the worker keeps the process alive (not while nobody has taken it). */
  keepAlive(on: boolean): void {
    if (on) this.worker.ref();
    else this.worker.unref();
  }

  /** Stop the worker (its remaining messages are dropped). */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.markLoaded();
    void this.worker.terminate();
  }
}

/**
 * Workers started before any session asked: the command line starts them while the rest of
 * the program loads (bin/dmabuf-triage.js). The first session that loads the file takes its
 * worker; until then it does not keep the process alive.
 */
const early = new Map<string, TraceWorker>();

/**
 * Start decoding now the large Perfetto trace files among `paths` (any other argument is
 * ignored), for a session opened later. Settles once those workers have loaded their code.
 */
export function prestartTraceWorkers(paths: string[]): Promise<void> {
  const loading: Promise<void>[] = [];
  for (const p of paths) {
    if (early.has(p)) continue;
    const w = startIfTrace(p, TRACE_WORKER_BYTES);
    if (!w) continue;
    early.set(p, w);
    // Until it has loaded, the worker keeps the process alive (the caller may be waiting for
    // that); then only once a session takes it.
    loading.push(
      w.loaded.then(() => {
        if (early.get(p) === w) w.keepAlive(false);
      }),
    );
  }
  return Promise.all(loading).then(() => undefined);
}

/** A worker decoding `p`, if it is a Perfetto trace file of at least `minBytes`. */
function startIfTrace(p: string, minBytes: number): TraceWorker | undefined {
  try {
    const st = fs.statSync(p);
    if (!st.isFile() || st.size < minBytes || !looksLikePerfettoTrace(readHead(p, SNIFF_BYTES))) return undefined;
    return new TraceWorker(p);
  } catch {
    return undefined; // the loader reports what cannot be read
  }
}

/** The trace workers of one loading session: which files get one, and those started early. */
export class TraceWorkers {
  private readonly started = new Map<string, TraceWorker>();

  /** `minBytes`: trace files at least this large are decoded on a worker thread. */
  constructor(private readonly minBytes: number) {}

  /**
   * Start decoding now the inputs that are large Perfetto trace files, before the database is
   * ready (their writes wait in messages), or take the worker the command line started.
   */
  prestart(paths: string[]): void {
    for (const p of paths) {
      if (this.started.has(p)) continue;
      const w = takeEarly(p, this.minBytes) ?? startIfTrace(p, this.minBytes);
      if (w) this.started.set(p, w);
    }
  }

  /** The worker decoding this trace file (started early, or now); undefined to decode it in this thread. */
  take(path: string, bytes: number): TraceWorker | undefined {
    const w = this.started.get(path) ?? takeEarly(path, this.minBytes);
    if (w) {
      this.started.delete(path);
      return w;
    }
    return bytes >= this.minBytes ? new TraceWorker(path) : undefined;
  }

  /** Stop the workers started early that no importer took (the input was not read as a trace). */
  close(): void {
    for (const w of this.started.values()) w.stop();
    this.started.clear();
  }
}

/** The worker the command line started for `p`, if this session decodes such a file on one. */
function takeEarly(p: string, minBytes: number): TraceWorker | undefined {
  const w = early.get(p);
  if (!w) return undefined;
  early.delete(p);
  try {
    if (fs.statSync(p).size >= minBytes) {
      w.keepAlive(true);
      return w;
    }
  } catch {
    // gone since: the loader reports it
  }
  w.stop();
  return undefined;
}
