// The trace importers on inputs that are hostile or odd: compressed and plain packets mixed,
// decompression bombs, over-long headers, events without their needed fields, floods of
// diagnostics, text lines of unbounded length. Field numbers are upstream's
// (../shared/formats.md §6): Trace.packet 1; TracePacket ftrace_events 1, compressed_packets
// 50, zstd_compressed_packets 133; FtraceEventBundle event 2; FtraceEvent timestamp 1, pid 2,
// ion_heap_grow 315, dma_heap_stat 351.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import zlib from 'node:zlib';
import protobuf from 'protobufjs';
import { PacketFramer, type FrameError } from '../src/importers/perfetto/framer.js';
import { Cursor } from '../src/importers/perfetto/wire.js';
import { bundleWalker } from '../src/importers/perfetto/decoder.js';
import { systraceText } from '../src/importers/systrace-text.js';
import { asSession, diagnostics, importChunked, openTexts } from './helpers.js';

const W = protobuf.Writer;

/** A Trace.packet field holding `packet` (a serialized TracePacket). */
const tracePacket = (packet: Uint8Array) => W.create().uint32((1 << 3) | 2).bytes(packet).finish();

/** A TracePacket with one ftrace bundle of events (each a serialized FtraceEvent). */
function ftracePacket(events: Uint8Array[]): Uint8Array {
  const bundle = W.create().uint32((1 << 3) | 0).uint32(0);
  for (const e of events) bundle.uint32((2 << 3) | 2).bytes(e);
  return W.create().uint32((1 << 3) | 2).bytes(bundle.finish()).finish();
}

/** An FtraceEvent at `ts` by thread 10 carrying `payload` as field `field`. */
const ftraceEvent = (ts: number, field: number, payload: Uint8Array) =>
  W.create().uint32((1 << 3) | 0).uint64(ts).uint32((2 << 3) | 0).uint32(10).uint32((field << 3) | 2).bytes(payload).finish();

/** dma_heap_stat { inode 1, len 2, total_allocated 3 }, each field only when given. */
function dmaHeapStat(inode: number, len: number | null, total: number): Uint8Array {
  const w = W.create().uint32((1 << 3) | 0).uint64(inode);
  if (len !== null) w.uint32((2 << 3) | 0).int64(len);
  return w.uint32((3 << 3) | 0).uint64(total).finish();
}

const dmaPacket = (ts: number, inode: number) => ftracePacket([ftraceEvent(ts, 351, dmaHeapStat(inode, 4096, 4096 * inode))]);
const compressed = (inner: Uint8Array) => tracePacket(W.create().uint32((50 << 3) | 2).bytes(zlib.deflateSync(inner)).finish());
const zstdCompressed = (frame: Uint8Array) => tracePacket(W.create().uint32((133 << 3) | 2).bytes(frame).finish());

test('packets are decoded in trace order when compressed and plain packets follow each other', async () => {
  const bytes = Buffer.concat([
    compressed(tracePacket(dmaPacket(1000, 1))),
    compressed(tracePacket(dmaPacket(2000, 2))),
    tracePacket(dmaPacket(3000, 3)),
    compressed(tracePacket(dmaPacket(4000, 4))),
    tracePacket(dmaPacket(5000, 5)),
  ]);
  const s = await openTexts({ 'mixed.pftrace': bytes });
  assert.deepEqual(
    s.query('SELECT ts, inode FROM dma_heap_event ORDER BY rowid'),
    [1000, 2000, 3000, 4000, 5000].map((ts, i) => ({ ts, inode: i + 1 })),
  );
  assert.deepEqual(diagnostics(s), []);
  s.close();
});

/** A zstd frame header (RFC 8878): magic, descriptor with an 8-byte content size and single segment. */
function zstdHeader(contentSize: number): number[] {
  const out = [0x28, 0xb5, 0x2f, 0xfd, 0xe0]; // FCS flag 3, single segment
  for (let i = 0, v = contentSize; i < 8; i++, v = Math.floor(v / 256)) out.push(v % 256);
  return out;
}

