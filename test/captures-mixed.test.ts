// Texts mixing the tools' outputs (dmabuf_dump default, -b, -a, dumpsys meminfo, dumpsys gpu,
// SurfaceFlinger's buffer table) with kernel captures, as engineers capture by hand into one
// file (`adb shell 'dmabuf_dump; dmabuf_dump -b; cat /d/dma_buf/bufinfo; dumpsys meminfo | grep
// -A6 DMA-BUF' > capture.txt`) or as a script logs them with its prompts: `kernel_captures` cuts
// them into runs, each read by its own importer as a child source, with the rows it gives alone.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { smallScenario, type Scenario } from './fixtures/scenario.js';
import * as k from './fixtures/kernel.js';
import { renderDmabufDump, renderDmabufDumpB, type DmabufDumpBVariant, type DmabufDumpVariant } from './fixtures/dmabuf-dump.js';
import { renderMeminfo, renderMeminfoBlock } from './fixtures/meminfo.js';
import { textImporters } from '../src/importers/registry.js';
import { assertRows, csv, diagnostics, openTexts } from './helpers.js';

/** Every row a user checks, each tagged with the importer of its source, in importer then row order. */
const TAGGED = [
  'SELECT s.importer, o.inode, o.size, o.size_exact, o.exporter, o.name, o.global_list FROM dmabuf_observation o JOIN source s ON s.id = o.source_id ORDER BY s.importer, o.rowid',
  'SELECT s.importer, h.pid, h.inode, h.fd_refs, h.map_refs, h.reported_pss FROM dmabuf_holder_observation h JOIN source s ON s.id = h.source_id ORDER BY s.importer, h.rowid',
  'SELECT s.importer, f.pid, f.fd, f.inode FROM dmabuf_fd f JOIN source s ON s.id = f.source_id ORDER BY s.importer, f.rowid',
  'SELECT s.importer, a.inode, a.device FROM dmabuf_attachment a JOIN source s ON s.id = a.source_id ORDER BY s.importer, a.rowid',
  'SELECT s.importer, t.origin, t.pid, t.exporter, t.total_bytes, t.buffer_count, t.kernel_bytes, t.userspace_rss_bytes, t.userspace_pss_bytes FROM dmabuf_reported_total t JOIN source s ON s.id = t.source_id ORDER BY s.importer, t.rowid',
  'SELECT s.importer, m.total_bytes, m.mapped_bytes, m.unmapped_bytes, m.heaps_bytes, m.pool_bytes, m.gpu_total_bytes, m.kernel_cma_bytes FROM meminfo_dmabuf m JOIN source s ON s.id = m.source_id ORDER BY s.importer, m.rowid',
  'SELECT s.importer, g.gpu_id, g.pid, g.total_bytes FROM gpu_memory_total g JOIN source s ON s.id = g.source_id ORDER BY s.importer, g.rowid',
  'SELECT s.importer, g.handle, g.size, g.requestor FROM gralloc_buffer g JOIN source s ON s.id = g.source_id ORDER BY s.importer, g.rowid',
  'SELECT process.pid, process.name FROM process ORDER BY pid',
  'SELECT s.importer, d.severity, d.code FROM diagnostic d JOIN source s ON s.id = d.source_id ORDER BY s.importer, d.rowid',
];

/** A part of a capture: the command typed, what it printed, the importer that reads it alone. */
type Part = [command: string, text: string, importer: string];

/** The TAGGED rows of the parts each read alone (a text of its own), one list per query. */
async function aloneRows(parts: Part[]): Promise<string[][]> {
  const perPart: string[][][] = [];
  for (const [, text, importer] of parts) {
    const session = await openTexts({ 'part.txt': text });
    assert.equal(session.query('SELECT importer FROM source ORDER BY id')[0].importer, importer, 'the part alone');
    perPart.push(TAGGED.map((q) => csv(session, q)));
    session.close();
  }
  return TAGGED.map((q, i) => {
    const rows = perPart.flatMap((p) => p[i].slice(1));
    // Processes are one list per snapshot, the others are sorted by importer.
    const sorted = /^SELECT process/.test(q) ? [...new Set(rows)].sort((a, b) => Number(a.split(',')[0]) - Number(b.split(',')[0])) : sortByImporter(rows);
    return [perPart[0][i][0], ...sorted];
  });
}

/** Rows sorted by their first (importer) column, stably: the order within one importer is kept. */
function sortByImporter(rows: string[]): string[] {
  const key = (r: string) => r.split(',')[0];
  return rows.map((r, i) => [r, i] as const).sort((a, b) => (key(a[0]) < key(b[0]) ? -1 : key(a[0]) > key(b[0]) ? 1 : a[1] - b[1])).map(([r]) => r);
}

