// The library as a triage bot uses it: several sessions at once, inputs as bytes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { open, InputError } from '../src/index.js';
import { smallScenario } from './fixtures/scenario.js';
import { bugreportZipBytes, renderBugreportText } from './fixtures/bugreport.js';

test('two sessions coexist and do not see each other', async () => {
  const a = smallScenario(34);
  const b = smallScenario(34);
  b.buffers = b.buffers.slice(0, 2);
  b.processes.forEach((p) => (p.holds = p.holds.filter((h) => h.inode <= 1002)));
  const [s1, s2] = await Promise.all([
    open({ name: 'a.zip', bytes: bugreportZipBytes(a) }),
    open({ name: 'b.txt', bytes: new TextEncoder().encode(renderBugreportText(b)) }),
  ]);
  assert.equal(s1.query('SELECT count(*) AS n FROM dmabuf')[0].n, 6);
  assert.equal(s2.query('SELECT count(*) AS n FROM dmabuf')[0].n, 2);
  s1.close();
  assert.equal(s2.run('dmabuf_exporters').length, 2);
  s2.close();
});

test('exportSqlite returns the database; summary() is the data analyze prints', async () => {
  const s = await open({ name: 'a.zip', bytes: bugreportZipBytes(smallScenario(34)) });
  const bytes = s.exportSqlite();
  assert.equal(Buffer.from(bytes.subarray(0, 15)).toString(), 'SQLite format 3');
  const sum = s.summary({ top: 2 });
  assert.equal(sum.snapshots[0].exporters.length, 2);
  assert.equal(sum.snapshots[0].leak_suspects[0].severity, 'high');
  assert.deepEqual(sum.errors, []);
  s.close();
});

test('a bad input rejects with a typed error', async () => {
  await assert.rejects(open({ name: 'x.zip', bytes: new Uint8Array([0x50, 0x4b, 3, 4, 1, 2, 3]) }), InputError);
});