test('zstd packets that would decompress past the limit are refused before any allocation', async () => {
  // A frame declaring 2 GB of content, with one empty raw block.
  const declared = new Uint8Array([...zstdHeader(2_000_000_000), 0x01, 0x00, 0x00]);
  // A frame without a content size whose 200 RLE blocks regenerate ~400 MB from 800 bytes.
  const rle: number[] = [0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x58]; // no FCS, window 8 MiB
  const blockSize = (1 << 21) - 1;
  for (let i = 0; i < 200; i++) {
    const h = (blockSize << 3) | (1 << 1) | (i === 199 ? 1 : 0);
    rle.push(h & 0xff, (h >>> 8) & 0xff, (h >>> 16) & 0xff, 0x41);
  }
  const s = await openTexts({
    'bomb.pftrace': Buffer.concat([tracePacket(dmaPacket(1000, 1)), zstdCompressed(declared), zstdCompressed(new Uint8Array(rle)), tracePacket(dmaPacket(2000, 2))]),
  });
  assert.deepEqual(s.query('SELECT ts FROM dma_heap_event ORDER BY rowid'), [{ ts: 1000 }, { ts: 2000 }]);
  const d = diagnostics(s);
  assert.deepEqual(
    d.map((x) => [x.severity, x.code]),
    [
      ['error', 'decompress_failed'],
      ['error', 'decompress_failed'],
    ],
  );
  assert.match(d[0].message, /up to 2000000000 bytes, over the 268435456-byte limit/);
  assert.match(d[1].message, /over the 268435456-byte limit/);
  s.close();
});

test('a field header longer than a tag and a varint can be is corruption, also when cut by a chunk boundary', () => {
  const good = tracePacket(dmaPacket(1000, 1));
  // A 10-byte tag (wire type 2), then a length varint still going on after 9 bytes: 19 bytes
  // that could be the start of a header if a tag could be that long.
  const header = [0x8a, ...Array(8).fill(0xff), 0x01, ...Array(9).fill(0xff), 0x01];
  for (const cut of [good.length + 3, good.length + 12, good.length + 19]) {
    const bytes = Buffer.concat([good, Buffer.from(header), tracePacket(dmaPacket(2000, 2))]);
    const packets: number[] = [];
    const errors: FrameError[] = [];
    const framer = new PacketFramer(
      (_b, s, e) => packets.push(e - s),
      (err) => errors.push(err),
    );
    framer.push(bytes.subarray(0, cut));
    framer.push(bytes.subarray(cut));
    framer.end();
    assert.deepEqual(packets, [good.length - 2], `cut at ${cut}`);
    assert.deepEqual(
      errors.map((e) => e.code),
      ['corrupt_trace'],
      `cut at ${cut}`,
    );
  }
});

test('64-bit varints decode exactly on both sides of every width the reader treats apart', () => {
  const values = [0n, 1n, 127n, 128n, 2n ** 28n - 1n, 2n ** 28n, 3n * 2n ** 28n + 5n, 2n ** 30n - 1n, 2n ** 30n, 2n ** 31n, 2n ** 32n + 7n];
  values.push(2n ** 35n + 9n, 2n ** 49n - 1n, 2n ** 49n, 2n ** 53n - 1n, 2n ** 53n, 2n ** 64n - 1n);
  for (const v of values) {
    const bytes = protobuf.Writer.create().uint64(v.toString()).finish();
    const c = new Cursor(bytes);
    const got = c.u64();
    assert.equal(BigInt(got), v, `u64 ${v}`);
    assert.equal(typeof got, v < 2n ** 53n ? 'number' : 'bigint', `u64 ${v}`);
    assert.equal(c.pos, bytes.length, `u64 ${v} length`);
    const neg = new Cursor(protobuf.Writer.create().int64((-v).toString()).finish()).i64();
    if (v < 2n ** 63n) assert.equal(BigInt(neg), -v, `i64 -${v}`);
  }
  // Longer than needed (a writer may pad): the same value.
  assert.equal(new Cursor(Uint8Array.from([0x85, 0x80, 0x80, 0x80, 0x00])).u64(), 5);
  assert.equal(new Cursor(Uint8Array.from([0x81, 0x80, 0x80, 0x80, 0x81, 0x00])).u64(), 2 ** 28 + 1);
});

