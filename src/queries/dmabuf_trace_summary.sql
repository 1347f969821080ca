-- @analysis dmabuf_trace_summary
-- @title DMA-BUF heap activity during a trace
-- From the `dma_heap_stat` events of each trace: one `trace` row per trace (all
-- processes, with the statistics of the heaps' total over time; a snapshot of two traces has a
-- row for each, each from its own events to its own end, as Perfetto gives them for that trace
-- alone) and one `process` row per
-- responsible process (per thread when its process is unknown; a pid or thread of no known
-- process in two traces of a snapshot has a row for each trace), attributed as in
-- `android_dmabuf_allocs` (gralloc allocations charged to their client, a free to whoever
-- its buffer's allocation in the same trace was charged to, frees of buffers allocated before
-- the trace left out). Reproduces Perfetto's
-- `android_dma_heap` metric: avg/min/max_size_bytes = heap_avg/min/max_bytes,
-- total_alloc_size_bytes = allocated_bytes and total_delta_bytes = net_delta_bytes of the
-- `trace` row, process_stats = net_delta_bytes of the `process` rows summed by process_name.
-- Processes with the most memory outstanding at the end of the trace come first. The numbers
-- are computed once when the trace is loaded (table `dma_heap_totals`).
-- @column snapshot_id Snapshot of the trace.
-- @column scope `trace` (the whole trace) or `process`.
-- @column pid Responsible process; NULL for the `trace` row and for a thread whose process is unknown.
-- @column tid Responsible thread, for a `process` row whose process is unknown; else NULL.
-- @column process_name Process name, when known (a pid two processes held during the trace has a row for each, with its name: `process_instance`).
-- @column allocs Number of allocations.
-- @column frees Number of frees (of buffers seen allocated or touched earlier in the trace).
-- @column allocated_bytes Bytes allocated during the trace.
-- @column freed_bytes Bytes freed during the trace (positive).
-- @column net_delta_bytes allocated_bytes − freed_bytes.
-- @column outstanding_buffers Buffers allocated during the trace and not freed by its end (each trace of the snapshot apart).
-- @column outstanding_bytes Bytes of those buffers.
-- @column peak_outstanding_bytes Highest running sum of allocations minus frees during the trace (of the row's trace only).
-- @column first_ts First event of the row's trace, ns.
-- @column last_ts Last event of the row's trace, ns.
-- @column dropped_free_bytes `trace` row: bytes freed of buffers with no earlier event in the trace (allocated before it started); not charged to anyone.
-- @column heap_avg_bytes `trace` row: time-weighted average of the heaps' total (`total_allocated`) from the trace's first event to its end (each trace of a snapshot apart: the last value lasts until its own trace's end, not into another trace).
-- @column heap_min_bytes `trace` row: smallest heaps' total.
-- @column heap_max_bytes `trace` row: largest heaps' total.
-- @column heap_end_bytes `trace` row: heaps' total after the last event.
-- @column trace_end_ts `trace` row: end of the row's trace (`trace_info.end_ts`), ns.
-- @column upid `process` rows: the responsible process as `process_instance` tells processes apart (`upid`; a pid two processes held during the trace has a row for each); NULL for the `trace` row, for a thread whose process is unknown, and for a pid without such a row or that no process held at the time.
-- @column source_id Source (trace) of the row: its `trace_info` row; a `process` row is of the trace its events are of.
CREATE VIEW dmabuf_trace_summary AS
SELECT t.snapshot_id, t.scope, t.pid, t.tid, CASE WHEN pi.reused = 1 THEN pi.name ELSE p.name END AS process_name, t.allocs, t.frees, t.allocated_bytes,
       t.freed_bytes, t.net_delta_bytes, t.outstanding_buffers, t.outstanding_bytes, t.peak_outstanding_bytes,
       t.first_ts, t.last_ts, t.dropped_free_bytes, t.heap_avg_bytes, t.heap_min_bytes, t.heap_max_bytes,
       t.heap_end_bytes, t.trace_end_ts, t.upid, t.source_id
FROM dma_heap_totals t
LEFT JOIN process_instance pi ON pi.upid = t.upid
LEFT JOIN process p ON t.scope = 'process' AND p.snapshot_id = t.snapshot_id AND p.pid = t.pid
ORDER BY t.snapshot_id, t.scope = 'process', CASE WHEN t.scope = 'trace' THEN t.first_ts END,
         CASE WHEN t.scope = 'process' THEN t.outstanding_bytes ELSE 0 END DESC,
         t.allocated_bytes DESC, t.pid, t.tid, t.upid, t.source_id;

-- The rows of `dma_heap_totals`, computed in SQL.
-- What the ordered pass of src/db/charge.ts writes to `dma_heap_totals`, stated
-- with window functions over `dma_heap_charge` (which must be filled first), `_dmabuf_attributed`
-- and `dma_heap_event`; used instead of that pass for a trace too large for it or with values
-- beyond 2^53. One `trace` row per trace with `dma_heap_stat` events, one `process` row per
-- responsible process (per thread when its process is unknown) and trace.
-- @column snapshot_id Snapshot of the trace.
-- @column scope `trace` or `process`.
-- @column pid Responsible process; NULL for the `trace` row and for a thread whose process is unknown.
-- @column tid Responsible thread, for a `process` row whose process is unknown; else NULL.
-- @column allocs Number of charged allocations.
-- @column frees Number of charged frees.
-- @column allocated_bytes Bytes allocated.
-- @column freed_bytes Bytes freed (positive).
-- @column net_delta_bytes allocated_bytes − freed_bytes.
-- @column outstanding_buffers Buffers whose last event in a trace is an allocation, charged here.
-- @column outstanding_bytes Bytes of those buffers.
-- @column outstanding_max_bytes Largest of those buffers; NULL when none.
-- @column outstanding_max_inode Largest inode among them; NULL when none.
-- @column outstanding_first_ts Earliest allocation among them, ns; NULL when none.
-- @column outstanding_last_ts Latest allocation among them, ns; NULL when none.
-- @column peak_outstanding_bytes Highest running sum of buf_size in (ts, event_id) order, over the events of the row's trace.
-- @column first_ts First event, ns.
-- @column last_ts Last event, ns.
-- @column dropped_free_bytes `trace` row: bytes of frees not charged.
-- @column heap_avg_bytes `trace` row: time-weighted average of the heaps' total.
-- @column heap_min_bytes `trace` row: smallest heaps' total.
-- @column heap_max_bytes `trace` row: largest heaps' total.
-- @column heap_end_bytes `trace` row: heaps' total after the last event.
-- @column trace_end_ts `trace` row: end of the trace (its `trace_info.end_ts`), ns.
-- @column upid `process` rows: the responsible process's `process_instance.upid`; else NULL.
-- @column source_id Source (trace) of the row.
CREATE VIEW _dmabuf_trace_totals AS
WITH
-- Each charged event with the running sums of its responsible (its process: `upid`, else its
-- pid; its thread when the process is unknown — `kind` 0, 1, 2) and of its trace.
-- Per trace (the event's, which is the event charged's): a pid or a thread of no known process in
-- two traces is two responsibles.
ev AS MATERIALIZED (
  SELECT c.snapshot_id, e.source_id, e.ts, e.size_delta AS buf_size, c.tid, c.pid, c.upid,
         CASE WHEN c.upid IS NOT NULL THEN 0 WHEN c.pid IS NOT NULL THEN 1 ELSE 2 END AS kind, coalesce(c.upid, c.pid, c.tid) AS who,
         sum(e.size_delta) OVER (PARTITION BY c.snapshot_id, e.source_id, CASE WHEN c.upid IS NOT NULL THEN 0 WHEN c.pid IS NOT NULL THEN 1 ELSE 2 END,
                                              coalesce(c.upid, c.pid, c.tid) ORDER BY e.ts, c.event_id ROWS UNBOUNDED PRECEDING) AS run_who,
         sum(e.size_delta) OVER (PARTITION BY c.snapshot_id, e.source_id ORDER BY e.ts, c.event_id ROWS UNBOUNDED PRECEDING) AS run_all
  FROM dma_heap_charge c
  JOIN dma_heap_event e ON e.rowid = c.event_id
),
-- Buffers outstanding at the end: the last event on the inode in a trace is an allocation
-- (SQLite returns the bare columns of the first row, in event order, holding max(ts)). Each
-- trace apart: a buffer one trace saw allocated last is outstanding at that trace's end.
last_event AS (
  SELECT snapshot_id, inode, max(ts) AS ts, buf_size AS size, attr_tid AS tid, attr_held AS held, source_id
  FROM _dmabuf_attributed
  GROUP BY snapshot_id, source_id, inode
),
-- With the thread's pid (of the event's trace); `held`: the process that held it then (`_dmabuf_attributed.attr_held`).
last_held AS (
  SELECT l.snapshot_id, l.source_id, l.inode, l.ts, l.size, l.tid, th.pid, l.held
  FROM last_event l
  LEFT JOIN thread th ON th.snapshot_id = l.snapshot_id AND th.source_id = l.source_id AND th.tid = l.tid
  WHERE l.size > 0
),
last_who AS (
  SELECT snapshot_id, source_id, inode, ts, size, tid, nullif(held, 0) AS upid, CASE WHEN held = 0 THEN NULL ELSE pid END AS pid
  FROM last_held
),
outstanding AS (
  SELECT snapshot_id, source_id, CASE WHEN upid IS NOT NULL THEN 0 WHEN pid IS NOT NULL THEN 1 ELSE 2 END AS kind, coalesce(upid, pid, tid) AS who,
         count(*) AS buffers, sum(size) AS bytes, max(size) AS max_bytes, max(inode) AS max_inode, min(ts) AS first_ts, max(ts) AS last_ts
  FROM last_who
  GROUP BY 1, 2, 3, 4
),
per_process AS (
  SELECT e.snapshot_id, e.source_id, e.kind, e.who, max(e.pid) AS pid, max(e.upid) AS upid,
         CASE WHEN e.kind = 2 THEN e.who END AS tid,
         sum(e.buf_size > 0) AS allocs,
         sum(e.buf_size <= 0) AS frees,
         coalesce(sum(CASE WHEN e.buf_size > 0 THEN e.buf_size END), 0) AS allocated_bytes,
         coalesce(-sum(CASE WHEN e.buf_size <= 0 THEN e.buf_size END), 0) AS freed_bytes,
         sum(e.buf_size) AS net_delta_bytes,
         max(e.run_who) AS peak_outstanding_bytes,
         min(e.ts) AS first_ts, max(e.ts) AS last_ts
  FROM ev e
  GROUP BY e.snapshot_id, e.source_id, e.kind, e.who
),
per_trace AS (
  SELECT snapshot_id, source_id,
         sum(buf_size > 0) AS allocs,
         sum(buf_size <= 0) AS frees,
         coalesce(sum(CASE WHEN buf_size > 0 THEN buf_size END), 0) AS allocated_bytes,
         coalesce(-sum(CASE WHEN buf_size <= 0 THEN buf_size END), 0) AS freed_bytes,
         sum(buf_size) AS net_delta_bytes,
         max(run_all) AS peak_outstanding_bytes
  FROM ev
  GROUP BY snapshot_id, source_id
),
-- The end of each trace.
bounds AS (
  SELECT snapshot_id, source_id, max(end_ts) AS end_ts FROM trace_info GROUP BY snapshot_id, source_id
),
-- The heaps' total over each trace's time: each value lasts until the next event of the trace,
-- the last one until the end of the trace (Perfetto's `mem.dma_heap` counter track of that trace).
heap AS (
  SELECT e.snapshot_id, e.source_id, e.ts, e.size_delta, e.heap_total AS value,
         coalesce(lead(e.ts) OVER w, max(coalesce(b.end_ts, e.ts), e.ts)) - e.ts AS dur,
         last_value(e.heap_total) OVER (w ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING) AS end_value
  FROM dma_heap_event e
  LEFT JOIN bounds b ON b.snapshot_id = e.snapshot_id AND b.source_id = e.source_id
  WINDOW w AS (PARTITION BY e.snapshot_id, e.source_id ORDER BY e.ts, e.rowid)
),
heap_stats AS (
  SELECT snapshot_id, source_id,
         sum(CASE WHEN value IS NOT NULL THEN CAST(value AS REAL) * dur END)
           / nullif(sum(CASE WHEN value IS NOT NULL THEN dur END), 0) AS avg_bytes,
         min(value) AS min_bytes, max(value) AS max_bytes, max(end_value) AS end_bytes,
         min(ts) AS first_ts, max(ts) AS last_ts,
         coalesce(-sum(CASE WHEN size_delta <= 0 THEN size_delta END), 0) AS all_freed_bytes
  FROM heap
  GROUP BY snapshot_id, source_id
)
SELECT h.snapshot_id, 'trace' AS scope, NULL AS pid, NULL AS tid,
       coalesce(t.allocs, 0) AS allocs, coalesce(t.frees, 0) AS frees,
       coalesce(t.allocated_bytes, 0) AS allocated_bytes, coalesce(t.freed_bytes, 0) AS freed_bytes,
       coalesce(t.net_delta_bytes, 0) AS net_delta_bytes,
       coalesce((SELECT sum(buffers) FROM outstanding o WHERE o.snapshot_id = h.snapshot_id AND o.source_id = h.source_id), 0) AS outstanding_buffers,
       coalesce((SELECT sum(bytes) FROM outstanding o WHERE o.snapshot_id = h.snapshot_id AND o.source_id = h.source_id), 0) AS outstanding_bytes,
       (SELECT max(max_bytes) FROM outstanding o WHERE o.snapshot_id = h.snapshot_id AND o.source_id = h.source_id) AS outstanding_max_bytes,
       (SELECT max(max_inode) FROM outstanding o WHERE o.snapshot_id = h.snapshot_id AND o.source_id = h.source_id) AS outstanding_max_inode,
       (SELECT min(first_ts) FROM outstanding o WHERE o.snapshot_id = h.snapshot_id AND o.source_id = h.source_id) AS outstanding_first_ts,
       (SELECT max(last_ts) FROM outstanding o WHERE o.snapshot_id = h.snapshot_id AND o.source_id = h.source_id) AS outstanding_last_ts,
       -- every free is either charged (in android_dmabuf_allocs) or dropped
       t.peak_outstanding_bytes, h.first_ts, h.last_ts, h.all_freed_bytes - coalesce(t.freed_bytes, 0) AS dropped_free_bytes,
       h.avg_bytes AS heap_avg_bytes, h.min_bytes AS heap_min_bytes, h.max_bytes AS heap_max_bytes,
       h.end_bytes AS heap_end_bytes, b.end_ts AS trace_end_ts, NULL AS upid, h.source_id
FROM heap_stats h
LEFT JOIN per_trace t ON t.snapshot_id = h.snapshot_id AND t.source_id = h.source_id
LEFT JOIN bounds b ON b.snapshot_id = h.snapshot_id AND b.source_id = h.source_id
UNION ALL
SELECT r.snapshot_id, 'process', r.pid, r.tid, r.allocs, r.frees, r.allocated_bytes, r.freed_bytes, r.net_delta_bytes,
       coalesce(o.buffers, 0), coalesce(o.bytes, 0), o.max_bytes, o.max_inode, o.first_ts, o.last_ts,
       r.peak_outstanding_bytes, r.first_ts, r.last_ts, NULL, NULL, NULL, NULL, NULL, NULL, r.upid, r.source_id
FROM per_process r
LEFT JOIN outstanding o ON o.snapshot_id = r.snapshot_id AND o.source_id = r.source_id AND o.kind = r.kind AND o.who = r.who;
