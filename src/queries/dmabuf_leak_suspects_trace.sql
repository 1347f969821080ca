-- DMA-BUF RSS over a trace per process, the rules of `dmabuf_rss_totals` in SQL.
-- One row per snapshot and process (per thread when a sample's process is unknown) with
-- `dmabuf_rss_sample` rows: their number, the first sample (earliest ts, then lowest rowid)
-- and the last (latest ts, then highest rowid), the peak and the origins in alphabetical order.
-- That table is filled once per trace from the samples as they are written
-- (src/db/rss.ts), or from this view when those are not all at hand.
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
CREATE VIEW _dmabuf_rss_totals AS
WITH
rss AS (
  SELECT s.snapshot_id, s.pid, s.tid, s.ts, s.rss_bytes,
         s.pid IS NULL AS no_pid, coalesce(s.pid, s.tid) AS who,
         row_number() OVER (PARTITION BY s.snapshot_id, s.pid IS NULL, coalesce(s.pid, s.tid) ORDER BY s.ts, s.rowid) AS n_first,
         row_number() OVER (PARTITION BY s.snapshot_id, s.pid IS NULL, coalesce(s.pid, s.tid) ORDER BY s.ts DESC, s.rowid DESC) AS n_last
  FROM dmabuf_rss_sample s
),
origin AS (
  SELECT snapshot_id, no_pid, who, group_concat(origin, ',') AS origins
  FROM (SELECT DISTINCT snapshot_id, pid IS NULL AS no_pid, coalesce(pid, tid) AS who, origin
        FROM dmabuf_rss_sample ORDER BY snapshot_id, no_pid, who, origin)
  GROUP BY snapshot_id, no_pid, who
)
SELECT r.snapshot_id, max(r.pid) AS pid, CASE WHEN max(r.pid) IS NULL THEN max(r.tid) END AS tid, count(*) AS samples,
       max(CASE WHEN n_first = 1 THEN r.ts END) AS first_ts,
       max(CASE WHEN n_first = 1 THEN r.rss_bytes END) AS first_bytes,
       max(CASE WHEN n_last = 1 THEN r.ts END) AS last_ts,
       max(CASE WHEN n_last = 1 THEN r.rss_bytes END) AS last_bytes,
       max(r.rss_bytes) AS peak_bytes,
       o.origins
FROM rss r
JOIN origin o ON o.snapshot_id = r.snapshot_id AND o.no_pid = r.no_pid AND o.who IS r.who
GROUP BY r.snapshot_id, r.no_pid, r.who;

-- Trace findings of `dmabuf_leak_suspects` (which unions this view):
-- `unfreed_in_trace` — DMA-BUF heap allocations made during a trace and still allocated at its
-- end, per responsible process (after gralloc re-attribution; the same buffers as the
-- `outstanding` ones of `dmabuf_trace_buffers`; the evidence says so when a trace of the
-- snapshot lost data, its `trace_info` loss counts not zero: a free may be among what was lost); `rss_growth` — a process whose DMA-BUF RSS
-- (`dmabuf_rss_totals`, from `dmabuf_rss_sample`) is higher at its last sample of the trace than at its first by more
-- than `rss_growth_min_bytes`. Unordered: `dmabuf_leak_suspects` grades and orders them with
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
              ELSE coalesce(p.name, '?') || ' (' || t.pid || ')' END AS subject,
         t.outstanding_bytes AS bytes,
         CASE WHEN t.outstanding_buffers = 1
              THEN '1 buffer (inode ' || t.outstanding_max_inode || ', ' || t.outstanding_max_bytes || ' bytes) allocated during the trace at ts ' || t.outstanding_first_ts ||
                   ' was still allocated at its end (ts '
              ELSE t.outstanding_buffers || ' buffers allocated during the trace between ts ' || t.outstanding_first_ts || ' and ' || t.outstanding_last_ts ||
                   ' (largest ' || t.outstanding_max_bytes || ' bytes) were still allocated at its end (ts '
         END || coalesce(w.trace_end_ts, '?') || ')' ||
         CASE WHEN EXISTS (SELECT 1 FROM trace_info i WHERE i.snapshot_id = t.snapshot_id AND
                             (i.lost_event_bundles > 0 OR i.packets_dropped > 0 OR
                              coalesce(i.ftrace_overrun, 0) + coalesce(i.ftrace_dropped_events, 0) +
                              coalesce(i.chunks_discarded, 0) + coalesce(i.writer_packet_loss, 0) + coalesce(i.abi_violations, 0) +
                              coalesce(i.flushes_failed, 0) > 0))
              THEN '; the trace lost events (trace_lost_events diagnostic), so a free may have been lost rather than never made'
              ELSE '' END AS evidence
  FROM dma_heap_totals t
  LEFT JOIN dma_heap_totals w ON w.snapshot_id = t.snapshot_id AND w.scope = 'trace'
  LEFT JOIN process p ON p.snapshot_id = t.snapshot_id AND p.pid = t.pid
  WHERE t.scope = 'process' AND t.outstanding_buffers > 0
),
rss_growth AS (
  SELECT g.snapshot_id, 'rss_growth' AS kind,
         CASE WHEN g.pid IS NULL THEN 'thread ' || g.tid
              ELSE coalesce(p.name, '?') || ' (' || g.pid || ')' END AS subject,
         g.last_bytes - g.first_bytes AS bytes,
         'DMA-BUF RSS rose from ' || g.first_bytes || ' to ' || g.last_bytes || ' bytes between ts ' || g.first_ts ||
         ' and ts ' || g.last_ts || ' (' || g.samples || ' samples from ' || g.origins || ', peak ' || g.peak_bytes || ' bytes)' AS evidence
  FROM dmabuf_rss_totals g
  LEFT JOIN process p ON p.snapshot_id = g.snapshot_id AND p.pid = g.pid
  WHERE g.last_bytes - g.first_bytes >
        (SELECT value FROM analysis_param WHERE analysis = 'dmabuf_leak_suspects' AND name = 'rss_growth_min_bytes')
)
SELECT snapshot_id, kind, subject, bytes, evidence FROM unfreed
UNION ALL
SELECT snapshot_id, kind, subject, bytes, evidence FROM rss_growth;
