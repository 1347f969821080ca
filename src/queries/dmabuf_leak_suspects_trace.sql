-- Trace findings of `dmabuf_leak_suspects` (which unions this view):
-- `unfreed_in_trace` — DMA-BUF heap allocations made during a trace and still allocated at its
-- end, per responsible process (after gralloc re-attribution; the same buffers as the
-- `outstanding` ones of `dmabuf_trace_buffers`),
-- largest first; `rss_growth` — a process whose DMA-BUF RSS (`dmabuf_rss_sample`) is higher at
-- its last sample of the trace than at its first by more than `rss_growth_min_bytes`.
-- Severity follows the byte thresholds of `dmabuf_leak_suspects`.
-- @for dmabuf_leak_suspects
-- @param rss_growth_min_bytes 10485760 A process whose DMA-BUF RSS grows by more than this many bytes across a trace is reported as `rss_growth`.
-- @column snapshot_id Snapshot of the trace.
-- @column kind `unfreed_in_trace` or `rss_growth`.
-- @column subject The process as `name (pid)`, or `thread <tid>` when its process is unknown.
-- @column bytes Bytes outstanding at the end of the trace, or the RSS growth.
-- @column severity `high`, `medium`, `low` or `info`, by bytes.
-- @column evidence One sentence saying what was seen.
CREATE VIEW _dmabuf_leak_suspects_trace AS
WITH
-- Buffers outstanding at the end: the last event on the inode is an allocation (SQLite
-- returns the bare columns of the row holding max(ts)), charged to its attributed thread.
last_event AS (
  SELECT snapshot_id, inode, max(ts) AS ts, buf_size AS size, attr_tid AS tid
  FROM _dmabuf_attributed
  GROUP BY snapshot_id, inode
),
outstanding AS (
  SELECT l.snapshot_id, l.inode, l.ts, l.size, l.tid, th.pid
  FROM last_event l
  LEFT JOIN thread th ON th.snapshot_id = l.snapshot_id AND th.tid = l.tid
  WHERE l.size > 0
),
unfreed AS (
  SELECT o.snapshot_id, 'unfreed_in_trace' AS kind,
         CASE WHEN o.pid IS NULL THEN 'thread ' || o.tid
              ELSE coalesce(max(p.name), '?') || ' (' || o.pid || ')' END AS subject,
         sum(o.size) AS bytes,
         CASE WHEN count(*) = 1
              THEN '1 buffer (inode ' || max(o.inode) || ', ' || max(o.size) || ' bytes) allocated during the trace at ts ' || min(o.ts) ||
                   ' was still allocated at its end (ts '
              ELSE count(*) || ' buffers allocated during the trace between ts ' || min(o.ts) || ' and ' || max(o.ts) ||
                   ' (largest ' || max(o.size) || ' bytes) were still allocated at its end (ts '
         END || coalesce((SELECT max(end_ts) FROM trace_info t WHERE t.snapshot_id = o.snapshot_id), '?') || ')' AS evidence
  FROM outstanding o
  LEFT JOIN process p ON p.snapshot_id = o.snapshot_id AND p.pid = o.pid
  GROUP BY o.snapshot_id, o.pid IS NULL, coalesce(o.pid, o.tid)
),
rss AS (
  SELECT s.snapshot_id, s.pid, s.tid, s.ts, s.rss_bytes, s.origin,
         s.pid IS NULL AS no_pid, coalesce(s.pid, s.tid) AS who,
         row_number() OVER (PARTITION BY s.snapshot_id, s.pid IS NULL, coalesce(s.pid, s.tid) ORDER BY s.ts, s.rowid) AS n_first,
         row_number() OVER (PARTITION BY s.snapshot_id, s.pid IS NULL, coalesce(s.pid, s.tid) ORDER BY s.ts DESC, s.rowid DESC) AS n_last
  FROM dmabuf_rss_sample s
),
growth AS (
  SELECT r.snapshot_id, max(r.pid) AS pid, max(r.tid) AS tid, count(*) AS samples,
         max(CASE WHEN n_first = 1 THEN r.rss_bytes END) AS first_bytes,
         max(CASE WHEN n_first = 1 THEN r.ts END) AS first_ts,
         max(CASE WHEN n_last = 1 THEN r.rss_bytes END) AS last_bytes,
         max(CASE WHEN n_last = 1 THEN r.ts END) AS last_ts,
         max(r.rss_bytes) AS peak_bytes,
         group_concat(DISTINCT r.origin) AS origins
  FROM rss r
  GROUP BY r.snapshot_id, r.no_pid, r.who
),
rss_growth AS (
  SELECT g.snapshot_id, 'rss_growth' AS kind,
         CASE WHEN g.pid IS NULL THEN 'thread ' || g.tid
              ELSE coalesce(p.name, '?') || ' (' || g.pid || ')' END AS subject,
         g.last_bytes - g.first_bytes AS bytes,
         'DMA-BUF RSS rose from ' || g.first_bytes || ' to ' || g.last_bytes || ' bytes between ts ' || g.first_ts ||
         ' and ts ' || g.last_ts || ' (' || g.samples || ' samples from ' || g.origins || ', peak ' || g.peak_bytes || ' bytes)' AS evidence
  FROM growth g
  LEFT JOIN process p ON p.snapshot_id = g.snapshot_id AND p.pid = g.pid
  WHERE g.last_bytes - g.first_bytes >
        (SELECT value FROM analysis_param WHERE analysis = 'dmabuf_leak_suspects' AND name = 'rss_growth_min_bytes')
),
findings AS (
  SELECT * FROM unfreed UNION ALL SELECT * FROM rss_growth
)
SELECT f.snapshot_id, f.kind, f.subject, f.bytes,
       CASE WHEN f.bytes >= th.high_bytes THEN 'high'
            WHEN f.bytes >= th.medium_bytes THEN 'medium'
            WHEN f.bytes >= th.low_bytes THEN 'low'
            ELSE 'info' END AS severity,
       f.evidence
FROM findings f CROSS JOIN _dmabuf_leak_thresholds th
ORDER BY f.snapshot_id, f.kind DESC, f.bytes DESC, f.subject;
