-- @analysis dmabuf_trace_buffers
-- @title DMA-BUF heap buffers of a trace, allocation to free
-- One row per allocation in `android_dmabuf_allocs`: the buffer's lifetime within the trace
-- and who is responsible for it (after gralloc re-attribution). The lifetime ends at the
-- next event on the same inode of the same trace in `android_dmabuf_allocs`
-- (`dma_heap_charge.next_event_id`) when that event is a free. This is the data of Perfetto's `mem.dma_buffer` track (one slice
-- per buffer, from allocation to free, named `<size / 1024> kB`).
-- @column snapshot_id Snapshot of the trace.
-- @column inode Inode of the buffer.
-- @column size Bytes allocated.
-- @column alloc_ts Allocation time, ns.
-- @column free_ts Free time, ns; NULL when the trace has no free for this allocation.
-- @column dur free_ts − alloc_ts; NULL when not freed in the trace.
-- @column end_kind `freed`, `outstanding` (no later event on the inode: still allocated at the end of the trace) or `reallocated` (the next event on the inode is another allocation: the free is missing from the trace).
-- @column tid Thread responsible for the allocation.
-- @column pid Process responsible for the allocation; NULL when unknown.
-- @column process_name Name of that process, when known (of the process that held the pid then: `process_instance`).
CREATE VIEW dmabuf_trace_buffers AS
SELECT c.snapshot_id, e.inode, e.size_delta AS size, e.ts AS alloc_ts,
       CASE WHEN n.size_delta <= 0 THEN n.ts END AS free_ts,
       CASE WHEN n.size_delta <= 0 THEN n.ts - e.ts END AS dur,
       CASE WHEN c.next_event_id IS NULL THEN 'outstanding' WHEN n.size_delta <= 0 THEN 'freed' ELSE 'reallocated' END AS end_kind,
       c.tid, c.pid, CASE WHEN pi.reused = 1 THEN pi.name ELSE p.name END AS process_name
FROM dma_heap_charge c
JOIN dma_heap_event e ON e.rowid = c.event_id
LEFT JOIN dma_heap_event n ON n.rowid = c.next_event_id
LEFT JOIN process_instance pi ON pi.upid = c.upid
LEFT JOIN process p ON p.snapshot_id = c.snapshot_id AND p.pid = c.pid
WHERE e.size_delta > 0
ORDER BY c.snapshot_id, e.ts, c.event_id;
