// The `perfetto` importer: traces are built with protobufjs from our trimmed schema
// (proto/perfetto_trimmed.proto); hand-written bytes appear only to corrupt a trace.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { decompress as zstdDecompress } from 'fzstd';
import protobuf from 'protobufjs';
import { open, InputError, type Session } from '../src/index.js';
import { Db } from '../src/db/database.js';
import { SourceContext } from '../src/importers/context.js';
import { perfetto, looksLikePerfettoTrace } from '../src/importers/perfetto/index.js';
import { perfettoTypes } from '../src/importers/perfetto/proto.js';
import { TraceWorker, TRACE_WORKER_BYTES } from '../src/importers/perfetto/remote.js';
import { bundleWalker } from '../src/importers/perfetto/decoder.js';
import { decodeTrace } from '../src/importers/perfetto/stream.js';
import { writeSyntheticTrace } from '../bench/trace.js';
import { smallScenario } from './fixtures/scenario.js';
import { pidReuseTrace, scenarioTrace } from './fixtures/trace.js';
import { sharedDir, tempDir, diagnostics, rng, importChunked, cli, assertInputDiagnostics } from './helpers.js';

// ---- building traces --------------------------------------------------------------------

type Packet = Record<string, unknown>;

/** One serialized `Trace.packet` field per packet (their concatenation is a trace). */
function packetBytes(p: Packet): Uint8Array {
  const T = perfettoTypes();
  return T.Trace.encode(T.Trace.fromObject({ packet: [p] })).finish();
}

function trace(packets: Packet[]): Uint8Array {
  return concat(packets.map(packetBytes));
}

function concat(parts: Uint8Array[]): Uint8Array {
  return new Uint8Array(Buffer.concat(parts.map((p) => Buffer.from(p.buffer, p.byteOffset, p.byteLength))));
}

function ftrace(cpu: number, events: Packet[]): Packet {
  return { ftraceEvents: { cpu, event: events } };
}

function dma(ts: number, pid: number, inode: number, len: number, total: number): Packet {
  return { timestamp: ts, pid, dmaHeapStat: { inode, len, totalAllocated: total } };
}

function sched(ts: number, pid: number): Packet {
  return { timestamp: ts, pid, schedSwitch: { prevComm: 'a', prevPid: pid, prevPrio: 120, prevState: 1, nextComm: 'b', nextPid: pid + 1, nextPrio: 120 } };
}

/**
 * A zstd frame (RFC 8878) holding `data` in raw (stored) blocks: enough to exercise the
 * `zstd_compressed_packets` path without a zstd compressor.
 */
function zstdRawFrame(data: Uint8Array): Uint8Array {
  const parts: number[] = [0x28, 0xb5, 0x2f, 0xfd];
  // Frame header descriptor: 4-byte content size, single segment, no checksum, no dictionary.
  parts.push(0xa0, data.length & 0xff, (data.length >>> 8) & 0xff, (data.length >>> 16) & 0xff, (data.length >>> 24) & 0xff);
  const out: Uint8Array[] = [new Uint8Array(parts)];
  const MAX = 128 * 1024;
  for (let off = 0; off < data.length || off === 0; off += MAX) {
    const block = data.subarray(off, Math.min(off + MAX, data.length));
    const last = off + MAX >= data.length ? 1 : 0;
    const header = (block.length << 3) | (0 << 1) | last; // Raw_Block
    out.push(new Uint8Array([header & 0xff, (header >>> 8) & 0xff, (header >>> 16) & 0xff]), block);
    if (data.length === 0) break;
  }
  return concat(out);
}

/** Rows of every trace table and of thread/process, in a stable order, as JSON. */
function tables(s: { query(sql: string): Record<string, unknown>[] }): Record<string, unknown[]> {
  const out: Record<string, unknown[]> = {};
  for (const t of ['dma_heap_event', 'dmabuf_rss_sample', 'ion_heap_event', 'gpu_mem_total_sample', 'trace_meminfo_sample', 'binder_event', 'thread', 'process', 'process_instance', 'trace_info']) {
    const order = t === 'thread' ? 'tid' : t === 'process' ? 'pid' : t === 'trace_info' || t === 'process_instance' ? 'rowid' : 'ts, rowid';
    // The rowid too: rows are written in trace order, whatever the chunks or the path.
    out[t] = s.query(`SELECT rowid AS row_id, * FROM ${t} ORDER BY ${order}`);
  }
  out.diagnostic = s.query('SELECT severity, code, message FROM diagnostic ORDER BY id');
  return out;
}

/** Rows of the tables a trace fills, by table, in a stable order: the columns the tests state. */
const STORED: Record<string, string> = {
  dma_heap_event: 'SELECT ts, inode, size_delta, heap_total, tid, pid FROM dma_heap_event ORDER BY ts',
  dmabuf_rss_sample: 'SELECT ts, pid, tid, rss_bytes, rss_delta, inode, origin FROM dmabuf_rss_sample ORDER BY ts',
  ion_heap_event: 'SELECT ts, origin, heap_name, buffer_id, size_delta, heap_total, reported_total, tid, pid FROM ion_heap_event ORDER BY ts',
  gpu_mem_total_sample: 'SELECT ts, gpu_id, pid, size_bytes, origin FROM gpu_mem_total_sample ORDER BY ts',
  trace_meminfo_sample: 'SELECT ts, counter, value_bytes FROM trace_meminfo_sample ORDER BY counter',
  binder_event: 'SELECT ts, tid, kind, debug_id, reply, flags, to_proc, to_thread FROM binder_event ORDER BY ts',
  process: 'SELECT pid, name, cmdline, ppid, uid FROM process ORDER BY pid',
  thread: 'SELECT tid, pid, name FROM thread ORDER BY tid',
};

function storedRows(s: { query(sql: string): Record<string, unknown>[] }): Record<string, unknown[]> {
  return Object.fromEntries(Object.entries(STORED).map(([t, sql]) => [t, s.query(sql)]));
}

async function load(bytes: Uint8Array, name = 'capture.dat'): Promise<Session> {
  return open({ name, bytes });
}

// A trace using most of what the importer reads: late process tree, compressed packets, a
// packet larger than the small chunk sizes, every stored event kind.
function richTrace(): Uint8Array {
  const many: Packet[] = [];
  for (let i = 0; i < 300; i++) many.push(sched(10_000 + i, 101 + (i % 3)));
  many.push(dma(10_400, 101, 900, 8192, 1_008_192));
  const inner = trace([
    ftrace(2, [dma(20_000, 102, 901, 4096, 1_012_288), { timestamp: 20_001, pid: 102, dmabufRssStat: { rss: 12288, rssDelta: 4096, iIno: 901 } }]),
  ]);
  const zInner = trace([ftrace(3, [dma(30_000, 101, 900, -8192, 1_004_096)])]);
  return trace([
    ftrace(0, [dma(1_000, 101, 700, 4096, 1_004_096), sched(1_001, 555), dma(1_002, 555, 701, 65536, 1_069_632)]),
    ftrace(1, many),
    { compressedPackets: zlib.deflateSync(inner) },
    { zstdCompressedPackets: zstdRawFrame(zInner) },
    ftrace(0, [
      { timestamp: 40_000, pid: 101, ionHeapGrow: { heapName: 'system', len: 4096, totalAllocated: 8192 } },
      { timestamp: 40_001, pid: 101, ionHeapShrink: { heapName: 'system', len: 4096, totalAllocated: 12288 } },
      { timestamp: 40_002, pid: 102, ionStat: { bufferId: 5, len: 1000, totalAllocated: 3000 } },
      { timestamp: 40_003, pid: 102, gpuMemTotal: { gpuId: 0, pid: 100, size: 777 } },
      { timestamp: 40_004, pid: 101, binderTransaction: { debugId: 42, targetNode: 1, toProc: 200, toThread: 0, reply: 0, code: 3, flags: 16 } },
      { timestamp: 40_005, pid: 201, binderTransactionReceived: { debugId: 42 } },
    ]),
    { timestamp: 50_000, processStats: { processes: [{ pid: 100, dmabufRssKb: 12 }, { pid: 200 }] } },
    { timestamp: 50_001, sysStats: { meminfo: [{ key: 37, value: 100 }, { key: 38, value: 50 }, { key: 34, value: 20 }, { key: 1, value: 99999 }] } },
    { timestamp: 50_002, gpuMemTotalEvent: { gpuId: 0, pid: 0, size: 123456 } },
    // The process tree comes last: rows before it still get their process.
    {
      timestamp: 60_000,
      processTree: {
        processes: [
          { pid: 100, ppid: 1, uid: 10001, cmdline: ['com.example.app', '--flag'] },
          { pid: 200, ppid: 1, cmdline: ['/system/bin/surfaceflinger'] },
        ],
        threads: [
          { tid: 101, tgid: 100, name: 'RenderThread' },
          { tid: 102, tgid: 100, name: 'GLThread' },
          { tid: 201, tgid: 200, name: 'binder:200_1' },
        ],
      },
    },
  ]);
}

// ---- tests ------------------------------------------------------------------------------

test('a trace is detected by content under a neutral name and its events land in the tables', async () => {
  const s = await load(richTrace(), 'capture.dat');
  try {
    assert.deepEqual(s.query('SELECT importer FROM source'), [{ importer: 'perfetto' }]);
    assert.deepEqual(s.query('SELECT kind, label FROM snapshot'), [{ kind: 'trace', label: 'capture.dat' }]);
    assert.deepEqual(diagnostics(s), []);
    assert.deepEqual(storedRows(s), {
      dma_heap_event: [
        { ts: 1000, inode: 700, size_delta: 4096, heap_total: 1004096, tid: 101, pid: 100 },
        { ts: 1002, inode: 701, size_delta: 65536, heap_total: 1069632, tid: 555, pid: null },
        { ts: 10400, inode: 900, size_delta: 8192, heap_total: 1008192, tid: 101, pid: 100 },
        { ts: 20000, inode: 901, size_delta: 4096, heap_total: 1012288, tid: 102, pid: 100 },
        { ts: 30000, inode: 900, size_delta: -8192, heap_total: 1004096, tid: 101, pid: 100 },
      ],
      dmabuf_rss_sample: [
        { ts: 20001, pid: 100, rss_bytes: 12288, origin: 'dmabuf_rss_stat', tid: 102, rss_delta: 4096, inode: 901 },
        { ts: 50000, pid: 100, rss_bytes: 12 * 1024, origin: 'process_stats', tid: null, rss_delta: null, inode: null },
      ],
      ion_heap_event: [
        { ts: 40000, origin: 'ion_heap_grow', heap_name: 'system', buffer_id: null, size_delta: 4096, heap_total: 12288, reported_total: 8192, tid: 101, pid: 100 },
        { ts: 40001, origin: 'ion_heap_shrink', heap_name: 'system', buffer_id: null, size_delta: -4096, heap_total: 8192, reported_total: 12288, tid: 101, pid: 100 },
        { ts: 40002, origin: 'ion_stat', heap_name: null, buffer_id: 5, size_delta: 1000, heap_total: 3000, reported_total: 3000, tid: 102, pid: 100 },
      ],
      gpu_mem_total_sample: [
        { ts: 40003, gpu_id: 0, pid: 100, size_bytes: 777, origin: 'gpu_mem_total' },
        { ts: 50002, gpu_id: 0, pid: 0, size_bytes: 123456, origin: 'gpu_mem_total_event' },
      ],
      trace_meminfo_sample: [
        { ts: 50001, counter: 'GPU', value_bytes: 20 * 1024 },
        { ts: 50001, counter: 'ION_HEAP', value_bytes: 100 * 1024 },
        { ts: 50001, counter: 'ION_HEAP_POOL', value_bytes: 50 * 1024 },
      ],
      binder_event: [
        { ts: 40004, tid: 101, kind: 'transaction', debug_id: 42, reply: 0, flags: 16, to_proc: 200, to_thread: 0 },
        { ts: 40005, tid: 201, kind: 'received', debug_id: 42, reply: null, flags: null, to_proc: null, to_thread: null },
      ],
      process: [
        { pid: 100, name: 'com.example.app', cmdline: 'com.example.app --flag', ppid: 1, uid: 10001 },
        { pid: 200, name: '/system/bin/surfaceflinger', cmdline: '/system/bin/surfaceflinger', ppid: 1, uid: null },
      ],
      thread: [
        { tid: 101, pid: 100, name: 'RenderThread' },
        { tid: 102, pid: 100, name: 'GLThread' },
        { tid: 201, pid: 200, name: 'binder:200_1' },
        { tid: 555, pid: null, name: null },
      ],
    });
    const [info] = s.query('SELECT format, start_ts, end_ts, ftrace_events, compressed_packets, stored_events FROM trace_info');
    assert.deepEqual(info, { format: 'perfetto', start_ts: 1000, end_ts: 60000, ftrace_events: 3 + 301 + 2 + 1 + 6, compressed_packets: 2, stored_events: 5 + 2 + 3 + 2 + 3 + 2 });
  } finally {
    s.close();
  }
});

