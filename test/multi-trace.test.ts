// Sessions of two traces of one device taken at different times: a folder holding both (one
// snapshot), or both named as inputs (a snapshot each). The same pid or tid is then another
// process or thread in each: what the findings, the `thread` table and the diagnostics say must
// be each trace's own.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { open } from '../src/index.js';
import { deviceTrace, oneAppTrace } from './fixtures/trace.js';
import { cli, tempDir } from './helpers.js';

const MiB = 1 << 20;

/**
 * Trace A: pid 300 is `com.first`, its thread 301 `RenderA` allocates. Trace B, later: pid 300 is
 * `com.second`, and tid 301 is `RenderB` of `com.third` (pid 600), which allocates. Both sample
 * pid 500 (a process neither names) and tid 777 (a thread of no known process): A's grow by
 * 39 MiB, B's by 1 MiB (no finding). Pid 300 grows in both.
 */
function twoTraces(): { dir: string; a: string; b: string } {
  const dir = tempDir();
  const a = path.join(dir, 'a.pftrace');
  const b = path.join(dir, 'b.pftrace');
  fs.writeFileSync(
    a,
    deviceTrace(1000, {
      processes: [{ pid: 300, name: 'com.first', threads: [[301, 'RenderA']] }],
      polls: [
        [50, 300, MiB],
        [50, 500, MiB],
        [500, 300, 40 * MiB],
        [500, 500, 40 * MiB],
      ],
      rssStats: [
        [60, 777, MiB],
        [510, 777, 40 * MiB],
      ],
      allocs: [[100, 301, 11, 4096]],
    }),
  );
  fs.writeFileSync(
    b,
    deviceTrace(5000, {
      processes: [
        { pid: 300, name: 'com.second', threads: [[302, 'Other']] },
        { pid: 600, name: 'com.third', threads: [[301, 'RenderB']] },
      ],
      polls: [
        [50, 300, MiB],
        [50, 500, 40 * MiB],
        [500, 300, 30 * MiB],
        [500, 500, 41 * MiB],
      ],
      rssStats: [
        [60, 777, 40 * MiB],
        [510, 777, 41 * MiB],
      ],
      allocs: [[100, 301, 21, 8192]],
    }),
  );
  return { dir, a, b };
}

test('two traces in one snapshot: rss_growth is found per trace, each named after its own trace\'s process', async () => {
  const { dir } = twoTraces();
  const s = await open(dir);
  const rows = s.query("SELECT subject, bytes, evidence FROM dmabuf_leak_suspects WHERE kind = 'rss_growth' ORDER BY subject, bytes");
  s.close();
  const rose = (from: number, to: number, first: number, last: number, origin: string) =>
    `DMA-BUF RSS rose from ${from} to ${to} bytes between ts ${first} and ts ${last} (2 samples from ${origin}, peak ${to} bytes)`;
  assert.deepEqual(rows, [
    // Trace B's samples of pid 500 and thread 777 (1 MiB more) are not added to trace A's.
    { subject: '? (500)', bytes: 39 * MiB, evidence: rose(MiB, 40 * MiB, 1050, 1500, 'process_stats') },
    { subject: 'com.first (300)', bytes: 39 * MiB, evidence: rose(MiB, 40 * MiB, 1050, 1500, 'process_stats') },
    { subject: 'com.second (300)', bytes: 29 * MiB, evidence: rose(MiB, 30 * MiB, 5050, 5500, 'process_stats') },
    { subject: 'thread 777', bytes: 39 * MiB, evidence: rose(MiB, 40 * MiB, 1060, 1510, 'dmabuf_rss_stat') },
  ]);
});

