// The in-memory pass that charges trace events (src/db/charge.ts) must give
// exactly what the SQL views that state the rules give (its fallback for huge traces), whether
// it takes the events as they were written (while loading) or reads them back.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { open } from '../src/index.js';
import { Db } from '../src/db/database.js';
import { chargeTrace } from '../src/db/charge.js';
import { packagePath } from '../src/paths.js';
import { sharedDir } from './helpers.js';
import { smallScenario } from './fixtures/scenario.js';
import { scenarioTrace } from './fixtures/trace.js';

function tables(db: { query(sql: string): unknown[] }): unknown {
  return {
    charge: db.query('SELECT * FROM dma_heap_charge ORDER BY snapshot_id, event_id'),
    totals: db.query('SELECT * FROM dma_heap_totals ORDER BY snapshot_id, scope, pid, tid'),
  };
}

/** Compare both ways of charging; the number of snapshots with events. */
async function bothWays(name: string, bytes: Uint8Array): Promise<number> {
  const s = await open({ name, bytes });
  const loaded = tables(s);
  const db = await Db.fromBytes(s.exportSqlite());
  s.close();
  const ids = db.query('SELECT DISTINCT snapshot_id AS id FROM dma_heap_event').map((r) => Number(r.id));
  const methods = ids.map((id) => chargeTrace(db, id));
  const pass = tables(db);
  assert.deepEqual(pass, loaded, `${name}: the events as written and as read back are charged differently`);
  for (const id of ids) assert.equal(chargeTrace(db, id, { maxPassEvents: 0 }), 'sql');
  assert.deepEqual(tables(db), pass, `${name}: the pass and the SQL rules differ`);
  db.close();
  // Every trace here is small and exact: the in-memory pass (not the SQL fallback) charged each one.
  assert.deepEqual(methods, ids.map(() => 'pass'), name);
  return ids.length;
}

test('charges: the in-memory pass equals the SQL rules on every peer trace', async () => {
  const dir = path.join(sharedDir, 'peer-tests', 'perfetto');
  const cases = fs.readdirSync(dir).flatMap((c) =>
    fs.readdirSync(path.join(dir, c)).filter((f) => f.endsWith('.pb')).map((f) => path.join(dir, c, f)),
  );
  assert.ok(cases.length >= 10);
  let charged = 0;
  for (const file of cases) charged += await bothWays(file, fs.readFileSync(file));
  assert.equal(charged, 7, 'peer traces with DMA-BUF heap events');
});

test('charges: the in-memory pass equals the SQL rules on the example and on a generated trace', async () => {
  assert.equal(await bothWays('example.zip', fs.readFileSync(packagePath('examples', 'bugreport-example.zip'))), 1);
  assert.equal(await bothWays('trace.pftrace', scenarioTrace(smallScenario(34), { churn: 300, seed: 11 }).bytes), 1);
});

test('charges are written on first use: the summary, a query of a trace view and an export all see the same rows', async () => {
  const { bytes } = scenarioTrace(smallScenario(35), { churn: 50, seed: 3 });
  const s = await open({ name: 'trace.pftrace', bytes });
  const totals = s.run('dmabuf_trace_summary');
  assert.ok(totals.length > 1 && (totals[0].allocs as number) > 0);
  // Exported first: the file must hold the rows no statement has asked for yet.
  const exported = await Db.fromBytes(s.exportSqlite());
  const queried = s.query('SELECT * FROM dma_heap_charge ORDER BY event_id');
  assert.equal(queried.length, s.query('SELECT count(*) AS n FROM android_dmabuf_allocs')[0].n);
  assert.deepEqual(exported.query('SELECT * FROM dma_heap_charge ORDER BY event_id'), queried);
  exported.close();
  // A view over the table, created after loading, reads the rows too.
  const fresh = await open({ name: 'trace.pftrace', bytes });
  fresh.query('CREATE TEMP VIEW mine AS SELECT count(*) AS n FROM android_memory_cumulative_dmabuf');
  assert.equal(fresh.query('SELECT n FROM mine')[0].n, queried.length);
  fresh.close();
  s.close();
});
