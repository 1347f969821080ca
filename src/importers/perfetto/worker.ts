// The worker thread that decodes a large Perfetto trace file (started by remote.ts): it reads
// the file into a few reused buffers, in the memory the bundle walk reads (walker.ts), runs the
// decoding loop (stream.ts) and posts every write the importer makes, in order, to the thread
// that owns the database. Messages are the `TraceMessage` tuples of remote.ts. It never touches
// the database itself.
import fs from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import type { ImportContext, ProcessFields, Row, Rows, Severity, ThreadFields } from '../types.js';
import { pack, rowCount } from '../../db/packed.js';
import { decodeTrace } from './stream.js';
import { bundleWalker } from './decoder.js';
import type { TraceMessage, TraceWorkerData } from './remote.js';
import type { DiagnosticCode } from '../../diagnostics.js';

const port = parentPort!;
const { path, maxUnackedRows, chunkBytes } = workerData as TraceWorkerData;
/** The chunks are read into the walker's memory, where the bundles are walked without a copy. */
const walker = bundleWalker(3 * chunkBytes);
// The code is loaded, the walk's WebAssembly compiled: the command line may now change V8's
// flags (bin/dmabuf-triage.js; compiled before, the walk is still optimized when it runs hot).
port.postMessage(['loaded'] satisfies TraceMessage);

let unacked = 0;
let resume: (() => void) | null = null;
port.on('message', (m: ['ack', number]) => {
  unacked -= m[1];
  if (resume && unacked <= maxUnackedRows) {
    const r = resume;
    resume = null;
    r();
  }
});

function post(m: TraceMessage, transfer?: ArrayBuffer[]): void {
  port.postMessage(m, transfer);
}

/** Writes, forwarded. Snapshot and source ids are the database thread's to add. */
class RemoteContext implements ImportContext {
  readonly snapshotId = 0;
  readonly sourceId = 0;
  constructor(readonly path: string) {}

  insert(table: string, row: Row): void {
    post(['insert', table, row]);
  }

  insertMany(table: string, columns: readonly string[], rows: Rows): void {
    // Packed rows cross over without being copied (a structured clone of hundreds of value
    // arrays costs this thread about as much as decoding them). The rows are ours to give.
    const packed = pack(rows, columns.length);
    unacked += rowCount(packed, columns.length);
    post(['insertMany', table, columns, packed], packed instanceof Float64Array ? [packed.buffer as ArrayBuffer] : undefined);
  }

  diag(severity: Severity, code: DiagnosticCode, message: string, line?: number | null): void {
    post(['diag', severity, code, message, line ?? null]);
  }

  process(pid: number, fields: ProcessFields): void {
    this.processes([[pid, fields]]);
  }

  processes(list: readonly (readonly [number, ProcessFields])[]): void {
    post(['processes', list]);
  }

  thread(tid: number, pid: number | null, name?: string | null): void {
    this.threads([[tid, pid, name ?? null]]);
  }

  threads(list: readonly ThreadFields[]): void {
    post(['threads', list]);
  }

  describe(importer: string, bytes?: number): void {
    post(['describe', importer, bytes ?? null]);
  }

  snapshot(): void {
    throw new Error('a trace does not describe its snapshot');
  }

  child(): ImportContext {
    throw new Error('a trace has no child sources');
  }
}

/**
 * The file in chunks, read ahead one chunk. Three buffers turn: when the consumer asks for chunk
 * k + 1 it is done with chunk k − 1 (stream.ts asks before decoding chunk k), whose buffer then
 * receives chunk k + 2. Waits while the database thread is behind.
 */
async function* fileChunks(file: string): AsyncIterable<Uint8Array> {
  const fh = await fs.promises.open(file, 'r');
  try {
    const ring = [0, 1, 2].map((k) => walker.region(k * chunkBytes, chunkBytes));
    let k = 0;
    // A read left in flight when the consumer stops early must not be an unhandled rejection.
    const read = (buf: Buffer) => {
      const r = fh.read(buf, 0, chunkBytes, null);
      r.catch(() => undefined);
      return r;
    };
    let reading = read(ring[0]);
    for (;;) {
      const { bytesRead } = await reading;
      if (bytesRead === 0) return;
      const chunk = ring[k % 3].subarray(0, bytesRead);
      k++;
      reading = read(ring[k % 3]);
      if (unacked > maxUnackedRows) await new Promise<void>((r) => (resume = r));
      yield chunk;
    }
  } finally {
    await fh.close();
  }
}

try {
  await decodeTrace(fileChunks(path), new RemoteContext(path), {
    progress: (message) => post(['progress', message]),
    reusedChunks: true,
    walker,
  });
  post(['end']);
} catch (e) {
  post(['failed', (e as Error)?.message ?? String(e)]);
}