test('two traces in one snapshot: a tid both saw is a thread of each, of its own trace\'s process, in the thread table and the trace views', async () => {
  const { dir, a, b } = twoTraces();
  const s = await open(dir);
  assert.deepEqual(s.query('SELECT ts, tid, thread_name, pid, process_name FROM android_dmabuf_allocs'), [
    { ts: 1100, tid: 301, thread_name: 'RenderA', pid: 300, process_name: 'com.first' },
    { ts: 5100, tid: 301, thread_name: 'RenderB', pid: 600, process_name: 'com.third' },
  ]);
  assert.deepEqual(s.query('SELECT process_name, utid = (SELECT rowid FROM thread WHERE name = thread_name) AS own FROM android_memory_cumulative_dmabuf'), [
    { process_name: 'com.first', own: 1 },
    { process_name: 'com.third', own: 1 },
  ]);
  assert.deepEqual(s.query("SELECT subject, bytes FROM dmabuf_leak_suspects WHERE kind = 'unfreed_in_trace' ORDER BY subject"), [
    { subject: 'com.first (300)', bytes: 4096 },
    { subject: 'com.third (600)', bytes: 8192 },
  ]);
  // The table: a row per trace.
  assert.deepEqual(s.query('SELECT s.path, t.tid, t.pid, t.name FROM thread t JOIN source s ON s.id = t.source_id WHERE t.tid = 301 ORDER BY s.path'), [
    { path: a, tid: 301, pid: 300, name: 'RenderA' },
    { path: b, tid: 301, pid: 600, name: 'RenderB' },
  ]);
  s.close();
  // What `dmabuf-triage schema thread` documents.
  const doc = cli(['schema', 'thread']);
  assert.equal(doc.code, 0, doc.err);
  assert.match(doc.out, /per trace: a tid two traces of one snapshot both saw/);
  assert.match(doc.out, /source_id.*Source \(trace\) that saw the thread/);
});

test('pid_reused_across_traces: a pid two traces of one device saw as different processes is named once, with both names', async () => {
  const { dir, a, b } = twoTraces();
  const expected = (where: string) =>
    "1 pid was a different process in different traces (their names differ): each trace's processes are its own in the trace analyses (process_instance), " +
    `so compare the traces' rows by process name, not by pid: 300 (${where})`;
  const folder = await open(dir);
  assert.deepEqual(folder.query("SELECT snapshot_id, severity, message FROM diagnostic WHERE code = 'pid_reused_across_traces'"), [
    { snapshot_id: 1, severity: 'info', message: expected(`com.first in ${a}; com.second in ${b}`) },
  ]);
  folder.close();
  // Named as two inputs: two snapshots; said once, by the later one.
  const inputs = await open([a, b]);
  assert.deepEqual(inputs.query("SELECT snapshot_id, message FROM diagnostic WHERE code = 'pid_reused_across_traces'"), [
    { snapshot_id: 2, message: expected(`com.first in ${a} of snapshot 1; com.second in ${b}`) },
  ]);
  inputs.close();
  // The same process name in both: nothing to say.
  const same = tempDir();
  fs.writeFileSync(path.join(same, 'a.pftrace'), oneAppTrace('com.first', 1000));
  fs.writeFileSync(path.join(same, 'b.pftrace'), oneAppTrace('com.first', 5000));
  const quiet = await open(same);
  assert.deepEqual(quiet.query("SELECT count(*) AS n FROM diagnostic WHERE code LIKE 'pid_reused%'"), [{ n: 0 }]);
  quiet.close();
});

/**
 * Trace A: com.first's RenderA (301) allocates inode 11, tid 777 (of no known process) inode 12.
 * Trace B, later: tid 777 frees inode 12 and 301 (now of com.third) inode 11, which B never saw
 * allocated; then 777 allocates inode 31.
 */
function crossFrees(): string {
  const dir = tempDir();
  fs.writeFileSync(
    path.join(dir, 'a.pftrace'),
    deviceTrace(1000, {
      processes: [{ pid: 300, name: 'com.first', threads: [[301, 'RenderA']] }],
      allocs: [[100, 301, 11, 4096], [110, 777, 12, 8192]],
    }),
  );
  fs.writeFileSync(
    path.join(dir, 'b.pftrace'),
    deviceTrace(5000, {
      processes: [{ pid: 600, name: 'com.third', threads: [[301, 'RenderB']] }],
      allocs: [[100, 777, 12, -8192], [110, 301, 11, -4096], [120, 777, 31, 16384]],
    }),
  );
  return dir;
}