test('chunk boundaries do not matter: 1-, 7- and 4096-byte chunks give the same tables as one chunk', async () => {
  const bytes = richTrace();
  const whole = await importChunked(perfetto, bytes, bytes.length);
  const expected = tables(whole);
  whole.close();
  assert.ok((expected.dma_heap_event as unknown[]).length === 5);
  for (const size of [1, 7, 4096]) {
    const db = await importChunked(perfetto, bytes, size);
    assert.deepEqual(tables(db), expected, `chunks of ${size} bytes`);
    db.close();
  }
  // And the same as a real load through open().
  const s = await load(bytes);
  assert.deepEqual(tables(s), expected);
  s.close();
});

test('bundle fields: compact_sched is skipped, a bundle that lost events is counted and reported', async () => {
  const compactSched = { switchTimestamp: [5, 6, 7], switchNextPid: [1, 2, 3], internTable: ['a', 'b'], switchNextCommIndex: [0, 1, 0] };
  const bytes = trace([
    { ftraceEvents: { cpu: 0, compactSched, event: [dma(10, 7, 1, 4096, 4096)], lostEvents: false } },
    { ftraceEvents: { cpu: 1, event: [dma(11, 7, 2, 4096, 8192)], compactSched, lostEvents: true } },
    { ftraceEvents: { lostEvents: true, cpu: 300, event: [dma(12, 7, 1, -4096, 4096)] } },
  ]);
  const db = await importChunked(perfetto, bytes, bytes.length);
  try {
    assert.deepEqual(db.query('SELECT ts, inode, size_delta FROM dma_heap_event ORDER BY ts').map((r) => [r.ts, r.inode, r.size_delta]), [
      [10, 1, 4096],
      [11, 2, 4096],
      [12, 1, -4096],
    ]);
    assert.deepEqual(db.query('SELECT lost_event_bundles, ftrace_events FROM trace_info')[0], { lost_event_bundles: 2, ftrace_events: 3 });
    assert.match(diagnostics(db).find((d) => d.code === 'trace_lost_events')?.message ?? '', /^2 ftrace bundles report lost events/);
  } finally {
    db.close();
  }
});

test('FtraceEvent.pid is a thread: mapped to its process through the process tree, wherever the tree is', async () => {
  const tree = {
    processTree: {
      processes: [{ pid: 300, cmdline: ['com.example.camera'] }],
      threads: [{ tid: 301, tgid: 300, name: 'CameraThread' }],
    },
  };
  const events = ftrace(0, [dma(10, 301, 1, 4096, 4096), dma(11, 300, 2, 4096, 8192), dma(12, 999, 3, 4096, 12288)]);
  for (const order of [[tree, events], [events, tree]]) {
    const s = await load(trace(order));
    assert.deepEqual(s.query('SELECT tid, pid FROM dma_heap_event ORDER BY ts'), [
      { tid: 301, pid: 300 },
      { tid: 300, pid: 300 },
      { tid: 999, pid: null },
    ]);
    assert.deepEqual(s.query('SELECT tid, pid, process_name FROM android_dmabuf_allocs ORDER BY ts'), [
      { tid: 301, pid: 300, process_name: 'com.example.camera' },
      { tid: 300, pid: 300, process_name: 'com.example.camera' },
      { tid: 999, pid: null, process_name: null },
    ]);
    s.close();
  }
});

test('zlib- and zstd-compressed packets decode like plain ones', async () => {
  const inner = [ftrace(0, [dma(5, 10, 1, 4096, 4096), dma(6, 10, 1, -4096, 0)]), { processTree: { processes: [{ pid: 10, cmdline: ['p'] }] } }];
  const plain = await load(trace(inner));
  const want = tables(plain);
  plain.close();
  for (const wrapped of [{ compressedPackets: zlib.deflateSync(trace(inner)) }, { zstdCompressedPackets: zstdRawFrame(trace(inner)) }]) {
    const s = await load(trace([wrapped]));
    const got = tables(s);
    assert.equal((got.trace_info[0] as { compressed_packets: number }).compressed_packets, 1);
    for (const t of ['dma_heap_event', 'thread', 'process']) assert.deepEqual(got[t], want[t], t);
    assert.deepEqual(got.diagnostic, []);
    s.close();
  }
});

test('a real zstd-compressed frame decodes (fzstd)', async () => {
  // 64 allocations and frees: inode 3 + i/2, alternately +4096 and -4096 bytes.
  const events: Packet[] = [];
  for (let i = 0; i < 64; i++) events.push(dma(1000 + i, 20, 3 + (i >> 1), i % 2 ? -4096 : 4096, i % 2 ? 0 : 4096));
  const inner = trace([ftrace(0, events)]);
  // `zstd -19` of `inner` (compressed blocks and an XXH64 checksum), made once with the zstd tool.
  const frame = Buffer.from(
    'KLUv/WRoBA0HABQKCuUKCuIKCAASEAjoBxAU+hUICAMQgCAYgCASFwjpD+D/ARjqBOsE7AXtBe4G7wbwB/EH8gjzCPQJ9Qn2CvcK+Av5C/oM+wz8Df0N/g7/DoAID4EID4IQgxCEEYURhhKHEogTiROKFIsUjBWNFY4WjxaQF5EXkhiTGJQZlRmWGpcamBuZG5ocmxycHZ0dnh6fHqAfoR+iIKMgpCGlIaYipyKAgKgR4Fv/O+BZDhAQQrwAo9IDTgYGBQYFAwMDg4GBgcHAwMCgIMtVqOrWycDAwGBgZGCFrUtA6QIgWFdWAc0LgYc=',
    'base64',
  );
  assert.ok(frame.length < inner.length / 4, 'really compressed');
  assert.deepEqual(Buffer.from(zstdDecompress(frame)), Buffer.from(inner), 'the frame holds this trace');
  const s = await load(trace([{ zstdCompressedPackets: frame }]));
  assert.deepEqual(
    s.query('SELECT ts, inode, size_delta, tid FROM dma_heap_event ORDER BY ts'),
    events.map((e) => {
      const d = e.dmaHeapStat as { inode: number; len: number };
      return { ts: e.timestamp, inode: d.inode, size_delta: d.len, tid: 20 };
    }),
  );
  assert.deepEqual(diagnostics(s), []);
  s.close();
});

test('a gzip-wrapped trace file is read (the input layer gunzips)', async () => {
  const bytes = richTrace();
  const plain = await load(bytes);
  const want = tables(plain);
  plain.close();
  const s = await load(zlib.gzipSync(bytes), 'trace.perfetto-trace.gz');
  assert.equal(s.query('SELECT importer FROM source')[0].importer, 'perfetto');
  const got = tables(s);
  assert.deepEqual(got.dma_heap_event, want.dma_heap_event);
  assert.deepEqual(got.thread, want.thread);
  s.close();
});

test('a trace saved through a terminal (adb shell with a pty: every LF byte made CR LF) is read with that undone, and says so', async () => {
  const bytes = richTrace();
  const plain = await load(bytes);
  const want = tables(plain);
  plain.close();
  const crlf = Buffer.from(Buffer.from(bytes).toString('latin1').replace(/\n/g, '\r\n'), 'latin1');
  assert.ok(crlf.length > bytes.length && crlf[0] === 0x0d && !looksLikePerfettoTrace(crlf));
  const file = path.join(tempDir(), 'trace.pftrace');
  fs.writeFileSync(file, crlf);
  for (const input of [file, { name: 'trace.pftrace', bytes: crlf }]) {
    const s = await open(input);
    try {
      assert.equal(s.query('SELECT importer FROM source')[0].importer, 'perfetto');
      const { diagnostic, ...got } = tables(s);
      const { diagnostic: none, ...rest } = want;
      assert.deepEqual(got, rest);
      assert.deepEqual(none, []);
      assert.deepEqual(diagnostic, [
        {
          severity: 'warning',
          code: 'crlf_undone',
          message: 'the file was saved through a terminal that turned every LF byte into CR LF (adb shell with a pty): read with that undone; adb pull or adb exec-out save it as it is',
        },
      ]);
    } finally {
      s.close();
    }
  }
});

test('a trace cut in the middle of a packet keeps every complete packet and says so', async () => {
  const first = packetBytes(ftrace(0, [dma(1, 10, 1, 4096, 4096)]));
  const second = packetBytes(ftrace(0, [dma(2, 10, 2, 4096, 8192)]));
  const third = packetBytes(ftrace(0, [dma(3, 10, 3, 4096, 12288), dma(4, 10, 4, 4096, 16384)]));
  const whole = concat([first, second, third]);
  const s = await load(whole.subarray(0, first.length + second.length + Math.floor(third.length / 2)));
  assert.deepEqual(s.query('SELECT inode FROM dma_heap_event ORDER BY ts'), [{ inode: 1 }, { inode: 2 }]);
  assert.deepEqual(diagnostics(s).map((d) => `${d.severity} ${d.code}`), ['warning truncated']);
  s.close();
  // Cut inside the length varint of the packet header.
  const big = packetBytes(ftrace(0, Array.from({ length: 40 }, (_, i) => sched(10 + i, 5))));
  assert.ok(big[1] >= 0x80, 'a two-byte length');
  const s2 = await load(concat([first, big.subarray(0, 2)]));
  assert.deepEqual(s2.query('SELECT inode FROM dma_heap_event'), [{ inode: 1 }]);
  assert.deepEqual(diagnostics(s2).map((d) => `${d.severity} ${d.code}`), ['warning truncated']);
  s2.close();
});

