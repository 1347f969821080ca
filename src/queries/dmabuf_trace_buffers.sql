-- @view dmabuf_trace_buffers
-- @title DMA-BUF heap buffers of a trace, allocation to free
-- One row per allocation in `android_dmabuf_allocs`: the buffer's lifetime within the trace
-- and who is responsible for it (after gralloc re-attribution). The lifetime ends at the
-- next event on the same inode when that event is a free. This is the data of Perfetto's
-- `mem.dma_buffer` track (one slice per buffer, from allocation to free, named
-- `<size / 1024> kB`).
-- @column snapshot_id Snapshot of the trace.
-- @column inode Inode of the buffer.
-- @column size Bytes allocated.
-- @column alloc_ts Allocation time, ns.
-- @column free_ts Free time, ns; NULL when the trace has no free for this allocation.
-- @column dur free_ts − alloc_ts; NULL when not freed in the trace.
-- @column end_kind `freed`, `outstanding` (no later event on the inode: still allocated at the end of the trace) or `reallocated` (the next event on the inode is another allocation: the free is missing from the trace).
-- @column tid Thread responsible for the allocation.
-- @column pid Process responsible for the allocation; NULL when unknown.
-- @column process_name Name of that process, when known.
CREATE VIEW dmabuf_trace_buffers AS
WITH ev AS (
  SELECT c.*,
         lead(c.ts) OVER w AS next_ts,
         lead(c.buf_size) OVER w AS next_size
  FROM dma_heap_charge c
  WINDOW w AS (PARTITION BY c.snapshot_id, c.inode ORDER BY c.ts)
)
SELECT ev.snapshot_id, ev.inode, ev.buf_size AS size, ev.ts AS alloc_ts,
       CASE WHEN ev.next_size <= 0 THEN ev.next_ts END AS free_ts,
       CASE WHEN ev.next_size <= 0 THEN ev.next_ts - ev.ts END AS dur,
       CASE WHEN ev.next_ts IS NULL THEN 'outstanding' WHEN ev.next_size <= 0 THEN 'freed' ELSE 'reallocated' END AS end_kind,
       ev.tid, ev.pid, p.name AS process_name
FROM ev
LEFT JOIN process p ON p.snapshot_id = ev.snapshot_id AND p.pid = ev.pid
WHERE ev.buf_size > 0
ORDER BY ev.snapshot_id, ev.ts;
