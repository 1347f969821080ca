// The in-memory pass that charges trace events (src/db/charge.ts) must give
// exactly what the SQL views that state the rules give (its fallback for huge traces), whether
// it takes the events as they were written (while loading) or reads them back.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { open, type Session } from '../src/index.js';
import { Db } from '../src/db/database.js';
import { chargeTrace, EventCapture } from '../src/db/charge.js';
import { RssCapture, rssTotals } from '../src/db/rss.js';
import { packagePath } from '../src/paths.js';
import { smallScenario } from './fixtures/scenario.js';
import { deviceTrace, oneAppTrace, pidChurnTrace, pidReuseTrace, scenarioTrace } from './fixtures/trace.js';
import { sharedDir, tempDir } from './helpers.js';
import { perfettoTypes } from '../src/importers/perfetto/proto.js';
import { TraceSink } from '../src/importers/perfetto/sink.js';
import { Rng } from './fixtures/generate-scenario.js';
import type { Rows } from '../src/importers/types.js';

function tables(db: { query(sql: string): unknown[] }): unknown {
  return {
    charge: db.query('SELECT * FROM dma_heap_charge ORDER BY snapshot_id, event_id'),
    // first_ts tells apart the rows of a pid or thread two traces of a snapshot charged.
    totals: db.query('SELECT * FROM dma_heap_totals ORDER BY snapshot_id, scope, pid, tid, upid, first_ts'),
    rss: db.query('SELECT * FROM dmabuf_rss_totals ORDER BY snapshot_id, source_id, pid, tid, upid'),
  };
}

/**
 * Whether the RSS samples of a session are all still held back (`Db.heldRows`): none written,
 * which the in-memory RSS pass leaves them (the view `_dmabuf_rss_totals` reads them all).
 */
function rssSamplesHeld(s: Session): boolean {
  const db = (s as unknown as { db: Db }).db;
  return db.raw.exec('SELECT count(*) FROM dmabuf_rss_sample')[0].values[0][0] === 0;
}

