// A Perfetto trace that lost data says so: `trace_stats` (the tracing service's buffers),
// `ftrace_stats` (the kernel's ftrace buffers, END_OF_TRACE minus START_OF_TRACE) and packets
// marked `previous_packet_dropped` fill trace_info's loss columns and a `trace_lost_events`
// warning, and the `unfreed_in_trace` leak suspects then say a free may have been lost. The same
// whether the trace is decoded in this thread or on the trace worker (where whole packets are
// walked in WebAssembly and the loss reports are read after the walk), in any read size.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { open, type Session } from '../src/index.js';
import { Db } from '../src/db/database.js';
import { SourceContext } from '../src/importers/context.js';
import { TraceWorker } from '../src/importers/perfetto/remote.js';
import { smallScenario } from './fixtures/scenario.js';
import { scenarioTrace, type TraceLoss } from './fixtures/trace.js';
import { cli, diagnostics, tempDir } from './helpers.js';

type Query = Pick<Session, 'query'>;

const LOSS_COLUMNS =
  'ftrace_overrun, ftrace_dropped_events, chunks_overwritten, chunks_discarded, writer_packet_loss, abi_violations, flushes_failed, packets_dropped, lost_event_bundles';

function lossOf(s: Query): Record<string, unknown>[] {
  return s.query(`SELECT ${LOSS_COLUMNS} FROM trace_info`);
}

function lostEvents(s: Query): { severity: string; code: string; message: string; line: number | null }[] {
  return diagnostics(s).filter((d) => d.code === 'trace_lost_events');
}

function writeTrace(loss: TraceLoss | undefined): { file: string; lostFree: { pid: number; inode: number; bytes: number } | null; leakerPid: number } {
  const tr = scenarioTrace(smallScenario(34), { churn: 40, loss });
  const file = path.join(tempDir(), 'trace.pftrace');
  fs.writeFileSync(file, tr.bytes);
  return { file, lostFree: tr.lostFree, leakerPid: tr.leakerPid };
}

/** The trace decoded in this thread and on the worker thread (whole packets walked there). */
async function bothWays(file: string, check: (s: Session, how: string) => void): Promise<void> {
  for (const [how, traceWorkerBytes] of [
    ['in process', Infinity],
    ['on the worker', 0],
  ] as const) {
    const s = await open(file, { traceWorkerBytes });
    try {
      check(s, how);
    } finally {
      s.close();
    }
  }
}

const SUFFIX = '; the trace lost events (trace_lost_events diagnostic), so a free may have been lost rather than never made';

test('a trace whose ftrace_stats, trace_stats and previous_packet_dropped report lost data: trace_info counts, one warning, leak evidence that says a free may be lost', async () => {
  const { file, lostFree, leakerPid } = writeTrace({ ftraceOverrun: 37, chunksOverwritten: 2, droppedPackets: 2, loseFree: true });
  assert.ok(lostFree);
  await bothWays(file, (s, how) => {
    assert.deepEqual(
      lossOf(s),
      [
        {
          ftrace_overrun: 37,
          ftrace_dropped_events: 0,
          chunks_overwritten: 2,
          chunks_discarded: 0,
          writer_packet_loss: 0,
          abi_violations: 0,
          flushes_failed: 0,
          // The mark on the first packet of each of the three sequences is not a loss.
          packets_dropped: 2,
          lost_event_bundles: 0,
        },
      ],
      how,
    );
    assert.deepEqual(
      lostEvents(s),
      [
        {
          severity: 'warning',
          code: 'trace_lost_events',
          message:
            "the kernel's ftrace ring buffers overwrote 37 events during the trace (ftrace_stats overrun); " +
            '2 packets follow lost packets of their sequence (previous_packet_dropped): allocations and frees may be missing',
          line: null,
        },
      ],
      how,
    );
    // The buffer whose free was lost looks leaked; so does the real leak. Both say the trace lost events.
    const unfreed = s.run('dmabuf_leak_suspects').filter((r) => r.kind === 'unfreed_in_trace');
    assert.deepEqual(unfreed.map((r) => r.subject as string).map((x) => Number(/\((\d+)\)$/.exec(x)![1])).sort(), [lostFree.pid, leakerPid].sort(), how);
    const lost = unfreed.find((r) => (r.subject as string).endsWith(`(${lostFree.pid})`))!;
    assert.equal(lost.bytes, lostFree.bytes, how);
    assert.match(lost.evidence as string, new RegExp(`^1 buffer \\(inode ${lostFree.inode}, ${lostFree.bytes} bytes\\) allocated during the trace at ts \\d+ was still allocated at its end \\(ts \\d+\\)`), how);
    for (const r of unfreed) assert.ok((r.evidence as string).endsWith(SUFFIX), `${how}: ${r.evidence}`);
  });
});

