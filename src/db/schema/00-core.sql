-- Core tables of dmabuf-triage. Every table, view and column carries a doc comment:
-- the comment lines directly above a CREATE statement document the object, the comment
-- lines directly above a column document that column. `dmabuf-triage schema` prints them
-- and a test fails when one is missing. Sizes are bytes, times are nanoseconds or ISO-8601.

-- One row per file read: an input file, each entry read from a zip, each section of a
-- bugreport that an importer parsed, a trace, a capture file or a file of a folder.
CREATE TABLE source (
  -- Row id.
  id INTEGER PRIMARY KEY,
  -- The source this one was read from (a zip for its entries, a bugreport text for its sections); NULL for a top-level input.
  parent_id INTEGER REFERENCES source(id),
  -- Path as the user named it, path inside a zip, or `<bugreport path>#<section title>` for a section.
  path TEXT NOT NULL,
  -- Importer that read it (e.g. `bugreport`, `dmabuf_dump`, `perfetto`); `zip`, `gzip` or `folder` for containers.
  importer TEXT NOT NULL,
  -- Size in bytes of what was read (uncompressed for zip entries and gzip files).
  bytes INTEGER,
  -- First line (1-based) of a section within its parent text; NULL for whole files.
  line_start INTEGER,
  -- Last line (1-based) of a section within its parent text; NULL for whole files.
  line_end INTEGER,
  -- Snapshot this source's rows belong to.
  snapshot_id INTEGER
);

-- One row per capture of one device at one time: a bugreport, a trace, a capture file or a folder.
CREATE TABLE snapshot (
  -- Row id.
  id INTEGER PRIMARY KEY,
  -- The top-level source of the snapshot.
  source_id INTEGER REFERENCES source(id),
  -- What kind of capture: `bugreport`, `trace`, `capture` (kernel files captured by hand) or `folder`.
  kind TEXT NOT NULL,
  -- Short label shown in reports: the input file name.
  label TEXT,
  -- Capture time as ISO-8601 text (device local time as dumpstate printed it), when known.
  captured_at TEXT,
  -- `Build fingerprint:` of the device, when known.
  build_fingerprint TEXT,
  -- `Build:` line (build id) of the device, when known.
  build_id TEXT,
  -- Kernel release (first word after `Linux version` of the `Kernel:` line), when known.
  kernel_release TEXT,
  -- Android SDK level, when known.
  android_sdk INTEGER,
  -- Uptime text as dumpstate printed it, when known.
  uptime TEXT
);

-- One row per process seen in a snapshot, from any source; for a pid that several processes
-- held during a trace, the last of them (`process_instance` has a row for each).
CREATE TABLE process (
  -- Snapshot the process belongs to.
  snapshot_id INTEGER NOT NULL,
  -- Process id (thread group id).
  pid INTEGER NOT NULL,
  -- Best known short name (comm, possibly cut to 15 characters by the kernel, or the first word of cmdline).
  name TEXT,
  -- Full command line, when a source gave it.
  cmdline TEXT,
  -- Parent process id, when known (traces).
  ppid INTEGER,
  -- User id, when known (traces).
  uid INTEGER,
  PRIMARY KEY (snapshot_id, pid)
);

