// The decoding loop of a Perfetto trace: chunks → PacketFramer (framer.ts, packets of any
// size across chunk boundaries) → PerfettoDecoder (decoder.ts) → TraceSink (sink.ts, rows).
// Runs in the importing thread, or on a worker thread for a large trace file (worker.ts).
import type { ImportContext } from '../types.js';
import { PacketFramer } from './framer.js';
import { PerfettoDecoder } from './decoder.js';
import type { BundleWalker } from './walker.js';
import { TraceSink } from './sink.js';

/**
 * Packets left queued after each chunk: compressed packets start inflating (on the thread pool)
 * as soon as they are framed, and decoding waits only until this few remain queued, so inflating
 * runs ahead of decoding by up to one chunk's packets plus these.
 */
const QUEUED_AHEAD = 4;
/** Progress is reported every this many bytes. */
const PROGRESS_EVERY = 256 * 1024 * 1024;

export interface DecodeOptions {
  /** Report progress (a line per 256 MB read). */
  progress: (message: string) => void;
  /** The reader refills a chunk's memory once the next one is asked for: copy whatever must outlive that. */
  reusedChunks?: boolean;
  /** The walker of ftrace bundles to use (one whose memory holds the chunks walks them in place). */
  walker?: BundleWalker;
}

/** Decode a whole trace into `ctx`. Bad content and a failing byte source are diagnostics, not exceptions. */
export async function decodeTrace(chunks: AsyncIterable<Uint8Array>, ctx: ImportContext, opts: DecodeOptions): Promise<void> {
  const sink = new TraceSink(ctx, 'perfetto');
  const decoder = new PerfettoDecoder(sink, opts.walker);
  decoder.copyRetained = opts.reusedChunks === true;
  const framer = new PacketFramer(
    (buf, s, e, offset) => decoder.packet(buf, s, e, offset),
    (err) => ctx.diag(err.code === 'truncated' ? 'warning' : 'error', err.code, err.message),
    false,
    (buf, s, e, offset) => decoder.packets(buf, s, e, offset),
  );
  let bytes = 0;
  let nextProgress = PROGRESS_EVERY;
  let readFailed = false;
  // The next chunk is asked for before this one is decoded, so that reading it overlaps with
  // decoding.
  const it = chunks[Symbol.asyncIterator]();
  let next = it.next();
  for (;;) {
    let r: IteratorResult<Uint8Array>;
    try {
      r = await next;
    } catch (e) {
      // The byte source failed (a corrupt or cut gzip stream, an I/O error): keep what was read.
      ctx.diag('error', 'read_failed', `reading stopped after ${bytes} bytes: ${(e as Error).message}; the packets before were kept`);
      readFailed = true;
      break;
    }
    if (r.done) break;
    const chunk = r.value;
    bytes += chunk.length;
    next = it.next();
    next.catch(() => undefined); // a failed read is handled when awaited, not as unhandled
    framer.push(chunk);
    await decoder.drain(QUEUED_AHEAD);
    if (framer.stopped) {
      // Stop reading: settle the read already asked for, then close the source.
      await next.catch(() => undefined);
      await it.return?.()?.catch(() => undefined);
      break;
    }
    if (bytes >= nextProgress) {
      opts.progress(`${ctx.path}: ${Math.round(bytes / (1024 * 1024))} MB read`);
      nextProgress += PROGRESS_EVERY;
    }
  }
  if (!readFailed) framer.end();
  await decoder.drain(0);
  sink.finish();
  ctx.describe('perfetto', framer.stopped ? undefined : bytes);
}
