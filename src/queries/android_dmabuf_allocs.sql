-- @view _dmabuf_attributed
-- @title DMA-BUF heap events with the gralloc re-attribution applied (narrow)
-- One row per `dma_heap_event` with `attr_tid`: the client thread when the event was made by
-- a gralloc allocator thread while serving a synchronous binder transaction, else the thread
-- that emitted it (rules: see `android_dmabuf_allocs`). Unordered, no names.
-- @column seq `dma_heap_event.rowid` (trace order among events with the same timestamp).
-- @column snapshot_id Snapshot of the trace.
-- @column ts Event time, ns.
-- @column inode Inode of the buffer.
-- @column buf_size Bytes allocated (> 0) or freed (< 0).
-- @column tid Thread that emitted the event.
-- @column attr_tid Thread the event is attributed to.
CREATE VIEW _dmabuf_attributed AS
WITH
gralloc_thread AS MATERIALIZED (
  SELECT th.snapshot_id, th.tid
  FROM thread th
  JOIN process p ON p.snapshot_id = th.snapshot_id AND p.pid = th.pid
  WHERE p.name GLOB '/vendor/bin/hw/android.hardware.graphics.allocator*'
     OR p.name GLOB '/vendor/bin/hw/*gralloc.allocator*'
     OR p.cmdline GLOB '/vendor/bin/hw/android.hardware.graphics.allocator*'
     OR p.cmdline GLOB '/vendor/bin/hw/*gralloc.allocator*'
),
-- Synchronous transactions a gralloc thread served: from their arrival to its next reply.
served AS MATERIALIZED (
  SELECT r.snapshot_id, r.tid AS server_tid, t.tid AS client_tid, r.ts AS start_ts,
         (SELECT min(x.ts) FROM binder_event x
          WHERE x.snapshot_id = r.snapshot_id AND x.tid = r.tid AND x.ts >= r.ts
            AND x.kind = 'transaction' AND x.reply = 1) AS end_ts
  FROM gralloc_thread g
  JOIN binder_event r ON r.snapshot_id = g.snapshot_id AND r.tid = g.tid AND r.kind = 'received'
  JOIN binder_event t ON t.snapshot_id = r.snapshot_id AND t.debug_id = r.debug_id
                     AND t.kind = 'transaction' AND t.reply = 0 AND (t.flags & 1) = 0
)
SELECT e.rowid AS seq, e.snapshot_id, e.ts, e.inode, e.size_delta AS buf_size, e.tid,
       CASE WHEN g.tid IS NULL THEN e.tid
            ELSE coalesce((SELECT s.client_tid FROM served s
                           WHERE s.snapshot_id = e.snapshot_id AND s.server_tid = e.tid
                             AND e.ts BETWEEN s.start_ts AND s.end_ts
                           ORDER BY s.start_ts DESC LIMIT 1), e.tid)
       END AS attr_tid
FROM dma_heap_event e
LEFT JOIN gralloc_thread g ON g.snapshot_id = e.snapshot_id AND g.tid = e.tid;

-- @view _dmabuf_charged
-- @title DMA-BUF heap events with the thread and process they are charged to (the rules)
-- An allocation is charged to its `attr_tid`; a free to the `attr_tid` of the latest strictly
-- earlier event on its inode; a free with none is dropped. Computed once per trace into the
-- table `dma_heap_charge`, which the trace views read.
-- @column snapshot_id Snapshot of the trace.
-- @column event_id Row id of the event in `dma_heap_event`.
-- @column ts Event time, ns.
-- @column buf_size Bytes allocated (> 0) or freed (< 0).
-- @column inode Inode of the buffer.
-- @column tid Thread the event is charged to.
-- @column pid Process of that thread; NULL when unknown.
CREATE VIEW _dmabuf_charged AS
WITH charged AS (
  SELECT snapshot_id, seq, ts, inode, buf_size,
         CASE WHEN buf_size > 0 THEN attr_tid
              ELSE last_value(attr_tid) OVER (
                     PARTITION BY snapshot_id, inode ORDER BY ts
                     RANGE BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
         END AS tid
  FROM _dmabuf_attributed
)
SELECT c.snapshot_id, c.seq AS event_id, c.ts, c.buf_size, c.inode, c.tid, th.pid
FROM charged c
LEFT JOIN thread th ON th.snapshot_id = c.snapshot_id AND th.tid = c.tid
WHERE c.tid IS NOT NULL;

-- @view android_dmabuf_allocs
-- @title DMA-BUF heap allocations and frees, attributed (Perfetto-compatible)
-- One row per `dma_heap_stat` event of a trace, with the thread and process responsible,
-- with the columns and semantics of Perfetto's `android_dmabuf_allocs`
-- (android.memory.dmabuf module), plus `snapshot_id` last. An allocation made by a thread of
-- the gralloc allocator service (process name or cmdline matching
-- `/vendor/bin/hw/android.hardware.graphics.allocator*` or `/vendor/bin/hw/*gralloc.allocator*`)
-- while it serves a synchronous binder transaction — from the `binder_transaction_received`
-- of the request to the thread's next reply — is charged to the client thread that sent the
-- request (this needs binder events in the trace; when spans nest, the innermost wins). A
-- free is charged to the thread this rule attributes the latest strictly earlier event on the
-- same inode to (normally the allocation's requester); a free with no earlier event on its
-- inode in the trace is dropped.
-- `utid`/`upid` are our internal ids (`thread.rowid`, `process.rowid`), like Perfetto's.
-- @column ts Event time, ns.
-- @column buf_size Bytes allocated (> 0) or freed (< 0).
-- @column inode Inode of the buffer.
-- @column utid Internal id of the responsible thread (`thread.rowid`).
-- @column tid Thread id of the responsible thread.
-- @column thread_name Thread name, when known.
-- @column upid Internal id of the responsible process (`process.rowid`); NULL when the thread's process is unknown.
-- @column pid Process id of the responsible process; NULL when unknown.
-- @column process_name Process name, when known.
-- @column snapshot_id Snapshot of the trace (not in Perfetto's table).
CREATE VIEW android_dmabuf_allocs AS
SELECT c.ts, c.buf_size, c.inode, th.rowid AS utid, c.tid, th.name AS thread_name,
       p.rowid AS upid, c.pid, p.name AS process_name, c.snapshot_id
FROM dma_heap_charge c
LEFT JOIN thread th ON th.snapshot_id = c.snapshot_id AND th.tid = c.tid
LEFT JOIN process p ON p.snapshot_id = c.snapshot_id AND p.pid = c.pid
ORDER BY c.snapshot_id, c.ts;
