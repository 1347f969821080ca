// What a user checks of the database layer, the catalogue, the summary and the command line:
// typed parameters, the catalogue views `run` accepts, one meaning of `mapped_only`, the
// merge of inode-less buffers, one-line failures, aligned reports, honest totals.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { UsageError } from '../src/index.js';
import { Db } from '../src/db/database.js';
import { summarize } from '../src/summary.js';
import { summaryDocument } from '../src/report/document.js';
import { renderText } from '../src/report/text.js';
import { renderMarkdown } from '../src/report/markdown.js';
import { renderHtml } from '../src/report/html.js';
import { packagePath } from '../src/paths.js';
import { cli, openFolder, openTexts, tempDir } from './helpers.js';
import { smallScenario } from './fixtures/scenario.js';
import { randomScenario } from './fixtures/generate-scenario.js';
import { bugreportZipBytes, renderBugreportText } from './fixtures/bugreport.js';
import { renderMeminfo } from './fixtures/meminfo.js';
import { scenarioTrace } from './fixtures/trace.js';
import * as k from './fixtures/kernel.js';

function oneLine(r: { code: number | null; err: string }, pattern: RegExp): void {
  assert.equal(r.code, 2, r.err);
  const lines = r.err.trim().split('\n');
  assert.equal(lines.length, 1, r.err);
  assert.match(lines[0], pattern);
}

const dir = tempDir();
const zip = path.join(dir, 'report.zip');
fs.writeFileSync(zip, bugreportZipBytes(smallScenario(34)));

test('query --param binds numeric-looking values as numbers, others as text', () => {
  const t = cli(['query', zip, '-q', '--format', 'json', '--sql', 'SELECT typeof(:a) AS a, typeof(:b) AS b, typeof(:c) AS c', '-p', 'a=100', '-p', 'b=1.5', '-p', 'c=system']);
  assert.equal(t.code, 0, t.err);
  assert.deepEqual(JSON.parse(t.out), [{ a: 'integer', b: 'real', c: 'text' }]);
  // A comparison with an aggregate: as text, 3 > '1' would be false and the query would return nothing.
  const h = cli(['query', zip, '-q', '--format', 'csv', '--no-headers', '--sql', 'SELECT pid FROM dmabuf_holder GROUP BY pid HAVING count(*) > :n ORDER BY pid', '-p', 'n=2']);
  assert.equal(h.code, 0, h.err);
  assert.equal(h.out, '987\n');
});

test('query --param: a whole number past 2^53 (a realtime timestamp in ns) is bound exactly, not rounded to the nearest double', () => {
  // 2^53 + 1 as a JavaScript number is 2^53: equal to neither, and the row compared with it would be missed.
  const sql = 'SELECT CAST(9007199254740993 AS INTEGER) = :t AS exact, CAST(9007199254740992 AS INTEGER) = :t AS rounded, :t - 9007199254740990 AS delta';
  const r = cli(['query', zip, '-q', '--format', 'csv', '--no-headers', '--sql', sql, '-p', 't=9007199254740993']);
  assert.equal(r.code, 0, r.err);
  assert.equal(r.out, '1,0,3\n');
});

test('query --param naming what the SQL does not (a misspelt :name) is one line, exit 2, before the inputs are read', () => {
  const r = cli(['query', zip, '--sql', 'SELECT * FROM dmabuf WHERE exporter = :exporter', '-p', 'exportr=system']);
  assert.equal(r.code, 2);
  assert.equal(r.err, 'dmabuf-triage: --param exportr: the SQL names no :exportr\n');
  for (const p of [':', '@', '$']) assert.equal(cli(['query', zip, '-q', '--sql', `SELECT ${p}x AS x`, '-p', 'x=1']).code, 0, p);
});

test('query: SQL that cannot run (a typo, an unknown table or column) fails before the inputs are read', () => {
  for (const [sql, says] of [
    ['SELEC 1', 'SQL error: near "SELEC": syntax error'],
    ['SELECT nope FROM dmabuf', 'SQL error: no such column: nope'],
    ['SELECT * FROM dmabufs', 'SQL error: no such table: dmabufs'],
  ]) {
    const r = cli(['query', zip, '--sql', sql]);
    assert.equal(r.code, 2, sql);
    // No 'reading …' progress line: nothing was loaded.
    assert.equal(r.err, `dmabuf-triage: ${says}\n`, sql);
  }
});