test('two traces in one snapshot: a free is matched with its own trace\'s allocation only', async () => {
  const s = await open(crossFrees());
  // B's frees have no row (as Perfetto reading B drops them): not charged to A's allocations.
  assert.deepEqual(s.query('SELECT ts, buf_size, tid, process_name FROM android_dmabuf_allocs'), [
    { ts: 1100, buf_size: 4096, tid: 301, process_name: 'com.first' },
    { ts: 1110, buf_size: 8192, tid: 777, process_name: null },
    { ts: 5120, buf_size: 16384, tid: 777, process_name: null },
  ]);
  assert.deepEqual(s.query('SELECT inode, end_kind FROM dmabuf_trace_buffers'), [
    { inode: 11, end_kind: 'outstanding' },
    { inode: 12, end_kind: 'outstanding' },
    { inode: 31, end_kind: 'outstanding' },
  ]);
  // A trace row each: B's frees of inodes only A saw allocated are dropped in B.
  assert.deepEqual(s.query("SELECT allocs, frees, outstanding_bytes, dropped_free_bytes FROM dmabuf_trace_summary WHERE scope = 'trace'"), [
    { allocs: 2, frees: 0, outstanding_bytes: 12288, dropped_free_bytes: 0 },
    { allocs: 1, frees: 0, outstanding_bytes: 16384, dropped_free_bytes: 12288 },
  ]);
  // A's buffer of com.first is still allocated at A's end: B's free was not of it.
  assert.deepEqual(s.query("SELECT subject, bytes FROM dmabuf_leak_suspects WHERE kind = 'unfreed_in_trace' AND subject LIKE 'com.%'"), [
    { subject: 'com.first (300)', bytes: 4096 },
  ]);
  s.close();
});

test('two traces in one snapshot: a thread of no known process is charged in each trace apart', async () => {
  const s = await open(crossFrees());
  // Thread 777's running sum in B counts B's events only.
  assert.deepEqual(s.query('SELECT ts, value FROM android_memory_cumulative_dmabuf WHERE process_name IS NULL'), [
    { ts: 1110, value: 8192 },
    { ts: 5120, value: 16384 },
  ]);
  assert.deepEqual(
    s.query("SELECT tid, process_name, allocs, frees, outstanding_bytes, peak_outstanding_bytes, first_ts, last_ts FROM dmabuf_trace_summary WHERE scope = 'process'"),
    [
      { tid: 777, process_name: null, allocs: 1, frees: 0, outstanding_bytes: 16384, peak_outstanding_bytes: 16384, first_ts: 5120, last_ts: 5120 },
      { tid: 777, process_name: null, allocs: 1, frees: 0, outstanding_bytes: 8192, peak_outstanding_bytes: 8192, first_ts: 1110, last_ts: 1110 },
      { tid: null, process_name: 'com.first', allocs: 1, frees: 0, outstanding_bytes: 4096, peak_outstanding_bytes: 4096, first_ts: 1100, last_ts: 1100 },
    ],
  );
  // A finding for each trace's buffers of thread 777, not one adding them up.
  assert.deepEqual(s.query("SELECT subject, bytes FROM dmabuf_leak_suspects WHERE kind = 'unfreed_in_trace' ORDER BY bytes"), [
    { subject: 'com.first (300)', bytes: 4096 },
    { subject: 'thread 777', bytes: 8192 },
    { subject: 'thread 777', bytes: 16384 },
  ]);
  s.close();
});

/**
 * Trace A: com.first allocates 4096 bytes at ts 1100 and 8192 at 1200, neither freed (A ends at
 * 1200). Trace B, much later: com.third allocates 1024 bytes at ts 100100 and frees them at 100200.
 */
function apartInTime(): { dir: string; a: string; b: string } {
  const dir = tempDir();
  const a = path.join(dir, 'a.pftrace');
  const b = path.join(dir, 'b.pftrace');
  fs.writeFileSync(a, deviceTrace(1000, { processes: [{ pid: 300, name: 'com.first', threads: [[301, 'RenderA']] }], allocs: [[100, 301, 11, 4096], [200, 301, 12, 8192]] }));
  fs.writeFileSync(b, deviceTrace(100000, { processes: [{ pid: 600, name: 'com.third', threads: [[601, 'RenderB']] }], allocs: [[100, 601, 21, 1024], [200, 601, 21, -1024]] }));
  return { dir, a, b };
}

const TRACE_ROW = "SELECT allocs, frees, allocated_bytes, outstanding_bytes, peak_outstanding_bytes, first_ts, last_ts, dropped_free_bytes, heap_avg_bytes, heap_min_bytes, heap_max_bytes, heap_end_bytes, trace_end_ts FROM dmabuf_trace_summary WHERE scope = 'trace'";