test('an impossible length or wire type is a diagnostic, not an exception', async () => {
  const good = packetBytes(ftrace(0, [dma(1, 10, 1, 4096, 4096)]));
  const cases: [string, number[], string][] = [
    ['a 4 GiB packet length', [0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 1, 2, 3], 'corrupt_trace'],
    ['wire type 7 at the top level', [0x0f, 0x01, 0x02], 'corrupt_trace'],
    ['wire type 3 (group) at the top level', [0x0b, 0x01], 'corrupt_trace'],
    ['field number 0', [0x02, 0x01, 0x00], 'corrupt_trace'],
    ['a varint longer than 10 bytes', [0x0a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01], 'corrupt_trace'],
  ];
  const earlier = packetBytes(ftrace(1, [sched(0, 3)]));
  for (const [what, tail, code] of cases) {
    const s = await load(concat([earlier, good, new Uint8Array(tail), good]));
    assert.deepEqual(s.query('SELECT inode FROM dma_heap_event'), [{ inode: 1 }], what);
    const d = diagnostics(s);
    assert.ok(d.some((x) => x.code === code && x.severity === 'error'), `${what}: ${JSON.stringify(d)}`);
    s.close();
  }
  // Corruption inside a packet: that packet is skipped, the others kept.
  const badInside = new Uint8Array([0x0a, 0x04, 0x0a, 0x02, 0x12, 0x7f]); // an event whose length runs past its bundle
  const badWire = new Uint8Array([0x0a, 0x02, 0x0f, 0x00]); // wire type 7 inside a packet
  const s = await load(concat([good, badInside, badWire, packetBytes(ftrace(0, [dma(2, 10, 2, 4096, 8192)]))]));
  assert.deepEqual(s.query('SELECT inode FROM dma_heap_event ORDER BY inode'), [{ inode: 1 }, { inode: 2 }]);
  assert.deepEqual(diagnostics(s).map((d) => `${d.severity} ${d.code}`), ['warning malformed_packet', 'warning malformed_packet']);
  s.close();
  // A compressed packet that is not zlib data.
  const s3 = await load(concat([good, packetBytes({ compressedPackets: new Uint8Array([1, 2, 3, 4, 5]) })]));
  assert.deepEqual(s3.query('SELECT inode FROM dma_heap_event'), [{ inode: 1 }]);
  assert.deepEqual(diagnostics(s3).map((d) => `${d.severity} ${d.code}`), ['error decompress_failed']);
  s3.close();
});

test('a trace written with the upstream field numbers of formats.md §6 (not our trimmed schema) loads every event we read', async () => {
  // Each number below is cited from ../shared/formats.md §6, written by hand with
  // protobuf.Writer, so a wrong number in proto/perfetto_trimmed.proto cannot cancel itself
  // out. Not here, for formats.md does not give their numbers: the packet form of
  // gpu_mem_total (TracePacket.gpu_mem_total_event), task_newtask and task_rename.
  type Part = (w: protobuf.Writer) => void;
  const msg = (...parts: Part[]) => {
    const w = protobuf.Writer.create();
    for (const p of parts) p(w);
    return w.finish();
  };
  // Wire types: 0 varint (int64 covers the uint32/uint64/int64 fields alike: two's complement, ten bytes when negative), 2 length-delimited.
  const int = (field: number, v: number): Part => (w) => w.uint32((field << 3) | 0).int64(v);
  const str = (field: number, v: string): Part => (w) => w.uint32((field << 3) | 2).string(v);
  const sub = (field: number, ...parts: Part[]): Part => (w) => w.uint32((field << 3) | 2).bytes(msg(...parts));
  // Trace.packet = 1.
  const packets = (...ps: Part[][]) => msg(...ps.map((p) => sub(1, ...p)));
  // FtraceEvent: timestamp = 1, pid = 2 (a thread id), then the event's own field.
  const ev = (ts: number, tid: number, event: Part): Part => sub(2 /* FtraceEventBundle.event */, int(1, ts), int(2, tid), event);
  // GenericFtraceEvent.field = 2: name = 1, str_value = 3, int_value = 4, uint_value = 5.
  const gField = (name: string, kind: 3 | 4 | 5, v: number | string): Part =>
    sub(2, str(1, name), typeof v === 'string' ? str(kind, v) : int(kind, v));
  const bytes = packets(
    // TracePacket.process_tree = 2 {processes = 1 {pid = 1, ppid = 2, cmdline = 3, uid = 5}, threads = 2 {tid = 1, name = 2, tgid = 3}}.
    [
      sub(2,
        sub(1, int(1, 100), int(2, 1), str(3, 'com.example.app'), str(3, '--flag'), int(5, 10001)),
        sub(1, int(1, 200), int(2, 1), str(3, '/system/bin/surfaceflinger')),
        sub(2, int(1, 101), str(2, 'RenderThread'), int(3, 100)),
        sub(2, int(1, 201), str(2, 'binder:200_1'), int(3, 200)),
      ),
    ],
    // TracePacket.ftrace_events = 1 {cpu = 1, event = 2 …}.
    [
      sub(1,
        int(1, 3),
        // dma_heap_stat = 351 {inode = 1, len = 2 (int64), total_allocated = 3}.
        ev(1000, 101, sub(351, int(1, 700), int(2, 8192), int(3, 1_000_000_008_192))),
        ev(1001, 101, sub(351, int(1, 700), int(2, -8192), int(3, 1_000_000_000_000))),
        // dmabuf_rss_stat = 579 {rss = 1, rss_delta = 2 (int64), i_ino = 3}.
        ev(1002, 101, sub(579, int(1, 12288), int(2, -4096), int(3, 700))),
        // ion_heap_grow = 315, ion_heap_shrink = 314 {heap_name = 1, len = 2, total_allocated = 3}.
        ev(1003, 101, sub(315, str(1, 'system'), int(2, 4096), int(3, 8192))),
        ev(1004, 101, sub(314, str(1, 'system'), int(2, 4096), int(3, 12288))),
        // ion_stat = 335 {buffer_id = 1, len = 2 (int64), total_allocated = 3}.
        ev(1005, 201, sub(335, int(1, 5), int(2, -1000), int(3, 3000))),
        // gpu_mem_total = 340 {gpu_id = 1, pid = 2, size = 3}.
        ev(1006, 201, sub(340, int(1, 1), int(2, 100), int(3, 777))),
        // binder_transaction = 50 {debug_id = 1, target_node = 2, to_proc = 3, to_thread = 4, reply = 5, code = 6, flags = 7}.
        ev(1007, 101, sub(50, int(1, 42), int(2, 1), int(3, 200), int(4, 201), int(5, 0), int(6, 3), int(7, 16))),
        // binder_transaction_received = 51 {debug_id = 1}.
        ev(1008, 201, sub(51, int(1, 42))),
        // generic = 327 {event_name = 1, field = 2 …}: DMA-BUF events an older traced had no typed proto for.
        ev(1009, 101, sub(327, str(1, 'dma_heap_stat'), gField('inode', 5, 701), gField('len', 4, 4096), gField('total_allocated', 5, 4096), gField('exp_name', 3, 'system'))),
        ev(1010, 101, sub(327, str(1, 'dmabuf_rss_stat'), gField('rss', 5, 16384), gField('rss_delta', 4, 4096), gField('i_ino', 5, 701))),
      ),
    ],
    // TracePacket.process_stats = 9 {processes = 1 {pid = 1, dmabuf_rss_kb = 24}}, TracePacket.timestamp = 8 (written after the payload, as traced does).
    [sub(9, sub(1, int(1, 100), int(24, 12)), sub(1, int(1, 200))), int(8, 2000)],
    // TracePacket.sys_stats = 7 {meminfo = 1 {key = 1, value = 2 (kB)}}: ION_HEAP = 37, ION_HEAP_POOL = 38, GPU = 34; key 1 is not ours.
    [sub(7, sub(1, int(1, 37), int(2, 100)), sub(1, int(1, 38), int(2, 50)), sub(1, int(1, 34), int(2, 20)), sub(1, int(1, 1), int(2, 99999))), int(8, 2001)],
  );
  const s = await load(bytes);
  assert.deepEqual(diagnostics(s), []);
  assert.deepEqual(storedRows(s), {
    dma_heap_event: [
      { ts: 1000, inode: 700, size_delta: 8192, heap_total: 1_000_000_008_192, tid: 101, pid: 100 },
      { ts: 1001, inode: 700, size_delta: -8192, heap_total: 1_000_000_000_000, tid: 101, pid: 100 },
      { ts: 1009, inode: 701, size_delta: 4096, heap_total: 4096, tid: 101, pid: 100 },
    ],
    dmabuf_rss_sample: [
      { ts: 1002, pid: 100, tid: 101, rss_bytes: 12288, rss_delta: -4096, inode: 700, origin: 'dmabuf_rss_stat' },
      { ts: 1010, pid: 100, tid: 101, rss_bytes: 16384, rss_delta: 4096, inode: 701, origin: 'dmabuf_rss_stat' },
      { ts: 2000, pid: 100, tid: null, rss_bytes: 12 * 1024, rss_delta: null, inode: null, origin: 'process_stats' },
    ],
    // ION: the event's total_allocated is the heap before the change (heap_total = after).
    ion_heap_event: [
      { ts: 1003, origin: 'ion_heap_grow', heap_name: 'system', buffer_id: null, size_delta: 4096, heap_total: 12288, reported_total: 8192, tid: 101, pid: 100 },
      { ts: 1004, origin: 'ion_heap_shrink', heap_name: 'system', buffer_id: null, size_delta: -4096, heap_total: 8192, reported_total: 12288, tid: 101, pid: 100 },
      { ts: 1005, origin: 'ion_stat', heap_name: null, buffer_id: 5, size_delta: -1000, heap_total: 3000, reported_total: 3000, tid: 201, pid: 200 },
    ],
    gpu_mem_total_sample: [
      { ts: 1006, gpu_id: 1, pid: 100, size_bytes: 777, origin: 'gpu_mem_total' },
    ],
    trace_meminfo_sample: [
      { ts: 2001, counter: 'GPU', value_bytes: 20 * 1024 },
      { ts: 2001, counter: 'ION_HEAP', value_bytes: 100 * 1024 },
      { ts: 2001, counter: 'ION_HEAP_POOL', value_bytes: 50 * 1024 },
    ],
    binder_event: [
      { ts: 1007, tid: 101, kind: 'transaction', debug_id: 42, reply: 0, flags: 16, to_proc: 200, to_thread: 201 },
      { ts: 1008, tid: 201, kind: 'received', debug_id: 42, reply: null, flags: null, to_proc: null, to_thread: null },
    ],
    process: [
      { pid: 100, name: 'com.example.app', cmdline: 'com.example.app --flag', ppid: 1, uid: 10001 },
      { pid: 200, name: '/system/bin/surfaceflinger', cmdline: '/system/bin/surfaceflinger', ppid: 1, uid: null },
    ],
    thread: [
      { tid: 101, pid: 100, name: 'RenderThread' },
      { tid: 201, pid: 200, name: 'binder:200_1' },
    ],
  });
  // Stored: the rows above (3 heap events, 3 RSS samples, 3 ION, 1 GPU, 3 meminfo, 2 binder).
  assert.deepEqual(s.query('SELECT start_ts, end_ts, ftrace_events, stored_events FROM trace_info'), [
    { start_ts: 1000, end_ts: 2001, ftrace_events: 11, stored_events: 3 + 3 + 3 + 1 + 3 + 2 },
  ]);
  s.close();
});