test('the bundle walk decodes the usual dma_heap_stat, binder and dmabuf_rss_stat events and hands over exactly the other events of ours and those laid out otherwise, in order', () => {
  /** A varint `width` bytes long (padded with continuation bytes, as a writer may). */
  const varint = (width: number, low = 1) => [...Array(width - 1).fill(0x80 | low), 0x01];
  const event = (...bytes: number[]) => Uint8Array.from(bytes);
  const usual: Uint8Array[] = [];
  for (let ts = 1; ts <= 10; ts++) {
    for (const payload of [0, 1, 12, 200]) {
      const len = payload < 128 ? [payload] : [0x80 | (payload & 0x7f), payload >> 7];
      usual.push(event(0x08, ...varint(ts), 0x10, ...varint(1 + (ts % 5)), 0x1a, ...len, ...Array(payload).fill(0xff)));
    }
  }
  usual.push(event(0x08, 5, 0x10, 7, 0x28, 1, 0x1a, 1, 0)); // with common_flags
  const heap = (ts: number, pid: number, len: number, total?: number, field = 351) => {
    const payload = W.create().uint32((1 << 3) | 0).uint64(5).uint32((2 << 3) | 0).int64(len);
    if (total !== undefined) payload.uint32((3 << 3) | 0).uint64(total);
    return W.create().uint32((1 << 3) | 0).uint64(ts).uint32((2 << 3) | 0).uint32(pid).uint32((field << 3) | 2).bytes(payload.finish()).finish();
  };
  const handed = [
    event(0x08, 9, 0x10, 7, 0xfa, 0x15, 2, 0x08, 1), // dma_heap_stat without its len
    event(0x10, 7, 0x08, 9, 0x1a, 0), // pid before timestamp
    event(0x08, 9, 0x10, 7, 0xc2, 0xbb, 0x01, 0), // field 3000: a 3-byte tag
    event(0x08, 9, 0x10, 7, 0x1a, 0, 0x20, 1), // a field after the payload
    heap(2 ** 53, 7, 4096, 8192), // a timestamp a double does not hold exactly
    heap(10_002, 2 ** 31, 4096), // a pid past int32
  ];
  /** A dmabuf_rss_stat (579) event with these fields (rss=1 uint64, rss_delta=2 int64, i_ino=3 uint64), in this order. */
  const rss = (ts: number, ...fields: [number, number | string][]) => {
    const payload = W.create();
    for (const [f, v] of fields) payload.uint32((f << 3) | 0)[f === 2 ? 'int64' : 'uint64'](v);
    return W.create().uint32((1 << 3) | 0).uint64(ts).uint32((2 << 3) | 0).uint32(8).uint32((579 << 3) | 2).bytes(payload.finish()).finish();
  };
  const rsses = [
    rss(30_000, [1, 12288], [2, 4096], [3, 900]),
    rss(30_001, [1, 8192], [2, -4096]), // no i_ino
    rss(30_002, [1, 8192], [3, 901]), // no rss_delta
    rss(30_003, [1, 0]),
  ];
  const rssHanded = [
    rss(30_004, [2, 4096], [3, 900]), // no rss
    rss(30_005, [1, 4096], [3, 900], [2, 1]), // out of order
    rss(30_006, [1, String(2n ** 53n)]), // an rss a double does not hold exactly
    rss(30_007, [1, 4096], [2, String(-(2n ** 53n))]), // a delta a double does not hold exactly
  ];
  /** A binder_transaction (50) or _received (51) event with these varint fields, in this order. */
  const binder = (ts: number, field: number, ...fields: [number, number | string][]) => {
    const payload = W.create();
    for (const [f, v] of fields) payload.uint32((f << 3) | 0).int64(v);
    return W.create().uint32((1 << 3) | 0).uint64(ts).uint32((2 << 3) | 0).uint32(9).uint32((field << 3) | 2).bytes(payload.finish()).finish();
  };
  const binders = [
    binder(20_000, 50, [1, 42], [2, 5], [3, 200], [4, 0], [5, 0], [6, 3], [7, 16]),
    binder(20_001, 50, [1, -5], [3, 200], [5, 1]), // a negative debug_id (ten bytes); no to_thread, no flags
    binder(20_002, 51, [1, 42]),
  ];
  const binderHanded = [
    binder(20_003, 50, [3, 200], [5, 0]), // no debug_id
    binder(20_004, 50, [5, 0], [1, 43]), // out of order
    binder(20_005, 51, [1, 43], [2, 1]), // a field a received event does not have
    binder(20_006, 50, [1, 44], [7, String(2n ** 53n)]), // flags a double does not hold exactly
    // debug_id length-delimited
    W.create().uint32((1 << 3) | 0).uint64(20_007).uint32((2 << 3) | 0).uint32(9).uint32((50 << 3) | 2).bytes(Uint8Array.from([0x0a, 1, 1])).finish(),
  ];
  const last = event(0x08, ...varint(3, 0x2a), 0x10, 7, 0x1a, 0);
  const all = [usual[0], heap(10_000, 7, 4096, 8192), handed[0], heap(10_001, 2 ** 31 - 1, -4096), ...handed.slice(1), ...binders, ...binderHanded, ...rsses, ...rssHanded, ...usual.slice(1), last];
  // cpu (field 1) and compact_sched (4, length-delimited) are skipped in the walk; lost_events (3) is handed over.
  const bundle = Buffer.concat([Buffer.from([0x08, 3, 0x22, 2, 0x0a, 0x00, 0x18, 1]), ...all.map((e) => Buffer.concat([Buffer.from(W.create().uint32((2 << 3) | 2).uint32(e.length).finish()), e]))]);
  const want = [
    ['row', 10_000, 5, 4096, 8192, 7],
    ['event', Buffer.from(handed[0])],
    ['row', 10_001, 5, -4096, NaN, 2 ** 31 - 1],
    ...handed.slice(1).map((e) => ['event', Buffer.from(e)]),
    ['binder', 20_000, 9, 0, 42, 0, 16, 200, 0],
    ['binder', 20_001, 9, 0, -5, 1, 0, 200, NaN],
    ['binder', 20_002, 9, 1, 42, NaN, NaN, NaN, NaN],
    ...binderHanded.map((e) => ['event', Buffer.from(e)]),
    ['rss', 30_000, 12288, 4096, 900, 8],
    ['rss', 30_001, 8192, -4096, NaN, 8],
    ['rss', 30_002, 8192, NaN, 901, 8],
    ['rss', 30_003, 0, NaN, NaN, 8],
    ...rssHanded.map((e) => ['event', Buffer.from(e)]),
  ];

  const walker = bundleWalker(bundle.length + 16);
  const inRegion = walker.region(0, bundle.length);
  bundle.copy(inRegion);
  // A bundle larger than a walker's scratch area is walked by a walker made for it.
  const small = bundleWalker(0, 64);
  assert.ok(bundle.length > 64);
  for (const [where, buf, w] of [
    ['copied', bundle, walker],
    ['in place', inRegion, walker],
    ['larger than the scratch area', bundle, small],
  ] as const) {
    const got: unknown[] = [];
    const fields: number[] = [];
    const reader = {
      event: (b: Uint8Array, s: number, e: number) => (got.push(['event', Buffer.from(b.subarray(s, e))]), -1),
      bundleField: (b: Uint8Array, at: number) => (fields.push(b[at]), at + 2),
      heapRows: (rows: Float64Array, count: number) => {
        for (let i = 0; i < count; i++) got.push(['row', ...rows.subarray(i * 5, i * 5 + 5)]);
      },
      binderRows: (rows: Float64Array, count: number) => {
        for (let i = 0; i < count; i++) got.push(['binder', ...rows.subarray(i * 8, i * 8 + 8)]);
      },
      rssRows: (rows: Float64Array, count: number) => {
        for (let i = 0; i < count; i++) got.push(['rss', ...rows.subarray(i * 5, i * 5 + 5)]);
      },
      otherPacket: (): boolean => assert.fail('a bundle walk hands over no packet'),
      failedPacket: () => assert.fail('a bundle walk hands over no packet'),
    };
    assert.equal(w.bundle(buf, 0, bundle.length, reader), all.length, where);
    assert.deepEqual(got, want, where);
    assert.deepEqual(fields, [0x18], where);
    const tsAt = (at: number, bytes: number[]) => assert.deepEqual([...w.walkedBytes.subarray(at, at + bytes.length)], bytes, where);
    tsAt(w.firstTsAt, [0x01, 0x10]);
    tsAt(w.lastTsAt, [...varint(3, 0x2a), 0x10]);
    // The last event's length one byte too long: it runs past the bundle.
    const cut = Buffer.from(buf.subarray(0, bundle.length - 1));
    assert.equal(w.bundle(cut, 0, cut.length, reader), -1, where);
    // A length-delimited field that runs past the bundle is handed over (its reader reports it).
    fields.length = 0;
    assert.equal(w.bundle(Buffer.from([0x08, 3, 0x22, 5, 0x0a, 0x00]), 0, 6, reader), 0, where);
    assert.deepEqual(fields, [0x22], where);
  }
});

