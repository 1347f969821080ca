-- Trace tables: DMA-BUF and ION activity over time, from Perfetto traces (`perfetto`
-- importer) and text ftrace/systrace captures (`systrace_text` importer). Times are the
-- trace's nanoseconds (boot clock unless the trace says otherwise); sizes are bytes.
-- Threads and processes seen in a trace go to `thread` and `process`; an event's `tid` is
-- the kernel pid of the task that emitted it, `pid` the process (thread group) it belongs to.

-- One row per trace read (a Perfetto trace file, the trace inside a bugreport, a text
-- capture): its time bounds and what the importer saw in it. A snapshot of several traces (a
-- folder, a bugreport with more than one) has a row for each, and the analyses take each trace's
-- end from its own row (`dma_heap_totals`: a time-weighted average runs to its trace's `end_ts`,
-- a buffer still allocated is so at its trace's end), never another trace's.
CREATE TABLE trace_info (
  -- Snapshot the trace belongs to.
  snapshot_id INTEGER NOT NULL,
  -- Source (file or zip entry) of the trace.
  source_id INTEGER NOT NULL,
  -- `perfetto` (binary protobuf trace) or `systrace_text` (text ftrace / systrace capture).
  format TEXT NOT NULL,
  -- Earliest timestamp seen (ftrace events and packet timestamps; the compact scheduler encoding is not decoded).
  start_ts INTEGER,
  -- Latest timestamp seen, same rule: the end of this trace used by its time-weighted statistics.
  end_ts INTEGER,
  -- Trace packets read (`perfetto`; packets inside compressed packets included), or lines read (`systrace_text`).
  packets INTEGER NOT NULL,
  -- Ftrace events seen (all kinds, the compact scheduler encoding not counted).
  ftrace_events INTEGER NOT NULL,
  -- Events stored in the trace tables (dma_heap_event, dmabuf_rss_sample, ion_heap_event, gpu_mem_total_sample, trace_meminfo_sample, binder_event).
  stored_events INTEGER NOT NULL,
  -- Packets that carried `compressed_packets` (zlib) or `zstd_compressed_packets`.
  compressed_packets INTEGER NOT NULL DEFAULT 0,
  -- Ftrace bundles that reported lost events (the kernel ring buffer overran: the trace has gaps).
  lost_event_bundles INTEGER NOT NULL DEFAULT 0,
  -- Events the kernel's ftrace ring buffers overwrote during the trace (`perfetto`: `ftrace_stats`
  -- packets, per CPU the END_OF_TRACE minus the START_OF_TRACE `overrun` plus `commit_overrun`, summed
  -- over CPUs; Perfetto's `ftrace_cpu_overrun_delta`). NULL without such a pair of packets.
  ftrace_overrun INTEGER,
  -- Events the kernel's ftrace ring buffers dropped during the trace because they were full (not in
  -- overwrite mode): `dropped_events`, END minus START, summed over CPUs. NULL like `ftrace_overrun`.
  ftrace_dropped_events INTEGER,
  -- Chunks of trace data the tracing service's buffers overwrote before they were read (`perfetto`:
  -- the last `trace_stats` packet, `buffer_stats.chunks_overwritten` summed over buffers). NULL
  -- without a `trace_stats` packet. Not a loss `trace_lost_events` reports (Perfetto counts it as
  -- info): a ring buffer, as the bugreport's trace uses, overwrites its oldest data, so the trace
  -- merely starts later.
  chunks_overwritten INTEGER,
  -- Chunks of trace data the tracing service discarded: by a full buffer in DISCARD mode
  -- (`buffer_stats.chunks_discarded`, summed) and before reaching a buffer (`chunks_discarded`).
  -- NULL without a `trace_stats` packet.
  chunks_discarded INTEGER,
  -- Packets producers' trace writers lost (their shared memory was full):
  -- `buffer_stats.trace_writer_packet_loss`, summed over buffers. NULL without a `trace_stats` packet.
  writer_packet_loss INTEGER,
  -- Violations of the shared-memory protocol the service found (`buffer_stats.abi_violations`,
  -- summed): data of a buggy or hostile producer was dropped. NULL without a `trace_stats` packet.
  abi_violations INTEGER,
  -- Flushes that failed (`trace_stats.flushes_failed`, the final one included): what producers held
  -- then is missing. NULL without a `trace_stats` packet.
  flushes_failed INTEGER,
  -- Packets marked `previous_packet_dropped` after an earlier packet of the same sequence
  -- (`trusted_packet_sequence_id`): packets of that sequence were lost just before them
  -- (Perfetto's `traced_buf_sequence_packet_loss`; the mark on a sequence's first packet is not counted).
  packets_dropped INTEGER NOT NULL DEFAULT 0
);

