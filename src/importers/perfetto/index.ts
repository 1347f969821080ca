// Perfetto traces (binary protobuf `Trace`): standalone files, gzip-wrapped files (the input
// layer gunzips) and the trace a bugreport carries at
// `FS/data/misc/perfetto-traces/bugreport/systrace.pftrace`.
// Format: ../shared/formats.md §6; upstream schema google/perfetto protos/perfetto/trace/
// (trace.proto, trace_packet.proto, ftrace/ftrace_event.proto, ftrace/ftrace_event_bundle.proto,
// ps/process_tree.proto, ps/process_stats.proto, sys_stats/sys_stats.proto); our subset is
// proto/perfetto_trimmed.proto.
//
// The decoding loop is stream.ts. A large trace file is decoded on a worker thread (worker.ts,
// remote.ts) while this thread sets up the database and writes the rows; anything else (a
// small file, a gzip-wrapped trace, a zip entry) is decoded here.
import type { ImportContext, ImportEnv, StreamImporter } from '../types.js';
import { looksLikePerfettoTrace } from './sniff.js';
import { guardedStream } from '../common.js';

export { looksLikePerfettoTrace } from './sniff.js';

export const perfetto: StreamImporter = {
  name: 'perfetto',
  description: 'Perfetto trace (protobuf, also gzip-wrapped or with compressed packets): dma_heap_stat, dmabuf_rss_stat, ION, GPU memory, binder, process tree',
  snapshotKind: 'trace',

  sniffBytes(head: Uint8Array): boolean {
    return looksLikePerfettoTrace(head);
  },

  async importStream(chunks: AsyncIterable<Uint8Array>, ctx: ImportContext, env: ImportEnv, file?: { path: string; bytes: number }): Promise<void> {
    await guardedStream(ctx, 'perfetto', async (capped) => {
      const worker = file ? env.traceWorkers?.take(file.path, file.bytes) : undefined;
      if (worker) return worker.run(capped, env.progress);
      // The decoder is loaded when a trace is first decoded in this thread.
      const { decodeTrace } = await import('./stream.js');
      await decodeTrace(chunks, capped, { progress: env.progress });
    });
  },
};