/** Compare both ways of charging; the number of snapshots with events. A folder's path or one file's bytes. */
async function bothWays(name: string, bytes: Uint8Array | string): Promise<number> {
  const s = await open(typeof bytes === 'string' ? bytes : { name, bytes });
  // The RSS totals were summed up in the in-memory pass: no sample was written to compute them.
  assert.ok(rssSamplesHeld(s), `${name}: the RSS totals were computed by the SQL view`);
  const loaded = tables(s);
  const db = await Db.fromBytes(s.exportSqlite());
  s.close();
  const ids = db.query('SELECT DISTINCT snapshot_id AS id FROM dma_heap_event').map((r) => Number(r.id));
  const methods = ids.map((id) => chargeTrace(db, id));
  // RSS totals from the samples as written (loaded) and with the SQL rules (here).
  for (const r of db.query('SELECT DISTINCT snapshot_id AS id FROM dmabuf_rss_sample')) rssTotals(db, Number(r.id));
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

test('charges: the in-memory pass equals the SQL rules on a pid two processes held, and on events of a pid no process held then', async () => {
  assert.equal(await bothWays('reuse.pftrace', pidReuseTrace()), 1);
  const T = perfettoTypes();
  const gap = T.Trace.encode(
    T.Trace.fromObject({
      packet: [
        { timestamp: 100, processTree: { processes: [{ pid: 300, ppid: 1, cmdline: ['old'] }], threads: [{ tid: 301, tgid: 300 }] } },
        {
          ftraceEvents: {
            cpu: 0,
            event: [
              { timestamp: 200, pid: 301, dmaHeapStat: { inode: 1, len: 4096, totalAllocated: 4096 } },
              { timestamp: 410, pid: 300, schedProcessFree: { pid: 300 } },
              { timestamp: 450, pid: 300, dmaHeapStat: { inode: 2, len: 4096, totalAllocated: 8192 } },
              { timestamp: 460, pid: 301, dmaHeapStat: { inode: 1, len: -4096, totalAllocated: 4096 } },
              { timestamp: 470, pid: 301, dmaHeapStat: { inode: 3, len: 8192, totalAllocated: 12288 } },
            ],
          },
        },
        { timestamp: 480, processStats: { processes: [{ pid: 300, dmabufRssKb: 4 }] } },
      ],
    }),
  ).finish();
  assert.equal(await bothWays('gap.pftrace', gap), 1);
});

test('RSS totals and charges: the in-memory passes equal the SQL rules on many samples of pids processes give up and others fork, and the samples stay held', async () => {
  const bytes = pidChurnTrace();
  const s = await open({ name: 'churn.pftrace', bytes });
  assert.ok(rssSamplesHeld(s));
  const [shape] = s.query(`
    SELECT (SELECT count(*) FROM process_instance WHERE reused = 1) AS reused,
           (SELECT count(*) FROM process_instance WHERE start_ts IS NOT NULL AND reused = 0) AS forked,
           (SELECT count(*) FROM dmabuf_rss_totals WHERE upid IS NULL AND pid IS NOT NULL) AS held_by_none,
           (SELECT count(*) FROM dmabuf_rss_totals WHERE pid IS NULL) AS threads,
           (SELECT count(*) FROM dmabuf_rss_totals WHERE upid IS NOT NULL) AS processes,
           (SELECT count(*) FROM dmabuf_rss_sample) AS samples`);
  s.close();
  for (const [what, n] of Object.entries(shape)) assert.ok((n as number) >= (what === 'samples' ? 6000 : 2), `${what}: ${n}`);
  assert.equal(await bothWays('churn.pftrace', bytes), 1);
});

test('RSS totals: captured samples that were written (not held) are read back for the pids processes gave up, as the SQL rules sum them', async () => {
  const s = await open({ name: 'churn.pftrace', bytes: pidChurnTrace(1500, 9) });
  const db = await Db.fromBytes(s.exportSqlite());
  s.close();
  const id = db.query('SELECT DISTINCT snapshot_id AS id FROM dmabuf_rss_sample')[0].id as number;
  const columns = ['ts', 'pid', 'tid', 'rss_bytes', 'polled', 'rss_delta', 'inode'];
  const samples = db.query(`SELECT source_id, ${columns.join(', ')} FROM dmabuf_rss_sample ORDER BY rowid`);
  assert.ok(samples.length >= 1500);
  rssTotals(db, id);
  const sql = db.query('SELECT * FROM dmabuf_rss_totals ORDER BY snapshot_id, pid, tid, upid');
  // Written again, in batches of a source each, while a capture watches (nothing held back).
  db.exec('DELETE FROM dmabuf_rss_sample');
  const capture = new RssCapture(db);
  for (let i = 0; i < samples.length; i += 100) {
    const batch = samples.slice(i, i + 100);
    db.insertMany('dmabuf_rss_sample', columns, batch.map((r) => columns.map((c) => r[c] as number | null)), [
      ['snapshot_id', id],
      ['source_id', batch[0].source_id as number],
    ]);
  }
  assert.equal(db.heldRows('dmabuf_rss_sample', id), undefined);
  assert.equal(rssTotals(db, id, capture), 'pass');
  assert.deepEqual(db.query('SELECT * FROM dmabuf_rss_totals ORDER BY snapshot_id, pid, tid, upid'), sql);
  capture.close();
  db.close();
});

test('two traces in one snapshot: a pid is of its own trace\'s processes, in the passes and the SQL rules', async () => {
  const dir = tempDir();
  fs.writeFileSync(path.join(dir, 'a.pftrace'), oneAppTrace('com.first', 1000));
  fs.writeFileSync(path.join(dir, 'b.pftrace'), oneAppTrace('com.second', 5000));
  const s = await open(dir);
  assert.deepEqual(s.query('SELECT count(DISTINCT snapshot_id) AS n, count(*) AS traces FROM process_instance'), [{ n: 1, traces: 2 }]);
  assert.deepEqual(
    s.query('SELECT ts, tid, process_name, upid = (SELECT upid FROM process_instance WHERE name = process_name) AS own FROM android_dmabuf_allocs'),
    [
      { ts: 1100, tid: 300, process_name: 'com.first', own: 1 },
      { ts: 1110, tid: 301, process_name: 'com.first', own: 1 },
      { ts: 1130, tid: 301, process_name: 'com.first', own: 1 },
      { ts: 5100, tid: 300, process_name: 'com.second', own: 1 },
      { ts: 5110, tid: 301, process_name: 'com.second', own: 1 },
      { ts: 5130, tid: 301, process_name: 'com.second', own: 1 },
    ],
  );
  assert.deepEqual(
    s.query("SELECT process_name, allocs, frees, outstanding_bytes FROM dmabuf_trace_summary WHERE scope = 'process' ORDER BY first_ts"),
    [
      { process_name: 'com.first', allocs: 2, frees: 1, outstanding_bytes: 4096 },
      { process_name: 'com.second', allocs: 2, frees: 1, outstanding_bytes: 4096 },
    ],
  );
  assert.deepEqual(
    s.query('SELECT g.first_ts, g.samples, pi.name FROM dmabuf_rss_totals g JOIN process_instance pi USING (upid) ORDER BY g.first_ts'),
    [
      { first_ts: 1050, samples: 2, name: 'com.first' },
      { first_ts: 5050, samples: 2, name: 'com.second' },
    ],
  );
  s.close();
  assert.equal(await bothWays('two traces', dir), 1);
});

test('two traces in one snapshot: a tid is of its own trace\'s thread and process, in the passes and the SQL rules', async () => {
  // Tid 301 is a thread of pid 300 in the first trace, of pid 600 in the second; both allocate
  // with it. The second frees the first's inode numbers (dropped: a free is matched in its own
  // trace) and its own inode 21 from tid 777 (charged to its allocation's thread, 301 of that
  // trace). Tid 777 is of no known process in either, and allocates in both.
  const dir = tempDir();
  fs.writeFileSync(
    path.join(dir, 'a.pftrace'),
    deviceTrace(1000, {
      processes: [{ pid: 300, name: 'com.first', threads: [[301, 'RenderA']] }],
      allocs: [[100, 301, 11, 4096], [110, 777, 12, 4096], [120, 301, 13, 8192]],
      rssStats: [[60, 777, 4096], [130, 777, 8192]],
    }),
  );
  fs.writeFileSync(
    path.join(dir, 'b.pftrace'),
    deviceTrace(5000, {
      processes: [{ pid: 600, name: 'com.third', threads: [[301, 'RenderB']] }],
      allocs: [[100, 301, 21, 8192], [110, 777, 11, -4096], [120, 301, 12, -4096], [125, 777, 21, -8192], [130, 777, 22, 4096]],
      rssStats: [[60, 777, 4096], [130, 777, 16384]],
    }),
  );
  const s = await open(dir);
  assert.deepEqual(s.query('SELECT ts, tid, pid, process_name, thread_name FROM android_dmabuf_allocs'), [
    { ts: 1100, tid: 301, pid: 300, process_name: 'com.first', thread_name: 'RenderA' },
    { ts: 1110, tid: 777, pid: null, process_name: null, thread_name: null },
    { ts: 1120, tid: 301, pid: 300, process_name: 'com.first', thread_name: 'RenderA' },
    { ts: 5100, tid: 301, pid: 600, process_name: 'com.third', thread_name: 'RenderB' },
    { ts: 5125, tid: 301, pid: 600, process_name: 'com.third', thread_name: 'RenderB' },
    { ts: 5130, tid: 777, pid: null, process_name: null, thread_name: null },
  ]);
  s.close();
  assert.equal(await bothWays('two traces, one tid', dir), 1);
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

/**
 * A trace of clients asking a gralloc allocator for buffers over binder: synchronous and one-way
 * transactions, replies, nested serving, allocations inside and outside the spans, frees by the
 * clients, and other binder traffic between the clients, in bundles of several CPUs.
 */
function grallocTrace(seed: number, requests: number, named: 'first' | 'last' = 'first'): Uint8Array {
  const rng = new Rng(seed);
  const pick = (k: number) => Math.floor(rng.next() * k);
  const servers = [501, 502, 503];
  const clients = [701, 702, 711, 712, 721];
  const cpus: Record<string, unknown>[][] = [[], [], [], []];
  const on = (e: Record<string, unknown>) => cpus[pick(4)].push(e);
  let ts = 1000;
  let id = 1;
  let inode = 100;
  let total = 0;
  const live: { inode: number; len: number }[] = [];
  const send = (from: number, to: number, reply: number, flags: number) => {
    const debugId = id++;
    on({ timestamp: (ts += 1 + pick(5)), pid: from, binderTransaction: { debugId, targetNode: 5, toProc: Math.floor(to / 10) * 10, toThread: reply ? to : 0, reply, code: 1, flags } });
    return debugId;
  };
  const receive = (by: number, debugId: number) => on({ timestamp: (ts += 1 + pick(5)), pid: by, binderTransactionReceived: { debugId } });
  const alloc = (by: number) => {
    const len = 4096 * (1 + pick(8));
    live.push({ inode: ++inode, len });
    on({ timestamp: (ts += 1 + pick(5)), pid: by, dmaHeapStat: { inode, len, totalAllocated: (total += len) } });
  };
  for (let j = 0; j < requests; j++) {
    const client = clients[pick(clients.length)];
    const server = servers[pick(servers.length)];
    const oneWay = pick(5) === 0 ? 1 : 0;
    receive(server, send(client, server, 0, oneWay));
    if (pick(4) === 0) receive(server, send(clients[pick(clients.length)], server, 0, 0)); // nested
    alloc(server);
    if (pick(3) === 0) alloc(server);
    if (!oneWay && pick(6) > 0) receive(client, send(server, client, 1, 0));
    if (pick(3) === 0) alloc(server); // after the reply: the allocator's own
    // Traffic between clients; a client allocating while it serves one is charged itself.
    for (let k = pick(4); k > 0; k--) {
      const to = clients[pick(clients.length)];
      receive(to, send(clients[pick(clients.length)], to, pick(2), pick(2)));
      if (pick(2) === 0) alloc(to);
    }
    // DMA-BUF RSS changes: of a client, of a thread whose process is unknown, some at one ts.
    if (pick(3) === 0) {
      const by = pick(4) === 0 ? 999 : clients[pick(clients.length)];
      const at = pick(3) === 0 ? ts : (ts += 1 + pick(5));
      on({ timestamp: at, pid: by, dmabufRssStat: { rss: 4096 * (10 + pick(1000)), rssDelta: 4096, iIno: inode } });
    }
    if (live.length > 0 && pick(2) === 0) {
      const b = live.splice(pick(live.length), 1)[0];
      on({ timestamp: (ts += 1 + pick(5)), pid: clients[pick(clients.length)], dmaHeapStat: { inode: b.inode, len: -b.len, totalAllocated: (total -= b.len) } });
    }
  }
  // Samples at one ts: the first written is the first sample, the last written the last.
  cpus[0].unshift({ timestamp: 500, pid: 999, dmabufRssStat: { rss: 4096, rssDelta: 4096 } }, { timestamp: 500, pid: 999, dmabufRssStat: { rss: 8192, rssDelta: 4096 } });
  cpus[0].push({ timestamp: ts + 10, pid: 999, dmabufRssStat: { rss: 12288, rssDelta: 4096 } }, { timestamp: ts + 10, pid: 999, dmabufRssStat: { rss: 16384, rssDelta: 4096 } });
  const polled = (timestamp: number) => ({ timestamp, processStats: { processes: [700, 710].map((pid) => ({ pid, dmabufRssKb: 100 + pick(5000) })) } });
  const T = perfettoTypes();
  const tree = {
    processTree: {
        processes: [
          { pid: 500, cmdline: ['/vendor/bin/hw/android.hardware.graphics.allocator-V2-service'] },
          { pid: 700, cmdline: ['com.example.game'] },
          { pid: 710, cmdline: ['com.example.camera'] },
          { pid: 720, cmdline: ['/system/bin/surfaceflinger'] },
        ],
        threads: [...servers.map((tid) => ({ tid, tgid: 500 })), ...clients.map((tid) => ({ tid, tgid: Math.floor(tid / 10) * 10 }))],
      },
  };
  // Named last: an early tree gives the threads' processes but no process's name.
  const unnamed = { processTree: { processes: tree.processTree.processes.map(({ pid }) => ({ pid })), threads: tree.processTree.threads } };
  const packets = [
    polled(2000),
    named === 'first' ? tree : unnamed,
    ...cpus.map((event, cpu) => ({ ftraceEvents: { cpu, event } })),
    // Polled DMA-BUF RSS of the clients' processes, one sample at the time of a traced one.
    polled(5000),
    polled(ts),
    ...(named === 'last' ? [tree] : []),
  ];
  return T.Trace.encode(T.Trace.fromObject({ packet: packets })).finish();
}

test('charges: gralloc spans from many binder events; the rules look binder events up by thread and by id', async () => {
  const bytes = grallocTrace(5, 400);
  assert.equal(await bothWays('gralloc.pftrace', bytes), 1);
  const s = await open({ name: 'gralloc.pftrace', bytes });
  // The allocator's allocations inside a span are charged to clients, the others to itself.
  const [who] = s.query(`SELECT sum(c.pid = 500) AS own, sum(c.pid <> 500 AND e.tid IN (501, 502, 503)) AS clients,
                                sum(e.tid NOT IN (501, 502, 503) AND c.tid = e.tid) AS themselves, (SELECT count(*) FROM binder_event) AS binder
                         FROM dma_heap_charge c JOIN dma_heap_event e ON e.rowid = c.event_id WHERE e.size_delta > 0`);
  assert.ok((who.own as number) > 50 && (who.clients as number) > 200 && (who.themselves as number) > 100 && (who.binder as number) > 1000, JSON.stringify(who));
  // RSS totals (compared with the SQL rules above): both origins for a process, a thread without one.
  const rss = s.query('SELECT pid, origins FROM dmabuf_rss_totals ORDER BY pid, tid');
  assert.ok(rss.some((r) => r.pid === 700 && r.origins === 'dmabuf_rss_stat,process_stats'), JSON.stringify(rss));
  const [unknown] = s.query('SELECT samples, first_bytes, last_bytes FROM dmabuf_rss_totals WHERE tid = 999');
  assert.ok((unknown.samples as number) > 10 && unknown.first_bytes === 4096 && unknown.last_bytes === 16384, JSON.stringify(unknown));
  // No scan of binder_event per received event: a trace may hold millions of them.
  const plan = s.query('EXPLAIN QUERY PLAN SELECT * FROM _dmabuf_gralloc_served').map((r) => String(r.detail));
  const lookups = plan.filter((d) => /binder_event/.test(d));
  assert.ok(lookups.length === 3 && lookups.every((d) => /^SEARCH \w+ USING INDEX binder_event_by_(thread|id)/.test(d)), plan.join('\n'));
  assert.ok(lookups.some((d) => /binder_event_by_id \(snapshot_id=\? AND debug_id=\?\)/.test(d)), plan.join('\n'));
  s.close();
});

test('past the binder events stored in full, only those gralloc attribution may need are stored, and the charges are the same', async () => {
  let bytes = grallocTrace(9, 400);
  const charged = async () => {
    const s = await open({ name: 'gralloc.pftrace', bytes });
    const out = {
      allocs: s.query('SELECT * FROM android_dmabuf_allocs'),
      totals: s.query('SELECT * FROM dma_heap_totals ORDER BY scope, pid, tid'),
      binder: s.query('SELECT count(*) AS n, sum(tid IN (501, 502, 503)) AS allocator, sum(to_proc = 500) AS to_allocator FROM binder_event')[0],
      thinned: s.query("SELECT message FROM diagnostic WHERE code = 'binder_events_thinned'").map((r) => String(r.message)),
    };
    s.close();
    return out;
  };
  const full = await charged();
  const max = TraceSink.maxBinderEvents;
  TraceSink.maxBinderEvents = 100;
  try {
    const thinned = await charged();
    assert.deepEqual(thinned.allocs, full.allocs);
    assert.deepEqual(thinned.totals, full.totals);
    // Every event of the allocator's threads and every transaction sent to it is kept; of the
    // clients' traffic among themselves, only what came in the first 100.
    const kept = thinned.binder as Record<string, number>;
    const all = full.binder as Record<string, number>;
    assert.ok(kept.n < all.n / 2, JSON.stringify({ kept, all }));
    assert.equal(kept.allocator, all.allocator);
    assert.equal(kept.to_allocator, all.to_allocator);
    assert.equal(thinned.thinned.length, 1);
    assert.match(thinned.thinned[0], new RegExp(`^${all.n - kept.n} binder events .* first 100 `));
    assert.deepEqual(full.thinned, []);
    // The processes named last: while the events come, none is known not to be the allocator.
    bytes = grallocTrace(9, 400, 'last');
    const late = await charged();
    assert.deepEqual(late.allocs, full.allocs);
    assert.deepEqual(late.binder, full.binder);
    assert.deepEqual(late.thinned, []);
  } finally {
    TraceSink.maxBinderEvents = max;
  }
});

test('two traces in one snapshot at overlapping times: each trace\'s totals, heaps\' statistics and end in the pass and the SQL rules', async () => {
  // B's events fall between A's (their ts interleave, two at the same ts as A's, on the same
  // inode 11); A ends after B. Each trace's free of inode 11 is matched with its own allocation.
  const dir = tempDir();
  fs.writeFileSync(
    path.join(dir, 'a.pftrace'),
    deviceTrace(1000, {
      processes: [{ pid: 300, name: 'com.first', threads: [[301, 'RenderA']] }],
      allocs: [[100, 301, 11, 4096], [150, 777, 12, 8192], [300, 301, 11, -4096], [900, 301, 13, 2048]],
    }),
  );
  fs.writeFileSync(
    path.join(dir, 'b.pftrace'),
    deviceTrace(1100, {
      processes: [{ pid: 600, name: 'com.third', threads: [[301, 'RenderB']] }],
      allocs: [[0, 301, 11, 16384], [50, 777, 22, 8192], [100, 777, 21, 1024], [200, 301, 11, -16384]],
    }),
  );
  const s = await open(dir);
  assert.deepEqual(
    s.query("SELECT source_id, allocs, frees, peak_outstanding_bytes, first_ts, last_ts, heap_end_bytes, trace_end_ts FROM dmabuf_trace_summary WHERE scope = 'trace'"),
    [
      // Both start at ts 1100: the one that allocated more first.
      { source_id: 3, allocs: 3, frees: 1, peak_outstanding_bytes: 25600, first_ts: 1100, last_ts: 1300, heap_end_bytes: 9216, trace_end_ts: 1300 },
      { source_id: 2, allocs: 3, frees: 1, peak_outstanding_bytes: 12288, first_ts: 1100, last_ts: 1900, heap_end_bytes: 10240, trace_end_ts: 1900 },
    ],
  );
  s.close();
  assert.equal(await bothWays('two traces at overlapping times', dir), 1);
});