test('loss reports of no loss: zero counts, no warning, leak evidence as before; a trace without them: NULL counts', async () => {
  const clean = writeTrace({});
  await bothWays(clean.file, (s, how) => {
    assert.deepEqual(
      lossOf(s),
      [{ ftrace_overrun: 0, ftrace_dropped_events: 0, chunks_overwritten: 0, chunks_discarded: 0, writer_packet_loss: 0, abi_violations: 0, flushes_failed: 0, packets_dropped: 0, lost_event_bundles: 0 }],
      how,
    );
    assert.deepEqual(lostEvents(s), [], how);
    const unfreed = s.run('dmabuf_leak_suspects').filter((r) => r.kind === 'unfreed_in_trace');
    assert.equal(unfreed.length, 1, how);
    assert.match(unfreed[0].evidence as string, /was still allocated at its end \(ts \d+\)$/, how);
  });
  const plain = writeTrace(undefined);
  await bothWays(plain.file, (s, how) => {
    assert.deepEqual(
      lossOf(s),
      [
        {
          ftrace_overrun: null,
          ftrace_dropped_events: null,
          chunks_overwritten: null,
          chunks_discarded: null,
          writer_packet_loss: null,
          abi_violations: null,
          flushes_failed: null,
          packets_dropped: 0,
          lost_event_bundles: 0,
        },
      ],
      how,
    );
    assert.deepEqual(lostEvents(s), [], how);
  });
});

test('the worker reads the loss reports whatever its read size: packets walked whole, and packets cut by a read (decoded one by one)', async () => {
  const { file } = writeTrace({ ftraceOverrun: 5, chunksOverwritten: 1, droppedPackets: 3, loseFree: true });
  const want = await open(file, { traceWorkerBytes: Infinity });
  const expected = { loss: lossOf(want), diags: lostEvents(want) };
  want.close();
  assert.equal(expected.loss[0].packets_dropped, 3);
  for (const chunkBytes of [97, 256, 4096]) {
    const db = await Db.create();
    db.begin();
    const ctx = SourceContext.topLevel(db, file, 'perfetto', 'trace', file, fs.statSync(file).size);
    await new TraceWorker(file, { chunkBytes }).run(ctx, () => {});
    db.commit();
    assert.deepEqual({ loss: lossOf(db), diags: lostEvents(db) }, expected, `reads of ${chunkBytes} bytes`);
    db.close();
  }
});

test('a ring buffer that overwrote its oldest chunks lost no free: counted, no warning, leak evidence as before', async () => {
  const { file } = writeTrace({ chunksOverwritten: 6 });
  await bothWays(file, (s, how) => {
    assert.equal(lossOf(s)[0].chunks_overwritten, 6, how);
    assert.deepEqual(lostEvents(s), [], how);
    const unfreed = s.run('dmabuf_leak_suspects').filter((r) => r.kind === 'unfreed_in_trace');
    assert.equal(unfreed.length, 1, how);
    assert.ok(!(unfreed[0].evidence as string).endsWith(SUFFIX), `${how}: ${unfreed[0].evidence}`);
  });
});

test('analyze shows the warning and the leak evidence', () => {
  const { file } = writeTrace({ chunksDiscarded: 4, loseFree: true });
  const r = cli(['analyze', file]);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /trace_lost_events/);
  assert.match(r.out, /discarded 4 chunks of trace data/);
  assert.ok(r.out.includes('so a free may have been lost rather than never made'), r.out);
});
