-- @analysis dmabuf_process_totals
-- @title Per-process totals as the sources printed them
-- Per snapshot, source and process, the total a source printed for the process, largest
-- first: dmabuf_dump's PROCESS TOTAL lines and `-a` totals, vendor per-process listings
-- (Qualcomm `dmaprocs`, MediaTek `/proc/dma_heap`, OpenHarmony `/proc/process_dmabuf_info`),
-- the clients of ION heap files (one row per heap) and Samsung's `Dma-buf Info` kernel log dump
-- (two rows per process: its fds, its mapped Samsung heap buffers). Sources that list no buffers
-- (ION heap files, Qualcomm `dmaprocs`, MediaTek's `stats`, Samsung's dump) say who holds the
-- memory only here:
-- `dmabuf_processes` is built from the buffers' holders. Totals of different sources count
-- differently (RSS, every fd, ION handles), so compare rows of one origin.
-- @column snapshot_id Snapshot.
-- @column origin Which total (`dmabuf_reported_total.origin`: `dmabuf_dump_process`, `dmaprocs_process`, `mtk_heap_process`, `process_dmabuf_info_process`, `ion_client`, `samsung_dmabuf_trace_fd`, `samsung_dmabuf_trace_mmap`, …).
-- @column pid Process id.
-- @column process_name Process name (longest any source gave), NULL when unknown.
-- @column heap The ION heap of an `ion_client` total, when the capture names it; else NULL.
-- @column bytes The process's total in bytes (its RSS where the source printed RSS and PSS).
-- @column pss_bytes Its PSS in bytes, when the source printed one.
-- @column buffers Number of buffers the source counted for the process, when it printed them.
CREATE VIEW dmabuf_process_totals AS
SELECT r.snapshot_id, r.origin, r.pid, p.name AS process_name, r.exporter AS heap,
       coalesce(r.userspace_rss_bytes, r.total_bytes) AS bytes, r.userspace_pss_bytes AS pss_bytes, r.buffer_count AS buffers
FROM dmabuf_reported_total r
LEFT JOIN process p ON p.snapshot_id = r.snapshot_id AND p.pid = r.pid
WHERE r.pid IS NOT NULL AND coalesce(r.userspace_rss_bytes, r.total_bytes) IS NOT NULL
ORDER BY r.snapshot_id, bytes DESC, r.pid, r.origin, heap;
