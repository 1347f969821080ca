-- @analysis dmabuf_ion_summary
-- @title ION heap activity during a trace
-- From the ION events of each trace (ION-era kernels): one row per trace and heap with the
-- statistics of the heap's total over time, as Perfetto's `android_ion` metric computes them
-- (its `buffer` entries: name, avg/min/max_size_bytes, total_alloc_size_bytes), each trace on
-- its own to its own end (two traces of one snapshot, a folder holding both, have rows apart).
-- `ion_stat` events form the heap `all`, like heap events with an empty heap name; heap events
-- without a heap name form `unknown`.
-- @column snapshot_id Snapshot of the trace.
-- @column heap_name Heap: the event's heap name, `all` or `unknown`.
-- @column events Number of events.
-- @column avg_size_bytes Time-weighted average of the heap's total from its first event to the end of the trace.
-- @column min_size_bytes Smallest total.
-- @column max_size_bytes Largest total.
-- @column total_alloc_size_bytes Sum of the allocations (positive changes).
-- @column net_delta_bytes Sum of all changes.
-- @column end_size_bytes Total after the last event.
-- @column first_ts First event, ns.
-- @column last_ts Last event, ns.
-- @column source_id Source (trace) of the events.
CREATE VIEW dmabuf_ion_summary AS
WITH
ev AS (
  SELECT e.rowid AS seq, e.snapshot_id, e.source_id, e.ts, e.size_delta, e.heap_total,
         CASE WHEN e.origin = 'ion_stat' OR e.heap_name = '' THEN 'all' ELSE coalesce(e.heap_name, 'unknown') END AS heap_name
  FROM ion_heap_event e
),
bounds AS (
  SELECT snapshot_id, source_id, max(end_ts) AS end_ts FROM trace_info GROUP BY snapshot_id, source_id
),
timeline AS (
  SELECT ev.*,
         coalesce(lead(ev.ts) OVER (PARTITION BY ev.snapshot_id, ev.source_id, ev.heap_name ORDER BY ev.ts, ev.seq),
                  max(coalesce(b.end_ts, ev.ts), ev.ts)) - ev.ts AS dur,
         row_number() OVER (PARTITION BY ev.snapshot_id, ev.source_id, ev.heap_name ORDER BY ev.ts DESC, ev.seq DESC) AS from_end
  FROM ev LEFT JOIN bounds b ON b.snapshot_id = ev.snapshot_id AND b.source_id = ev.source_id
)
SELECT snapshot_id, heap_name, count(*) AS events,
       sum(CAST(heap_total AS REAL) * dur) / nullif(sum(CASE WHEN heap_total IS NOT NULL THEN dur END), 0) AS avg_size_bytes,
       min(heap_total) AS min_size_bytes,
       max(heap_total) AS max_size_bytes,
       coalesce(sum(CASE WHEN size_delta > 0 THEN size_delta END), 0) AS total_alloc_size_bytes,
       sum(size_delta) AS net_delta_bytes,
       max(CASE WHEN from_end = 1 THEN heap_total END) AS end_size_bytes,
       min(ts) AS first_ts, max(ts) AS last_ts, source_id
FROM timeline
GROUP BY snapshot_id, source_id, heap_name
ORDER BY snapshot_id, source_id, heap_name;
