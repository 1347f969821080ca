-- Threads of the gralloc allocator service.
-- One row per tid of a thread (of any trace of the snapshot) of a process whose name or cmdline matches
-- `/vendor/bin/hw/android.hardware.graphics.allocator*` or `/vendor/bin/hw/*gralloc.allocator*`:
-- the threads whose allocations may be charged to the binder client they serve (rules: see
-- `android_dmabuf_allocs`).
-- @column snapshot_id Snapshot of the trace.
-- @column tid The thread.
CREATE VIEW _dmabuf_gralloc_thread AS
SELECT DISTINCT th.snapshot_id, th.tid
FROM thread th
JOIN process p ON p.snapshot_id = th.snapshot_id AND p.pid = th.pid
WHERE p.name GLOB '/vendor/bin/hw/android.hardware.graphics.allocator*'
   OR p.name GLOB '/vendor/bin/hw/*gralloc.allocator*'
   OR p.cmdline GLOB '/vendor/bin/hw/android.hardware.graphics.allocator*'
   OR p.cmdline GLOB '/vendor/bin/hw/*gralloc.allocator*';

-- Binder transactions served by a gralloc allocator thread (spans).
-- One row per synchronous binder transaction (not one-way, not a reply) received by a thread
-- of the gralloc allocator service (`_dmabuf_gralloc_thread`): the span from its
-- `binder_transaction_received` to the thread's next reply, and the client thread that sent
-- it. Allocations the server thread makes inside a span are charged to the client (rules: see
-- `android_dmabuf_allocs`).
-- @column snapshot_id Snapshot of the trace.
-- @column server_tid Gralloc allocator thread serving the transaction.
-- @column client_tid Thread that sent the transaction.
-- @column start_ts Arrival of the transaction (`binder_transaction_received`), ns.
-- @column end_ts The server thread's next reply at or after start_ts, ns; NULL when the trace has none (the span then covers nothing).
CREATE VIEW _dmabuf_gralloc_served AS
SELECT r.snapshot_id, r.tid AS server_tid, t.tid AS client_tid, r.ts AS start_ts,
       (SELECT min(x.ts) FROM binder_event x
        WHERE x.snapshot_id = r.snapshot_id AND x.tid = r.tid AND x.ts >= r.ts
          AND x.received = 0 AND x.reply = 1) AS end_ts
-- In this order (CROSS JOIN keeps it): the few gralloc threads, their `received` events
-- (binder_event_by_thread), the transaction of each (binder_event_by_id). Left to itself the
-- planner may scan every transaction of the trace for each received event.
FROM _dmabuf_gralloc_thread g
CROSS JOIN binder_event r ON r.snapshot_id = g.snapshot_id AND r.tid = g.tid AND r.received = 1
CROSS JOIN binder_event t ON t.snapshot_id = r.snapshot_id AND t.debug_id = r.debug_id
                         AND t.received = 0 AND t.reply = 0 AND (t.flags & 1) = 0;

-- The process of each thread of a trace, where one process held its pid for the whole trace.
-- One row per `thread` row (a thread of one trace): its pid and, when that pid has one
-- `process_instance` row of the thread's trace without a start or end, its upid; -1 when the
-- pid has several rows of that trace or one for part of it (then the process depends on the
-- time: see `process_instance`); NULL when it has none. The process at an event's time, or
-- none when no process held the pid then, is `_dmabuf_attributed.attr_held`.
-- @column snapshot_id Snapshot of the thread.
-- @column tid The thread.
-- @column pid Its process id in its trace; NULL when unknown.
-- @column upid `process_instance.upid` of its process, -1 or NULL (above).
-- @column source_id The trace (`source_id`) of the thread: an event of another trace is of that trace's thread.
CREATE VIEW _thread_process AS
SELECT th.snapshot_id, th.tid, th.pid,
       (SELECT CASE WHEN count(*) = 0 THEN NULL
                    WHEN count(*) = 1 AND max(pi.start_ts) IS NULL AND max(pi.end_ts) IS NULL THEN max(pi.upid)
                    ELSE -1 END
        FROM process_instance pi WHERE pi.snapshot_id = th.snapshot_id AND pi.source_id = th.source_id AND pi.pid = th.pid) AS upid,
       th.source_id
FROM thread th;