test('an ftrace event reads the same whatever the order and extent of its fields', async () => {
  const W = protobuf.Writer;
  const DMA_HEAP_STAT = 351;
  const payload = (extra: Uint8Array | null) => {
    const w = W.create().uint32((1 << 3) | 0).uint64(77).uint32((2 << 3) | 0).int64(8192).uint32((3 << 3) | 0).uint64(65536);
    if (extra) w.uint32((9 << 3) | 2).bytes(extra); // a field the event's decoder does not read
    return w.finish();
  };
  type Part = (w: protobuf.Writer) => void;
  const ts: Part = (w) => w.uint32((1 << 3) | 0).uint64(5000);
  const pid: Part = (w) => w.uint32((2 << 3) | 0).uint32(42);
  const flags: Part = (w) => w.uint32((5 << 3) | 0).uint32(0x8001);
  const dmaField = (extra: Uint8Array | null = null): Part => (w) => w.uint32((DMA_HEAP_STAT << 3) | 2).bytes(payload(extra));
  const unknownEvent: Part = (w) => w.uint32((3000 << 3) | 2).bytes(new Uint8Array([1, 2, 3])); // a three-byte tag
  const trailing: Part = (w) => w.uint32((9 << 3) | 0).uint32(1);
  const event = (...parts: Part[]) => {
    const w = W.create();
    for (const f of parts) f(w);
    return w.finish();
  };
  const bundle = (ev: Uint8Array) => {
    const b = W.create().uint32((1 << 3) | 0).uint32(0);
    for (const e of [event(ts, pid, (w) => w.uint32((4 << 3) | 2).bytes(new Uint8Array([0x10, 0x01]))), ev, event(ts, pid)]) b.uint32((2 << 3) | 2).bytes(e);
    return W.create().uint32((1 << 3) | 2).fork().uint32((1 << 3) | 2).bytes(b.finish()).ldelim().finish();
  };
  const rows = async (ev: Uint8Array) => {
    const s = await load(bundle(ev));
    const out = {
      events: s.query('SELECT ts, tid, inode, size_delta, heap_total FROM dma_heap_event'),
      info: s.query('SELECT ftrace_events, start_ts, end_ts FROM trace_info'),
      diags: diagnostics(s),
    };
    s.close();
    return out;
  };
  const want = await rows(event(ts, pid, dmaField()));
  assert.deepEqual(want.events, [{ ts: 5000, tid: 42, inode: 77, size_delta: 8192, heap_total: 65536 }]);
  assert.deepEqual(want.info, [{ ftrace_events: 3, start_ts: 5000, end_ts: 5000 }]);
  assert.deepEqual(want.diags, []);
  const layouts: [string, Uint8Array][] = [
    ['common_flags before the payload', event(ts, pid, flags, dmaField())],
    ['pid before the timestamp', event(pid, ts, dmaField())],
    ['the payload first', event(dmaField(), ts, pid)],
    ['a field after the payload', event(ts, pid, dmaField(), trailing)],
    ['another event field with a three-byte tag first', event(ts, pid, unknownEvent, dmaField())],
    ['a payload over 16 KiB (three-byte length)', event(ts, pid, dmaField(new Uint8Array(20_000)))],
  ];
  for (const [what, ev] of layouts) assert.deepEqual(await rows(ev), want, what);
  // Events that are not ours, in either layout, are only counted.
  assert.deepEqual((await rows(event(ts, pid, unknownEvent))).events, [], 'an event of another kind');
  assert.deepEqual((await rows(event(ts, unknownEvent, pid))).info, want.info, 'another kind, pid last');
});

// Every code the importer records (src/importers/perfetto: framer.ts, decoder.ts, sink.ts),
// less read_failed (stream.ts), which only a failing byte source causes, never bytes in memory.
const TRACE_CODES = ['truncated', 'corrupt_trace', 'malformed_packet', 'decompress_failed', 'trace_lost_events', 'no_dmabuf_events'];

test('random mutations of a trace never throw out of the importer, and only the trace is blamed', async () => {
  const base = richTrace();
  const rand = rng(12345);
  const seen = new Set<string>();
  for (let i = 0; i < 60; i++) {
    const b = Uint8Array.from(base);
    for (let k = 0; k < 1 + Math.floor(rand() * 8); k++) b[Math.floor(rand() * b.length)] = Math.floor(rand() * 256);
    const db = await importChunked(perfetto, b, 1 + Math.floor(rand() * 300));
    const [info] = db.query('SELECT count(*) AS n FROM trace_info');
    assert.equal(info.n, 1, 'the import finished');
    assertInputDiagnostics(db, TRACE_CODES, `mutation ${i}`, seen);
    db.close();
  }
  // The mutations did reach the decoder (not all of them landed in bytes it ignores).
  assert.ok(seen.has('malformed_packet') && seen.has('corrupt_trace'), [...seen].join(' '));
});

/**
 * Decode `bytes` as the trace worker does (worker.ts): chunks of `size` bytes read in turn into
 * three regions of the walker's memory, where whole packets are walked in WebAssembly. Returns
 * the database and how many packets that walk decoded.
 */
async function importInWalker(bytes: Uint8Array, size: number): Promise<{ db: Db; walked: number }> {
  const db = await Db.create();
  db.begin();
  const ctx = SourceContext.topLevel(db, 'capture.bin', 'perfetto', 'trace', 'capture.bin', bytes.length);
  const walker = bundleWalker(3 * size);
  const ring = [0, 1, 2].map((k) => walker.region(k * size, size));
  let walked = 0;
  const packets = walker.packets.bind(walker);
  walker.packets = (buf, start, end, reader) => {
    const to = packets(buf, start, end, reader);
    if (to > start) walked += walker.walked.packets;
    return to;
  };
  async function* chunks(): AsyncIterable<Uint8Array> {
    for (let i = 0, k = 0; i < bytes.length; i += size, k++) {
      const n = Math.min(size, bytes.length - i);
      ring[k % 3].set(bytes.subarray(i, i + n));
      yield ring[k % 3].subarray(0, n);
    }
  }
  await decodeTrace(chunks(), ctx, { progress: () => {}, reusedChunks: true, walker });
  db.commit();
  return { db, walked };
}

test('packets walked whole in WebAssembly, as the worker reads a trace, give the tables and diagnostics of decoding them one by one, also when malformed', async () => {
  const file = path.join(tempDir(), 'mixed.pftrace');
  await writeSyntheticTrace(file, 400 * 1024, { compressed: false, binder: 0.1, rss: 0.05 });
  const synthetic = new Uint8Array(fs.readFileSync(file));
  const rand = rng(2024);
  const mutated = (b: Uint8Array, n: number) => {
    const m = Uint8Array.from(b);
    for (let k = 0; k < n; k++) m[Math.floor(rand() * m.length)] = Math.floor(rand() * 256);
    return m;
  };
  // A bundle whose last event claims 3 bytes more than the bundle holds, between good packets.
  const cut = trace([ftrace(0, [dma(10, 7, 1, 4096, 4096), dma(11, 7, 2, 4096, 8192)])]);
  let last = cut.length - 2;
  while (!(cut[last] === 0x12 && cut[last + 1] === cut.length - last - 2)) last--;
  cut[last + 1] += 3;
  const good = trace([ftrace(1, [dma(5, 7, 3, 4096, 4096)])]);
  // Packets with timestamps of their own (field 8), one written twice: the last counts.
  const T = perfettoTypes();
  const field = (p: Packet) => T.TracePacket.encode(T.TracePacket.fromObject(p)).finish();
  const raw = (...fields: Uint8Array[]) => {
    const body = concat(fields);
    return concat([protobuf.Writer.create().uint32((1 << 3) | 2).uint32(body.length).finish(), body]);
  };
  const stamped = concat([
    raw(field({ timestamp: 2 }), field(ftrace(0, [dma(10, 7, 1, 4096, 4096)])), field({ timestamp: 200 })),
    raw(field(ftrace(1, [dma(20, 7, 1, -4096, 0)])), field({ timestamp: 5, trustedPacketSequenceId: 3 })),
  ]);
  // A process tree without a timestamp after bundles: it counts at the latest time read before
  // it, the walked bundles' included; a pid two processes held.
  const untimed = trace([
    ftrace(0, [dma(10, 7, 1, 4096, 4096)]),
    ftrace(1, [{ timestamp: 500, pid: 7, taskRename: { pid: 7, newcomm: 'renamed' } }]),
    { processTree: { processes: [{ pid: 7, cmdline: ['tree.name'] }] } },
    ftrace(0, [{ timestamp: 490, pid: 7, taskRename: { pid: 7, newcomm: 'earlier' } }, dma(900, 7, 2, 4096, 8192)]),
  ]);
  const traces: [string, Uint8Array][] = [
    ['synthetic', synthetic],
    ['rich', richTrace()],
    ['a process tree without a timestamp', untimed],
    ['a pid two processes held', pidReuseTrace()],
    ['a bundle cut short', concat([good, cut, good])],
    ['packet timestamps', stamped],
    ['synthetic, cut short in a packet', synthetic.subarray(0, synthetic.length - 1000)],
  ];
  for (let i = 0; i < 12; i++) traces.push([`synthetic mutation ${i}`, mutated(synthetic, 1 + i * 3)]);
  for (let i = 0; i < 12; i++) traces.push([`rich mutation ${i}`, mutated(richTrace(), 1 + (i % 6))]);
  // Loss reports (trace_stats, ftrace_stats, sequences with previous_packet_dropped), read after the walk.
  const lossy = scenarioTrace(smallScenario(34), { churn: 40, loss: { ftraceOverrun: 3, chunksOverwritten: 1, droppedPackets: 2, loseFree: true } }).bytes;
  traces.push(['loss reports', lossy]);
  for (let i = 0; i < 8; i++) traces.push([`loss reports mutation ${i}`, mutated(lossy, 1 + i)]);
  const [info] = (await importChunked(perfetto, stamped, stamped.length)).query('SELECT start_ts, end_ts, packets FROM trace_info');
  assert.deepEqual(info, { start_ts: 5, end_ts: 200, packets: 2 });
  for (const size of [64 * 1024, 32]) {
    const { db } = await importInWalker(untimed, size);
    assert.deepEqual(db.query('SELECT name FROM process'), [{ name: 'tree.name' }], `chunks of ${size} bytes`);
    db.close();
  }
  let walkedAll = 0;
  for (const [what, bytes] of traces) {
    for (const size of [64 * 1024, 1024 * 1024]) {
      const one = await importChunked(perfetto, bytes, size);
      const { db: whole, walked } = await importInWalker(bytes, size);
      assert.deepEqual(tables(whole), tables(one), `${what}, chunks of ${size} bytes`);
      if (what === 'synthetic') {
        // All but the process tree and the packets cut by a chunk boundary.
        const [{ packets }] = one.query('SELECT packets FROM trace_info');
        assert.ok(walked >= (packets as number) / 2 && walked < (packets as number), `${what}: ${walked} of ${packets} packets walked whole`);
      }
      walkedAll += walked;
      one.close();
      whole.close();
    }
  }
  assert.ok(walkedAll >= 300, `${walkedAll} packets walked whole`);
});

