// The wrapper every importer runs under (src/importers/common.ts `guarded`): rows written with
// `insert` are gathered into batches, and come out as if written one by one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Db } from '../src/db/database.js';
import { SourceContext } from '../src/importers/context.js';
import { guarded } from '../src/importers/common.js';

test('guarded: rows keep their order and rowids across tables, column sets and batches, also when the importer fails midway', async () => {
  const db = await Db.create();
  const ctx = SourceContext.topLevel(db, 'x.txt', 'test', 'capture', 'x.txt');
  guarded(ctx, 'test', (c) => {
    c.insert('dmabuf_observation', { line: 1, inode: 10, size: 4096, size_exact: 1 });
    c.insert('dmabuf_holder_observation', { line: 2, inode: 10, pid: 5, fd_refs: 1 });
    c.insert('dmabuf_observation', { line: 3, inode: 11, size: 8192, size_exact: 1, exporter: 'system', name: undefined });
    c.insertMany('dmabuf_observation', ['line', 'inode', 'size'], [[4, 12, 1024]]);
    for (let i = 0; i < 2500; i++) c.insert('dmabuf_observation', { line: 5 + i, inode: 13 + i, size: null, size_exact: 0 });
    c.diag('warning', 'malformed_row', 'a row');
    throw new Error('boom');
  });
  const obs = db.query('SELECT rowid, line, inode, size, size_exact, exporter, global_list, snapshot_id, source_id FROM dmabuf_observation ORDER BY rowid');
  assert.equal(obs.length, 2503);
  assert.deepEqual(obs.slice(0, 4), [
    { rowid: 1, line: 1, inode: 10, size: 4096, size_exact: 1, exporter: null, global_list: 0, snapshot_id: ctx.snapshotId, source_id: ctx.sourceId },
    { rowid: 2, line: 3, inode: 11, size: 8192, size_exact: 1, exporter: 'system', global_list: 0, snapshot_id: ctx.snapshotId, source_id: ctx.sourceId },
    // A column insertMany leaves out takes its default (size_exact 1).
    { rowid: 3, line: 4, inode: 12, size: 1024, size_exact: 1, exporter: null, global_list: 0, snapshot_id: ctx.snapshotId, source_id: ctx.sourceId },
    { rowid: 4, line: 5, inode: 13, size: null, size_exact: 0, exporter: null, global_list: 0, snapshot_id: ctx.snapshotId, source_id: ctx.sourceId },
  ]);
  assert.ok(obs.every((r, i) => r.rowid === i + 1 && (i < 3 || r.line === i + 2)));
  assert.deepEqual(db.query('SELECT line, inode, pid, fd_refs FROM dmabuf_holder_observation'), [{ line: 2, inode: 10, pid: 5, fd_refs: 1 }]);
  assert.deepEqual(
    db.query('SELECT code, message FROM diagnostic ORDER BY rowid').map((r) => `${r.code}: ${r.message}`),
    ['malformed_row: a row', 'importer_failed: test: boom'],
  );
  db.close();
});
