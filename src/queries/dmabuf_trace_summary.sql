-- @analysis dmabuf_trace_summary
-- @title DMA-BUF heap activity during a trace
-- From the `dma_heap_stat` events of each trace: one `trace` row per snapshot (all
-- processes, with the statistics of the heaps' total over time) and one `process` row per
-- responsible process (per thread when its process is unknown), attributed as in
-- `android_dmabuf_allocs` (gralloc allocations charged to their client, frees to the
-- allocator, frees of buffers allocated before the trace left out). Reproduces Perfetto's
-- `android_dma_heap` metric: avg/min/max_size_bytes = heap_avg/min/max_bytes,
-- total_alloc_size_bytes = allocated_bytes and total_delta_bytes = net_delta_bytes of the
-- `trace` row, process_stats = net_delta_bytes of the `process` rows summed by process_name.
-- Processes with the most memory outstanding at the end of the trace come first.
-- @column snapshot_id Snapshot of the trace.
-- @column scope `trace` (the whole trace) or `process`.
-- @column pid Responsible process; NULL for the `trace` row and for a thread whose process is unknown.
-- @column tid Responsible thread, for a `process` row whose process is unknown; else NULL.
-- @column process_name Process name, when known.
-- @column allocs Number of allocations.
-- @column frees Number of frees (of buffers seen allocated or touched earlier in the trace).
-- @column allocated_bytes Bytes allocated during the trace.
-- @column freed_bytes Bytes freed during the trace (positive).
-- @column net_delta_bytes allocated_bytes − freed_bytes.
-- @column outstanding_buffers Buffers allocated during the trace and not freed by its end.
-- @column outstanding_bytes Bytes of those buffers.
-- @column peak_outstanding_bytes Highest running sum of allocations minus frees during the trace.
-- @column first_ts First event, ns.
-- @column last_ts Last event, ns.
-- @column dropped_free_bytes `trace` row: bytes freed of buffers with no earlier event in the trace (allocated before it started); not charged to anyone.
-- @column heap_avg_bytes `trace` row: time-weighted average of the heaps' total (`total_allocated`) from its first event to the end of the trace.
-- @column heap_min_bytes `trace` row: smallest heaps' total.
-- @column heap_max_bytes `trace` row: largest heaps' total.
-- @column heap_end_bytes `trace` row: heaps' total after the last event.
-- @column trace_end_ts `trace` row: end of the trace, ns.
CREATE VIEW dmabuf_trace_summary AS
WITH
a AS (
  SELECT x.*, CASE WHEN x.pid IS NULL THEN 't' || x.tid ELSE 'p' || x.pid END AS who
  FROM android_dmabuf_allocs x
),
running AS (
  SELECT a.*,
         sum(buf_size) OVER (PARTITION BY snapshot_id, who ORDER BY ts) AS run_who,
         sum(buf_size) OVER (PARTITION BY snapshot_id ORDER BY ts) AS run_all
  FROM a
),
outstanding AS (
  SELECT snapshot_id, CASE WHEN pid IS NULL THEN 't' || tid ELSE 'p' || pid END AS who,
         count(*) AS buffers, sum(size) AS bytes
  FROM dmabuf_trace_buffers
  WHERE end_kind = 'outstanding'
  GROUP BY 1, 2
),
bounds AS (
  SELECT snapshot_id, max(end_ts) AS end_ts FROM trace_info GROUP BY snapshot_id
),
heap AS (
  SELECT e.snapshot_id, e.ts, e.heap_total AS value,
         coalesce(lead(e.ts) OVER (PARTITION BY e.snapshot_id ORDER BY e.ts, e.rowid),
                  max(coalesce(b.end_ts, e.ts), e.ts)) - e.ts AS dur,
         row_number() OVER (PARTITION BY e.snapshot_id ORDER BY e.ts DESC, e.rowid DESC) AS from_end
  FROM dma_heap_event e
  LEFT JOIN bounds b ON b.snapshot_id = e.snapshot_id
  WHERE e.heap_total IS NOT NULL
),
heap_stats AS (
  SELECT snapshot_id,
         sum(CAST(value AS REAL) * dur) / nullif(sum(dur), 0) AS avg_bytes,
         min(value) AS min_bytes, max(value) AS max_bytes,
         max(CASE WHEN from_end = 1 THEN value END) AS end_bytes
  FROM heap GROUP BY snapshot_id
),
dropped AS (
  SELECT e.snapshot_id, -sum(e.size_delta) AS bytes
  FROM dma_heap_event e
  WHERE e.size_delta <= 0
    AND NOT EXISTS (SELECT 1 FROM dma_heap_event p
                    WHERE p.snapshot_id = e.snapshot_id AND p.inode = e.inode AND p.ts < e.ts)
  GROUP BY e.snapshot_id
),
trace_rows AS (
  SELECT s.snapshot_id, 'trace' AS scope, NULL AS pid, NULL AS tid, NULL AS process_name,
         (SELECT count(*) FROM a WHERE a.snapshot_id = s.snapshot_id AND a.buf_size > 0) AS allocs,
         (SELECT count(*) FROM a WHERE a.snapshot_id = s.snapshot_id AND a.buf_size <= 0) AS frees,
         coalesce((SELECT sum(buf_size) FROM a WHERE a.snapshot_id = s.snapshot_id AND a.buf_size > 0), 0) AS allocated_bytes,
         coalesce((SELECT -sum(buf_size) FROM a WHERE a.snapshot_id = s.snapshot_id AND a.buf_size <= 0), 0) AS freed_bytes,
         coalesce((SELECT sum(buf_size) FROM a WHERE a.snapshot_id = s.snapshot_id), 0) AS net_delta_bytes,
         coalesce((SELECT sum(buffers) FROM outstanding o WHERE o.snapshot_id = s.snapshot_id), 0) AS outstanding_buffers,
         coalesce((SELECT sum(bytes) FROM outstanding o WHERE o.snapshot_id = s.snapshot_id), 0) AS outstanding_bytes,
         (SELECT max(run_all) FROM running r WHERE r.snapshot_id = s.snapshot_id) AS peak_outstanding_bytes,
         (SELECT min(ts) FROM dma_heap_event e WHERE e.snapshot_id = s.snapshot_id) AS first_ts,
         (SELECT max(ts) FROM dma_heap_event e WHERE e.snapshot_id = s.snapshot_id) AS last_ts,
         coalesce((SELECT bytes FROM dropped d WHERE d.snapshot_id = s.snapshot_id), 0) AS dropped_free_bytes,
         h.avg_bytes AS heap_avg_bytes, h.min_bytes AS heap_min_bytes, h.max_bytes AS heap_max_bytes,
         h.end_bytes AS heap_end_bytes,
         (SELECT end_ts FROM bounds b WHERE b.snapshot_id = s.snapshot_id) AS trace_end_ts,
         0 AS sort_group, 0 AS sort_bytes
  FROM (SELECT DISTINCT snapshot_id FROM dma_heap_event) s
  LEFT JOIN heap_stats h ON h.snapshot_id = s.snapshot_id
),
process_rows AS (
  SELECT r.snapshot_id, 'process' AS scope, max(r.pid) AS pid,
         CASE WHEN max(r.pid) IS NULL THEN max(r.tid) END AS tid,
         max(r.process_name) AS process_name,
         sum(r.buf_size > 0) AS allocs,
         sum(r.buf_size <= 0) AS frees,
         coalesce(sum(CASE WHEN r.buf_size > 0 THEN r.buf_size END), 0) AS allocated_bytes,
         coalesce(-sum(CASE WHEN r.buf_size <= 0 THEN r.buf_size END), 0) AS freed_bytes,
         sum(r.buf_size) AS net_delta_bytes,
         coalesce(o.buffers, 0) AS outstanding_buffers,
         coalesce(o.bytes, 0) AS outstanding_bytes,
         max(r.run_who) AS peak_outstanding_bytes,
         min(r.ts) AS first_ts, max(r.ts) AS last_ts,
         NULL AS dropped_free_bytes, NULL AS heap_avg_bytes, NULL AS heap_min_bytes,
         NULL AS heap_max_bytes, NULL AS heap_end_bytes, NULL AS trace_end_ts,
         1 AS sort_group, coalesce(o.bytes, 0) AS sort_bytes
  FROM running r
  LEFT JOIN outstanding o ON o.snapshot_id = r.snapshot_id AND o.who = r.who
  GROUP BY r.snapshot_id, r.who
)
SELECT snapshot_id, scope, pid, tid, process_name, allocs, frees, allocated_bytes, freed_bytes,
       net_delta_bytes, outstanding_buffers, outstanding_bytes, peak_outstanding_bytes, first_ts,
       last_ts, dropped_free_bytes, heap_avg_bytes, heap_min_bytes, heap_max_bytes, heap_end_bytes,
       trace_end_ts
FROM (SELECT * FROM trace_rows UNION ALL SELECT * FROM process_rows)
ORDER BY snapshot_id, sort_group, sort_bytes DESC, allocated_bytes DESC, pid, tid;
