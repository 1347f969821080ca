// The database layer's own promises: the schema image opened at start-up is the schema the
// SQL files make, rows held back (`holdInserts`) end up exactly as if written at once, and
// threads and processes written as one list end up as if written one by one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { Db } from '../src/db/database.js';
import { CATALOGUE_PATH, IMAGE_PATH, readCatalogue } from '../src/db/image.js';
import { catalogue, catalogueFromSql } from '../src/analyses.js';
import { SourceContext } from '../src/importers/context.js';
import type { ProcessFields, ThreadFields } from '../src/importers/types.js';
import { count } from '../src/report/format.js';
import { tempDir } from './helpers.js';

/** Everything the schema step leaves in a database. */
function schemaOf(db: Db): unknown {
  return {
    objects: db.query("SELECT type, name, tbl_name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name"),
    docs: db.query('SELECT * FROM schema_doc ORDER BY rowid'),
    params: db.query('SELECT * FROM analysis_param ORDER BY rowid'),
  };
}

test('a session starts from the schema image of the build, which is the schema the SQL files make', async () => {
  assert.ok(fs.existsSync(IMAGE_PATH), 'npm run build writes the schema image');
  const fromImage = await Db.create();
  const fromSql = await Db.createFromSql();
  assert.notEqual(fromImage.query('PRAGMA user_version')[0].user_version, 0, 'opened from the image');
  assert.deepEqual(schemaOf(fromImage), schemaOf(fromSql));
  fromImage.close();
  // An image of other SQL files (another user_version) is not used.
  const stale = path.join(tempDir(), 'stale.sqlite');
  fromSql.raw.run('PRAGMA user_version = 12345');
  fs.writeFileSync(stale, fromSql.export());
  const fallback = await Db.create(stale);
  assert.equal(fallback.query('PRAGMA user_version')[0].user_version, 0, 'created from the SQL files');
  assert.deepEqual(schemaOf(fallback), schemaOf(fromSql));
  fallback.close();
  fromSql.close();
});

test('the analysis catalogue comes from the build, which wrote the one the SQL files declare', () => {
  assert.ok(fs.existsSync(CATALOGUE_PATH), 'npm run build writes the catalogue');
  const fromSql = catalogueFromSql();
  assert.ok(fromSql.length >= 10 && fromSql.some((a) => a.params.length > 0));
  assert.deepEqual(readCatalogue(), fromSql);
  assert.deepEqual(catalogue(), fromSql);
  // A catalogue of other SQL files (another hash) is not used.
  const stale = path.join(tempDir(), 'catalogue.json');
  fs.writeFileSync(stale, JSON.stringify({ hash: 12345, analyses: [] }));
  assert.equal(readCatalogue(stale), undefined);
  fs.writeFileSync(stale, 'not JSON');
  assert.equal(readCatalogue(stale), undefined);
});

const COLUMNS = ['ts', 'inode', 'size_delta', 'heap_total', 'tid', 'pid'];
const FIXED = [
  ['snapshot_id', 1],
  ['source_id', 1],
] as const;

function batch(from: number, n: number): (number | bigint | string | null)[][] {
  return Array.from({ length: n }, (_, i) => [1_000_000_000_000 + from + i, from + i, 4096, i % 2 ? null : 8192, 7, i % 3 ? 70 : null]);
}

/** The same writes, one database holding rows back (at most 5 at a time), one not. */
async function writes(hold: boolean): Promise<{ db: Db; firsts: number[]; heldAfterSummaryQuery: number }> {
  const db = await Db.create();
  db.begin();
  if (hold) db.holdInserts('dma_heap_event', 5);
  const firsts: number[] = [];
  db.observe('dma_heap_event', (_c, _r, _f, first) => firsts.push(first));
  db.insertMany('dma_heap_event', COLUMNS, batch(0, 3), FIXED);
  db.insertMany('dma_heap_event', COLUMNS, batch(10, 2), FIXED);
  // A statement that does not read the table leaves the rows held back.
  db.query('SELECT count(*) AS n FROM snapshot');
  const heldAfterSummaryQuery = 5 - Number(db.raw.exec('SELECT count(*) FROM dma_heap_event')[0].values[0][0]);
  // Beyond 5: the held rows are written, then these.
  db.insertMany('dma_heap_event', COLUMNS, batch(20, 4), FIXED);
  // Held, then written before a row written another way.
  db.insertMany('dma_heap_event', COLUMNS, [[5, 5n, -4096, '12', 8, null]], FIXED);
  db.insert('dma_heap_event', { snapshot_id: 1, source_id: 1, ts: 6, size_delta: 1, tid: 9 });
  // Held, then written by the export.
  db.insertMany('dma_heap_event', COLUMNS, batch(30, 2), FIXED);
  assert.equal(db.maxRowid('dma_heap_event'), 13);
  return { db: await Db.fromBytes(db.export()), firsts, heldAfterSummaryQuery };
}