-- One row per thread a trace saw, per trace: a tid two traces of one snapshot both saw (a
-- folder or a bugreport holding two traces) has a row for each, each trace's thread with its own
-- process and name. The trace analyses look a thread up in the trace of its event.
CREATE TABLE thread (
  -- Snapshot the thread belongs to.
  snapshot_id INTEGER NOT NULL,
  -- Thread id (the kernel's pid of the task).
  tid INTEGER NOT NULL,
  -- Process (thread group) id it belongs to in that trace, when known.
  pid INTEGER,
  -- Thread name, when known.
  name TEXT,
  -- Source (trace) that saw the thread.
  source_id INTEGER NOT NULL,
  PRIMARY KEY (snapshot_id, source_id, tid)
);

-- One row per buffer per source that saw it: what each source said about a buffer,
-- before merging. `dmabuf` is built from these rows; query this table to see which
-- sources listed a buffer and where they disagree.
CREATE TABLE dmabuf_observation (
  -- Snapshot the buffer belongs to.
  snapshot_id INTEGER NOT NULL,
  -- Source (section or file) that printed the buffer.
  source_id INTEGER NOT NULL,
  -- Line (1-based, within the source) where the buffer was printed, when known.
  line INTEGER,
  -- Inode number of the buffer's file: the identity used to merge sources. NULL when the source has none (pre-5.3 bufinfo).
  inode INTEGER,
  -- Size in bytes as the source gave it (kB sources multiplied by 1024).
  size INTEGER,
  -- 1 when the source printed the size in bytes, 0 when it was rounded to kB.
  size_exact INTEGER NOT NULL DEFAULT 1,
  -- Exporter name (e.g. `system`, `qcom,system`, `mali`), when the source gave it.
  exporter TEXT,
  -- Buffer name (DMA_BUF_SET_NAME or the heap's name), when the source gave it.
  name TEXT,
  -- Reference count of the buffer's file as the source printed it (bufinfo count, fdinfo count), when given.
  file_count INTEGER,
  -- 1 when the source lists every buffer the kernel has (dmabuf_dump -b, sysfs, bufinfo, BPF iterator), 0 when it lists only buffers some process holds or maps.
  global_list INTEGER NOT NULL DEFAULT 0
);

-- One row per distinct buffer in a snapshot, all sources merged. Where sources disagree the
-- most exact value wins (a byte size beats a kB size) and a `merge_conflict` diagnostic is recorded.
CREATE TABLE dmabuf (
  -- Row id; identifies buffers that have no inode.
  id INTEGER PRIMARY KEY,
  -- Snapshot the buffer belongs to.
  snapshot_id INTEGER NOT NULL,
  -- Inode number of the buffer (NULL for buffers from sources without inodes).
  inode INTEGER,
  -- Size in bytes (the most exact value any source gave).
  size INTEGER,
  -- 1 when `size` came from a source that prints bytes, 0 when only kB sizes were seen.
  size_exact INTEGER NOT NULL,
  -- Exporter name, when any source gave it.
  exporter TEXT,
  -- Buffer name, when any source gave it.
  name TEXT,
  -- Reference count of the buffer's file, when a source printed it.
  file_count INTEGER,
  -- 1 when a source that lists every buffer of the kernel listed it (see `dmabuf_observation.global_list`).
  in_global_list INTEGER NOT NULL DEFAULT 0,
  -- Comma-separated importer names of the sources that listed this buffer, in order.
  seen_by TEXT NOT NULL,
  -- Number of sources that listed this buffer.
  source_count INTEGER NOT NULL
);

-- One row per holder per source: what each source said about a process holding a buffer,
-- before merging into `dmabuf_holder`.
CREATE TABLE dmabuf_holder_observation (
  -- Snapshot.
  snapshot_id INTEGER NOT NULL,
  -- Source that printed the holder.
  source_id INTEGER NOT NULL,
  -- Line (1-based, within the source), when known.
  line INTEGER,
  -- Inode of the held buffer.
  inode INTEGER NOT NULL,
  -- Holding process id.
  pid INTEGER NOT NULL,
  -- Number of file descriptors of the process that refer to the buffer, when the source tells; NULL when unknown.
  fd_refs INTEGER,
  -- Number of mappings of the process that refer to the buffer, when the source tells; NULL when unknown.
  map_refs INTEGER,
  -- PSS in bytes as the source printed it (dmabuf_dump), when given.
  reported_pss INTEGER
);

-- One row per process holding a buffer (by file descriptor or by mapping), all sources merged.
CREATE TABLE dmabuf_holder (
  -- Snapshot.
  snapshot_id INTEGER NOT NULL,
  -- Inode of the held buffer.
  inode INTEGER NOT NULL,
  -- Holding process id.
  pid INTEGER NOT NULL,
  -- Number of file descriptors referring to the buffer (largest any source gave); NULL when no source counted them.
  fd_refs INTEGER,
  -- Number of mappings referring to the buffer (largest any source gave); NULL when no source counted them.
  map_refs INTEGER,
  -- PSS in bytes as dmabuf_dump printed it, when known.
  reported_pss INTEGER,
  -- Comma-separated importer names of the sources that saw this holder.
  seen_by TEXT NOT NULL,
  PRIMARY KEY (snapshot_id, inode, pid)
);

-- One row per device attached to a buffer (debugfs bufinfo `Attached Devices`, sysfs attachments).
CREATE TABLE dmabuf_attachment (
  -- Snapshot.
  snapshot_id INTEGER NOT NULL,
  -- Source that printed the attachment.
  source_id INTEGER NOT NULL,
  -- Inode of the buffer (NULL for pre-5.3 bufinfo, see `dmabuf_id`).
  inode INTEGER,
  -- `dmabuf.id` of the buffer, filled when buffers are merged.
  dmabuf_id INTEGER,
  -- Line (within the source) of the buffer row the attachment belongs to; links buffers that have no inode.
  buffer_line INTEGER,
  -- Importing device name (e.g. `soc:qcom,cam-isp`, `1e00000.gpu`).
  device TEXT NOT NULL,
  -- Map counter of the attachment (early sysfs layout), when given.
  map_count INTEGER
);

-- One row per total as a source printed it: the dmabuf_dump totals line, the `-b` total and
-- per-exporter lines, a dmabuf_dump `PROCESS TOTAL`, bufinfo's `Total N objects, M bytes`.
-- `dmabuf_consistency` compares each with the sum of the rows it should equal.
CREATE TABLE dmabuf_reported_total (
  -- Snapshot.
  snapshot_id INTEGER NOT NULL,
  -- Source that printed the total.
  source_id INTEGER NOT NULL,
  -- Which total: `dmabuf_dump`, `dmabuf_dump_process`, `dmabuf_dump_b`, `dmabuf_dump_b_exporter`, `bufinfo`, `dmaprocs_process` (a vendor per-process listing's `size:`), `mtk_heap` (MediaTek /proc/dma_heap: its buffer total and `--sum` lines), `mtk_heap_process` (its per-process RSS and PSS), `process_dmabuf_info_process` (OpenHarmony/Huawei /proc/process_dmabuf_info `Total dmabuf size of`: every fd counted, a buffer behind two fds twice), `ion_client` (an ION heap debug file's client rows: the bytes of the heap's buffers a process's ION clients hold handles to, summed over its clients), `ion_heap` (that file's `total`: every buffer of the heap), `ion_heap_orphaned` (its `total orphaned`: buffers no client holds a handle to; buffer_count = the orphaned allocations listed), `samsung_dmabuf_trace` (Samsung's `Dma-buf Info` kernel log dump: the bytes the Samsung DMA heaps have allocated, not every exporter's; buffer_count from its size statistics), `samsung_dmabuf_trace_fd` (its per-process fd total: every DMA-BUF fd counted, each size rounded down to kB; buffer_count = the fds), `samsung_dmabuf_trace_mmap` (its per-process total of the Samsung heap buffers the process maps, each once; buffer_count = those buffers), ...
  origin TEXT NOT NULL,
  -- Process the total is for (`dmabuf_dump_process`, `dmaprocs_process`, `mtk_heap_process`, `process_dmabuf_info_process`, `ion_client`, `samsung_dmabuf_trace_fd`, `samsung_dmabuf_trace_mmap`), else NULL.
  pid INTEGER,
  -- Exporter the total is for (`dmabuf_dump_b_exporter`); for `ion_client`, `ion_heap` and `ion_heap_orphaned` the ION heap, when the capture names it; else NULL.
  exporter TEXT,
  -- Total bytes.
  total_bytes INTEGER,
  -- Number of buffers, when printed.
  buffer_count INTEGER,
  -- Bytes held only by the kernel (dmabuf_dump `kernel_rss`), when printed.
  kernel_bytes INTEGER,
  -- Userspace RSS bytes (shared buffers counted once per holder), when printed.
  userspace_rss_bytes INTEGER,
  -- Userspace PSS bytes, when printed.
  userspace_pss_bytes INTEGER,
  -- 1 when the source printed kB (so sums of byte sizes may differ by rounding), else 0.
  in_kb INTEGER NOT NULL DEFAULT 0
);

-- One row per problem met while importing: a malformed row, a section that failed or was cut
-- short, values that disagree. Import never aborts on a recoverable problem.
CREATE TABLE diagnostic (
  -- Row id.
  id INTEGER PRIMARY KEY,
  -- Source where the problem was met.
  source_id INTEGER,
  -- Snapshot concerned, when known.
  snapshot_id INTEGER,
  -- Line (1-based, within the source) of the problem, when known.
  line INTEGER,
  -- `info`, `warning` (data may be incomplete) or `error` (data lost).
  severity TEXT NOT NULL,
  -- Stable machine-readable code (e.g. `malformed_row`, `section_failed`, `truncated`, `merge_conflict`, `entry_unreadable`, `importer_failed`, `too_many_diagnostics`); the README's Diagnostics section explains every one.
  code TEXT NOT NULL,
  -- Human-readable explanation, with the offending text where useful.
  message TEXT NOT NULL
);

-- Documentation of every table, view and column (what `dmabuf-triage schema` prints);
-- kept inside the database so exported files carry it.
CREATE TABLE schema_doc (
  -- Table or view name.
  object TEXT NOT NULL,
  -- Column name; NULL for the object's own documentation.
  column_name TEXT,
  -- `table` or `view`.
  kind TEXT NOT NULL,
  -- The documentation text.
  doc TEXT NOT NULL
);

-- Values of the named parameters of the analyses (`dmabuf-triage analyses` lists them). The
-- analysis views read their parameters from here, so a view works with its defaults in an
-- exported file, and `run --param` changes the value for the session.
CREATE TABLE analysis_param (
  -- Analysis (view) the parameter belongs to.
  analysis TEXT NOT NULL,
  -- Parameter name (`:name` in `run --param name=value`).
  name TEXT NOT NULL,
  -- Current value.
  value,
  -- Default value as declared in the analysis file.
  default_value,
  -- What the parameter does.
  description TEXT NOT NULL,
  PRIMARY KEY (analysis, name)
);

CREATE INDEX dmabuf_observation_inode ON dmabuf_observation (snapshot_id, inode);
CREATE INDEX dmabuf_observation_source ON dmabuf_observation (source_id, inode);
CREATE INDEX dmabuf_holder_observation_inode ON dmabuf_holder_observation (snapshot_id, inode, pid);
CREATE INDEX dmabuf_holder_observation_source ON dmabuf_holder_observation (source_id, pid);
CREATE INDEX dmabuf_inode ON dmabuf (snapshot_id, inode);
CREATE INDEX dmabuf_holder_pid ON dmabuf_holder (snapshot_id, pid, fd_refs);