-- DMA-BUF heap events with the gralloc re-attribution applied (narrow).
-- One row per `dma_heap_event` with `attr_tid`: the client thread when the event was made by
-- a gralloc allocator thread while serving a synchronous binder transaction (the innermost
-- span of `_dmabuf_gralloc_served`, i.e. the latest started, when spans nest), else the thread
-- that emitted it (rules: see `android_dmabuf_allocs`); and `attr_held`, the process that held
-- that thread's pid at the event in the event's trace (the thread and `process_instance` of that
-- trace). Unordered, no names.
-- @column seq `dma_heap_event.rowid` (trace order among events with the same timestamp).
-- @column snapshot_id Snapshot of the trace.
-- @column source_id Source (trace) of the event.
-- @column ts Event time, ns.
-- @column inode Inode of the buffer.
-- @column buf_size Bytes allocated (> 0) or freed (< 0).
-- @column tid Thread that emitted the event.
-- @column attr_tid Thread the event is attributed to.
-- @column attr_held `process_instance.upid` of the process that held attr_tid's pid (in the event's trace) at ts in that trace; 0 when none did (the pid's processes had ended or not started); NULL when the thread's pid is unknown or has no `process_instance` row of that trace.
CREATE VIEW _dmabuf_attributed AS
WITH
served AS MATERIALIZED (SELECT * FROM _dmabuf_gralloc_served),
server AS MATERIALIZED (SELECT DISTINCT snapshot_id, server_tid FROM served),
-- Once per thread, not per event.
thread_process AS MATERIALIZED (SELECT * FROM _thread_process),
attributed AS (
  SELECT e.rowid AS seq, e.snapshot_id, e.source_id, e.ts, e.inode, e.size_delta AS buf_size, e.tid,
         CASE WHEN g.server_tid IS NULL THEN e.tid
              ELSE coalesce((SELECT s.client_tid FROM served s
                             WHERE s.snapshot_id = e.snapshot_id AND s.server_tid = e.tid
                               AND e.ts BETWEEN s.start_ts AND s.end_ts
                             ORDER BY s.start_ts DESC LIMIT 1), e.tid)
         END AS attr_tid
  FROM dma_heap_event e
  LEFT JOIN server g ON g.snapshot_id = e.snapshot_id AND g.server_tid = e.tid
)
SELECT a.seq, a.snapshot_id, a.source_id, a.ts, a.inode, a.buf_size, a.tid, a.attr_tid,
       -- The last of the pid's processes in the event's trace that started by ts, if it had not
       -- ended by then; 0 when none had started or it had ended (the rule of
       -- `process_instance`); NULL when that trace has none. Looked up per event only for a pid
       -- not held by one process for the whole trace (`_thread_process`).
       CASE WHEN t.upid IS NULL THEN NULL
            WHEN t.upid >= 0 THEN t.upid
            -- The event's time is named in WHERE only, not in ORDER BY: SQLite before 3.41
            -- (sqlite3 or Datasette opening an export) does not resolve it there.
            ELSE coalesce((SELECT CASE WHEN pi.end_ts IS NULL OR pi.end_ts > a.ts THEN pi.upid ELSE 0 END
                           FROM process_instance pi
                           WHERE pi.snapshot_id = a.snapshot_id AND pi.source_id = a.source_id AND pi.pid = t.pid
                             AND (pi.start_ts IS NULL OR pi.start_ts <= a.ts)
                           ORDER BY pi.instance DESC, pi.upid DESC
                           LIMIT 1),
                          (SELECT 0 FROM process_instance pi
                           WHERE pi.snapshot_id = a.snapshot_id AND pi.source_id = a.source_id AND pi.pid = t.pid
                           LIMIT 1))
       END AS attr_held
FROM attributed a
LEFT JOIN thread_process t ON t.snapshot_id = a.snapshot_id AND t.source_id = a.source_id AND t.tid = a.attr_tid;

-- DMA-BUF heap events with the thread and process they are charged to (the rules, in SQL).
-- An allocation is charged to its `attr_tid` and the process that held its pid then; a free to
-- those of the latest strictly earlier event on its inode in its own trace; a free with none is
-- dropped (each trace of a snapshot apart: an event of another trace on the same inode is not
-- the free's). The responsible is the process (`process_instance`; the pid when it has no such
-- row, in the event's trace), or the thread of that trace when its process is unknown. The rows of `dma_heap_charge` (with their event's ts,
-- size and inode), which the trace views read: that table is filled once per trace by an
-- ordered pass in JavaScript that applies these rules (src/db/charge.ts), or from this view for
-- a trace too large for that pass or with values beyond 2^53.
-- @column snapshot_id Snapshot of the trace.
-- @column event_id Row id of the event in `dma_heap_event`.
-- @column ts Event time, ns.
-- @column buf_size Bytes allocated (> 0) or freed (< 0).
-- @column inode Inode of the buffer.
-- @column tid Thread the event is charged to.
-- @column pid Process of that thread; NULL when unknown, or when no process held its pid then.
-- @column cumulative_bytes Running sum of buf_size of the responsible process (of the thread when the process is unknown) in the event's trace up to ts, events at the same ts included.
-- @column next_event_id event_id of the next charged event on the same inode in the same trace (ts, event_id order); NULL when none.
-- @column upid `process_instance.upid` of the responsible process; NULL when none.
CREATE VIEW _dmabuf_charged AS
WITH charged AS (
  SELECT snapshot_id, seq, ts, inode, buf_size,
         CASE WHEN buf_size > 0 THEN attr_tid ELSE last_value(attr_tid) OVER earlier END AS tid,
         CASE WHEN buf_size > 0 THEN attr_held ELSE last_value(attr_held) OVER earlier END AS held,
         -- The event's trace, which is the event charged's (a free's allocation is of its trace): its thread is that trace's.
         source_id
  FROM _dmabuf_attributed
  WINDOW earlier AS (PARTITION BY snapshot_id, source_id, inode ORDER BY ts RANGE BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
),
with_pid AS (
  SELECT c.snapshot_id, c.source_id, c.seq, c.ts, c.buf_size, c.inode, c.tid,
         CASE WHEN c.held = 0 THEN NULL ELSE th.pid END AS pid, nullif(c.held, 0) AS upid
  FROM charged c
  LEFT JOIN thread th ON th.snapshot_id = c.snapshot_id AND th.source_id = c.source_id AND th.tid = c.tid
  WHERE c.tid IS NOT NULL
)
SELECT snapshot_id, seq AS event_id, ts, buf_size, inode, tid, pid,
       -- Per trace: a pid or a thread of no known process in two traces is two responsibles (a upid is of one trace).
       sum(buf_size) OVER (PARTITION BY snapshot_id, source_id, CASE WHEN upid IS NOT NULL THEN 0 WHEN pid IS NOT NULL THEN 1 ELSE 2 END,
                                        coalesce(upid, pid, tid) ORDER BY ts) AS cumulative_bytes,
       lead(seq) OVER (PARTITION BY snapshot_id, source_id, inode ORDER BY ts, seq) AS next_event_id,
       upid
FROM with_pid;

-- @analysis android_dmabuf_allocs
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
-- same inode in the same trace to (normally the allocation's requester); a free with no earlier
-- event on its inode in its trace is dropped (as in Perfetto, which reads each trace apart: the
-- traces of one snapshot are never matched with each other). The process is the one that held the thread's pid when the
-- allocation was made (`process_instance`: a pid two processes held during the trace is two
-- processes, each with its own name, as in Perfetto).
-- `utid`/`upid` are our internal ids (`thread.rowid`, `process_instance.upid`), like Perfetto's.
-- @column ts Event time, ns.
-- @column buf_size Bytes allocated (> 0) or freed (< 0).
-- @column inode Inode of the buffer.
-- @column utid Internal id of the responsible thread (`thread.rowid`: the thread of the responsible process's trace, else of the event's).
-- @column tid Thread id of the responsible thread.
-- @column thread_name Thread name, when known.
-- @column upid Internal id of the responsible process (`process_instance.upid`); NULL when the thread's process is unknown, when no process held its pid at the time (of the allocation, for a free), or when the trace has no `process_instance` row for the pid.
-- @column pid Process id of the responsible process; NULL when unknown.
-- @column process_name Process name, when known.
-- @column snapshot_id Snapshot of the trace (not in Perfetto's table).
CREATE VIEW android_dmabuf_allocs AS
SELECT e.ts, e.size_delta AS buf_size, e.inode, th.rowid AS utid, c.tid,
       CASE WHEN pi.reused = 1 AND c.tid = c.pid THEN pi.thread_name ELSE th.name END AS thread_name,
       c.upid, c.pid, CASE WHEN pi.reused = 1 THEN pi.name ELSE p.name END AS process_name, c.snapshot_id
FROM dma_heap_charge c
JOIN dma_heap_event e ON e.rowid = c.event_id
LEFT JOIN process_instance pi ON pi.upid = c.upid
-- The thread of the trace of the process charged, else of the event's trace (a free is charged within its trace).
LEFT JOIN thread th ON th.snapshot_id = c.snapshot_id AND th.source_id = coalesce(pi.source_id, e.source_id) AND th.tid = c.tid
LEFT JOIN process p ON p.snapshot_id = c.snapshot_id AND p.pid = c.pid
ORDER BY c.snapshot_id, e.ts, c.event_id;
