-- DMA-BUF RSS over a trace per process, the rules of `dmabuf_rss_totals` in SQL.
-- One row per trace and process (per thread when a sample's process is unknown) with
-- `dmabuf_rss_sample` rows: their number, the first sample (earliest ts, then lowest rowid)
-- and the last (latest ts, then highest rowid), the peak and the origins in alphabetical order.
-- A sample is of the process that held its pid at its time in the sample's trace
-- (`process_instance`; of the pid when none did). That table is filled once per trace from the
-- samples as they are written (src/db/rss.ts), or from this view when those are not all at hand.
-- @column snapshot_id Snapshot of the trace.
-- @column pid Process whose RSS it is; NULL when unknown.
-- @column tid Thread of the samples when their process is unknown; else NULL.
-- @column samples Samples.
-- @column first_ts Time of the first sample, ns.
-- @column first_bytes RSS at the first sample, bytes.
-- @column last_ts Time of the last sample, ns.
-- @column last_bytes RSS at the last sample, bytes.
-- @column peak_bytes Largest RSS sampled, bytes.
-- @column origins The samples' origins, in alphabetical order, comma-separated.
-- @column upid `process_instance.upid` of the process that held the pid at the samples' times; NULL when none.
-- @column source_id Source (trace) of the samples: two traces of one snapshot are summed apart.
CREATE VIEW _dmabuf_rss_totals AS
WITH
-- Per trace and pid: its upid when one process held it for the whole trace, -1 when that
-- varies, NULL without a `process_instance` row of that trace; once per pid, not per sample.
pid_process AS MATERIALIZED (
  SELECT snapshot_id, source_id, pid,
         CASE WHEN count(*) = 1 AND max(start_ts) IS NULL AND max(end_ts) IS NULL THEN max(upid) ELSE -1 END AS upid
  FROM process_instance GROUP BY snapshot_id, source_id, pid
),
held AS (
  SELECT s.rowid AS seq, s.snapshot_id, s.source_id, s.pid, s.tid, s.ts, s.rss_bytes, s.origin,
         CASE WHEN pp.upid IS NULL OR pp.upid >= 0 THEN pp.upid
              -- The latest of the pid's processes started by then, if not ended; NULL otherwise. The
              -- sample's time is named in WHERE only: SQLite before 3.41 (sqlite3 or Datasette
              -- opening an export) does not resolve it in ORDER BY.
              ELSE nullif((SELECT CASE WHEN pi.end_ts IS NULL OR pi.end_ts > s.ts THEN pi.upid ELSE 0 END
                           FROM process_instance pi
                           WHERE pi.snapshot_id = s.snapshot_id AND pi.source_id = s.source_id AND pi.pid = s.pid
                             AND (pi.start_ts IS NULL OR pi.start_ts <= s.ts)
                           ORDER BY pi.instance DESC, pi.upid DESC
                           LIMIT 1), 0)
         END AS upid
  FROM dmabuf_rss_sample s
  LEFT JOIN pid_process pp ON pp.snapshot_id = s.snapshot_id AND pp.source_id = s.source_id AND pp.pid = s.pid
),
rss AS (
  SELECT h.snapshot_id, h.source_id, h.pid, h.tid, h.upid, h.ts, h.rss_bytes,
         CASE WHEN h.upid IS NOT NULL THEN 0 WHEN h.pid IS NOT NULL THEN 1 ELSE 2 END AS kind, coalesce(h.upid, h.pid, h.tid) AS who,
         row_number() OVER (PARTITION BY h.snapshot_id, h.source_id, CASE WHEN h.upid IS NOT NULL THEN 0 WHEN h.pid IS NOT NULL THEN 1 ELSE 2 END, coalesce(h.upid, h.pid, h.tid) ORDER BY h.ts, h.seq) AS n_first,
         row_number() OVER (PARTITION BY h.snapshot_id, h.source_id, CASE WHEN h.upid IS NOT NULL THEN 0 WHEN h.pid IS NOT NULL THEN 1 ELSE 2 END, coalesce(h.upid, h.pid, h.tid) ORDER BY h.ts DESC, h.seq DESC) AS n_last
  FROM held h
),
origin AS (
  SELECT snapshot_id, source_id, kind, who, group_concat(origin, ',') AS origins
  FROM (SELECT DISTINCT snapshot_id, source_id, CASE WHEN upid IS NOT NULL THEN 0 WHEN pid IS NOT NULL THEN 1 ELSE 2 END AS kind, coalesce(upid, pid, tid) AS who, origin
        FROM held ORDER BY snapshot_id, source_id, kind, who, origin)
  GROUP BY snapshot_id, source_id, kind, who
)
SELECT r.snapshot_id, max(r.pid) AS pid, CASE WHEN max(r.pid) IS NULL THEN max(r.tid) END AS tid, count(*) AS samples,
       max(CASE WHEN n_first = 1 THEN r.ts END) AS first_ts,
       max(CASE WHEN n_first = 1 THEN r.rss_bytes END) AS first_bytes,
       max(CASE WHEN n_last = 1 THEN r.ts END) AS last_ts,
       max(CASE WHEN n_last = 1 THEN r.rss_bytes END) AS last_bytes,
       max(r.rss_bytes) AS peak_bytes,
       o.origins, max(r.upid) AS upid, r.source_id
FROM rss r
JOIN origin o ON o.snapshot_id = r.snapshot_id AND o.source_id = r.source_id AND o.kind = r.kind AND o.who IS r.who
GROUP BY r.snapshot_id, r.source_id, r.kind, r.who;