/** The mixed text opened: its sources are kernel_captures and one child per importer, and its rows are those of the parts alone. */
async function assertAsAlone(text: string, parts: Part[], label: string): Promise<void> {
  const expected = await aloneRows(parts);
  const session = await openTexts({ 'capture.txt': text });
  assert.deepEqual(
    csv(session, 'SELECT importer, parent_id IS NOT NULL AS child, line_start IS NOT NULL AS lines FROM source ORDER BY id'),
    ['importer,child,lines', 'kernel_captures,0,0', ...parts.map(([, , importer]) => `${importer},1,1`)],
    label,
  );
  TAGGED.forEach((q, i) => assert.deepEqual(csv(session, q), expected[i], `${label}: ${q}`));
  session.close();
}

/** `dumpsys meminfo | grep -A6 DMA-BUF`: the DMA-BUF lines and the six after the last. */
function grepA6(s: Scenario): string {
  const lines = renderMeminfo(s, 'dmabuf_gpu_breakdown').split('\n');
  const first = lines.findIndex((l) => l.includes('DMA-BUF'));
  const last = lines.length - 1 - [...lines].reverse().findIndex((l) => l.includes('DMA-BUF'));
  return lines.slice(first, last + 7).join('\n') + '\n';
}

test('one adb shell capture: dmabuf_dump, -b, bufinfo and meminfo\'s DMA-BUF block are each read (the bufinfo and meminfo parts were lost)', async () => {
  const s = smallScenario();
  const variants: [DmabufDumpVariant, DmabufDumpBVariant, k.BufinfoVariant][] = [
    ['a16', 'a15', '6x'],
    ['csv16', 'csv', '6x'],
    ['a14', 'a14', '5.10'],
    ['a12', 'a12', 'pre5.3'],
  ];
  for (const [d, b, bi] of variants) {
    // dmabuf_dump and its -b output side by side are read together, as in a text of their own.
    const parts: Part[] = [
      ['dmabuf_dump; dmabuf_dump -b', renderDmabufDump(s, d) + renderDmabufDumpB(s, b), 'dmabuf_dump'],
      ['cat /d/dma_buf/bufinfo', k.renderBufinfo(s, bi), 'bufinfo'],
      ['dumpsys meminfo | grep -A6 DMA-BUF', grepA6(s), 'meminfo'],
    ];
    const text = parts.map(([, t]) => t).join('');
    await assertAsAlone(text, parts, `${d} ${b} ${bi}`);
    // Saved through a pty (CR LF).
    await assertAsAlone(text.replace(/\n/g, '\r\n'), parts, `${d} ${b} ${bi} CRLF`);
  }
});

test('a script\'s log: every tool\'s output after its prompt is read by its own importer, prompts are not malformed rows', async () => {
  const s = smallScenario();
  const parts: Part[] = [
    ['dmabuf_dump -b', renderDmabufDumpB(s, 'a15'), 'dmabuf_dump_b'],
    ['cat /sys/kernel/debug/dma_buf/bufinfo', k.renderBufinfo(s, '6x'), 'bufinfo'],
    ['dmabuf_dump', renderDmabufDump(s, 'a16'), 'dmabuf_dump'],
    ['dumpsys meminfo', renderMeminfo(s, 'dmabuf_gpu_breakdown'), 'meminfo'],
    ['dumpsys gpu', k.renderDumpsysGpu(k.gpuSnapshotOf(s)), 'dumpsys_gpu'],
    ['dmabuf_dump -a', k.renderDmabufDumpA(s, 'a15'), 'dmabuf_dump_a'],
    ['dumpsys SurfaceFlinger', k.renderGralloc(k.grallocRowsOf(s)), 'gralloc_allocator'],
    ['for f in /proc/*/fdinfo/*; do echo $f; cat $f; done', k.renderFdinfo(s, 'loop'), 'fdinfo'],
    ['dumpsys meminfo | grep -A6 DMA-BUF', grepA6(s), 'meminfo'],
    ['cat /sys/fs/bpf/dmabuf_iter', k.renderBpfIter(s), 'bpf_dmabuf_iter'],
    ['cat /sys/kernel/debug/dma_buf/bufinfo', k.renderBufinfo(s, '5.10'), 'bufinfo'],
  ];
  for (const prompt of ['$ ', 'console:/ # ']) {
    const text = parts.map(([cmd, t]) => `${prompt}${cmd}\n${t}`).join('') + prompt + '\n';
    await assertAsAlone(text, parts, prompt);
  }
});

