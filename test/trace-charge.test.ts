// The in-memory pass that charges trace events (src/db/charge.ts) must give
// exactly what the SQL views that state the rules give (its fallback for huge traces), whether
// it takes the events as they were written (while loading) or reads them back.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { open } from '../src/index.js';
import { Db } from '../src/db/database.js';
import { chargeTrace, EventCapture } from '../src/db/charge.js';
import { packagePath } from '../src/paths.js';
import { sharedDir } from './helpers.js';
import { smallScenario } from './fixtures/scenario.js';
import { scenarioTrace } from './fixtures/trace.js';
import { Rng } from './fixtures/generate-scenario.js';
import type { Rows } from '../src/importers/types.js';

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

test('charges: the in-memory pass equals the SQL rules on events out of order, at equal times, of threads without a process', async () => {
  // A text capture: few inodes and timestamps (many events share one), lines out of time order,
  // threads with and without a tgid column, frees of buffers never seen allocated, no total.
  const rng = new Rng(7);
  const pick = (k: number) => Math.floor(rng.next() * k);
  let text = '# tracer: nop\n';
  for (let j = 0; j < 600; j++) {
    const tid = 600 + pick(6);
    const who = tid < 603 ? `allocator-${tid}   (  ${tid - (tid % 2)})` : `worker-${tid}  `;
    const len = (rng.next() < 0.55 ? 1 : -1) * 4096 * (1 + pick(4));
    const total = rng.next() < 0.9 ? ` total_allocated=${4096 * (100 + pick(50))}B` : '';
    text += `  ${who} [00${pick(4)}] ...1  100.${String(pick(40)).padStart(6, '0')}: dma_heap_stat: inode=${1 + pick(12)} len=${len}B${total}\n`;
  }
  const bytes = new TextEncoder().encode(text);
  const s = await open({ name: 'trace.txt', bytes });
  const [shape] = s.query(`
    SELECT (SELECT count(*) FROM dma_heap_event a JOIN dma_heap_event b ON b.rowid = a.rowid + 1 WHERE b.ts < a.ts) AS backwards,
           (SELECT count(*) FROM (SELECT 1 FROM dma_heap_event GROUP BY inode, ts HAVING count(*) > 1)) AS shared,
           (SELECT count(*) FROM dma_heap_event e JOIN thread t USING (snapshot_id, tid) WHERE t.pid IS NULL) AS without_process,
           (SELECT count(*) FROM dma_heap_event WHERE heap_total IS NULL) AS without_total,
           (SELECT count(*) FROM dma_heap_event e WHERE size_delta < 0
              AND NOT EXISTS (SELECT 1 FROM dma_heap_event a WHERE a.inode = e.inode AND a.ts < e.ts)) AS first_a_free`);
  s.close();
  for (const [what, n] of Object.entries(shape)) assert.ok((n as number) >= (what === 'first_a_free' ? 3 : 20), `${what}: ${n}`);
  assert.equal(await bothWays('trace.txt', bytes), 1);
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

test('charges: packed batches are captured as rows are; a batch the pass cannot take exactly leaves the snapshot to the SQL rules', async () => {
  const columns = ['ts', 'inode', 'size_delta', 'heap_total', 'tid', 'pid'];
  // Two threads of one process, allocations and frees on a few inodes, a NULL total and a NULL
  // thread, times out of order; rows as a trace sink packs them (NaN for NULL).
  const rows: number[][] = [];
  for (let j = 0; j < 300; j++) {
    const inode = 1 + (j % 7);
    rows.push([1000 + ((j * 37) % 290) * 10, inode, (j % 3 === 2 ? -1 : 1) * 4096 * inode, j % 11 === 0 ? NaN : 4096 * j, j % 13 === 0 ? NaN : 50 + (j % 2), 50]);
  }
  const charged = async (batches: Rows[]) => {
    const db = await Db.create();
    db.raw.run("INSERT INTO source (id, path, importer) VALUES (1, 't', 'perfetto'); INSERT INTO snapshot (id, source_id, kind) VALUES (1, 1, 'trace')");
    const capture = new EventCapture(db);
    for (const b of batches) db.insertMany('dma_heap_event', columns, b, [['snapshot_id', 1], ['source_id', 1]]);
    const method = chargeTrace(db, 1, { capture });
    capture.close();
    const result = tables(db);
    chargeTrace(db, 1, { maxPassEvents: 0 });
    assert.deepEqual(tables(db), result, 'the pass and the SQL rules differ');
    db.close();
    return { method, result };
  };
  const packed = (part: number[][]) => Float64Array.from(part.flat());
  const asArrays = (part: number[][]) => part.map((r) => r.map((v) => (v === v ? v : null)));
  const parts = [rows.slice(0, 120), rows.slice(120, 121), rows.slice(121)];
  // The same rows in packed batches, in value arrays, and mixed: captured alike, charged alike.
  const viaPacked = await charged(parts.map(packed));
  assert.equal(viaPacked.method, 'pass');
  const { charge, totals } = viaPacked.result as { charge: unknown[]; totals: unknown[] };
  assert.ok(charge.length > 200 && totals.length >= 2, `${charge.length} charged events, ${totals.length} totals`);
  assert.deepEqual(await charged(parts.map(asArrays)), viaPacked);
  assert.deepEqual(await charged([packed(parts[0]), asArrays(parts[1]), packed(parts[2])]), viaPacked);
  // A time or a size that is not an exact integer: the capture is not used, the rows are read
  // back and found inexact, and the SQL rules charge them.
  for (const bad of [[0, 2 ** 53 + 2], [2, 0.5], [1, 2 ** 60]] as const) {
    const spoiled = rows.map((r) => r.slice());
    spoiled[200][bad[0]] = bad[1];
    const { method } = await charged([packed(spoiled.slice(0, 150)), packed(spoiled.slice(150))]);
    assert.equal(method, 'sql', `column ${columns[bad[0]]} = ${bad[1]}`);
  }
});
