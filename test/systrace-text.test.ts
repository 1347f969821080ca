// The `systrace_text` importer: text ftrace captures (`trace` file, atrace output, systrace
// HTML) with dma_heap_stat / ION / binder lines, into the same tables as Perfetto traces.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { open } from '../src/index.js';
import { systraceText, looksLikeFtraceText } from '../src/importers/systrace-text.js';
import { lfOnly } from '../src/input/load.js';
import { importChunked, rng, assertInputDiagnostics, tempDir, cli } from './helpers.js';

const HEADER = `# tracer: nop
#
# entries-in-buffer/entries-written: 9/9   #P:8
#
#                                      _-----=> irqs-off
#                                     / _----=> need-resched
#                                    | / _---=> hardirq/softirq
#                                    || / _--=> preempt-depth
#                                    ||| /     delay
#           TASK-PID    TGID   CPU#  ||||    TIMESTAMP  FUNCTION
#              | |        |      |   ||||       |         |
`;

/** One ftrace line as the kernel prints it (with or without the TGID column). */
function line(comm: string, tid: number, tgid: number | null | '-----', cpu: number, ts: string, event: string, fields: string): string {
  const task = `${comm}-${tid}`.padStart(22);
  const tg = tgid === null ? '' : ` (${String(tgid).padStart(5)})`;
  return `${task}${tg} [${String(cpu).padStart(3, '0')}] ...1 ${ts.padStart(13)}: ${event}: ${fields}`;
}

const ALLOCATOR = 'allocator@4.0-s';

function capture(tgidColumn: boolean): string {
  const g = (n: number) => (tgidColumn ? n : null);
  return (
    HEADER +
    [
      line('surfaceflinger', 612, g(612), 3, '1234.500000', 'sched_switch', 'prev_comm=surfaceflinger prev_pid=612 prev_prio=98 prev_state=S ==> next_comm=swapper/3 next_pid=0 next_prio=120'),
      line(ALLOCATOR, 700, g(700), 1, '1234.567890', 'dma_heap_stat', 'inode=123 len=4096B total_allocated=8192B'),
      line('RenderThread', 801, g(800), 2, '1234.600000', 'dma_heap_stat', 'inode=124 len=8192B total_allocated=16384B'),
      line('RenderThread', 801, g(800), 2, '1234.610000', 'dmabuf_rss_stat', 'rss=16384 delta=8192 i_ino=124'),
      line('Binder:612_2', 615, g(612), 0, '1234.700000', 'ion_heap_grow', 'heap_name=system, len=4096, total_allocated=0'),
      line('Binder:612_2', 615, g(612), 0, '1234.700100', 'ion_heap_shrink', 'heap_name=system, len=4096, total_allocated=4096'),
      line('<...>', 802, tgidColumn ? '-----' : null, 2, '1234.800000', 'binder_transaction', 'transaction=77 dest_node=1 dest_proc=700 dest_thread=0 reply=0 flags=0x10 code=0x1'),
      line('HwBinder:700_1', 701, g(700), 1, '1234.800100', 'binder_transaction_received', 'transaction=77'),
      line('RenderThread', 801, g(800), 2, '1235.000000', 'dma_heap_stat', 'inode=123 len=-4096B total_allocated=12288B'),
      line('kworker/u16:2', 99, g(99), 5, '1235.100000', 'gpu_mem_total', 'gpu_id=0 pid=800 size=65536'),
    ].join('\n') +
    '\n'
  );
}

