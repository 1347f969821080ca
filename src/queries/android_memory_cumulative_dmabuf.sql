-- @analysis android_memory_cumulative_dmabuf
-- @title Running DMA-BUF total per process (Perfetto-compatible)
-- Perfetto's `android_memory_cumulative_dmabuf` (android.memory.dmabuf module): for each row
-- of `android_dmabuf_allocs`, the running sum of `buf_size` of its process up to its
-- timestamp (events at the same timestamp included), or of its thread when the thread's
-- process is unknown, summed in each trace apart (`dma_heap_charge.cumulative_bytes`, computed when the trace is loaded);
-- a pid two processes held during the trace is two processes (`process_instance`), as in Perfetto.
-- Columns as Perfetto's, plus `snapshot_id` last.
-- @column upid Internal id of the responsible process (`process_instance.upid`); NULL when unknown.
-- @column process_name Process name, when known.
-- @column utid Internal id of the responsible thread (`thread.rowid`: the thread of the responsible process's trace, else of the event's).
-- @column thread_name Thread name, when known.
-- @column ts Event time, ns.
-- @column value Bytes the process (or thread) had allocated and not freed at `ts`, counting only this trace's events.
-- @column snapshot_id Snapshot of the trace (not in Perfetto's table).
CREATE VIEW android_memory_cumulative_dmabuf AS
SELECT c.upid, CASE WHEN pi.reused = 1 THEN pi.name ELSE p.name END AS process_name, th.rowid AS utid,
       CASE WHEN pi.reused = 1 AND c.tid = c.pid THEN pi.thread_name ELSE th.name END AS thread_name, e.ts, c.cumulative_bytes AS value, c.snapshot_id
FROM dma_heap_charge c
JOIN dma_heap_event e ON e.rowid = c.event_id
LEFT JOIN process_instance pi ON pi.upid = c.upid
-- The thread of the trace of the process charged, else of the event's trace (a free is charged within its trace).
LEFT JOIN thread th ON th.snapshot_id = c.snapshot_id AND th.source_id = coalesce(pi.source_id, e.source_id) AND th.tid = c.tid
LEFT JOIN process p ON p.snapshot_id = c.snapshot_id AND p.pid = c.pid
ORDER BY c.snapshot_id, e.ts, c.event_id;