test('loss reports: trace_stats (the last stands, buffers summed), ftrace_stats (END minus START per CPU), previous_packet_dropped (not on a sequence’s first packet); the same walked whole', async () => {
  const cpu = (n: number, overrun: number, commitOverrun: number, droppedEvents: number) => ({ cpu: n, overrun, commitOverrun, droppedEvents });
  const bytes = trace([
    // Sequence 1 (process data, handed over by the walk), its first packet marked: not a loss.
    { trustedPacketSequenceId: 1, previousPacketDropped: 1, processTree: { processes: [{ pid: 7, cmdline: ['cam'] }] } },
    { trustedPacketSequenceId: 2, previousPacketDropped: 1, ftraceStats: { phase: 1, cpuStats: [cpu(0, 100, 1, 0), cpu(1, 0, 0, 50)] } },
    // Cumulative counters: a later trace_stats replaces this one.
    { trustedPacketSequenceId: 3, traceStats: { bufferStats: [{ chunksOverwritten: 9 }], flushesFailed: 9 } },
    { trustedPacketSequenceId: 2, ...ftrace(0, [dma(10, 7, 1, 4096, 4096)]) },
    { trustedPacketSequenceId: 2, previousPacketDropped: 1, ...ftrace(1, [dma(20, 7, 2, 4096, 8192)]) },
    { trustedPacketSequenceId: 1, previousPacketDropped: 1, timestamp: 15, processStats: { processes: [{ pid: 7, dmabufRssKb: 4 }] } },
    // An unknown phase is ignored, as Perfetto ignores it.
    { trustedPacketSequenceId: 2, ftraceStats: { phase: 0, cpuStats: [cpu(0, 1e6, 0, 0)] } },
    // CPU 2 has no START_OF_TRACE: no difference to take.
    { trustedPacketSequenceId: 2, ftraceStats: { phase: 2, cpuStats: [cpu(0, 130, 3, 0), cpu(1, 0, 0, 57), cpu(2, 999, 0, 0)] } },
    {
      trustedPacketSequenceId: 3,
      traceStats: {
        bufferStats: [
          { chunksOverwritten: 1, chunksDiscarded: 2, traceWriterPacketLoss: 3, abiViolations: 4 },
          { chunksOverwritten: 10, chunksDiscarded: 20, traceWriterPacketLoss: 30, abiViolations: 40 },
        ],
        chunksDiscarded: 5,
        finalFlushOutcome: 2,
      },
    },
    // Without a sequence, a mark says nothing.
    { previousPacketDropped: 1, ...ftrace(0, [dma(30, 7, 1, -4096, 4096)]) },
  ]);
  // A trace_stats whose buffer_stats runs past it: the packet is skipped and reported.
  const malformed = new Uint8Array([0x0a, 0x06, 0x9a, 0x02, 0x03, 0x0a, 0x05, 0x18]);
  const all = concat([bytes, malformed, packetBytes(ftrace(0, [dma(40, 7, 3, 4096, 8192)]))]);
  const one = await importChunked(perfetto, all, all.length);
  try {
    assert.deepEqual(
      one.query(
        'SELECT ftrace_overrun, ftrace_dropped_events, chunks_overwritten, chunks_discarded, writer_packet_loss, abi_violations, flushes_failed, packets_dropped FROM trace_info',
      ),
      [
        {
          ftrace_overrun: 30 + 2,
          ftrace_dropped_events: 7,
          chunks_overwritten: 11,
          chunks_discarded: 22 + 5,
          writer_packet_loss: 33,
          abi_violations: 44,
          flushes_failed: 1,
          packets_dropped: 2,
        },
      ],
    );
    assert.deepEqual(
      diagnostics(one).map((d) => [d.code, d.message]),
      [
        ['malformed_packet', `packet at byte ${bytes.length + 2} (6 bytes) skipped: field 1 runs past its message`],
        [
          'trace_lost_events',
          "the kernel's ftrace ring buffers overwrote 32 events during the trace (ftrace_stats overrun); " +
            "the kernel's ftrace ring buffers, full, dropped 7 events during the trace (ftrace_stats dropped_events); " +
            'the tracing service discarded 27 chunks of trace data (trace_stats chunks_discarded); ' +
            'producers lost 33 packets before the service got them (trace_stats trace_writer_packet_loss); ' +
            'the tracing service dropped data of 44 shared-memory protocol violations (trace_stats abi_violations); ' +
            '1 flushes failed, losing what producers held then (trace_stats flushes_failed); ' +
            '2 packets follow lost packets of their sequence (previous_packet_dropped): allocations and frees may be missing',
        ],
      ],
    );
    // Walked whole as the worker walks them, in chunks that hold it all and that cut it.
    for (const size of [all.length, 48]) {
      const { db, walked } = await importInWalker(all, size);
      assert.deepEqual(tables(db), tables(one), `chunks of ${size} bytes`);
      if (size === all.length) assert.ok(walked >= 8, `${walked} packets walked whole`);
      db.close();
    }
  } finally {
    one.close();
  }
});

test('a file that is not a trace is refused by sniffing; open() rejects it', async () => {
  const text = new TextEncoder().encode('\n\nHello, this is a text file.\nNot a trace.\n');
  assert.equal(perfetto.sniffBytes(text, 'x.pftrace'), false);
  assert.equal(looksLikePerfettoTrace(new Uint8Array([0x0a])), false);
  const rand = rng(7);
  const random = Uint8Array.from({ length: 4096 }, () => Math.floor(rand() * 256));
  random[0] = 0x0a; // even starting like a packet
  assert.equal(perfetto.sniffBytes(random, 'trace.pftrace'), false);
  await assert.rejects(load(random, 'trace.pftrace'), InputError);
  // A real trace's head is accepted, also when the first packet is longer than the head.
  const big = trace([ftrace(0, Array.from({ length: 5000 }, (_, i) => sched(i, 7)))]);
  assert.ok(big.length > 64 * 1024);
  assert.equal(perfetto.sniffBytes(big.subarray(0, 64 * 1024), 'noname'), true);
  const peers = path.join(sharedDir, 'peer-tests', 'perfetto');
  for (const dir of fs.readdirSync(peers)) {
    const pb = fs.readFileSync(path.join(peers, dir, 'trace.pb'));
    assert.equal(perfetto.sniffBytes(pb, 'trace.pb'), true, dir);
  }
});

test('the command line refuses a file that is not a trace, even named and starting like one: one line, exit 2', () => {
  const dir = tempDir();
  const rand = rng(11);
  const random = Uint8Array.from({ length: 4096 }, () => Math.floor(rand() * 256));
  random[0] = 0x0a; // the tag of Trace.packet
  const files = { 'random.pftrace': random, 'notes.perfetto-trace': new TextEncoder().encode('Not a trace.\n') };
  for (const [name, bytes] of Object.entries(files)) {
    const file = path.join(dir, name);
    fs.writeFileSync(file, bytes);
    const r = cli(['analyze', file, '-q']);
    assert.equal(r.code, 2, name);
    assert.equal(r.out, '', name);
    assert.equal(r.err, `dmabuf-triage: ${file}: not a bugreport, a Perfetto trace or a DMA-BUF capture this tool reads (detected by content)\n`);
  }
});

test('gralloc allocations are charged to the binder client; frees follow the allocation; unknown frees are dropped', async () => {
  const allocator = '/vendor/bin/hw/android.hardware.graphics.allocator-V2-service';
  const s = await load(
    trace([
      {
        processTree: {
          processes: [
            { pid: 500, cmdline: [allocator] },
            { pid: 700, cmdline: ['com.example.game'] },
          ],
          threads: [
            { tid: 501, tgid: 500, name: 'binder:500_1' },
            { tid: 701, tgid: 700, name: 'RenderThread' },
            { tid: 702, tgid: 700, name: 'GLThread' },
          ],
        },
      },
      ftrace(0, [
        // 701 asks the allocator for a buffer (synchronous transaction).
        { timestamp: 100, pid: 701, binderTransaction: { debugId: 10, targetNode: 5, toProc: 500, toThread: 0, reply: 0, code: 1, flags: 0 } },
        { timestamp: 110, pid: 501, binderTransactionReceived: { debugId: 10 } },
        dma(120, 501, 9, 1 << 20, 1 << 20),
        { timestamp: 130, pid: 501, binderTransaction: { debugId: 11, targetNode: 0, toProc: 700, toThread: 701, reply: 1, code: 0, flags: 0 } },
        { timestamp: 140, pid: 701, binderTransactionReceived: { debugId: 11 } },
        // The allocator allocates on its own (no transaction being served).
        dma(200, 501, 10, 4096, (1 << 20) + 4096),
        // A one-way transaction does not make a span.
        { timestamp: 300, pid: 702, binderTransaction: { debugId: 12, targetNode: 5, toProc: 500, toThread: 0, reply: 0, code: 2, flags: 1 } },
        { timestamp: 310, pid: 501, binderTransactionReceived: { debugId: 12 } },
        dma(320, 501, 11, 8192, (1 << 20) + 12288),
        // The buffer is freed by another thread: charged to whoever the allocation was charged to.
        dma(400, 702, 9, -(1 << 20), 12288),
        // A free of a buffer allocated before the trace: dropped.
        dma(500, 702, 77, -65536, 12288 - 65536),
      ]),
    ]),
  );
  assert.deepEqual(s.query('SELECT ts, buf_size, inode, tid, thread_name, pid, process_name FROM android_dmabuf_allocs'), [
    { ts: 120, buf_size: 1 << 20, inode: 9, tid: 701, thread_name: 'RenderThread', pid: 700, process_name: 'com.example.game' },
    { ts: 200, buf_size: 4096, inode: 10, tid: 501, thread_name: 'binder:500_1', pid: 500, process_name: allocator },
    { ts: 320, buf_size: 8192, inode: 11, tid: 501, thread_name: 'binder:500_1', pid: 500, process_name: allocator },
    { ts: 400, buf_size: -(1 << 20), inode: 9, tid: 701, thread_name: 'RenderThread', pid: 700, process_name: 'com.example.game' },
  ]);
  assert.deepEqual(s.query('SELECT process_name, ts, value FROM android_memory_cumulative_dmabuf'), [
    { process_name: 'com.example.game', ts: 120, value: 1 << 20 },
    { process_name: allocator, ts: 200, value: 4096 },
    { process_name: allocator, ts: 320, value: 12288 },
    { process_name: 'com.example.game', ts: 400, value: 0 },
  ]);
  // The summary: the allocator holds two buffers at the end; the game none; 64 KiB of frees dropped.
  const rows = s.run('dmabuf_trace_summary');
  const t = rows.find((r) => r.scope === 'trace')!;
  assert.equal(t.allocated_bytes, (1 << 20) + 4096 + 8192);
  assert.equal(t.freed_bytes, 1 << 20);
  assert.equal(t.outstanding_bytes, 12288);
  assert.equal(t.dropped_free_bytes, 65536);
  assert.equal(t.peak_outstanding_bytes, (1 << 20) + 12288);
  assert.equal(t.trace_end_ts, 500);
  const procs = rows.filter((r) => r.scope === 'process').map((r) => [r.pid, r.outstanding_bytes, r.peak_outstanding_bytes, r.net_delta_bytes]);
  assert.deepEqual(procs, [
    [500, 12288, 12288, 12288],
    [700, 0, 1 << 20, 0],
  ]);
  s.close();
});

test('leak suspects: allocations outstanding at the end per process, and DMA-BUF RSS growth above the threshold', async () => {
  const bytes = trace([
    { processTree: { processes: [{ pid: 40, cmdline: ['com.example.leaky'] }, { pid: 50, cmdline: ['com.example.tidy'] }], threads: [{ tid: 41, tgid: 40 }] } },
    ftrace(0, [
      dma(10, 41, 1, 30 << 20, 30 << 20),
      dma(11, 40, 2, 2 << 20, 32 << 20),
      dma(12, 50, 3, 5 << 20, 37 << 20),
      dma(13, 50, 3, -(5 << 20), 32 << 20),
      dma(14, 50, 4, 4096, (32 << 20) + 4096),
    ]),
    { timestamp: 1000, processStats: { processes: [{ pid: 40, dmabufRssKb: 1024 }, { pid: 50, dmabufRssKb: 4096 }] } },
    { timestamp: 2000, processStats: { processes: [{ pid: 40, dmabufRssKb: 60 * 1024 }, { pid: 50, dmabufRssKb: 4096 + 1024 }] } },
  ]);
  const s = await load(bytes);
  // Through the catalogue analysis, which grades them (no DMA-BUF total in a trace: by bytes alone).
  assert.deepEqual(
    s.run('dmabuf_leak_suspects').map((r) => ({ kind: r.kind, subject: r.subject, bytes: r.bytes, severity: r.severity })),
    [
      { kind: 'rss_growth', subject: 'com.example.leaky (40)', bytes: 59 << 20, severity: 'medium' },
      { kind: 'unfreed_in_trace', subject: 'com.example.leaky (40)', bytes: 32 << 20, severity: 'medium' },
      { kind: 'unfreed_in_trace', subject: 'com.example.tidy (50)', bytes: 4096, severity: 'info' },
    ],
  );
  // A higher threshold silences the growth finding.
  const strict = s.run('dmabuf_leak_suspects', { rss_growth_min_bytes: 100 << 20 });
  assert.ok(!strict.some((r) => r.kind === 'rss_growth'));
  s.close();
});