test('a text ftrace capture is detected by content and its events land in the trace tables', async () => {
  const s = await open({ name: 'capture.txt', bytes: new TextEncoder().encode(capture(true)) });
  try {
    assert.deepEqual(s.query('SELECT importer FROM source'), [{ importer: 'systrace_text' }]);
    assert.deepEqual(s.query('SELECT kind FROM snapshot'), [{ kind: 'trace' }]);
    assert.deepEqual(s.query('SELECT ts, inode, size_delta, heap_total, tid, pid FROM dma_heap_event ORDER BY ts'), [
      { ts: 1234567890000, inode: 123, size_delta: 4096, heap_total: 8192, tid: 700, pid: 700 },
      { ts: 1234600000000, inode: 124, size_delta: 8192, heap_total: 16384, tid: 801, pid: 800 },
      { ts: 1235000000000, inode: 123, size_delta: -4096, heap_total: 12288, tid: 801, pid: 800 },
    ]);
    assert.deepEqual(s.query('SELECT ts, pid, rss_bytes, rss_delta, inode, origin FROM dmabuf_rss_sample'), [
      { ts: 1234610000000, pid: 800, rss_bytes: 16384, rss_delta: 8192, inode: 124, origin: 'dmabuf_rss_stat' },
    ]);
    assert.deepEqual(s.query('SELECT origin, heap_name, size_delta, heap_total, reported_total, pid FROM ion_heap_event ORDER BY ts'), [
      { origin: 'ion_heap_grow', heap_name: 'system', size_delta: 4096, heap_total: 4096, reported_total: 0, pid: 612 },
      { origin: 'ion_heap_shrink', heap_name: 'system', size_delta: -4096, heap_total: 0, reported_total: 4096, pid: 612 },
    ]);
    assert.deepEqual(s.query('SELECT tid, kind, debug_id, reply, flags, to_proc FROM binder_event ORDER BY ts'), [
      { tid: 802, kind: 'transaction', debug_id: 77, reply: 0, flags: 16, to_proc: 700 },
      { tid: 701, kind: 'received', debug_id: 77, reply: null, flags: null, to_proc: null },
    ]);
    assert.deepEqual(s.query('SELECT pid, size_bytes, origin FROM gpu_mem_total_sample'), [{ pid: 800, size_bytes: 65536, origin: 'gpu_mem_total' }]);
    assert.deepEqual(s.query('SELECT tid, pid, name FROM thread WHERE tid IN (700, 801, 802) ORDER BY tid'), [
      { tid: 700, pid: 700, name: ALLOCATOR },
      { tid: 801, pid: 800, name: 'RenderThread' },
      { tid: 802, pid: null, name: null },
    ]);
    assert.deepEqual(s.query('SELECT pid, name FROM process WHERE pid IN (700, 800) ORDER BY pid'), [
      { pid: 700, name: ALLOCATOR },
      { pid: 800, name: null },
    ]);
    assert.deepEqual(s.query('SELECT format, start_ts, end_ts, ftrace_events FROM trace_info'), [
      { format: 'systrace_text', start_ts: 1234500000000, end_ts: 1235100000000, ftrace_events: 10 },
    ]);
    // The free is charged to the allocation's thread, as Perfetto does.
    assert.deepEqual(s.query('SELECT ts, buf_size, tid FROM android_dmabuf_allocs WHERE inode = 123 ORDER BY ts'), [
      { ts: 1234567890000, buf_size: 4096, tid: 700 },
      { ts: 1235000000000, buf_size: -4096, tid: 700 },
    ]);
    assert.deepEqual(s.query('SELECT code FROM diagnostic'), []);
  } finally {
    s.close();
  }
});

test('analyze on a text capture shows the trace summary, counted in words that agree with the counts, and the unfreed allocation', () => {
  const file = path.join(tempDir(), 'trace.txt');
  fs.writeFileSync(file, capture(true));
  const r = cli(['analyze', file, '-q']);
  assert.equal(r.code, 0, r.err);
  assert.ok(r.out.includes('during the trace  2 allocations (12.0 KiB), 1 free (4.0 KiB), 8.0 KiB still allocated at the end'), r.out);
  assert.match(r.out, /unfreed_in_trace +\? \(800\) +8\.0 KiB +1 buffer \(inode 124, 8192 bytes\)/);
});