test('two traces in one snapshot: each has its own trace summary row, its heaps\' average, peak and bounds as for that trace alone', async () => {
  const { dir, a, b } = apartInTime();
  const s = await open(dir);
  const rows = s.query(TRACE_ROW);
  assert.deepEqual(rows, [
    // A's last heaps' total (12288) lasts until A's end, not through the gap until B's first event.
    { allocs: 2, frees: 0, allocated_bytes: 12288, outstanding_bytes: 12288, peak_outstanding_bytes: 12288, first_ts: 1100, last_ts: 1200, dropped_free_bytes: 0,
      heap_avg_bytes: 4096, heap_min_bytes: 4096, heap_max_bytes: 12288, heap_end_bytes: 12288, trace_end_ts: 1200 },
    // B's running sum starts from B's events: A's unfreed buffers are not carried into it.
    { allocs: 1, frees: 1, allocated_bytes: 1024, outstanding_bytes: 0, peak_outstanding_bytes: 1024, first_ts: 100100, last_ts: 100200, dropped_free_bytes: 0,
      heap_avg_bytes: 1024, heap_min_bytes: 0, heap_max_bytes: 1024, heap_end_bytes: 0, trace_end_ts: 100200 },
  ]);
  // Each row names its trace.
  assert.deepEqual(
    s.query("SELECT src.path FROM dmabuf_trace_summary t JOIN source src ON src.id = t.source_id WHERE t.scope = 'trace'").map((r) => r.path),
    [a, b],
  );
  // A's buffers were still allocated at A's end, not at B's.
  assert.deepEqual(s.query("SELECT subject, bytes, evidence FROM dmabuf_leak_suspects WHERE kind = 'unfreed_in_trace'"), [
    {
      subject: 'com.first (300)',
      bytes: 12288,
      evidence: '2 buffers allocated during the trace between ts 1100 and 1200 (largest 8192 bytes) were still allocated at its end (ts 1200)',
    },
  ]);
  s.close();
  // The same rows as each trace read alone.
  for (const [file, row] of [[a, rows[0]], [b, rows[1]]] as const) {
    const alone = await open(file);
    assert.deepEqual(alone.query(TRACE_ROW), [row], file);
    alone.close();
  }
  // What `analyze` says: a line of each trace.
  const text = cli(['analyze', dir]);
  assert.equal(text.code, 0, text.err);
  assert.match(text.out, /heaps total \(trace from ts 1100 to 1200\)\s+avg 4\.0 KiB/);
  assert.match(text.out, /heaps total \(trace from ts 100100 to 100200\)\s+avg 1\.0 KiB/);
  // What `dmabuf-triage schema` documents.
  const doc = cli(['schema', 'dmabuf_trace_summary']);
  assert.equal(doc.code, 0, doc.err);
  assert.match(doc.out, /one `trace` row per trace/);
  assert.match(doc.out, /source_id\s+Source \(trace\) of the row/);
  assert.match(cli(['schema', 'trace_info']).out, /has a row for each, and the analyses take each trace's\s+end from its own row/);
});

test('two traces in one snapshot: each has its own ION heap summary, to its own end, as for that trace alone', async () => {
  const dir = tempDir();
  const a = path.join(dir, 'a.pftrace');
  const b = path.join(dir, 'b.pftrace');
  const processes = [{ pid: 300, name: 'com.first', threads: [[301, 'RenderA']] as [number, string][] }];
  fs.writeFileSync(a, deviceTrace(1000, { processes, ionGrows: [[100, 301, 'system', 4096, 0], [200, 301, 'system', 4096, 4096], [300, 301, 'system', 4096, 8192]] }));
  fs.writeFileSync(b, deviceTrace(100000, { processes, ionGrows: [[100, 301, 'system', 1024, 0], [200, 301, 'system', 1024, 1024]] }));
  const ROWS = 'SELECT heap_name, events, avg_size_bytes, min_size_bytes, max_size_bytes, total_alloc_size_bytes, end_size_bytes, first_ts, last_ts FROM dmabuf_ion_summary';
  const s = await open(dir);
  const rows = s.query(ROWS);
  assert.equal(rows.length, 2, 'a row for each trace');
  // A's heap is not taken to keep its last total through the gap until B's first event.
  assert.deepEqual([rows[0].first_ts, rows[0].last_ts, rows[1].first_ts, rows[1].last_ts], [1100, 1300, 100100, 100200]);
  assert.deepEqual(
    s.query("SELECT src.path FROM dmabuf_ion_summary i JOIN source src ON src.id = i.source_id").map((r) => r.path),
    [a, b],
  );
  s.close();
  for (const [file, row] of [[a, rows[0]], [b, rows[1]]] as const) {
    const alone = await open(file);
    assert.deepEqual(alone.query(ROWS), [row], file);
    alone.close();
  }
});