test('generic ftrace events named dma_heap_stat / dmabuf_rss_stat are read', async () => {
  const field = (name: string, v: number) => ({ name, [v < 0 ? 'intValue' : 'uintValue']: v });
  const s = await load(
    trace([
      ftrace(0, [
        { timestamp: 5, pid: 9, generic: { eventName: 'dma_heap_stat', field: [field('inode', 44), { name: 'len', intValue: -4096 }, field('total_allocated', 0)] } },
        { timestamp: 6, pid: 9, generic: { eventName: 'dmabuf_rss_stat', field: [field('rss', 8192), { name: 'rss_delta', intValue: 4096 }, field('i_ino', 44)] } },
        { timestamp: 7, pid: 9, generic: { eventName: 'something_else', field: [field('len', 1)] } },
      ]),
    ]),
  );
  assert.deepEqual(s.query('SELECT ts, inode, size_delta, heap_total FROM dma_heap_event'), [{ ts: 5, inode: 44, size_delta: -4096, heap_total: 0 }]);
  assert.deepEqual(s.query('SELECT ts, rss_bytes, rss_delta, inode, origin FROM dmabuf_rss_sample'), [{ ts: 6, rss_bytes: 8192, rss_delta: 4096, inode: 44, origin: 'dmabuf_rss_stat' }]);
  s.close();
});

test('a generic dma_heap_stat / dmabuf_rss_stat event without its len / rss field is reported as the typed events are, not dropped silently', async () => {
  const s = await load(
    trace([
      ftrace(0, [
        { timestamp: 5, pid: 9, generic: { eventName: 'dma_heap_stat', field: [{ name: 'inode', uintValue: 44 }, { name: 'total_allocated', uintValue: 0 }] } },
        { timestamp: 6, pid: 9, generic: { eventName: 'dmabuf_rss_stat', field: [{ name: 'i_ino', uintValue: 44 }] } },
        { timestamp: 7, pid: 9, generic: { eventName: 'dma_heap_stat', field: [{ name: 'inode', uintValue: 45 }, { name: 'len', intValue: 4096 }] } },
      ]),
    ]),
  );
  assert.deepEqual(s.query('SELECT ts, inode, size_delta, heap_total FROM dma_heap_event'), [{ ts: 7, inode: 45, size_delta: 4096, heap_total: null }]);
  assert.deepEqual(s.query('SELECT count(*) AS n FROM dmabuf_rss_sample'), [{ n: 0 }]);
  assert.deepEqual(
    diagnostics(s).map((d) => `${d.severity} ${d.code}: ${d.message}`),
    ['warning malformed_event: dma_heap_stat event without its len field', 'warning malformed_event: dmabuf_rss_stat event without its rss field'],
  );
  s.close();
});

test('64-bit values beyond 2^53 stay exact, and rows keep trace order around them', async () => {
  const big = 2n ** 60n + 3n;
  const huge = { timestamp: big.toString(), pid: 1, dmaHeapStat: { inode: (2n ** 55n + 1n).toString(), len: -4096, totalAllocated: 0 } };
  const s = await load(trace([ftrace(0, [huge])]));
  assert.deepEqual(s.query('SELECT CAST(ts AS TEXT) AS ts, CAST(inode AS TEXT) AS inode, size_delta FROM dma_heap_event'), [
    { ts: big.toString(), inode: (2n ** 55n + 1n).toString(), size_delta: -4096 },
  ]);
  s.close();
  // Rows of known threads are kept packed, a bigint row as values: the table still lists the
  // events as the trace has them; a thread whose process is never known comes last, pid NULL.
  const t = await load(
    trace([
      { processTree: { processes: [{ pid: 1, cmdline: ['p'] }] } },
      ftrace(0, [dma(10, 1, 1, 4096, 4096), dma(11, 77, 2, 4096, 8192), huge, dma(12, 1, 3, 4096, 8192), dma(13, 1, 1, -4096, 4096)]),
    ]),
  );
  assert.deepEqual(t.query('SELECT CAST(ts AS TEXT) AS ts, tid, pid FROM dma_heap_event ORDER BY rowid'), [
    { ts: '10', tid: 1, pid: 1 },
    { ts: big.toString(), tid: 1, pid: 1 },
    { ts: '12', tid: 1, pid: 1 },
    { ts: '13', tid: 1, pid: 1 },
    { ts: '11', tid: 77, pid: null },
  ]);
  t.close();
});

test('the benchmark trace writer makes a real trace of the size asked, plain and compressed', async () => {
  const dir = tempDir();
  for (const compressed of [false, true]) {
    const file = path.join(dir, compressed ? 'bench-z.pftrace' : 'bench.pftrace');
    const { dmaHeapEvents } = await writeSyntheticTrace(file, 2 * 1024 * 1024, { compressed });
    const size = fs.statSync(file).size;
    if (!compressed) assert.ok(size >= 2 * 1024 * 1024 && size < 2.2 * 1024 * 1024, `size ${size}`);
    else assert.ok(size < 1.5 * 1024 * 1024, `compressed size ${size}`);
    const s = await open(file);
    const [info] = s.query('SELECT ftrace_events, compressed_packets, stored_events FROM trace_info');
    assert.equal(s.query('SELECT count(*) AS n FROM dma_heap_event')[0].n, dmaHeapEvents);
    assert.equal(info.stored_events, dmaHeapEvents);
    assert.ok(dmaHeapEvents > 0 && Math.abs(dmaHeapEvents / (info.ftrace_events as number) - 0.01) < 0.002, 'about 1% of the ftrace events');
    assert.equal((info.compressed_packets as number) > 0, compressed);
    assert.ok((s.query('SELECT count(*) AS n FROM thread')[0].n as number) > 100);
    assert.deepEqual(s.query("SELECT code FROM diagnostic WHERE severity != 'info'"), []);
    s.close();
  }
});

test('the process tree is read as protobufjs reads it: last value wins, odd wire types and unknown fields skipped', async () => {
  const W = protobuf.Writer;
  const proc = W.create()
    .uint32((1 << 3) | 0).int32(100)
    .uint32((1 << 3) | 2).bytes(new Uint8Array([1, 2])) // pid with another wire type: skipped
    .uint32((3 << 3) | 2).string('')
    .uint32((3 << 3) | 2).string('/system/bin/foo')
    .uint32((3 << 3) | 2).string('--x')
    .uint32((5 << 3) | 0).int32(-1) // ten bytes
    .uint32((2 << 3) | 0).int32(1)
    .uint32((2 << 3) | 0).int32(7) // the last ppid wins
    .uint32((9 << 3) | 5).fixed32(5) // unknown
    .finish();
  const thread = (tid: number, name: string, tgid?: number) => {
    const w = W.create().uint32((1 << 3) | 0).int32(tid).uint32((2 << 3) | 2).string(name);
    if (tgid !== undefined) w.uint32((3 << 3) | 0).int32(tgid);
    return w.finish();
  };
  const other = W.create().uint32((1 << 3) | 0).int32(200).uint32((3 << 3) | 2).string('surfaceflinger').finish();
  const tree = W.create()
    .uint32((1 << 3) | 2).bytes(proc)
    .uint32((2 << 3) | 2).bytes(thread(101, 'RenderThread', 100))
    .uint32((1 << 3) | 2).bytes(other) // processes and threads interleaved
    .uint32((2 << 3) | 2).bytes(thread(202, '', 200))
    .uint32((2 << 3) | 2).bytes(thread(303, 'orphan'))
    .uint32((7 << 3) | 0).uint32(1) // unknown
    .finish();
  const packet = W.create().uint32((2 << 3) | 2).bytes(tree).finish();
  const bytes = concat([W.create().uint32((1 << 3) | 2).bytes(packet).finish(), packetBytes(ftrace(0, [dma(1, 101, 1, 4096, 4096)]))]);
  // What the rows must be: protobufjs's reading of the same bytes.
  const T = perfettoTypes();
  const want = T.ProcessTree.toObject(T.ProcessTree.decode(tree), { arrays: true }) as {
    processes: { pid?: number; ppid?: number; cmdline: string[]; uid?: number }[];
    threads: { tid?: number; name?: string; tgid?: number }[];
  };
  assert.deepEqual(want.processes[0], { pid: 100, ppid: 7, cmdline: ['', '/system/bin/foo', '--x'], uid: -1 });
  const s = await load(bytes);
  assert.deepEqual(s.query('SELECT pid, name, cmdline, ppid, uid FROM process ORDER BY pid'), [
    { pid: 100, name: '/system/bin/foo', cmdline: '/system/bin/foo --x', ppid: 7, uid: -1 },
    { pid: 200, name: 'surfaceflinger', cmdline: 'surfaceflinger', ppid: null, uid: null },
  ]);
  assert.deepEqual(
    s.query('SELECT tid, pid, name FROM thread ORDER BY tid'),
    want.threads.map((t) => ({ tid: t.tid, pid: t.tgid ?? null, name: t.name || null })).concat([]).sort((a, b) => a.tid! - b.tid!),
  );
  assert.deepEqual(s.query('SELECT tid, pid FROM dma_heap_event'), [{ tid: 101, pid: 100 }]);
  s.close();
});

test('process trees are written as they are read, and at the end only what changed: the rows are the latest, names too', async () => {
  const bytes = trace([
    { processTree: { processes: [{ pid: 100, cmdline: ['<pre-initialized>'], ppid: 1 }], threads: [{ tid: 101, tgid: 100, name: 'a' }, { tid: 103, tgid: 100 }] } },
    ftrace(0, [dma(10, 101, 1, 4096, 4096)]),
    { processTree: { processes: [{ pid: 100, cmdline: ['com.x', '--y'] }, { pid: 200, cmdline: ['z'] }], threads: [{ tid: 101, tgid: 100, name: 'b' }, { tid: 102, tgid: 100, name: 'c' }] } },
    ftrace(0, [dma(20, 102, 2, 4096, 8192), dma(30, 201, 3, 4096, 12288)]),
    // A tree of the tasks seen since (as Perfetto writes them during a trace): only they are posted.
    { processTree: { threads: [{ tid: 104, tgid: 200, name: 'd' }] } },
  ]);
  const db = await Db.create();
  db.begin();
  const ctx = SourceContext.topLevel(db, 'capture.bin', 'perfetto', 'trace', 'capture.bin', bytes.length);
  const posted: unknown[] = [];
  const threads = ctx.threads.bind(ctx);
  ctx.threads = (list) => (posted.push(['threads', list.map((r) => [...r])]), threads(list));
  const processes = ctx.processes.bind(ctx);
  ctx.processes = (list) => (posted.push(['processes', list.map(([pid, f]) => [pid, { ...f }])]), processes(list));
  async function* chunks(): AsyncIterable<Uint8Array> {
    yield bytes;
  }
  await decodeTrace(chunks(), ctx, { progress: () => {} });
  db.commit();
  assert.deepEqual(posted, [
    // A process's name waits for the end: the latest one is its name, and '<pre-initialized>' is longer.
    ['processes', [[100, { cmdline: '<pre-initialized>', ppid: 1, uid: null }]]],
    ['threads', [[101, 100, 'a'], [103, 100, null]]],
    ['processes', [[200, { cmdline: 'z', ppid: null, uid: null }]]],
    ['threads', [[101, 100, 'b'], [102, 100, 'c']]],
    ['threads', [[104, 200, 'd']]],
    ['processes', [[100, { name: 'com.x', cmdline: 'com.x --y', ppid: 1, uid: null }], [200, { name: 'z', cmdline: 'z', ppid: null, uid: null }]]],
    ['threads', [[201, null, null]]],
  ]);
  assert.deepEqual(db.query('SELECT pid, name, cmdline, ppid FROM process ORDER BY pid'), [
    { pid: 100, name: 'com.x', cmdline: 'com.x --y', ppid: 1 },
    { pid: 200, name: 'z', cmdline: 'z', ppid: null },
  ]);
  assert.deepEqual(db.query('SELECT tid, pid, name FROM thread ORDER BY tid'), [
    { tid: 101, pid: 100, name: 'b' },
    { tid: 102, pid: 100, name: 'c' },
    { tid: 103, pid: 100, name: null },
    { tid: 104, pid: 200, name: 'd' },
    { tid: 201, pid: null, name: null },
  ]);
  db.close();
});