test('a compressed atrace dump (`atrace -z`: its console text, `TRACE:`, then zlib; also through a pty, LF as CR LF) is inflated and read; cut short, its whole lines are kept', async () => {
  const text = capture(true);
  const plain = await open({ name: 'plain.txt', bytes: new TextEncoder().encode(text) });
  const rows = (s: typeof plain) => s.query('SELECT ts, inode, size_delta, heap_total, tid, pid FROM dma_heap_event ORDER BY ts');
  const want = rows(plain);
  assert.equal(want.length, 3);
  plain.close();
  const deflated = zlib.deflateSync(Buffer.from(text));
  // Saved through `adb shell` (a pty), every LF became CR LF, in the zlib stream too.
  const crlf = (b: Buffer) => Buffer.from(b.toString('latin1').replace(/\n/g, '\r\n'), 'latin1');
  assert.ok(deflated.includes(0x0a) && crlf(deflated).length > deflated.length);
  for (const [eol, body] of [
    ['\n', deflated],
    ['\r\n', crlf(deflated)],
  ] as const) {
    const dump = Buffer.concat([Buffer.from(`capturing trace... done${eol}TRACE:${eol}`), body]);
    // As a file, and as named bytes.
    const file = path.join(tempDir(), 'atrace.txt');
    fs.writeFileSync(file, dump);
    for (const input of [file, { name: 'atrace.txt', bytes: dump }]) {
      const s = await open(input);
      try {
        assert.deepEqual(s.query('SELECT importer FROM source'), [{ importer: 'systrace_text' }]);
        assert.deepEqual(rows(s), want);
        assert.deepEqual(s.query("SELECT code FROM diagnostic WHERE severity <> 'info'"), []);
      } finally {
        s.close();
      }
    }
  }
  // The zlib stream ends early, after a line end or inside a line (`total_allocated=163` of
  // `…=16384B`): the whole lines before the cut are read, and the cut is reported.
  const lineEnd = text.indexOf('\n', text.indexOf('inode=124')) + 1;
  for (const [cutAt, read] of [
    [lineEnd, 2],
    [text.indexOf('16384B', lineEnd - 40) + 3, 1],
  ] as const) {
    const partial = zlib.deflateSync(Buffer.from(text.slice(0, cutAt)), { finishFlush: zlib.constants.Z_SYNC_FLUSH });
    const s = await open({ name: 'cut.txt', bytes: Buffer.concat([Buffer.from('TRACE:\n'), partial]) });
    try {
      assert.deepEqual(rows(s), want.slice(0, read), `cut at ${cutAt}`);
      assert.deepEqual(s.query("SELECT code, message FROM diagnostic WHERE code = 'truncated'"), [
        { code: 'truncated', message: 'the zlib stream ends early (the file was cut): every whole line before the cut was read' },
      ]);
    } finally {
      s.close();
    }
  }
});

test('a terminal\'s CR LF is undone wherever the chunks split it; a CR not before an LF stays', async () => {
  const bytes = Buffer.from('a\r\nb\r\r\nc\rd\n\r\n\r', 'latin1');
  const want = 'a\nb\r\nc\rd\n\n\r';
  for (let i = 0; i <= bytes.length; i++) {
    for (let j = i; j <= bytes.length; j++) {
      const out: Buffer[] = [];
      async function* chunks(): AsyncIterable<Buffer> {
        yield* [bytes.subarray(0, i), bytes.subarray(i, j), bytes.subarray(j)];
      }
      for await (const c of lfOnly(chunks())) out.push(c);
      assert.equal(Buffer.concat(out).toString('latin1'), want, `split at ${i}, ${j}`);
    }
  }
});

test('without the TGID column threads have no process; times with 9 decimals are exact', async () => {
  const text = capture(false).replace('1234.567890:', '1234.567890123:');
  const s = await open({ name: 'trace', bytes: new TextEncoder().encode(text) });
  assert.deepEqual(s.query('SELECT ts, tid, pid FROM dma_heap_event ORDER BY ts'), [
    { ts: 1234567890123, tid: 700, pid: null },
    { ts: 1234600000000, tid: 801, pid: null },
    { ts: 1235000000000, tid: 801, pid: null },
  ]);
  s.close();
});

test('chunk boundaries do not matter (7-byte chunks, CRLF line ends, multi-byte characters)', async () => {
  const text = capture(true).replace(/\n/g, '\r\n').replaceAll('RenderThread-801', 'RenderÞread-801');
  const bytes = new TextEncoder().encode(text);
  const dump = async (size: number) => {
    const db = await importChunked(systraceText, bytes, size, 'capture.txt');
    const out = ['dma_heap_event', 'dmabuf_rss_sample', 'ion_heap_event', 'binder_event', 'thread', 'process', 'trace_info', 'diagnostic'].map((t) =>
      db.query(`SELECT * FROM ${t} ORDER BY rowid`),
    );
    db.close();
    return out;
  };
  const whole = await dump(bytes.length);
  assert.equal((whole[0] as unknown[]).length, 3);
  assert.ok((whole[4] as { name: string }[]).some((t) => t.name === 'RenderÞread'));
  assert.deepEqual(await dump(7), whole);
  assert.deepEqual(await dump(1), whole);
});

