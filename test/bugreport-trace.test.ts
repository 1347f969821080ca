// A bugreport that carries a Perfetto trace (FS/data/misc/perfetto-traces/bugreport/systrace.pftrace):
// the trace loads into the bugreport's snapshot and `analyze` shows its analyses.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openTexts } from './helpers.js';
import { smallScenario } from './fixtures/scenario.js';
import { bugreportZipBytes } from './fixtures/bugreport.js';
import { scenarioTrace } from './fixtures/trace.js';

const TRACE_ENTRY = 'FS/data/misc/perfetto-traces/bugreport/systrace.pftrace';

test('the trace inside a bugreport zip joins its snapshot: unfreed allocations, RSS growth and the trace summary', async () => {
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
  const kinds = s.run('dmabuf_leak_suspects').map((r) => `${r.kind} ${r.subject}`);
  assert.ok(kinds.some((k) => k.startsWith('unfreed_in_trace') && k.includes(`(${tr.leakerPid})`)), kinds.join('\n'));
  assert.ok(kinds.includes('kernel_held system'), kinds.join('\n'));
  // The other processes freed what they allocated.
  for (const r of s.run('dmabuf_trace_summary').filter((x) => x.scope === 'process' && x.pid !== tr.leakerPid)) {
    assert.equal(r.outstanding_bytes, 0, `pid ${r.pid}`);
  }
  const summary = s.summary();
  assert.ok(summary.snapshots[0].trace.length > 1, 'analyze shows the trace summary of a bugreport that carries one');
  assert.deepEqual(summary.errors, []);
  s.close();
});