test('run: a wrong parameter fails before the inputs are read (no progress line), as a misspelt analysis does', () => {
  for (const p of ['top=abc', 'nope=1']) {
    const r = cli(['run', 'dmabuf_buffers', zip, '--param', p]);
    assert.equal(r.code, 2, p);
    assert.doesNotMatch(r.err, /reading /, p);
  }
});

test('analysis parameters are checked: unknown name or non-number for a number is one line, exit 2', async () => {
  oneLine(cli(['run', 'dmabuf_buffers', zip, '-q', '--param', 'top=abc']), /^dmabuf-triage: parameter 'top' of 'dmabuf_buffers' takes a number/);
  oneLine(cli(['run', 'dmabuf_buffers', zip, '-q', '--param', 'nope=1']), /has no parameter 'nope' \(it has: top\)/);
  const s = await openTexts({ 'r.zip': bugreportZipBytes(smallScenario(34)) });
  assert.throws(() => s.run('dmabuf_buffers', { top: 'abc' }), UsageError);
  assert.equal(s.run('dmabuf_buffers', { top: 1 }).length, 1);
  s.close();
});

test('the public trace views are catalogue analyses that run accepts and analyses lists', async () => {
  const added = ['dmabuf_trace_buffers', 'dmabuf_ion_summary', 'android_dmabuf_allocs', 'android_memory_cumulative_dmabuf'];
  const listed = cli(['analyses']);
  assert.equal(listed.code, 0, listed.err);
  for (const a of added) assert.match(listed.out, new RegExp(`^${a} — `, 'm'));
  const readme = fs.readFileSync(packagePath('README.md'), 'utf8');
  for (const a of added) assert.ok(readme.includes(`| \`${a}\` |`), `README analyses table lacks ${a}`);
  const sc = smallScenario(34);
  const trace = path.join(dir, 'trace.pftrace');
  fs.writeFileSync(trace, scenarioTrace(sc).bytes);
  const r = cli(['run', 'dmabuf_trace_buffers', trace, '-q', '--format', 'json']);
  assert.equal(r.code, 0, r.err);
  const rows = JSON.parse(r.out) as { end_kind: string }[];
  assert.ok(rows.length > 0 && rows.some((x) => x.end_kind === 'outstanding'));
  // The summary `analyze` prints is unchanged by the catalogue growing: no heading for these.
  const summary = cli(['analyze', trace, '-q']);
  assert.equal(summary.code, 0, summary.err);
  for (const a of added) assert.ok(!summary.out.includes(a), `analyze printed ${a}`);
});

test('mapped_only means one thing: dmabuf_processes and dmabuf_leak_suspects agree on a maps + fdinfo capture', async () => {
  const s = smallScenario();
  const session = await openFolder({ ...k.renderProcFiles(s), ...k.renderSysfsFiles(s) });
  const want = k.holdsOf(s).filter((h) => h.fds === 0 && h.maps > 0);
  assert.deepEqual(want.map((h) => h.pid), [2345]);
  const processes = session.query('SELECT pid, mapped_only_buffers FROM dmabuf_processes WHERE mapped_only_buffers > 0');
  assert.deepEqual(processes, [{ pid: 2345, mapped_only_buffers: 1 }]);
  const leaks = session.query("SELECT subject FROM dmabuf_leak_suspects WHERE kind = 'mapped_only'");
  assert.deepEqual(leaks, [{ subject: '? (2345)' }]);
  session.close();
});