test('timestamps and pids of every varint width are read, however few bytes follow them in the event', async () => {
  // Widths 1 to 9 bytes (boot-clock timestamps pass 2^49 ns, 8 bytes, after 6.5 days up); pids up to 5.
  const stamps = ['5', '200', '20000', '3000000', String(2 ** 28 + 3), String(2 ** 35 + 5), String(2 ** 42 + 7), String(2 ** 53 - 1), String(2n ** 62n + 9n)];
  const pids = [7, 300, 70_000, 4_000_000, 2 ** 31 - 1];
  const packets: Uint8Array[] = [];
  const want: { ts: string; tid: number }[] = [];
  for (const [i, ts] of stamps.entries()) {
    const pid = pids[i % pids.length];
    const head = () => W.create().uint32((1 << 3) | 0).uint64(ts).uint32((2 << 3) | 0).uint32(pid);
    const ours = head().uint32((351 << 3) | 2).bytes(dmaHeapStat(i + 1, 4096, 4096)).finish();
    const short = head().uint32((3 << 3) | 2).bytes(new Uint8Array([1])).finish(); // not ours, one payload byte
    packets.push(tracePacket(ftracePacket([ours, short])));
    want.push({ ts, tid: pid });
  }
  const s = await openTexts({ 'widths.pftrace': Buffer.concat(packets) });
  assert.deepEqual(s.query('SELECT CAST(ts AS TEXT) AS ts, tid FROM dma_heap_event ORDER BY rowid'), want);
  assert.deepEqual(s.query('SELECT ftrace_events, CAST(start_ts AS TEXT) AS first, CAST(end_ts AS TEXT) AS last FROM trace_info'), [
    { ftrace_events: 2 * stamps.length, first: stamps[0], last: stamps[stamps.length - 1] },
  ]);
  assert.deepEqual(diagnostics(s), []);
  s.close();
});

