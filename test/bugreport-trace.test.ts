// A bugreport that carries a Perfetto trace (FS/data/misc/perfetto-traces/bugreport/systrace.pftrace):
// the trace loads into the bugreport's snapshot and `analyze` shows its analyses.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { cli, openTexts, tempDir } from './helpers.js';
import { perfettoTypes } from '../src/importers/perfetto/proto.js';
import { smallScenario } from './fixtures/scenario.js';
import { bugreportZipBytes } from './fixtures/bugreport.js';
import { scenarioTrace } from './fixtures/trace.js';

const TRACE_ENTRY = 'FS/data/misc/perfetto-traces/bugreport/systrace.pftrace';

test('the trace inside a bugreport zip joins its snapshot: unfreed allocations and the trace summary', async () => {
  const sc = smallScenario(34);
  const tr = scenarioTrace(sc, { churn: 40 });
  const s = await openTexts({ 'report.zip': bugreportZipBytes(sc, { extraEntries: { [TRACE_ENTRY]: tr.bytes } }) });
  assert.deepEqual(s.query('SELECT count(*) AS n FROM snapshot'), [{ n: 1 }]);
  assert.deepEqual(
    s.query("SELECT s.importer, n.kind FROM source s JOIN snapshot n ON n.id = s.snapshot_id WHERE s.path LIKE '%systrace.pftrace'"),
    [{ importer: 'perfetto', kind: 'bugreport' }],
  );
  // The worker thread's events are charged to its process.
  const leaker = s.run('dmabuf_trace_summary').find((r) => r.scope === 'process' && r.pid === tr.leakerPid);
  assert.ok(leaker, 'the leaking process has a summary row');
  assert.equal(leaker.outstanding_bytes, tr.leakedBytes);
  assert.equal(leaker.allocated_bytes, tr.leakedBytes);
  assert.equal(leaker.frees, 0);
  // Two findings about the same 32 MiB (71% of the DMA-BUF total, so high): the buffer no
  // process holds at capture time, and the allocation the trace saw the camera provider make and never free.
  const leakerName = sc.processes.find((p) => p.pid === tr.leakerPid)!.name;
  assert.equal(tr.leakedBytes, 33554432);
  assert.deepEqual(
    s.run('dmabuf_leak_suspects').map((r) => [r.kind, r.subject, r.bytes, r.severity]),
    [
      ['kernel_held', 'system', tr.leakedBytes, 'high'],
      ['unfreed_in_trace', `${leakerName} (${tr.leakerPid})`, tr.leakedBytes, 'high'],
    ],
  );
  // The other processes (each allocates and frees short-lived buffers) freed what they allocated.
  const others = s.run('dmabuf_trace_summary').filter((x) => x.scope === 'process' && x.pid !== tr.leakerPid);
  assert.deepEqual(
    others.map((r) => r.pid).sort(),
    sc.processes.filter((p) => p.pid !== tr.leakerPid).map((p) => p.pid).sort(),
  );
  for (const r of others) {
    assert.ok((r.allocs as number) > 0, `pid ${r.pid}`);
    assert.equal(r.outstanding_bytes, 0, `pid ${r.pid}`);
    assert.equal(r.allocated_bytes, r.freed_bytes, `pid ${r.pid}`);
  }
  // analyze shows the trace summary of a bugreport that carries one: the whole trace first, then each process.
  const summary = s.summary();
  const trace = summary.snapshots[0].trace;
  assert.deepEqual(trace, s.run('dmabuf_trace_summary'));
  const { scope, allocs, frees, outstanding_buffers, outstanding_bytes, heap_end_bytes } = trace[0];
  assert.deepEqual(
    { scope, allocs, frees, outstanding_buffers, outstanding_bytes, heap_end_bytes },
    {
      scope: 'trace',
      allocs: 40 + 1, // the churn pairs and the leak
      frees: 40,
      outstanding_buffers: 1,
      outstanding_bytes: tr.leakedBytes,
      heap_end_bytes: sc.buffers.reduce((a, b) => a + b.size, 0), // the heap ends at what the bugreport lists
    },
  );
  assert.equal(trace.length, 1 + sc.processes.length);
  assert.deepEqual(summary.errors, []);
  s.close();
});

test('analyze on a trace, and on a bugreport that carries it, shows the trace summary and both trace leak kinds', async () => {
  const sc = smallScenario(34);
  const leaker = sc.processes[0];
  const T = perfettoTypes();
  // The leaker allocates 32 MiB and 1 MiB and frees neither; its DMA-BUF RSS grows by 40 MiB.
  const trace = T.Trace.encode(
    T.Trace.fromObject({
      packet: [
        { timestamp: 1000, processTree: { processes: [{ pid: leaker.pid, cmdline: [leaker.name] }], threads: [{ tid: leaker.pid + 1, tgid: leaker.pid }] } },
        { timestamp: 1000, processStats: { processes: [{ pid: leaker.pid, dmabufRssKb: 1024 }] } },
        {
          ftraceEvents: {
            cpu: 0,
            event: [
              { timestamp: 2000, pid: leaker.pid + 1, dmaHeapStat: { inode: 7001, len: 32 << 20, totalAllocated: 32 << 20 } },
              { timestamp: 3000, pid: leaker.pid, dmaHeapStat: { inode: 7002, len: 1 << 20, totalAllocated: 33 << 20 } },
            ],
          },
        },
        { timestamp: 4000, processStats: { processes: [{ pid: leaker.pid, dmabufRssKb: 41 * 1024 }] } },
      ],
    }),
  ).finish();
  const dir = tempDir();
  const traceFile = path.join(dir, 'trace.pftrace');
  fs.writeFileSync(traceFile, trace);
  const zipFile = path.join(dir, 'report.zip');
  fs.writeFileSync(zipFile, bugreportZipBytes(sc, { extraEntries: { [TRACE_ENTRY]: trace } }));
  const subject = `${leaker.name} (${leaker.pid})`;
  for (const file of [traceFile, zipFile]) {
    const r = cli(['analyze', file, '-q', '--format', 'json']);
    assert.equal(r.code, 0, r.err);
    const snap = JSON.parse(r.out).snapshots[0];
    const whole = snap.trace.find((x: { scope: string }) => x.scope === 'trace');
    assert.equal(whole.outstanding_bytes, 33 << 20, file);
    assert.deepEqual(
      snap.leak_suspects
        .filter((x: { kind: string }) => x.kind === 'unfreed_in_trace' || x.kind === 'rss_growth')
        .map((x: { kind: string; subject: string; bytes: number }) => [x.kind, x.subject, x.bytes]),
      [
        ['rss_growth', subject, 40 << 20],
        ['unfreed_in_trace', subject, 33 << 20],
      ],
      file,
    );
    const text = cli(['analyze', file, '-q']);
    assert.equal(text.code, 0, text.err);
    for (const shown of ['dmabuf_trace_summary', 'unfreed_in_trace', 'rss_growth']) assert.ok(text.out.includes(shown), `${file}: ${shown}`);
  }
});