test('a capture of the tools\' outputs in other orders: nothing is lost, every part is read as alone', async () => {
  const s = smallScenario();
  const p = {
    dump: ['dmabuf_dump', renderDmabufDump(s, 'a16'), 'dmabuf_dump'],
    dumpCsv: ['dmabuf_dump -o csv', renderDmabufDump(s, 'csv16'), 'dmabuf_dump'],
    b: ['dmabuf_dump -b', renderDmabufDumpB(s, 'a15'), 'dmabuf_dump_b'],
    a: ['dmabuf_dump -a', k.renderDmabufDumpA(s, 'csv'), 'dmabuf_dump_a'],
    meminfo: ['dumpsys meminfo', renderMeminfo(s, 'dmabuf'), 'meminfo'],
    block: ['dumpsys meminfo | grep -A6 DMA-BUF', grepA6(s), 'meminfo'],
    gpu: ['dumpsys gpu', k.renderDumpsysGpu(k.gpuSnapshotOf(s)), 'dumpsys_gpu'],
    bufinfo: ['cat bufinfo', k.renderBufinfo(s, '5.10'), 'bufinfo'],
    // The first (3.10-era) layout, whole and from its exporter-first header on.
    bufinfo310: ['cat bufinfo', k.renderBufinfo(s, '3.10'), 'bufinfo'],
    bufinfo310Header: ['cat bufinfo', k.renderBufinfo(s, '3.10').split('\n').slice(2).join('\n'), 'bufinfo'],
    // The BPF iterator's four-line records, and the first selftest's one line per buffer.
    bpf: ['cat /sys/fs/bpf/dmabuf_iter', k.renderBpfIter(s), 'bpf_dmabuf_iter'],
    bpfOneLine: ['cat /sys/fs/bpf/iter', k.renderBpfIterOneLine(s), 'bpf_dmabuf_iter'],
    // Samsung's Dma-buf Info dump in a kernel log, with the log's other messages around it.
    samsung: ['dmesg', k.asKernelLog(k.KERNEL_LOG_BEFORE + k.renderSamsungDmabufInfo(s, 'v3') + k.KERNEL_LOG_AFTER, 'dmesg'), 'kernel_log'],
    fdinfo: ['head /proc/*/fdinfo/*', k.renderFdinfo(s, 'head'), 'fdinfo'],
  } satisfies Record<string, Part>;
  const orders: (keyof typeof p)[][] = [
    ['b', 'bufinfo'],
    ['bufinfo', 'dump'],
    ['fdinfo', 'dump'],
    ['dump', 'a'],
    ['a', 'dumpCsv'],
    ['a', 'b'],
    // A block without an end line (meminfo, gpu) before dmabuf_dump: its process line goes with its table.
    ['meminfo', 'dump'],
    ['gpu', 'dumpCsv'],
    ['block', 'dumpCsv', 'gpu', 'b'],
    ['fdinfo', 'bufinfo310', 'b'],
    ['meminfo', 'bufinfo310Header', 'dump'],
    ['bpf', 'bufinfo'],
    ['b', 'bpf', 'dump'],
    // A block without an end line (meminfo, dumpsys gpu) before the records ends where they start.
    ['meminfo', 'bpf', 'fdinfo'],
    ['gpu', 'bpf'],
    ['a', 'bpfOneLine', 'block'],
    ['bpfOneLine', 'dumpCsv'],
    ['bufinfo', 'samsung', 'b'],
    ['samsung', 'fdinfo'],
  ];
  for (const order of orders) {
    const parts = order.map((n) => p[n]);
    await assertAsAlone(parts.map(([, t]) => t).join(''), parts, order.join(' + '));
  }
});

test('one tool\'s output after a prompt is still read by its own importer, the prompts are not malformed rows', async () => {
  const s = smallScenario();
  const outputs: Part[] = [
    ['dmabuf_dump', renderDmabufDump(s, 'a16'), 'dmabuf_dump'],
    ['dmabuf_dump -o csv', renderDmabufDump(s, 'csv16'), 'dmabuf_dump'],
    ['dmabuf_dump -b', renderDmabufDumpB(s, 'a15'), 'dmabuf_dump_b'],
    ['dmabuf_dump -b -o csv', renderDmabufDumpB(s, 'csv'), 'dmabuf_dump_b'],
    ['dmabuf_dump; dmabuf_dump -b', renderDmabufDump(s, 'a14') + '$ dmabuf_dump -b\n' + renderDmabufDumpB(s, 'a14'), 'dmabuf_dump'],
    ['dumpsys meminfo | grep -A6 DMA-BUF', grepA6(s), 'meminfo'],
  ];
  for (const [cmd, text, importer] of outputs) {
    const alone = await openTexts({ 'out.txt': text });
    const session = await openTexts({ 'out.txt': `$ ${cmd}\n${text}$ \n` });
    assert.deepEqual(csv(session, 'SELECT importer FROM source'), ['importer', importer], cmd);
    for (const q of TAGGED) assert.deepEqual(csv(session, q), csv(alone, q), `${cmd}: ${q}`);
    assert.deepEqual(diagnostics(session), [], cmd);
    alone.close();
    session.close();
  }
});

