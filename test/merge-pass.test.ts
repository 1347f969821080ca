// The merge of buffers and holders computed in JavaScript (src/db/merge-pass.ts) must give
// exactly what merge.ts's SQL, which states the rules, gives: the same rows with the same
// rowids, the same conflicts, the same attachments' buffers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Db } from '../src/db/database.js';
import { mergeSnapshot } from '../src/db/merge.js';
import { packagePath } from '../src/paths.js';
import type { Session } from '../src/index.js';
import { open } from '../src/index.js';
import { openFolder, openTexts } from './helpers.js';
import { smallScenario } from './fixtures/scenario.js';
import * as k from './fixtures/kernel.js';
import { renderDmabufDump, renderDmabufDumpB } from './fixtures/dmabuf-dump.js';

function merged(db: { query(sql: string): unknown[] }): unknown {
  return {
    dmabuf: db.query('SELECT rowid, * FROM dmabuf ORDER BY rowid'),
    holders: db.query('SELECT rowid, * FROM dmabuf_holder ORDER BY rowid'),
    conflicts: db.query("SELECT rowid, * FROM diagnostic WHERE code = 'merge_conflict' ORDER BY rowid"),
    attachments: db.query('SELECT rowid, * FROM dmabuf_attachment ORDER BY rowid'),
  };
}

/**
 * The session's merged rows against those of merging its export again, in JavaScript and with
 * the SQL alone (each snapshot in turn, so that the rowids come out alike).
 */
async function sameAsSql(name: string, s: Session): Promise<void> {
  const loaded = merged(s);
  const bytes = s.exportSqlite();
  s.close();
  const again = async (sqlOnly: boolean) => {
    const db = await Db.fromBytes(bytes);
    const ids = db.query('SELECT id FROM snapshot ORDER BY id').map((r) => Number(r.id));
    const methods = ids.map((id) => mergeSnapshot(db, id, {}, sqlOnly));
    const rows = merged(db);
    db.close();
    return { ids, methods, rows };
  };
  const pass = await again(false);
  const sql = await again(true);
  assert.deepEqual(pass.rows, sql.rows, `${name}: the pass and the SQL rules merge differently`);
  assert.ok(sql.methods.every((m) => m !== 'pass'));
  // Every input here is exact: the pass merged each snapshot that had buffers.
  assert.ok(pass.methods.includes('pass') && !pass.methods.includes('sql'), `${name}: ${pass.methods}`);
  // One snapshot: merged again, it has the rows it had.
  if (pass.ids.length === 1) assert.deepEqual(pass.rows, loaded, `${name}: merged again, the rows differ`);
}

test('merge: the pass equals the SQL rules on the bundled bugreport', async () => {
  await sameAsSql('example', await open(packagePath('examples', 'bugreport-example.zip')));
});

test('merge: the pass equals the SQL rules where sources disagree, and on holders seen by several importers', async () => {
  const s = smallScenario();
  const sysfs = k.renderSysfsGrep(s, 'current').replace('/1003/exporter_name:mali', '/1003/exporter_name:system').replace('/1003/size:1048576', '/1003/size:1052672');
  const table = k.renderDmabufDumpA(s, 'a15').replace(/(\s1001 \|\s+)8100 kB/, '$18104 kB');
  const fd = k.renderFdinfo(s, 'head').replace('name:\tCAMERA', 'name:\tCAMERA-preview');
  await sameAsSql(
    'conflicts',
    await openFolder({ 'bufinfo.txt': k.renderBufinfo(s, '6x'), 'sysfs.txt': sysfs, 'a.txt': table, 'fdinfo.txt': fd, 'maps.txt': k.renderMaps(s) }),
  );
  await sameAsSql('dmabuf_dump', await openFolder({ 'dump.txt': renderDmabufDump(s, 'a14'), 'b.txt': renderDmabufDumpB(s, 'a15') }));
  await sameAsSql('two snapshots', await openTexts({ 'dump.txt': renderDmabufDump(s, 'a16'), 'bufinfo.txt': k.renderBufinfo(s, '5.10') }));
  await sameAsSql('procfs', await openFolder(k.renderProcFiles(s)));
});

test('merge: one capture whose buffers and holders were each observed once is copied, with the rows the SQL rules give', async () => {
  const s = smallScenario();
  await sameAsSql('one fdinfo capture', await openTexts({ 'fdinfo.txt': k.renderFdinfo(s, 'head') }));
  await sameAsSql('one bufinfo', await openTexts({ 'bufinfo.txt': k.renderBufinfo(s, '6x') }));
});

test('merge: a size beyond 2^53 leaves the merge to the SQL, with the same rows', async () => {
  const s = smallScenario();
  s.buffers[0].size = 2 ** 60;
  const session = await openFolder({ 'bufinfo.txt': k.renderBufinfo(s, '6x'), 'fdinfo.txt': k.renderFdinfo(s, 'head') });
  const rows = merged(session);
  const db = await Db.fromBytes(session.exportSqlite());
  session.close();
  assert.equal(mergeSnapshot(db, 1), 'sql');
  assert.deepEqual(merged(db), rows);
  db.close();
});