test('pre-5.3 bufinfo: thousands of buffers without inodes each become a buffer, each attachment on its own buffer', async () => {
  const s = randomScenario({ seed: 5, processes: 20, buffers: 3000 });
  s.buffers.forEach((b, i) => (b.attachments = i % 3 === 0 ? [`dev${i % 7}`] : undefined));
  const text = k.renderBufinfo(s, 'pre5.3');
  const session = await openTexts({ 'bufinfo.txt': text });
  assert.equal(session.query('SELECT count(*) AS n FROM dmabuf WHERE inode IS NULL')[0].n, 3000);
  const attached = s.buffers.filter((b) => b.attachments?.length);
  assert.equal(session.query('SELECT count(*) AS n FROM dmabuf_attachment WHERE dmabuf_id IS NULL')[0].n, 0);
  const bytes = session.query('SELECT sum(d.size) AS n FROM dmabuf_attachment a JOIN dmabuf d ON d.id = a.dmabuf_id')[0].n;
  assert.equal(bytes, attached.reduce((n, b) => n + b.size, 0));
  session.close();
});

test('an output file that cannot be written is one line and exit 2, before anything is loaded', () => {
  for (const args of [['analyze', zip, '--html', '/nonexistent/x.html'], ['export', zip, '-o', '/nonexistent/x.sqlite']]) {
    const r = cli(args);
    oneLine(r, /^dmabuf-triage: cannot write \/nonexistent\/x\.(html|sqlite)/);
    assert.equal(r.out, '');
  }
});

test('summary tables align numbers right and text left, also a trailing text column', () => {
  const r = cli(['analyze', zip, '-q']);
  assert.equal(r.code, 0, r.err);
  const lines = r.out.split('\n');
  const header = lines.findIndex((l) => /^\s+severity\s+kind\s+subject\s+bytes\s+evidence$/.test(l));
  assert.ok(header >= 0, r.out);
  const at = lines[header].indexOf('evidence');
  const row = lines[header + 1];
  assert.match(row.slice(at), /^1 buffer\(s\) of exporter system/, 'evidence starts under its heading');
  assert.match(row.slice(0, at), /32\.0 MiB  $/, 'bytes end just before evidence');
  const md = cli(['analyze', zip, '-q', '--format', 'markdown']);
  assert.match(md.out, /^\| severity \| kind \| subject \| bytes \| evidence \|\n\| --- \| --- \| --- \| ---: \| --- \|$/m);
  assert.match(md.out, /^\| exporter \| buffers \| bytes \| share \| largest \| processes \| held by none \|\n\| --- (\| ---: ){6}\|$/m);
});

test('markdown shows a value holding < as text (dmabuf_dump\'s exporter <unknown>), not as an HTML tag a renderer drops', () => {
  const md = renderMarkdown({ title: 't', blocks: [{ heading: 'h', facts: [['device', 'a<b>c']], table: { columns: ['exporter'], numeric: [false], rows: [['<unknown>'], ['x|y']] } }] });
  assert.match(md, /^- \*\*device\*\*: a\\<b>c$/m);
  assert.match(md, /^\| \\<unknown> \|$/m);
  assert.match(md, /^\| x\\\|y \|$/m);
});

test('consistency findings print bytes or counts by the unit the view names', async () => {
  const sc = smallScenario(34);
  const good = await openTexts({ 'r.txt': renderBugreportText(sc) });
  const units = new Map(good.query('SELECT DISTINCT check_name, unit FROM dmabuf_consistency').map((r) => [r.check_name, r.unit]));
  assert.equal(units.get('total_bytes'), 'bytes');
  assert.equal(units.get('buffer_count'), 'buffers');
  assert.equal(units.get('exporter_count'), 'buffers');
  good.close();
  const text = renderBugreportText(sc).replace('Total DMA-BUF size(bytes): 47169536', 'Total DMA-BUF size(bytes): 57169536');
  const bad = await openTexts({ 'r.txt': text });
  const doc = summaryDocument(bad.summary());
  bad.close();
  const block = doc.blocks.find((b) => b.heading === 'dmabuf_consistency')!;
  assert.deepEqual(block.table!.rows, [['mismatch', 'total_bytes', 'dmabuf_dump_b', '54.5 MiB', '45.0 MiB', '9.5 MiB']]);
  assert.deepEqual(block.table!.numeric, [false, false, false, true, true, true]);
  const html = renderHtml(doc);
  assert.match(html, /<td>dmabuf_dump_b<\/td><td class="n">54\.5 MiB<\/td>/);
  assert.ok(renderText(doc).includes('9.5 MiB'));
  assert.ok(renderMarkdown(doc).includes('| mismatch | total_bytes | dmabuf_dump_b | 54.5 MiB |'));
});