test('meminfo\'s DMA-BUF block cut out by grep is recognized alone', async () => {
  const s = smallScenario();
  const block = grepA6(s);
  assert.ok(block.startsWith('DMA-BUF:'));
  assert.equal(textImporters.find((t) => t.sniff(block, 'x.txt'))?.name, 'meminfo');
  const session = await openTexts({ 'grep.txt': block });
  assertRows(session, 'SELECT total_bytes, heaps_bytes, pool_bytes, kernel_cma_bytes FROM meminfo_dmabuf', [
    'total_bytes,heaps_bytes,pool_bytes,kernel_cma_bytes',
    csv(await openTexts({ 'm.txt': renderMeminfoBlock(s, 'dmabuf_gpu_breakdown') + '\n' }), 'SELECT total_bytes, heaps_bytes, pool_bytes, kernel_cma_bytes FROM meminfo_dmabuf')
      .slice(1)
      .join(''),
  ]);
});

test('what cannot be read in a mixed capture is reported: a dmabuf_dump cut short, a line of no format', async () => {
  const s = smallScenario();
  const dump = renderDmabufDump(s, 'a16');
  // The dump cut inside its second process table, then bufinfo: the tables kept, the cut reported.
  const cut = dump.split('\n').slice(0, 10).join('\n') + '\n';
  const session = await openTexts({ 'capture.txt': cut + 'some words of no format\n' + k.renderBufinfo(s, '6x') });
  assert.deepEqual(csv(session, 'SELECT importer FROM source ORDER BY id'), ['importer', 'kernel_captures', 'dmabuf_dump', 'bufinfo']);
  // The line after the cut, in the dump's unfinished block, is its; the cut table and the missing totals line are reported.
  assert.deepEqual(
    diagnostics(session).map((d) => `${d.severity} ${d.code} ${d.line}`),
    ['warning malformed_row 11', 'warning truncated 7', 'warning truncated null'],
  );
  assert.equal(session.query("SELECT count(*) AS n FROM dmabuf_observation o JOIN source s ON s.id = o.source_id WHERE s.importer = 'bufinfo'")[0].n, s.buffers.length);
  // Text between outputs goes with the output after it: dmabuf_dump reports it.
  const between = await openTexts({ 'capture.txt': k.renderBufinfo(s, '6x') + 'some words of no format\n' + dump });
  assert.deepEqual(
    diagnostics(between).map((d) => `${d.severity} ${d.code} ${d.line}`),
    ['warning malformed_row 1'],
  );
});

test('BPF iterator records in a mixed capture: a cut last record, a record out of step, and records that are not', async () => {
  const s = smallScenario();
  const bpf = k.renderBpfIter(s);
  const bufinfo = k.renderBufinfo(s, '6x');
  // Cut inside the last record's size line: the run goes to the end of the text, the BPF importer keeps what is whole.
  const cut = bpf.slice(0, bpf.lastIndexOf('12288') + 3);
  let session = await openTexts({ 'capture.txt': bufinfo + cut });
  assert.deepEqual(csv(session, 'SELECT importer FROM source ORDER BY id'), ['importer', 'kernel_captures', 'bufinfo', 'bpf_dmabuf_iter']);
  assert.equal(session.query("SELECT count(*) AS n FROM dmabuf_observation o JOIN source s ON s.id = o.source_id WHERE s.importer = 'bpf_dmabuf_iter'")[0].n, s.buffers.length);
  assert.deepEqual(diagnostics(session).map((d) => `${d.severity} ${d.code}`), ['warning truncated']);
  // A line lost in the middle: the records before it are one run, those after it another of the same kind (one source).
  const lines = bpf.split('\n');
  const lost = [...lines.slice(0, 9), ...lines.slice(10)].join('\n');
  session = await openTexts({ 'capture.txt': bufinfo + lost });
  assert.deepEqual(csv(session, 'SELECT importer FROM source ORDER BY id'), ['importer', 'kernel_captures', 'bufinfo', 'bpf_dmabuf_iter']);
  assert.deepEqual(diagnostics(session).map((d) => `${d.severity} ${d.code}`), ['warning malformed_row']);
  // Numbers alone that are not records (sizes, a count) start nothing: the text is bufinfo's.
  session = await openTexts({ 'capture.txt': bufinfo + '$ cat /sys/kernel/dmabuf/buffers/*/size\n8294400\n4096\n12288\n4096\n$ \n' });
  assert.deepEqual(csv(session, 'SELECT importer FROM source ORDER BY id'), ['importer', 'bufinfo']);
});
