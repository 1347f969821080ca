-- Tables of the kernel-capture and graphics importers (src/importers/kernel/): what those
-- sources say beyond the buffer observations, holders and attachments of 00-core.sql.
-- Sizes are bytes.

-- One row per DMA-BUF file descriptor seen in an fdinfo capture (`fdinfo`), an fd link
-- listing (`fd_links`, `ls -l /proc/<pid>/fd`) or lsof output (`lsof`, the inode from NODE).
-- A link listing names no inode, so its rows have `inode` NULL and are not holders (so do
-- lsof rows without a NODE, and `anon_inode:dmabuf` ones); count them per process to see who holds how many
-- DMA-BUF fds. fdinfo rows repeat what `dmabuf_holder_observation` sums, fd by fd, so fds
-- pulled as separate files (one source each) can be counted across sources.
CREATE TABLE dmabuf_fd (
  -- Snapshot.
  snapshot_id INTEGER NOT NULL,
  -- Source that listed the fd.
  source_id INTEGER NOT NULL,
  -- Line (1-based, within the source) where the fd was listed.
  line INTEGER,
  -- Process holding the fd; NULL when the capture did not say which process.
  pid INTEGER,
  -- File descriptor number, when known.
  fd INTEGER,
  -- Inode of the buffer (fdinfo `ino:`, lsof NODE); NULL for link listings, which do not show it.
  inode INTEGER,
  -- Buffer name (fdinfo `name:`, or what follows `/dmabuf:` in the link), NULL when unnamed.
  name TEXT
);

-- One row per DMA-BUF mapping (vma) in a `/proc/<pid>/maps` or `smaps` capture: the lines whose
-- path is `/dmabuf:` or `/dmabuf:<name>`; also lsof's `mem` rows with a NODE (`lsof`: size,
-- offset and permissions NULL, which lsof does not print). `dmabuf_holder_observation.map_refs` counts these
-- per process and buffer.
CREATE TABLE dmabuf_mapping (
  -- Snapshot.
  snapshot_id INTEGER NOT NULL,
  -- Source (maps file or capture) that listed the vma.
  source_id INTEGER NOT NULL,
  -- Line (1-based, within the source) of the vma.
  line INTEGER,
  -- Process owning the mapping; NULL when the capture did not say which process.
  pid INTEGER,
  -- Inode of the mapped buffer (the maps inode column).
  inode INTEGER NOT NULL,
  -- Size in bytes of the vma (end − start): the mapped part, not necessarily the whole buffer.
  vma_bytes INTEGER,
  -- Offset in bytes of the vma into the buffer (the maps offset column).
  page_offset INTEGER,
  -- Permissions as printed (e.g. `rw-s`).
  perms TEXT,
  -- Buffer name from the path (what follows `/dmabuf:`), NULL when unnamed.
  name TEXT
);

-- One row per total of the `dumpsys gpu` memory snapshot (`Memory snapshot for GPU %u:`):
-- the global total of each GPU (pid NULL) and each process's total. GPU drivers count
-- their own allocations here, DMA-BUF backed or not.
CREATE TABLE gpu_memory_total (
  -- Snapshot.
  snapshot_id INTEGER NOT NULL,
  -- Source (the `gpu` service block, or a capture file).
  source_id INTEGER NOT NULL,
  -- Line (1-based, within the source) of the total.
  line INTEGER,
  -- GPU number (`Memory snapshot for GPU %u`).
  gpu_id INTEGER NOT NULL,
  -- Process the total is for (`Proc %u total`); NULL for `Global total`.
  pid INTEGER,
  -- Total GPU memory in bytes; NULL when printed `N/A`.
  total_bytes INTEGER,
  -- Imported memory in bytes (`, imported: %llu`, newer builds); NULL when not printed or `N/A`.
  imported_bytes INTEGER
);

-- One row per buffer of SurfaceFlinger's `GraphicBufferAllocator buffers:` table: graphics
-- buffers SurfaceFlinger itself allocated through gralloc (most are DMA-BUFs), with their
-- geometry and the requesting layer or component.
CREATE TABLE gralloc_buffer (
  -- Snapshot.
  snapshot_id INTEGER NOT NULL,
  -- Source (the `SurfaceFlinger` service block, or a capture file).
  source_id INTEGER NOT NULL,
  -- Line (1-based, within the source) of the row.
  line INTEGER,
  -- Buffer handle as printed (a pointer, e.g. `0xb40000785b3a9440`).
  handle TEXT,
  -- Size in bytes (printed as KiB with two decimals, so rounded to about 10 bytes); NULL when printed `unknown`.
  size INTEGER,
  -- Width in pixels.
  width INTEGER,
  -- Stride in pixels.
  stride INTEGER,
  -- Height in pixels.
  height INTEGER,
  -- Number of layers; NULL on releases that did not print it.
  layer_count INTEGER,
  -- Pixel format (the hexadecimal `Format` column as a number, e.g. 1 = RGBA_8888).
  format INTEGER,
  -- Gralloc usage bits (the hexadecimal `Usage` column as a number).
  usage INTEGER,
  -- Requestor name (layer or component that asked for the buffer, e.g. `FramebufferSurface`).
  requestor TEXT
);

-- One row per `Total allocated by GraphicBufferAllocator (estimate): %.2f KB` footer: what
-- SurfaceFlinger's allocator holds in all (a subset of all DMA-BUF memory, so it is kept out
-- of `dmabuf_reported_total`).
CREATE TABLE gralloc_allocator_total (
  -- Snapshot.
  snapshot_id INTEGER NOT NULL,
  -- Source (the `SurfaceFlinger` service block, or a capture file).
  source_id INTEGER NOT NULL,
  -- Line (1-based, within the source) of the footer.
  line INTEGER,
  -- Total in bytes (printed in KB with two decimals, rounded).
  total_bytes INTEGER,
  -- Number of rows the table listed above the footer.
  buffer_count INTEGER
);