test('events without the field their row needs are reported, not stored as zero; a missing total stays NULL', async () => {
  const ionGrow = W.create().uint32((1 << 3) | 2).string('system').uint32((2 << 3) | 0).uint64(8192).finish(); // no total_allocated
  const bytes = tracePacket(
    ftracePacket([ftraceEvent(1000, 351, dmaHeapStat(7, null, 8192)), ftraceEvent(2000, 351, dmaHeapStat(8, 4096, 12288)), ftraceEvent(3000, 315, ionGrow)]),
  );
  const s = await openTexts({ 'fields.pftrace': bytes });
  assert.deepEqual(s.query('SELECT ts, inode, size_delta FROM dma_heap_event'), [{ ts: 2000, inode: 8, size_delta: 4096 }]);
  assert.deepEqual(s.query('SELECT origin, heap_name, size_delta, heap_total, reported_total FROM ion_heap_event'), [
    { origin: 'ion_heap_grow', heap_name: 'system', size_delta: 8192, heap_total: null, reported_total: null },
  ]);
  assert.deepEqual(
    diagnostics(s).map((x) => [x.severity, x.code, x.message]),
    [['warning', 'malformed_event', 'dma_heap_stat event without its len field']],
  );
  s.close();
});

test('a flood of bad compressed packets is capped: the first 200 diagnostics, then one count of the rest', async () => {
  const bad = tracePacket(W.create().uint32((50 << 3) | 2).bytes(new Uint8Array([1, 2, 3, 4, 5])).finish());
  const parts = [tracePacket(dmaPacket(1000, 1))];
  for (let i = 0; i < 250; i++) parts.push(bad);
  const s = await openTexts({ 'flood.pftrace': Buffer.concat(parts) });
  assert.deepEqual(s.query('SELECT inode FROM dma_heap_event'), [{ inode: 1 }]);
  const d = diagnostics(s);
  assert.equal(d.filter((x) => x.code === 'decompress_failed').length, 200);
  assert.deepEqual(
    d.filter((x) => x.code !== 'decompress_failed').map((x) => [x.severity, x.code, x.message]),
    [['warning', 'too_many_diagnostics', '50 more diagnostics of this source were not recorded']],
  );
  s.close();
});

test('a text trace line of unbounded length is cut, not buffered whole; the lines around it are read', async () => {
  const event = (ts: string, inode: number) =>
    `  allocator-612   (  612) [003] ...1  ${ts}: dma_heap_stat: inode=${inode} len=4096B total_allocated=${4096 * inode}B\n`;
  const text = '# tracer: nop\n' + event('100.000001', 1) + `junk ${'x'.repeat(3_000_000)}\n` + event('100.000002', 2);
  const db = await importChunked(systraceText, new TextEncoder().encode(text), 64 * 1024, 'trace.txt');
  const s = asSession(db);
  assert.deepEqual(s.query('SELECT ts, inode FROM dma_heap_event ORDER BY rowid'), [
    { ts: 100_000_001_000, inode: 1 },
    { ts: 100_000_002_000, inode: 2 },
  ]);
  assert.deepEqual(
    diagnostics(s).map((x) => [x.severity, x.code, x.message]),
    [['warning', 'long_line', '1 lines longer than 65536 characters were cut to that length']],
  );
  db.close();
});