test('lines with missing or unreadable fields are diagnostics with their line number', async () => {
  const text = HEADER + line('app', 10, 10, 0, '1.000000', 'dma_heap_stat', 'inode=5 len=B total_allocated=0B') + '\n' + line('app', 10, 10, 0, '2.000000', 'dma_heap_stat', 'inode=6 len=4096B total_allocated=4096B') + '\n';
  const s = await open({ name: 'capture.txt', bytes: new TextEncoder().encode(text) });
  assert.deepEqual(s.query('SELECT inode FROM dma_heap_event'), [{ inode: 6 }]);
  assert.deepEqual(s.query('SELECT severity, code, line FROM diagnostic'), [{ severity: 'warning', code: 'malformed_event', line: HEADER.split('\n').length }]);
  s.close();
});

test('an event line of ours whose task, CPU or time cannot be read is a diagnostic, not dropped silently; other lines are not', async () => {
  const lines = capture(true).split('\n');
  const at = lines.findIndex((l) => l.includes('inode=124'));
  lines[at] = lines[at].replace('[002]', '[0x2]'); // a CPU column garbled
  lines.splice(at, 0, 'capturing trace... done', 'TRACE:', '  some tool: note: dma_heap_stat events follow');
  const s = await open({ name: 'capture.txt', bytes: new TextEncoder().encode(lines.join('\n')) });
  try {
    assert.deepEqual(s.query('SELECT inode FROM dma_heap_event ORDER BY ts'), [{ inode: 123 }, { inode: 123 }]);
    const d = s.query('SELECT severity, code, line, message FROM diagnostic') as { severity: string; code: string; line: number; message: string }[];
    assert.deepEqual(d.map((r) => [r.severity, r.code, r.line]), [['warning', 'malformed_event', at + 4]]);
    assert.match(d[0].message, /^dma_heap_stat line without a readable task, CPU or time: RenderThread-801/);
  } finally {
    s.close();
  }
});

test('random mutations of a capture never throw out of the importer, and only the capture is blamed', async () => {
  // Every code the importer records for text in memory (read_failed needs a failing byte
  // source; it would mean an exception escaped the line reader).
  const codes = ['malformed_event', 'trace_lost_events', 'no_dmabuf_events', 'truncated'];
  const base = capture(true) + capture(false).replace(HEADER, '');
  // Characters that build and break the fields the importer reads, and bytes that are not UTF-8.
  const alphabet = ['0', '9', '-', '=', ' ', 'B', 'x', 'f', ':', '[', ']', '(', ')', '.', ',', '\n', '#', '\u00de', '99999999999999999999', '0x', '-9'];
  const rand = rng(2024);
  const pick = <T,>(xs: T[]) => xs[Math.floor(rand() * xs.length)];
  let stored = 0;
  const seen = new Set<string>();
  for (let i = 0; i < 150; i++) {
    let text = base;
    for (let k = 0; k < 1 + Math.floor(rand() * 6); k++) {
      const at = Math.floor(rand() * text.length);
      const cut = Math.floor(rand() * 4);
      text = text.slice(0, at) + pick(alphabet) + text.slice(at + cut);
    }
    const bytes = new TextEncoder().encode(text);
    if (i % 10 === 0) bytes[Math.floor(rand() * bytes.length)] = 0xff;
    const db = await importChunked(systraceText, bytes, 1 + Math.floor(rand() * 200), 'capture.txt');
    assert.equal(db.query('SELECT count(*) AS n FROM trace_info')[0].n, 1, 'the import finished');
    stored += Number(db.query('SELECT count(*) AS n FROM dma_heap_event')[0].n);
    assertInputDiagnostics(db, codes, `mutation ${i}`, seen);
    db.close();
  }
  // Most lines survive a few mutations, and some events were broken enough to be reported.
  assert.ok(stored > 150 * 3, `${stored} dma_heap_stat events kept`);
  assert.ok(seen.has('malformed_event'), [...seen].join(' '));
});

