-- @analysis dmabuf_heaps
-- @title DMA-BUF totals, heaps, pools and GPU (dumpsys meminfo)
-- The DMA-BUF block of `dumpsys meminfo`, one line per value it printed: the DMA-BUF total
-- and its mapped/unmapped split, DMA-BUF heaps and their pool, the GPU total and its
-- dmabuf/private split, Kernel CMA, and the ION line of older devices.
-- @column snapshot_id Snapshot.
-- @column item What the value is (`DMA-BUF`, `DMA-BUF mapped`, `DMA-BUF Heaps`, `GPU dmabuf`, …).
-- @column bytes The value in bytes.
CREATE VIEW dmabuf_heaps AS
SELECT snapshot_id, item, bytes FROM (
  SELECT snapshot_id, 1 AS k, 'DMA-BUF' AS item, total_bytes AS bytes FROM meminfo_dmabuf
  UNION ALL SELECT snapshot_id, 2, 'DMA-BUF mapped', mapped_bytes FROM meminfo_dmabuf
  UNION ALL SELECT snapshot_id, 3, 'DMA-BUF unmapped', unmapped_bytes FROM meminfo_dmabuf
  UNION ALL SELECT snapshot_id, 4, 'DMA-BUF Heaps', heaps_bytes FROM meminfo_dmabuf
  UNION ALL SELECT snapshot_id, 5, 'DMA-BUF Heaps pool', pool_bytes FROM meminfo_dmabuf
  UNION ALL SELECT snapshot_id, 6, 'GPU', gpu_total_bytes FROM meminfo_dmabuf
  UNION ALL SELECT snapshot_id, 7, 'GPU dmabuf', gpu_dmabuf_bytes FROM meminfo_dmabuf
  UNION ALL SELECT snapshot_id, 8, 'GPU private', gpu_private_bytes FROM meminfo_dmabuf
  UNION ALL SELECT snapshot_id, 9, 'Kernel CMA', kernel_cma_bytes FROM meminfo_dmabuf
  UNION ALL SELECT snapshot_id, 10, 'ION', ion_total_bytes FROM meminfo_dmabuf
  UNION ALL SELECT snapshot_id, 11, 'ION mapped', ion_mapped_bytes FROM meminfo_dmabuf
  UNION ALL SELECT snapshot_id, 12, 'ION unmapped', ion_unmapped_bytes FROM meminfo_dmabuf
  UNION ALL SELECT snapshot_id, 13, 'ION pools', ion_pool_bytes FROM meminfo_dmabuf
)
WHERE bytes IS NOT NULL
ORDER BY snapshot_id, k;
