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
import { importChunked, rng, assertInputDiagnostics, tempDir } from './helpers.js';

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

test('random mutations of a capture never throw out of the importer, and only the capture is blamed', async () => {
  // Every code the importer records for text in memory (read_failed needs a failing byte
  // source; it would mean an exception escaped the line reader).
  const codes = ['malformed_event', 'trace_lost_events', 'no_dmabuf_events'];
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
  assert.equal(systraceText.sniffBytes(enc('========================================================\n== dumpstate: 2024-01-01 10:00:00\n'), 'x'), false);
  assert.equal(
    systraceText.sniffBytes(enc('         surfaceflinger:612  \n                  Name              Rss              Pss         nr_procs            Inode\n'), 'x'),
    false,
  );
  assert.equal(systraceText.sniffBytes(enc('[    1.234567] dma_heap: system heap registered\n[    2.000000] init: starting service\n'), 'x'), false);
  assert.equal(systraceText.sniffBytes(new Uint8Array([0x0a, 0x02, 0x40, 0x01]), 'x'), false);
});