test('dmabuf_rss_stat events: what they lack is NULL; the process of their thread is filled in, also once known later', async () => {
  const bytes = trace([
    { processTree: { processes: [{ pid: 100, cmdline: ['app'] }], threads: [{ tid: 101, tgid: 100 }] } },
    ftrace(0, [
      { timestamp: 10, pid: 101, dmabufRssStat: { rss: 8192, rssDelta: -4096, iIno: 7 } },
      { timestamp: 11, pid: 101, dmabufRssStat: { rss: 4096 } },
      { timestamp: 12, pid: 201, dmabufRssStat: { rss: 4096, iIno: 8 } },
    ]),
    { processTree: { processes: [{ pid: 200, cmdline: ['other'] }], threads: [{ tid: 201, tgid: 200 }] } },
  ]);
  const s = await load(bytes);
  assert.deepEqual(s.query('SELECT ts, pid, tid, rss_bytes, rss_delta, inode, origin FROM dmabuf_rss_sample ORDER BY ts'), [
    { ts: 10, pid: 100, tid: 101, rss_bytes: 8192, rss_delta: -4096, inode: 7, origin: 'dmabuf_rss_stat' },
    { ts: 11, pid: 100, tid: 101, rss_bytes: 4096, rss_delta: null, inode: null, origin: 'dmabuf_rss_stat' },
    { ts: 12, pid: 200, tid: 201, rss_bytes: 4096, rss_delta: null, inode: 8, origin: 'dmabuf_rss_stat' },
  ]);
  s.close();
});

test('threads seen only in binder events get a thread row', async () => {
  const bytes = trace([
    { processTree: { processes: [{ pid: 100, cmdline: ['app'] }], threads: [{ tid: 101, tgid: 100 }] } },
    ftrace(0, [
      { timestamp: 10, pid: 777, binderTransaction: { debugId: 1, toProc: 100, toThread: 101, reply: 0, flags: 0 } },
      { timestamp: 11, pid: 101, binderTransactionReceived: { debugId: 1 } },
      { timestamp: 12, pid: 778, binderTransaction: { toProc: 100, debugId: 2 } },
    ]),
  ]);
  const s = await load(bytes);
  assert.deepEqual(s.query('SELECT tid, pid FROM thread ORDER BY tid'), [
    { tid: 101, pid: 100 },
    { tid: 777, pid: null },
    { tid: 778, pid: null },
  ]);
  assert.deepEqual(s.query('SELECT ts, tid, debug_id FROM binder_event ORDER BY rowid').map((r) => [r.ts, r.tid, r.debug_id]), [
    [10, 777, 1],
    [11, 101, 1],
    [12, 778, 2],
  ]);
  s.close();
});

test('rows of a thread whose process is unknown wait; once it is known, by the process tree or a new task, its next rows do not', async () => {
  // Each of 101, 105 and 200 is unknown at first, then becomes known in its own way: a thread
  // of a known process, a new thread of a known thread, a process.
  const bytes = trace([
    { processTree: { processes: [{ pid: 100, cmdline: ['com.example.app'] }], threads: [] } },
    ftrace(0, [dma(1, 101, 1, 4096, 4096), dma(2, 105, 2, 4096, 8192), dma(3, 200, 3, 4096, 12288)]),
    { processTree: { processes: [], threads: [{ tid: 101, tgid: 100 }] } },
    ftrace(0, [
      dma(4, 101, 4, 4096, 16384),
      dma(5, 105, 5, 4096, 20480),
      { timestamp: 6, pid: 101, taskNewtask: { pid: 105, comm: 'worker', cloneFlags: 0x10000 } },
      dma(7, 105, 6, 4096, 24576),
      dma(8, 200, 7, 4096, 28672),
    ]),
    { processTree: { processes: [{ pid: 200, cmdline: ['other'] }], threads: [] } },
    ftrace(0, [dma(9, 200, 8, 4096, 32768)]),
  ]);
  const s = await load(bytes);
  // Written in the order they could be: those that waited at the end.
  assert.deepEqual(s.query('SELECT ts, tid, pid FROM dma_heap_event ORDER BY rowid').map((r) => [r.ts, r.tid, r.pid]), [
    [4, 101, 100],
    [7, 105, 100],
    [9, 200, 200],
    [1, 101, 100],
    [2, 105, 100],
    [3, 200, 200],
    [5, 105, 100],
    [8, 200, 200],
  ]);
  s.close();
});

test('tasks created during the trace: threads join their creator\'s process, forks are new processes; the process tree names first', async () => {
  const CLONE_THREAD = 0x10000;
  const newtask = (ts: number, creator: number, pid: number, comm: string, cloneFlags: number): Packet => ({
    timestamp: ts,
    pid: creator,
    taskNewtask: { pid, comm, cloneFlags },
  });
  const bytes = trace([
    { processTree: { processes: [{ pid: 100, cmdline: ['com.example.app'] }], threads: [] } },
    ftrace(0, [
      newtask(1, 100, 101, 'RenderThread', 0x3d0f00 | CLONE_THREAD),
      dma(2, 101, 1, 4096, 4096),
      newtask(3, 100, 200, 'app:sub', 0x11), // fork (SIGCHLD)
      newtask(4, 200, 201, 'worker', CLONE_THREAD),
      dma(5, 201, 2, 8192, 12288),
      { timestamp: 6, pid: 201, taskRename: { pid: 201, newcomm: 'renamed' } },
      newtask(7, 1, 0, 'swapper/0', 0), // an idle task: not a task of the trace
      dma(8, 301, 3, 4096, 16384), // a thread the process tree names only later
    ]),
    { processTree: { processes: [{ pid: 300, cmdline: ['/vendor/bin/hw'] }], threads: [{ tid: 301, tgid: 300 }, { tid: 101, tgid: 100, name: 'hwuiTask' }] } },
  ]);
  const s = await load(bytes);
  assert.deepEqual(s.query('SELECT tid, pid FROM dma_heap_event ORDER BY ts'), [
    { tid: 101, pid: 100 },
    { tid: 201, pid: 200 },
    { tid: 301, pid: 300 },
  ]);
  assert.deepEqual(s.query('SELECT pid, name, ppid FROM process ORDER BY pid'), [
    { pid: 100, name: 'com.example.app', ppid: null },
    { pid: 200, name: 'app:sub', ppid: 100 },
    { pid: 300, name: '/vendor/bin/hw', ppid: null },
  ]);
  assert.deepEqual(s.query('SELECT tid, pid, name FROM thread ORDER BY tid'), [
    { tid: 101, pid: 100, name: 'hwuiTask' },
    { tid: 200, pid: 200, name: 'app:sub' },
    { tid: 201, pid: 200, name: 'renamed' },
    { tid: 301, pid: 300, name: null },
  ]);
  assert.deepEqual(diagnostics(s).filter((d) => d.severity !== 'info'), []);
  s.close();
});

test('names are settled as Perfetto settles them: a tree\'s thread name beats ftrace\'s, a process takes its latest name, in time order', async () => {
  const CLONE_THREAD = 0x10000;
  const rename = (ts: number, tid: number, newcomm: string): Packet => ({ timestamp: ts, pid: tid, taskRename: { pid: tid, oldcomm: 'x', newcomm } });
  const bytes = trace([
    {
      timestamp: 100,
      processTree: {
        processes: [{ pid: 500, ppid: 1, cmdline: ['com.example.camera'] }],
        threads: [
          { tid: 501, tgid: 500, name: 'CamTree' },
          { tid: 502, tgid: 500 },
          { tid: 503, tgid: 500, name: 'OldName' },
        ],
      },
    },
    // CPU 1's bundle is written first, but its rename of 502 is the later one.
    ftrace(1, [rename(260, 502, 'late')]),
    ftrace(0, [
      rename(200, 501, 'renamed501'), // below the tree's name: 501 stays CamTree
      rename(250, 502, 'early'),
      rename(300, 500, 'cam-main'), // the main thread: the process takes the name, the latest
      { timestamp: 400, pid: 500, taskNewtask: { pid: 503, comm: 'NewThread', cloneFlags: CLONE_THREAD } }, // a new thread 503
      dma(410, 501, 1, 4096, 4096),
      dma(420, 503, 2, 4096, 8192),
    ]),
  ]);
  const s = await load(bytes);
  assert.deepEqual(s.query('SELECT tid, pid, name FROM thread ORDER BY tid'), [
    { tid: 500, pid: 500, name: 'cam-main' },
    { tid: 501, pid: 500, name: 'CamTree' },
    { tid: 502, pid: 500, name: 'late' },
    { tid: 503, pid: 500, name: 'NewThread' },
  ]);
  assert.deepEqual(s.query('SELECT pid, name, cmdline FROM process'), [{ pid: 500, name: 'cam-main', cmdline: 'com.example.camera' }]);
  assert.deepEqual(s.query('SELECT tid, thread_name, pid, process_name FROM android_dmabuf_allocs'), [
    { tid: 501, thread_name: 'CamTree', pid: 500, process_name: 'cam-main' },
    { tid: 503, thread_name: 'NewThread', pid: 500, process_name: 'cam-main' },
  ]);
  s.close();
  // A process tree after the rename (later in time) names the process again; one without a
  // timestamp counts at the latest time read before it.
  for (const tree of [{ timestamp: 350 }, {}]) {
    const again = await load(
      trace([
        { timestamp: 100, processTree: { processes: [{ pid: 500, cmdline: ['com.example.camera'] }], threads: [] } },
        ftrace(0, [rename(300, 500, 'cam-main')]),
        { ...tree, processTree: { processes: [{ pid: 500, cmdline: ['com.example.camera2'] }], threads: [] } },
      ]),
    );
    assert.deepEqual(again.query('SELECT pid, name FROM process'), [{ pid: 500, name: 'com.example.camera2' }]);
    again.close();
  }
});