test('meminfo alone: the summary shows no per-buffer data and the reported total on its own line', async () => {
  const s = await openTexts({ 'meminfo.txt': renderMeminfo(smallScenario(34), 'dmabuf') });
  const sum = s.summary();
  s.close();
  assert.equal(sum.snapshots[0].buffers, 0);
  assert.equal(sum.snapshots[0].total_bytes, 0);
  const text = renderText(summaryDocument(sum));
  assert.match(text, /DMA-BUF\s+no per-buffer data\n/);
  assert.match(text, /reported by meminfo\s+total 45\.0 MiB/);
  assert.ok(!/in 0 buffers/.test(text), text);
});

test('a failing part of the summary is reported; the other parts still appear', async () => {
  const s = await openTexts({ 'r.zip': bugreportZipBytes(smallScenario(34)) });
  const broken = {
    query: (sql: string, params?: Record<string, unknown> | unknown[]) => {
      if (sql.includes('dmabuf_reported_total') || sql.includes('FROM diagnostic')) throw new Error('disk on fire');
      return s.query(sql, params);
    },
    run: (name: string) => s.run(name),
  };
  const sum = summarize(broken);
  s.close();
  assert.equal(sum.snapshots.length, 1);
  assert.equal(sum.snapshots[0].exporters[0].exporter, 'system');
  assert.deepEqual(sum.errors, ['dmabuf_reported_total: disk on fire', 'diagnostic: disk on fire']);
});

test('bad SQL is the user\'s error at the session, a bug inside the database layer', async () => {
  const s = await openTexts({});
  assert.throws(() => s.query('SELEC 1'), (e: Error) => e instanceof UsageError && /^SQL error: near "SELEC"/.test(e.message));
  const db = await Db.create();
  assert.throws(() => db.query('SELEC 1'), (e: Error) => !(e instanceof UsageError));
  db.close();
  s.close();
  oneLine(cli(['query', zip, '-q', '--sql', 'SELEC 1']), /^dmabuf-triage: SQL error: near "SELEC"/);
});

test('--param belongs to query and run only, documented for each; diff refuses it', () => {
  const q = cli(['query', '--help']);
  assert.match(q.out, /--param <name=value>\s+bind :name/);
  const r = cli(['run', '--help']);
  assert.match(r.out, /--param <name=value>\s+set a parameter of the analysis/);
  for (const h of [q.out, r.out]) assert.ok(!h.includes('{}'), h);
  const d = cli(['diff', zip, zip, '-q', '--param', 'x=1']);
  assert.equal(d.code, 2);
  assert.match(d.err, /unknown option '--param'/);
});

test('no command is a usage error (exit 2, help on stderr); --version is the package version', () => {
  const none = cli([]);
  assert.equal(none.code, 2);
  assert.match(none.err, /^Usage: dmabuf-triage/);
  assert.equal(cli(['--help']).code, 0);
  const version = JSON.parse(fs.readFileSync(packagePath('package.json'), 'utf8')).version;
  assert.equal(cli(['--version']).out.trim(), version);
});

test('the shell prints .schema and .analyses exactly as the schema and analyses commands do', () => {
  const sh = cli(['shell', zip, '-q'], '.schema dmabuf_holder\n.analyses\n.quit\n');
  assert.equal(sh.code, 0, sh.err);
  assert.equal(sh.out, cli(['schema', 'dmabuf_holder']).out + cli(['analyses']).out);
});

test('analyze --help says which tables --top limits', () => {
  assert.match(cli(['analyze', '--help']).out.replace(/\s+/g, ' '), /--top <n> rows of the exporters, processes, process totals, devices and trace processes tables/);
});

test('--help lists every input format the tool reads, by importer name and description', async () => {
  const { streamImporters, textImporters } = await import('../src/importers/registry.js');
  const r = cli(['--help']);
  assert.equal(r.code, 0, r.err);
  const after = r.out.slice(r.out.indexOf('Inputs read'));
  for (const i of [...streamImporters, ...textImporters]) {
    assert.match(after, new RegExp(`^  ${i.name} +${i.description.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, 'm'), i.name);
  }
});