test('sniffing: ftrace text yes; bugreports, dmabuf_dump output, kernel logs and binary traces no', () => {
  const enc = (t: string) => new TextEncoder().encode(t);
  assert.equal(systraceText.sniffBytes(enc(capture(true)), 'x'), true);
  assert.equal(systraceText.sniffBytes(enc(capture(false).replace(HEADER, '')), 'x'), true, 'event lines without a header');
  assert.equal(systraceText.sniffBytes(enc('TRACE:\n' + capture(true)), 'x'), true, 'atrace output');
  assert.equal(looksLikeFtraceText('<html><head><title>Android System Trace</title></head>\n' + capture(true).replace(HEADER, '')), true, 'systrace html');
  const viewer = '<!DOCTYPE HTML>\n<html>\n<head>\n<meta charset="utf-8"/>\n<title>Android System Trace</title>\n<script>\n' + 'var x = 1;\n'.repeat(10_000);
  assert.equal(systraceText.sniffBytes(enc(viewer), 'x'), true, 'systrace html, its trace viewer first');
  assert.equal(systraceText.sniffBytes(enc('<!DOCTYPE html>\n<html><head><title>Release notes</title></head>\n'), 'x'), false, 'other html');
  assert.equal(systraceText.sniffBytes(enc('{"traceEvents":[{"name":"a","ph":"X","ts":1}'), 'x'), true, 'json trace');
  assert.equal(systraceText.sniffBytes(enc('{"version": 1, "entries": []}'), 'x'), false, 'other json');
  assert.equal(systraceText.sniffBytes(enc('========================================================\n== dumpstate: 2024-01-01 10:00:00\n'), 'x'), false);
  assert.equal(
    systraceText.sniffBytes(enc('         surfaceflinger:612  \n                  Name              Rss              Pss         nr_procs            Inode\n'), 'x'),
    false,
  );
  assert.equal(systraceText.sniffBytes(enc('[    1.234567] dma_heap: system heap registered\n[    2.000000] init: starting service\n'), 'x'), false);
  assert.equal(systraceText.sniffBytes(new Uint8Array([0x0a, 0x02, 0x40, 0x01]), 'x'), false);
});

/** A systrace HTML file as catapult's systrace.py writes it: the trace viewer, then one trace-data block per agent. */
function systraceHtml(blocks: string[], eol = '\n'): string {
  // The trace viewer: megabytes of HTML and script before the data, some lines longer than a
  // text line is read, some that look like event lines.
  const viewer = [
    '<!DOCTYPE HTML>',
    '<html>',
    '<head i18n-values="dir:textdirection;">',
    '<meta charset="utf-8"/>',
    '<title>Android System Trace</title>',
    '<script>',
    ...Array.from({ length: 3000 }, (_, i) => `  var s${i} = tr.b.f("${i}"); // [${i}] thing-${i}`),
    `  var font = "${'A'.repeat(100_000)}";`,
    '  // app-10 (10) [000] ...1 1.000000: dma_heap_stat: inode=666 len=4096B total_allocated=4096B',
    '</script>',
    '</head>',
    '<body>',
    '<!-- BEGIN TRACE -->',
  ];
  const data = blocks.flatMap((b) => ['  <script class="trace-data" type="application/text">', b.replace(/\n$/, ''), '  </script>']);
  return [...viewer, ...data, '<!-- END TRACE -->', '</body>', '</html>', ''].join('\n').replace(/\n/g, eol);
}

/** catapult's android_process_data agent: `ps -A -o USER,PID,PPID,VSIZE,RSS,WCHAN,ADDR=PC,S,NAME,COMM && ps -AT -o USER,PID,TID,CMD`. */
const PROCESS_DUMP = `PROCESS DUMP
USER           PID  PPID     VSZ    RSS WCHAN            ADDR S NAME                       COMMAND
root             1     0 10782796 11096 do_epoll_wait       0 S init                       init
system         700     1 10943308  9844 binder_ioctl        0 S /vendor/bin/hw/android.hardware.graphics.allocator@4.0-service allocator@4.0-s
u0_a123        800   650 15366604 142112 do_epoll_wait      0 S com.example.app            example.app
USER           PID   TID CMD
system         700   700 allocator@4.0-s
system         700   703 HwBinder:700_3
u0_a123        800   801 RenderThread
u0_a123        800   802 binder worker 2
`;