-- One row per process a trace saw, as Perfetto's trace processor tells processes apart (its
-- `upid`): a pid that a process gave up during the trace and another took — the trace saw the
-- first end (`sched_process_free` of its main thread) or the second forked (`task_newtask`) —
-- has a row for each process that held it, each with its own names; any other pid has one.
-- `process` keeps one row per pid, the last process that held it. An event of a thread of that
-- pid (after gralloc attribution) at time t is of the last of these processes that started at
-- or before t (`start_ts` NULL: from the start), unless that one had ended by t (`end_ts` <= t):
-- then of no known process, as in Perfetto. The trace analyses group by process this way
-- (`upid` of `dma_heap_charge`, `dma_heap_totals`, `dmabuf_rss_totals`).
CREATE TABLE process_instance (
  -- The process's key (Perfetto's upid; the trace views' `upid`).
  upid INTEGER PRIMARY KEY,
  -- Snapshot the trace belongs to.
  snapshot_id INTEGER NOT NULL,
  -- Source (trace) that saw it.
  source_id INTEGER NOT NULL,
  -- Process id.
  pid INTEGER NOT NULL,
  -- 0, 1, … for the processes that held the pid, in time order.
  instance INTEGER NOT NULL,
  -- When it started holding the pid: the `task_newtask` that forked it, or (after an earlier one ended) the first thing the trace said of it; NULL for a process found running.
  start_ts INTEGER,
  -- When it gave the pid up: `sched_process_free` of its main thread, or the fork of the next process with its pid; NULL when not seen.
  end_ts INTEGER,
  -- 1 when the pid was held by more than one process during the trace, or another trace of the snapshot saw a process with it too (the views then name each by this row, not by `process`); else 0.
  reused INTEGER NOT NULL,
  -- Its name, as Perfetto settles it (its latest: process tree argv0, fork comm, rename of its main thread).
  name TEXT,
  -- Its command line, when a process tree gave it.
  cmdline TEXT,
  -- Its parent's pid, when known.
  ppid INTEGER,
  -- Its user id, when known.
  uid INTEGER,
  -- The name of its main thread (tid = pid), when known.
  thread_name TEXT
);

-- Finds the process of a pid at a time.
CREATE INDEX process_instance_by_pid ON process_instance (snapshot_id, pid, instance);