test('a pid two processes held during the trace is two processes, as in Perfetto: allocations, frees and RSS go to the one that held it then', async () => {
  const s = await load(pidReuseTrace());
  const [first, second] = s.query('SELECT upid FROM process_instance WHERE pid = 300 ORDER BY instance').map((r) => r.upid);
  assert.deepEqual(s.query('SELECT pid, instance, start_ts, end_ts, reused, name, ppid, thread_name FROM process_instance ORDER BY pid, instance'), [
    { pid: 300, instance: 0, start_ts: null, end_ts: 410, reused: 1, name: 'com.old.app', ppid: 1, thread_name: null },
    { pid: 300, instance: 1, start_ts: 500, end_ts: null, reused: 1, name: 'com.new.app', ppid: null, thread_name: 'com.new.app' },
  ]);
  // `process` keeps one row per pid: the last process that held it, all of its fields (not the
  // cmdline and parent the process tree gave the first).
  assert.deepEqual(s.query('SELECT pid, name, cmdline, ppid, uid FROM process'), [{ pid: 300, name: 'com.new.app', cmdline: null, ppid: null, uid: null }]);
  assert.deepEqual(
    s.query('SELECT ts, buf_size, tid, thread_name, upid, pid, process_name FROM android_dmabuf_allocs'),
    [
      { ts: 200, buf_size: 4096, tid: 300, thread_name: null, upid: first, pid: 300, process_name: 'com.old.app' },
      { ts: 210, buf_size: 8192, tid: 301, thread_name: 'OldWorker', upid: first, pid: 300, process_name: 'com.old.app' },
      { ts: 300, buf_size: -8192, tid: 301, thread_name: 'OldWorker', upid: first, pid: 300, process_name: 'com.old.app' },
      { ts: 600, buf_size: 16384, tid: 300, thread_name: 'com.new.app', upid: second, pid: 300, process_name: 'com.new.app' },
      { ts: 610, buf_size: 4096, tid: 302, thread_name: 'NewWorker', upid: second, pid: 300, process_name: 'com.new.app' },
      // Freed after the new process started, by a kernel worker: charged to the allocation's process.
      { ts: 700, buf_size: -4096, tid: 300, thread_name: null, upid: first, pid: 300, process_name: 'com.old.app' },
    ],
  );
  assert.deepEqual(
    s.query('SELECT ts, upid, process_name, value FROM android_memory_cumulative_dmabuf').map((r) => [r.ts, r.upid === first ? 'old' : 'new', r.process_name, r.value]),
    [
      [200, 'old', 'com.old.app', 4096],
      [210, 'old', 'com.old.app', 12288],
      [300, 'old', 'com.old.app', 4096],
      [600, 'new', 'com.new.app', 16384],
      [610, 'new', 'com.new.app', 20480],
      [700, 'old', 'com.old.app', 0],
    ],
  );
  assert.deepEqual(
    s.query("SELECT pid, upid, process_name, allocs, frees, outstanding_buffers, outstanding_bytes FROM dmabuf_trace_summary WHERE scope = 'process'"),
    [
      { pid: 300, upid: second, process_name: 'com.new.app', allocs: 2, frees: 0, outstanding_buffers: 2, outstanding_bytes: 20480 },
      { pid: 300, upid: first, process_name: 'com.old.app', allocs: 2, frees: 2, outstanding_buffers: 0, outstanding_bytes: 0 },
    ],
  );
  // The new process's buffers are its own; no RSS growth across two processes.
  assert.deepEqual(s.query('SELECT kind, subject, bytes FROM dmabuf_leak_suspects'), [{ kind: 'unfreed_in_trace', subject: 'com.new.app (300)', bytes: 20480 }]);
  assert.deepEqual(
    s.query('SELECT pid, upid, samples, first_bytes, last_bytes, origins FROM dmabuf_rss_totals ORDER BY first_ts').map((r) => ({ ...r, upid: r.upid === first ? 'old' : 'new' })),
    [
      { pid: 300, upid: 'old', samples: 2, first_bytes: 1048576, last_bytes: 12288, origins: 'dmabuf_rss_stat,process_stats' },
      { pid: 300, upid: 'new', samples: 1, first_bytes: 41943040, last_bytes: 41943040, origins: 'process_stats' },
    ],
  );
  assert.deepEqual(
    diagnostics(s).map((d) => [d.severity, d.code, d.message]),
    [['info', 'pid_reused', '1 pids were each held by more than one process during the trace, counted apart by the trace analyses (process_instance): 300 (com.old.app until 410; com.new.app from 500)']],
  );
  s.close();
  // An event of the pid after its process ended, before anything says which process holds it:
  // of no known process (Perfetto's thread without a process), not of the one that ended.
  const late = await load(
    trace([
      { timestamp: 100, processTree: { processes: [{ pid: 300, ppid: 1, cmdline: ['com.old.app'] }], threads: [] } },
      ftrace(0, [{ timestamp: 410, pid: 300, schedProcessFree: { pid: 300 } }, dma(450, 300, 9, 4096, 4096)]),
    ]),
  );
  assert.deepEqual(late.query('SELECT tid, upid, pid, process_name FROM android_dmabuf_allocs'), [{ tid: 300, upid: null, pid: null, process_name: null }]);
  assert.deepEqual(late.query("SELECT subject FROM dmabuf_leak_suspects WHERE kind = 'unfreed_in_trace'"), [{ subject: 'thread 300' }]);
  late.close();
});

test('events read as Perfetto reads them: a packet without a timestamp is at the latest time read; ion len is an int64; an event without a time or pid is not read', async () => {
  const s = await load(
    trace([
      ftrace(0, [dma(100, 7, 1, 4096, 4096)]),
      // No timestamps of their own: at 100, the latest time read before them.
      { processStats: { processes: [{ pid: 7, dmabufRssKb: 2 }] } },
      { sysStats: { meminfo: [{ key: 37, value: 10 }] } },
      { gpuMemTotalEvent: { gpuId: 0, pid: 0, size: 9 } },
      ftrace(0, [
        // len 2^64 - 4096: -4096 as an int64.
        { timestamp: 200, pid: 7, ionHeapGrow: { heapName: 'system', len: '18446744073709547520', totalAllocated: 8192 } },
        { timestamp: 210, pid: 7, ionHeapShrink: { heapName: 'system', len: '18446744073709547520', totalAllocated: 4096 } },
        // Without a pid, without a timestamp: not read.
        { timestamp: 300, dmaHeapStat: { inode: 2, len: 4096, totalAllocated: 8192 } },
        { pid: 7, dmaHeapStat: { inode: 3, len: 4096, totalAllocated: 8192 } },
        { timestamp: 310, taskRename: { pid: 7, newcomm: 'nameless' } },
      ]),
    ]),
  );
  assert.deepEqual(s.query('SELECT ts, pid, rss_bytes, origin FROM dmabuf_rss_sample'), [{ ts: 100, pid: 7, rss_bytes: 2048, origin: 'process_stats' }]);
  assert.deepEqual(s.query('SELECT ts, counter, value_bytes FROM trace_meminfo_sample'), [{ ts: 100, counter: 'ION_HEAP', value_bytes: 10240 }]);
  assert.deepEqual(s.query('SELECT ts, size_bytes FROM gpu_mem_total_sample'), [{ ts: 100, size_bytes: 9 }]);
  assert.deepEqual(s.query('SELECT ts, origin, size_delta, heap_total, reported_total FROM ion_heap_event ORDER BY ts'), [
    { ts: 200, origin: 'ion_heap_grow', size_delta: -4096, heap_total: 4096, reported_total: 8192 },
    { ts: 210, origin: 'ion_heap_shrink', size_delta: 4096, heap_total: 8192, reported_total: 4096 },
  ]);
  assert.deepEqual(s.query('SELECT ts, inode, tid FROM dma_heap_event'), [{ ts: 100, inode: 1, tid: 7 }]);
  assert.deepEqual(s.query('SELECT tid, name FROM thread'), [{ tid: 7, name: null }]);
  assert.deepEqual(
    diagnostics(s).map((d) => [d.code, d.message]),
    [['malformed_event', '3 ftrace events of those this tool reads had no timestamp or no pid (the thread that emitted them) and were not read, as Perfetto reads none']],
  );
  s.close();
});

// ---- decoding on a worker thread ----------------------------------------------------------

/** What an import wrote, and what the trace analyses make of it. */
function imported(s: { query(sql: string): Record<string, unknown>[] }): Record<string, unknown[]> {
  return {
    ...tables(s),
    source: s.query('SELECT path, importer, bytes FROM source ORDER BY id'),
    // 64-bit values as stored (a JS number would round them).
    exact: s.query('SELECT CAST(ts AS TEXT) AS ts, CAST(inode AS TEXT) AS inode, CAST(heap_total AS TEXT) AS total FROM dma_heap_event ORDER BY rowid'),
    allocs: s.query('SELECT * FROM android_dmabuf_allocs ORDER BY ts, buf_size, inode'),
    summary: s.query('SELECT * FROM dmabuf_trace_summary'),
  };
}

/** Traces for comparing the two ways of decoding, as files: small and rich, cut, corrupt, and several reader chunks long. */
async function traceFiles(): Promise<Record<string, string>> {
  const dir = tempDir();
  const rich = richTrace();
  const good = packetBytes(ftrace(0, [dma(1, 10, 1, 4096, 4096)]));
  const files: Record<string, string> = {};
  const put = (name: string, bytes: Uint8Array) => fs.writeFileSync((files[name] = path.join(dir, name)), bytes);
  put('rich', rich);
  put('cut', rich.subarray(0, rich.length - 20));
  put('corrupt', concat([packetBytes(ftrace(1, [sched(0, 3)])), good, new Uint8Array([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 1, 2]), good]));
  // Values beyond 2^53 (bigints) next to plain numbers in one batch of rows.
  const big = (2n ** 60n + 3n).toString();
  put('beyond-2^53', concat([good, packetBytes(ftrace(0, [{ timestamp: big, pid: 1, dmaHeapStat: { inode: (2n ** 55n + 1n).toString(), len: -4096, totalAllocated: 0 } }]))]));
  // Several 2 MiB reads: packets straddle them, and compressed packets are still being
  // inflated when the reader refills the buffers they came from.
  for (const compressed of [false, true]) {
    const file = path.join(dir, compressed ? 'large-zlib' : 'large');
    await writeSyntheticTrace(file, 7 * 1024 * 1024, { compressed });
    files[path.basename(file)] = file;
  }
  return files;
}

test('a trace decoded on a worker thread gives the same database as one decoded in this thread', async () => {
  for (const [name, file] of Object.entries(await traceFiles())) {
    const here = await open(file, { traceWorkerBytes: Infinity });
    const want = imported(here);
    here.close();
    const onWorker = await open(file, { traceWorkerBytes: 0 });
    assert.deepEqual(imported(onWorker), want, name);
    onWorker.close();
  }
});

test('the worker pauses while the database thread is behind and reuses its read buffers; every row still arrives, in order', async () => {
  const files = await traceFiles();
  for (const name of ['rich', 'large-zlib']) {
    const bytes = fs.readFileSync(files[name]);
    const here = await importChunked(perfetto, bytes, bytes.length);
    const want = tables(here);
    here.close();
    // Reads of 256 KiB (a few compressed packets each): the three read buffers are refilled
    // many times over, also while compressed packets taken from them are still being inflated.
    // Then the same with at most 3 rows in flight: the worker waits for the database thread
    // nearly every batch.
    for (const opts of [{ chunkBytes: 256 * 1024 }, { chunkBytes: 256 * 1024, maxUnackedRows: 3 }]) {
      const db = await Db.create();
      db.begin();
      const ctx = SourceContext.topLevel(db, 'trace.bin', 'perfetto', 'trace', 'trace.bin', bytes.length);
      await new TraceWorker(files[name], opts).run(ctx, () => {});
      db.commit();
      assert.deepEqual(tables(db), want, `${name} ${JSON.stringify(opts)}`);
      db.close();
    }
    assert.ok((want.dma_heap_event as unknown[]).length > 3);
  }
});

test('a file the worker cannot read is a diagnostic, as in this thread, not a hang', async () => {
  const db = await Db.create();
  const ctx = SourceContext.topLevel(db, 'gone.pftrace', 'perfetto', 'trace', 'gone', 0);
  await new TraceWorker(path.join(tempDir(), 'gone.pftrace')).run(ctx, () => {});
  const d = db.query("SELECT severity, code, message FROM diagnostic WHERE severity != 'info'");
  assert.equal(d.length, 1);
  assert.equal(d[0].code, 'read_failed');
  assert.match(String(d[0].message), /ENOENT/);
  db.close();
});

test('the command line decodes a large trace on a worker started while it loads, and waits for that worker to load', async () => {
  const dir = tempDir();
  const file = path.join(dir, 'large.pftrace');
  // Over the size from which the command line starts the worker early (TRACE_WORKER_BYTES).
  const { dmaHeapEvents } = await writeSyntheticTrace(file, TRACE_WORKER_BYTES + 1024 * 1024, { compressed: false });
  const r = cli(['analyze', file, '--format', 'json']);
  assert.equal(r.code, 0, r.err);
  const summary = JSON.parse(r.out) as { snapshots: { trace: { scope: string; allocs: number; frees: number }[] }[] };
  const all = summary.snapshots[0].trace.find((t) => t.scope === 'trace');
  assert.equal(all && all.allocs + all.frees, dmaHeapEvents);
  // The launcher awaits the early workers' loading before it changes V8's flags: that promise
  // keeps the process alive until it settles, and the worker no longer does once loaded.
  const script = `import { prestartTraceWorkers } from ${JSON.stringify(new URL('../src/importers/perfetto/remote.js', import.meta.url).href)};
    await prestartTraceWorkers([${JSON.stringify(file)}]); console.log('loaded');`;
  const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 60_000 });
  assert.deepEqual([child.status, child.stdout], [0, 'loaded\n'], child.stderr);
});