test('a systrace HTML file is detected after its trace viewer and read block by block: the ftrace text, the process dump, JSON; the viewer is not read', async () => {
  const ftrace = capture(true)
    // atrace could not give this thread's TGID: the process dump does.
    .replace(/(HwBinder:700_1-701\s+)\(\s*700\)/, 'HwBinder:700_3-703 (-----)');
  const json = JSON.stringify({
    traceEvents: [{ name: 'app-1 (1) [000] .... 1.0: dma_heap_stat: inode=667 len=1B', ph: 'X', ts: 1, pid: 1, tid: 1 }],
    systemTraceEvents: `${HEADER}${line('binder worker 2', 802, 800, 2, '1236.000000', 'dma_heap_stat', 'inode=130 len=12288B total_allocated=24576B')}\n`,
  });
  for (const eol of ['\n', '\r\n']) {
    const html = systraceHtml([ftrace, PROCESS_DUMP, json], eol);
    assert.ok(html.indexOf('# tracer') > 64 * 1024, 'the trace data starts past what is sniffed');
    const s = await open({ name: 'trace.html', bytes: new TextEncoder().encode(html) });
    try {
      assert.deepEqual(s.query('SELECT importer FROM source'), [{ importer: 'systrace_text' }]);
      assert.deepEqual(s.query('SELECT ts, inode, size_delta, tid, pid FROM dma_heap_event ORDER BY ts'), [
        { ts: 1234567890000, inode: 123, size_delta: 4096, tid: 700, pid: 700 },
        { ts: 1234600000000, inode: 124, size_delta: 8192, tid: 801, pid: 800 },
        { ts: 1235000000000, inode: 123, size_delta: -4096, tid: 801, pid: 800 },
        { ts: 1236000000000, inode: 130, size_delta: 12288, tid: 802, pid: 800 },
      ]);
      // The process dump names the processes (the allocator by its path, as the gralloc rule
      // wants it) and gives the thread whose line had no TGID its process.
      assert.deepEqual(s.query('SELECT pid, name, ppid FROM process WHERE pid IN (700, 800) ORDER BY pid'), [
        { pid: 700, name: '/vendor/bin/hw/android.hardware.graphics.allocator@4.0-service', ppid: 1 },
        { pid: 800, name: 'com.example.app', ppid: 650 },
      ]);
      assert.deepEqual(s.query('SELECT tid, pid, name FROM thread WHERE tid IN (703, 802) ORDER BY tid'), [
        { tid: 703, pid: 700, name: 'HwBinder:700_3' },
        { tid: 802, pid: 800, name: 'binder worker 2' },
      ]);
      assert.deepEqual(s.query('SELECT tid, kind, debug_id FROM binder_event ORDER BY ts'), [
        { tid: 802, kind: 'transaction', debug_id: 77 },
        { tid: 703, kind: 'received', debug_id: 77 },
      ]);
      assert.deepEqual(s.query('SELECT code FROM diagnostic'), []);
    } finally {
      s.close();
    }
  }
});