-- One row per `dma_heap_stat` event: a DMA-BUF heap allocation (size_delta > 0) or free
-- (size_delta < 0) with the heaps' total after it. `android_dmabuf_allocs` attributes them.
CREATE TABLE dma_heap_event (
  -- Snapshot the trace belongs to.
  snapshot_id INTEGER NOT NULL,
  -- Source (trace) the event came from.
  source_id INTEGER NOT NULL,
  -- Event time, ns.
  ts INTEGER NOT NULL,
  -- Inode of the buffer (the same number `dmabuf.inode` and the kernel captures use).
  inode INTEGER,
  -- Bytes allocated (> 0) or freed (< 0): the event's `len`.
  size_delta INTEGER NOT NULL,
  -- Bytes allocated from all DMA-BUF heaps after the event (`total_allocated`).
  heap_total INTEGER,
  -- Thread that emitted the event (the ftrace event's pid).
  tid INTEGER,
  -- Process of that thread, when the trace tells (process tree, a `task_newtask` that created the thread, or the TGID column of a text capture); NULL when unknown.
  pid INTEGER
);

-- One row per `dma_heap_stat` event charged to a thread, computed once when a trace is loaded
-- (src/db/charge.ts, in one ordered pass; the view `_dmabuf_charged` states the
-- same rules in SQL and fills the table instead for a trace too large to hold in memory or with
-- values beyond 2^53): gralloc allocations charged to their binder client, a free to whoever the
-- latest strictly earlier event on its inode in its own trace was charged to; a free with no
-- earlier event in its trace has no row (another trace of the snapshot is never matched). The event's time, size and inode are those of its `dma_heap_event` row (joined on
-- `event_id`). The trace views read this table. Its rows are written on first use: before the
-- first statement naming it or a view over it, or an export (a summary alone never needs them).
CREATE TABLE dma_heap_charge (
  -- Row id of the event in `dma_heap_event` (the key of this table).
  event_id INTEGER PRIMARY KEY,
  -- Snapshot of the trace.
  snapshot_id INTEGER NOT NULL,
  -- Thread the event is charged to.
  tid INTEGER NOT NULL,
  -- Process of that thread; NULL when unknown (also when its pid was held by no known process at the time: see `process_instance`).
  pid INTEGER,
  -- Running sum of the event sizes of the responsible process (of the thread when the process is unknown) over its charged events of the event's trace up to the event's ts, those at the same ts included: Perfetto's `android_memory_cumulative_dmabuf.value`.
  cumulative_bytes INTEGER NOT NULL,
  -- `event_id` of the next charged event on the same inode in the same trace (in ts, event_id order); NULL when there is none.
  next_event_id INTEGER,
  -- The process (`process_instance.upid`) that held that pid when the event was charged to the thread (its allocation's time, for a free); NULL when `pid` is, or has no such row.
  upid INTEGER
);

-- The totals `dmabuf_trace_summary` reports, computed with `dma_heap_charge` (same pass, or the
-- view `_dmabuf_trace_totals`): per trace with `dma_heap_stat` events, one `trace` row (all
-- processes, and the statistics of the heaps' total over time, from the trace's own events to
-- its own end: two traces of a snapshot are two rows) and one `process` row per
-- responsible process (per thread when its process is unknown) of each trace (a pid or thread
-- of no known process that two traces charged is a row for each), with the buffers still
-- allocated at the end of each trace (the `unfreed_in_trace` leak findings read them).
CREATE TABLE dma_heap_totals (
  -- Snapshot of the trace.
  snapshot_id INTEGER NOT NULL,
  -- `trace` (the whole trace) or `process`.
  scope TEXT NOT NULL,
  -- Responsible process; NULL for the `trace` row and for a thread whose process is unknown.
  pid INTEGER,
  -- Responsible thread, for a `process` row whose process is unknown; else NULL.
  tid INTEGER,
  -- Number of charged allocations (size > 0).
  allocs INTEGER NOT NULL,
  -- Number of charged frees (size <= 0).
  frees INTEGER NOT NULL,
  -- Bytes allocated (charged allocations).
  allocated_bytes INTEGER NOT NULL,
  -- Bytes freed (charged frees, positive).
  freed_bytes INTEGER NOT NULL,
  -- allocated_bytes − freed_bytes.
  net_delta_bytes INTEGER NOT NULL,
  -- Buffers whose last event in their trace (the first in event order among those at its latest ts) is an allocation, charged here.
  outstanding_buffers INTEGER NOT NULL,
  -- Bytes of those buffers.
  outstanding_bytes INTEGER NOT NULL,
  -- Largest of those buffers, bytes; NULL when none.
  outstanding_max_bytes INTEGER,
  -- Largest inode among those buffers (their inode when there is one); NULL when none.
  outstanding_max_inode INTEGER,
  -- Earliest allocation time of those buffers, ns; NULL when none.
  outstanding_first_ts INTEGER,
  -- Latest allocation time of those buffers, ns; NULL when none.
  outstanding_last_ts INTEGER,
  -- Highest running sum of the sizes of the charged events (of the row's trace) in (ts, event_id) order; NULL for a `trace` row without charged events.
  peak_outstanding_bytes INTEGER,
  -- First event, ns (`trace` row: of all `dma_heap_event` rows of the trace, charged or not).
  first_ts INTEGER,
  -- Last event, ns (same rule).
  last_ts INTEGER,
  -- `trace` row: bytes freed by frees that were not charged (buffers with no earlier event in the trace); NULL for `process` rows.
  dropped_free_bytes INTEGER,
  -- `trace` row: time-weighted average of the heaps' total (`heap_total`) over the trace, each value lasting until the trace's next event (in ts, event order), the last until the end of the trace; NULL for `process` rows.
  heap_avg_bytes REAL,
  -- `trace` row: smallest heaps' total.
  heap_min_bytes INTEGER,
  -- `trace` row: largest heaps' total.
  heap_max_bytes INTEGER,
  -- `trace` row: heaps' total after the last event.
  heap_end_bytes INTEGER,
  -- `trace` row: end of the trace (its `trace_info.end_ts`), ns.
  trace_end_ts INTEGER,
  -- Responsible process as `process_instance` tells processes apart (a pid two processes held during the trace has a row for each); NULL for the `trace` row, for a thread whose process is unknown, and for a pid without such a row.
  upid INTEGER,
  -- Source (trace) of the row: its events are of this trace (`trace_info.source_id`).
  source_id INTEGER NOT NULL
);

-- One row per sample of a process's DMA-BUF RSS (bytes of DMA-BUFs the process maps):
-- the `dmabuf_rss_stat` ftrace event, or `process_stats` polling (`dmabuf_rss_kb`).
CREATE TABLE dmabuf_rss_sample (
  -- Snapshot the trace belongs to.
  snapshot_id INTEGER NOT NULL,
  -- Source (trace) the sample came from.
  source_id INTEGER NOT NULL,
  -- Sample time, ns (for `process_stats`, the packet's timestamp; without one, the latest time read before it).
  ts INTEGER NOT NULL,
  -- Process whose RSS it is; NULL when a `dmabuf_rss_stat` thread could not be mapped to its process.
  pid INTEGER,
  -- DMA-BUF RSS of the process after the change, bytes (`process_stats` reports kB, multiplied by 1024 here).
  rss_bytes INTEGER NOT NULL,
  -- 1 for a `process_stats` sample, 0 for a `dmabuf_rss_stat` event (what `origin` says in words).
  polled INTEGER NOT NULL,
  -- `dmabuf_rss_stat` (ftrace event) or `process_stats` (polled `dmabuf_rss_kb`).
  origin TEXT GENERATED ALWAYS AS (CASE polled WHEN 1 THEN 'process_stats' ELSE 'dmabuf_rss_stat' END) VIRTUAL,
  -- Thread that emitted the `dmabuf_rss_stat` event; NULL for `process_stats`.
  tid INTEGER,
  -- Change of RSS that triggered the event, bytes (`rss_delta`); NULL for `process_stats`.
  rss_delta INTEGER,
  -- Inode of the buffer mapped or unmapped (`i_ino`); NULL for `process_stats`.
  inode INTEGER
);

-- DMA-BUF RSS over a trace per process (per thread when its process is unknown): the samples of
-- `dmabuf_rss_sample` summed up once per snapshot when it is loaded (src/db/rss.ts, or the view
-- `_dmabuf_rss_totals` that states the rules); the `rss_growth` leak findings read it. Per
-- trace: a pid or thread two traces of the snapshot sampled has a row for each trace.
CREATE TABLE dmabuf_rss_totals (
  -- Snapshot of the trace.
  snapshot_id INTEGER NOT NULL,
  -- Process whose RSS it is; NULL when the samples' thread could not be mapped to its process.
  pid INTEGER,
  -- Thread of the samples when their process is unknown; else NULL.
  tid INTEGER,
  -- Samples.
  samples INTEGER NOT NULL,
  -- Time of the first sample (the earliest; the first written among equals), ns.
  first_ts INTEGER NOT NULL,
  -- RSS at the first sample, bytes.
  first_bytes INTEGER NOT NULL,
  -- Time of the last sample (the latest; the last written among equals), ns.
  last_ts INTEGER NOT NULL,
  -- RSS at the last sample, bytes.
  last_bytes INTEGER NOT NULL,
  -- Largest RSS sampled, bytes.
  peak_bytes INTEGER NOT NULL,
  -- The samples' origins (`dmabuf_rss_stat`, `process_stats`), in alphabetical order, comma-separated.
  origins TEXT NOT NULL,
  -- The process (`process_instance.upid`) that held `pid` at the samples' times: the samples of a pid two processes held during the trace are summed per process. NULL when no known process held it then (the samples are then summed per pid).
  upid INTEGER,
  -- Source (trace) of the samples.
  source_id INTEGER NOT NULL
);

-- One row per ION heap event (ION-era kernels): `ion_heap_grow`, `ion_heap_shrink` (per heap)
-- and `ion_stat` (all heaps, per buffer). `dmabuf_ion_summary` summarizes them.
CREATE TABLE ion_heap_event (
  -- Snapshot the trace belongs to.
  snapshot_id INTEGER NOT NULL,
  -- Source (trace) the event came from.
  source_id INTEGER NOT NULL,
  -- Event time, ns.
  ts INTEGER NOT NULL,
  -- `ion_heap_grow`, `ion_heap_shrink` or `ion_stat`.
  origin TEXT NOT NULL,
  -- Heap name of `ion_heap_grow`/`ion_heap_shrink` as the event gave it (NULL when absent); NULL for `ion_stat`.
  heap_name TEXT,
  -- ION buffer id of `ion_stat`; NULL for the heap events.
  buffer_id INTEGER,
  -- Bytes allocated (> 0) or released (< 0): `len` (an int64, as Perfetto takes it), negated for `ion_heap_shrink`.
  size_delta INTEGER NOT NULL,
  -- Heap total after the event: `total_allocated` for `ion_stat`; `total_allocated` + size_delta for the heap events, whose `total_allocated` is the value before the change.
  heap_total INTEGER,
  -- `total_allocated` exactly as the event carried it.
  reported_total INTEGER,
  -- Thread that emitted the event.
  tid INTEGER,
  -- Process of that thread, when known.
  pid INTEGER
);

-- One row per GPU memory total sample: the `gpu_mem_total` ftrace event or the
-- `gpu_mem_total_event` packet. pid 0 is the GPU's global total.
CREATE TABLE gpu_mem_total_sample (
  -- Snapshot the trace belongs to.
  snapshot_id INTEGER NOT NULL,
  -- Source (trace) the sample came from.
  source_id INTEGER NOT NULL,
  -- Sample time, ns.
  ts INTEGER NOT NULL,
  -- GPU id.
  gpu_id INTEGER,
  -- Process the total is for; 0 for the global total.
  pid INTEGER NOT NULL,
  -- GPU memory bytes.
  size_bytes INTEGER NOT NULL,
  -- `gpu_mem_total` (ftrace event) or `gpu_mem_total_event` (packet).
  origin TEXT NOT NULL
);

-- One row per system memory counter a trace polled (`sys_stats` meminfo) that concerns
-- DMA-BUF memory: `ION_HEAP`, `ION_HEAP_POOL` and `GPU`.
CREATE TABLE trace_meminfo_sample (
  -- Snapshot the trace belongs to.
  snapshot_id INTEGER NOT NULL,
  -- Source (trace) the sample came from.
  source_id INTEGER NOT NULL,
  -- Sample time (the packet's timestamp), ns.
  ts INTEGER NOT NULL,
  -- Counter name: `ION_HEAP`, `ION_HEAP_POOL` or `GPU`.
  counter TEXT NOT NULL,
  -- Value in bytes (the trace gives kB, multiplied by 1024 here).
  value_bytes INTEGER NOT NULL
);

-- One row per binder event of a trace (`binder_transaction`, `binder_transaction_received`),
-- kept so that allocations a gralloc allocator thread makes while serving a transaction can be
-- charged to the client (`android_dmabuf_allocs`). Past 2,000,000 in one trace, only the events
-- that attribution may need are stored (of a thread of the allocator, or sent to it, or of a
-- process not named yet); a `binder_events_thinned` diagnostic counts the others.
CREATE TABLE binder_event (
  -- Snapshot the trace belongs to.
  snapshot_id INTEGER NOT NULL,
  -- Source (trace) the event came from.
  source_id INTEGER NOT NULL,
  -- Event time, ns.
  ts INTEGER NOT NULL,
  -- Thread that emitted the event: the sender of a transaction, the receiver of a `received`.
  tid INTEGER NOT NULL,
  -- 1 for `binder_transaction_received`, 0 for `binder_transaction` (what `kind` says in words).
  received INTEGER NOT NULL,
  -- `transaction` (binder_transaction) or `received` (binder_transaction_received).
  kind TEXT GENERATED ALWAYS AS (CASE received WHEN 1 THEN 'received' ELSE 'transaction' END) VIRTUAL,
  -- Transaction id shared by a transaction and its `received` event.
  debug_id INTEGER NOT NULL,
  -- 1 when the transaction is a reply; NULL for `received`.
  reply INTEGER,
  -- Transaction flags (bit 0 = one-way); NULL for `received`.
  flags INTEGER,
  -- Destination process of a transaction; NULL for `received`.
  to_proc INTEGER,
  -- Destination thread of a transaction (0 = any thread of the process); NULL for `received`.
  to_thread INTEGER
);

-- Finds the `received` events of a thread and the reply a serving thread sends.
CREATE INDEX binder_event_by_thread ON binder_event (snapshot_id, tid, ts);
-- Finds the transaction a `received` event is the arrival of.
CREATE INDEX binder_event_by_id ON binder_event (snapshot_id, debug_id);