-- Trace findings of `dmabuf_leak_suspects` (which unions this view):
-- `unfreed_in_trace` — DMA-BUF heap allocations made during a trace and still allocated at its
-- end, per responsible process of each trace (after gralloc re-attribution; a free in another
-- trace of the snapshot does not end a buffer; the same buffers as the
-- `outstanding` ones of `dmabuf_trace_buffers`; the evidence names the end of the buffers' own
-- trace, and says so when that trace lost data, its `trace_info` loss counts not zero: a free
-- may be among what was lost); `rss_growth` — a process whose DMA-BUF RSS
-- (`dmabuf_rss_totals`, from `dmabuf_rss_sample`) is higher at its last sample of the trace than at its first by more
-- than `rss_growth_min_bytes`, each trace of a snapshot on its own (a pid two traces sampled
-- is a finding per trace, named after that trace's process). Unordered: `dmabuf_leak_suspects` grades and orders them with
-- its other kinds.
-- @for dmabuf_leak_suspects
-- @param rss_growth_min_bytes 10485760 A process whose DMA-BUF RSS grows by more than this many bytes across a trace is reported as `rss_growth`.
-- @column snapshot_id Snapshot of the trace.
-- @column kind `unfreed_in_trace` or `rss_growth`.
-- @column subject The process as `name (pid)`, or `thread <tid>` when its process is unknown.
-- @column bytes Bytes outstanding at the end of the trace, or the RSS growth.
-- @column evidence One sentence saying what was seen.
CREATE VIEW _dmabuf_leak_suspects_trace AS
WITH
-- Buffers outstanding at the end (the last event on the inode is an allocation), per
-- responsible process: computed when the trace is loaded (`dma_heap_totals`).
unfreed AS (
  SELECT t.snapshot_id, 'unfreed_in_trace' AS kind,
         CASE WHEN t.pid IS NULL THEN 'thread ' || t.tid
              ELSE coalesce(CASE WHEN pi.reused = 1 THEN pi.name ELSE p.name END, '?') || ' (' || t.pid || ')' END AS subject,
         t.outstanding_bytes AS bytes,
         CASE WHEN t.outstanding_buffers = 1
              THEN '1 buffer (inode ' || t.outstanding_max_inode || ', ' || t.outstanding_max_bytes || ' bytes) allocated during the trace at ts ' || t.outstanding_first_ts ||
                   ' was still allocated at its end (ts '
              ELSE t.outstanding_buffers || ' buffers allocated during the trace between ts ' || t.outstanding_first_ts || ' and ' || t.outstanding_last_ts ||
                   ' (largest ' || t.outstanding_max_bytes || ' bytes) were still allocated at its end (ts '
         END || coalesce(w.trace_end_ts, '?') || ')' ||
         CASE WHEN EXISTS (SELECT 1 FROM trace_info i WHERE i.snapshot_id = t.snapshot_id AND i.source_id = t.source_id AND
                             (i.lost_event_bundles > 0 OR i.packets_dropped > 0 OR
                              coalesce(i.ftrace_overrun, 0) + coalesce(i.ftrace_dropped_events, 0) +
                              coalesce(i.chunks_discarded, 0) + coalesce(i.writer_packet_loss, 0) + coalesce(i.abi_violations, 0) +
                              coalesce(i.flushes_failed, 0) > 0))
              THEN '; the trace lost events (trace_lost_events diagnostic), so a free may have been lost rather than never made'
              ELSE '' END AS evidence
  FROM dma_heap_totals t
  LEFT JOIN dma_heap_totals w ON w.snapshot_id = t.snapshot_id AND w.source_id = t.source_id AND w.scope = 'trace'
  LEFT JOIN process_instance pi ON pi.upid = t.upid
  LEFT JOIN process p ON p.snapshot_id = t.snapshot_id AND p.pid = t.pid
  WHERE t.scope = 'process' AND t.outstanding_buffers > 0
),
rss_growth AS (
  SELECT g.snapshot_id, 'rss_growth' AS kind,
         -- Per trace (`dmabuf_rss_totals` sums each trace apart): the process of the samples'
         -- trace that held the pid then (`upid`). A pid held by no process of that trace then, or
         -- that only another trace of the snapshot saw as a process, is not named after one: that
         -- name would be of another process.
         CASE WHEN g.pid IS NULL THEN 'thread ' || g.tid
              ELSE coalesce(CASE WHEN pi.reused = 1 THEN pi.name
                                 WHEN g.upid IS NULL AND EXISTS (SELECT 1 FROM process_instance x WHERE x.snapshot_id = g.snapshot_id AND x.pid = g.pid) THEN NULL
                                 ELSE p.name END, '?') || ' (' || g.pid || ')' END AS subject,
         g.last_bytes - g.first_bytes AS bytes,
         'DMA-BUF RSS rose from ' || g.first_bytes || ' to ' || g.last_bytes || ' bytes between ts ' || g.first_ts ||
         ' and ts ' || g.last_ts || ' (' || g.samples || ' samples from ' || g.origins || ', peak ' || g.peak_bytes || ' bytes)' AS evidence
  FROM dmabuf_rss_totals g
  LEFT JOIN process_instance pi ON pi.upid = g.upid
  LEFT JOIN process p ON p.snapshot_id = g.snapshot_id AND p.pid = g.pid
  WHERE g.last_bytes - g.first_bytes >
        (SELECT value FROM analysis_param WHERE analysis = 'dmabuf_leak_suspects' AND name = 'rss_growth_min_bytes')
)
SELECT snapshot_id, kind, subject, bytes, evidence FROM unfreed
UNION ALL
SELECT snapshot_id, kind, subject, bytes, evidence FROM rss_growth;