test('rows held back are written on first use, in order, with the rowids their observers were told', async () => {
  const held = await writes(true);
  const direct = await writes(false);
  assert.equal(held.heldAfterSummaryQuery, 5);
  assert.equal(direct.heldAfterSummaryQuery, 0);
  assert.deepEqual(held.firsts, [1, 4, 6, 10, 12]);
  assert.deepEqual(held.firsts, direct.firsts);
  const all = (db: Db) => db.query('SELECT rowid AS id, * FROM dma_heap_event ORDER BY rowid');
  assert.equal(all(held.db).length, 13);
  assert.deepEqual(all(held.db), all(direct.db));
  // Values that are not plain numbers (a bigint, a numeric string) are kept as given.
  assert.deepEqual(held.db.query('SELECT inode, heap_total FROM dma_heap_event WHERE ts = 5'), [{ inode: 5, heap_total: 12 }]);
  held.db.close();
  direct.db.close();
});

test('rows held back are handed out per snapshot only while all of its rows are held and packed', async () => {
  const db = await Db.create();
  db.begin();
  db.holdInserts('dma_heap_event', 6);
  const snapshot = (id: number) => [['snapshot_id', id], ['source_id', 1]] as const;
  const packed = (from: number, n: number) => Float64Array.from(batch(from, n).flat().map((v) => (v === null ? NaN : Number(v))));
  assert.deepEqual(db.heldRows('dma_heap_event', 1), []);
  db.insertMany('dma_heap_event', COLUMNS, packed(0, 2), snapshot(1));
  db.insertMany('dma_heap_event', COLUMNS, batch(10, 1), snapshot(1)); // value arrays: packed when held
  db.insertMany('dma_heap_event', COLUMNS, packed(20, 2), snapshot(2));
  const held = db.heldRows('dma_heap_event', 1)!;
  assert.deepEqual(held.map((b) => b.columns), [COLUMNS, COLUMNS]);
  assert.deepEqual(held.map((b) => Array.from(b.rows)), [Array.from(packed(0, 2)), Array.from(packed(10, 1))]);
  assert.deepEqual(Array.from(db.heldRows('dma_heap_event', 2)![0].rows), Array.from(packed(20, 2)));
  // Handing them out writes nothing.
  assert.equal(db.raw.exec('SELECT count(*) FROM dma_heap_event')[0].values[0][0], 0);
  // A row that cannot be packed (a bigint): that snapshot's rows are to be read from the table.
  db.insertMany('dma_heap_event', COLUMNS, [[5, 5n, -4096, null, 8, null]], snapshot(2));
  assert.equal(db.heldRows('dma_heap_event', 2), undefined);
  assert.equal(db.heldRows('dma_heap_event', 1)?.length, 2);
  // Beyond 6 rows the held ones are written: neither snapshot's rows are all held now.
  db.insertMany('dma_heap_event', COLUMNS, packed(30, 2), snapshot(1));
  assert.equal(db.heldRows('dma_heap_event', 1), undefined);
  assert.equal(db.query('SELECT count(*) AS n FROM dma_heap_event')[0].n, 8);
  db.close();
});

test('counts are printed with thousands separators', () => {
  assert.deepEqual(
    [0, 999, 1000, -1234567, 12.5, '77', null].map(count),
    ['0', '999', '1,000', '-1,234,567', '12.5', '77', '-'],
  );
});

test('threads and processes written as one list are the rows one write each makes, repeats merged', async () => {
  // Past one statement's worth (256 rows), with repeats across statements and within one.
  const procs: [number, ProcessFields][] = [];
  const threads: ThreadFields[] = [];
  for (let i = 0; i < 300; i++) {
    procs.push([1000 + (i % 280), i % 3 === 0 ? { name: `p${i}`, ppid: i } : i % 3 === 1 ? { name: `process-${i}`, uid: 10_000 + i } : { cmdline: `/bin/x ${i}` }]);
    threads.push([2000 + (i % 290), i % 4 === 0 ? null : 1000 + i, i % 5 === 0 ? null : `t${i}`]);
  }
  const rows = (db: Db) => ({
    process: db.query('SELECT * FROM process ORDER BY snapshot_id, pid'),
    thread: db.query('SELECT * FROM thread ORDER BY snapshot_id, tid'),
  });
  const one = await Db.create();
  const many = await Db.create();
  try {
    const a = SourceContext.topLevel(one, 't', 'perfetto', 'trace', 't');
    for (const [pid, f] of procs) a.process(pid, f);
    for (const [tid, pid, name] of threads) a.thread(tid, pid, name);
    const b = SourceContext.topLevel(many, 't', 'perfetto', 'trace', 't');
    b.processes(procs);
    b.threads(threads);
    const want = rows(one);
    assert.equal(want.process.length, 280);
    assert.equal(want.thread.length, 290);
    // A repeat merges: the longer name, the first non-null of the others.
    assert.deepEqual(want.process.find((p) => p.pid === 1000), { snapshot_id: 1, pid: 1000, name: 'process-280', cmdline: null, ppid: 0, uid: 10_280 });
    assert.deepEqual(rows(many), want);
  } finally {
    one.close();
    many.close();
  }
});
