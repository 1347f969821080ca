-- `dumpsys meminfo` DMA-BUF totals. Filled by the `meminfo` importer from the system-wide
-- block at the end of the meminfo service dump (and from low-memory reports of the same shape).
-- Sizes are bytes: meminfo prints kB (`%,9dK`), multiplied by 1024 here.

-- One row per DMA-BUF block of a `dumpsys meminfo` dump: the `DMA-BUF:`, `DMA-BUF Heaps:`,
-- `DMA-BUF Heaps pool:`, `GPU:`, `Kernel CMA:` lines (or the `ION:` line of ION-era devices).
-- A column is NULL when the dump did not print that value. `dmabuf_heaps` shows these rows.
CREATE TABLE meminfo_dmabuf (
  -- Snapshot the dump belongs to.
  snapshot_id INTEGER NOT NULL,
  -- Source (meminfo section or file) that printed the block.
  source_id INTEGER NOT NULL,
  -- Line (1-based, within the source) of the first DMA-BUF line of the block.
  line INTEGER,
  -- `DMA-BUF:` total exported DMA-BUF bytes (all exporters).
  total_bytes INTEGER,
  -- `DMA-BUF:` bytes mapped by some process (`… mapped`).
  mapped_bytes INTEGER,
  -- `DMA-BUF:` bytes not mapped by any process (`… unmapped`; counted as kernel memory by meminfo).
  unmapped_bytes INTEGER,
  -- `DMA-BUF Heaps:` (or `DMA-BUF Heap:`) bytes exported by DMA-BUF heaps (part of the total).
  heaps_bytes INTEGER,
  -- `DMA-BUF Heaps pool:` bytes kept in the heaps' page pools (free for reuse, not in the total).
  pool_bytes INTEGER,
  -- `GPU:` total GPU memory bytes (the gpu_mem_total tracepoint's global value).
  gpu_total_bytes INTEGER,
  -- `GPU: (… dmabuf + …)` GPU bytes that are DMA-BUFs, when the breakdown is printed.
  gpu_dmabuf_bytes INTEGER,
  -- `GPU: (… + … private)` GPU bytes private to the GPU driver, when the breakdown is printed.
  gpu_private_bytes INTEGER,
  -- `Kernel CMA:` bytes of the kernel's CMA areas in use (newer builds).
  kernel_cma_bytes INTEGER,
  -- `ION:` total bytes (heaps + pools) on ION-era devices.
  ion_total_bytes INTEGER,
  -- `ION: (… mapped …)` ION bytes mapped by some process.
  ion_mapped_bytes INTEGER,
  -- `ION: (… unmapped …)` ION bytes not mapped by any process.
  ion_unmapped_bytes INTEGER,
  -- `ION: (… pools)` bytes in ION page pools.
  ion_pool_bytes INTEGER
);