test('a JSON trace (traceconv json, the legacy UI\'s) carries the ftrace text in systemTraceEvents and a process dump in androidProcessDump, read whatever the chunks', async () => {
  // traceconv writes `<unknown>` for a thread it has no name for, and its thread table gives
  // upids, not pids: the TGID column of an event line wins over it.
  const dump = 'PROCESS DUMP\nUSER           PID  PPID     VSZ    RSS WCHAN  PC S NAME                        COMM                       \n' +
    'root             700     0   00000   000 null 0000000000 S /vendor/bin/hw/android.hardware.graphics.allocator@4.0-service         null\n' +
    'USER           PID   TID CMD \nroot         3 701 HwBinder:700_1\n';
  const ftrace = capture(true).replace('   HwBinder:700_1-701', '        <unknown>-701');
  const json = `{"traceEvents":[{"name":"x\\"y\\\\z \\u00e9 [001]","ph":"X","ts":1,"pid":1,"tid":1,"args":{"a":[1,{"b":"}"}]}}],\n` +
    `"metadata":{"systemTraceEvents":"not at the top"},\n"androidProcessDump": ${JSON.stringify(dump)},\n  "systemTraceEvents": ${JSON.stringify(ftrace)}}\n`;
  const bytes = new TextEncoder().encode(json);
  assert.equal(systraceText.sniffBytes(bytes, 'x'), true);
  const dumpDb = async (size: number) => {
    const db = await importChunked(systraceText, bytes, size, 'trace.json');
    const out = ['dma_heap_event', 'binder_event', 'thread', 'process', 'diagnostic'].map((t) => db.query(`SELECT * FROM ${t} ORDER BY rowid`));
    const rows = {
      heap: db.query('SELECT ts, inode, size_delta, tid, pid FROM dma_heap_event ORDER BY ts'),
      thread: db.query('SELECT tid, pid, name FROM thread WHERE tid = 701'),
      process: db.query('SELECT name FROM process WHERE pid = 700'),
      diagnostics: db.query('SELECT code FROM diagnostic'),
    };
    db.close();
    return { out, rows };
  };
  const whole = await dumpDb(bytes.length);
  assert.equal(whole.rows.heap.length, 3);
  assert.deepEqual(whole.rows.thread, [{ tid: 701, pid: 700, name: 'HwBinder:700_1' }], 'named by the dump, not `<unknown>`; in the process of its TGID column');
  assert.deepEqual(whole.rows.process, [{ name: '/vendor/bin/hw/android.hardware.graphics.allocator@4.0-service' }]);
  assert.deepEqual(whole.rows.diagnostics, []);
  assert.deepEqual((await dumpDb(7)).out, whole.out);
  assert.deepEqual((await dumpDb(1)).out, whole.out);
  // Cut inside the ftrace text: the whole lines before are read, and the cut is reported.
  const cut = json.slice(0, json.indexOf('inode=124'));
  const db = await importChunked(systraceText, new TextEncoder().encode(cut), 1000, 'trace.json');
  assert.deepEqual(db.query('SELECT inode FROM dma_heap_event'), [{ inode: 123 }]);
  assert.deepEqual(db.query('SELECT severity, code FROM diagnostic'), [{ severity: 'warning', code: 'truncated' }]);
  db.close();
});

test('lines reporting a ring buffer overrun (LOST EVENTS, buffer started, fewer entries kept than written) are counted and reported', async () => {
  const text =
    HEADER.replace('9/9', '9/1200') +
    '##### CPU 3 buffer started ####\n' +
    line(ALLOCATOR, 700, 700, 3, '1234.567890', 'dma_heap_stat', 'inode=123 len=4096B total_allocated=8192B') +
    '\nCPU:1 [LOST 120 EVENTS]\n' +
    line(ALLOCATOR, 700, 700, 1, '1234.600000', 'dma_heap_stat', 'inode=124 len=4096B total_allocated=12288B') +
    '\n';
  const s = await open({ name: 'trace_pipe.txt', bytes: new TextEncoder().encode(text) });
  try {
    assert.deepEqual(s.query('SELECT inode FROM dma_heap_event ORDER BY ts'), [{ inode: 123 }, { inode: 124 }]);
    assert.deepEqual(s.query('SELECT lost_event_bundles FROM trace_info'), [{ lost_event_bundles: 3 }]);
    const d = s.query('SELECT severity, code, message FROM diagnostic') as { severity: string; code: string; message: string }[];
    assert.deepEqual(d.map((r) => [r.severity, r.code]), [['warning', 'trace_lost_events']]);
    assert.match(d[0].message, /^3 lines of the capture report lost events/);
  } finally {
    s.close();
  }
  // A capture that kept every entry written reports nothing.
  const kept = await open({ name: 'trace.txt', bytes: new TextEncoder().encode(capture(true)) });
  assert.deepEqual(kept.query('SELECT lost_event_bundles FROM trace_info'), [{ lost_event_bundles: 0 }]);
  kept.close();
});

test('a file cut inside its last line does not store what that line holds; CR CR LF line ends (adb on Windows) are read', async () => {
  const text = capture(true).replace(/\n/g, '\r\r\n');
  const cutAt = text.indexOf('-4096B') + 3; // `len=-40`
  const s = await open({ name: 'cut.txt', bytes: new TextEncoder().encode(text.slice(0, cutAt)) });
  try {
    assert.deepEqual(s.query('SELECT inode, size_delta, heap_total FROM dma_heap_event ORDER BY ts'), [
      { inode: 123, size_delta: 4096, heap_total: 8192 },
      { inode: 124, size_delta: 8192, heap_total: 16384 },
    ]);
    assert.deepEqual(s.query('SELECT severity, code, line FROM diagnostic'), [{ severity: 'warning', code: 'truncated', line: HEADER.split('\n').length + 8 }]);
  } finally {
    s.close();
  }
});
