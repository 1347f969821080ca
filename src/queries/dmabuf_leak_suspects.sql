-- @analysis dmabuf_leak_suspects
-- @title Leak suspects
-- Memory that looks leaked, graded by bytes and by share of the snapshot's DMA-BUF total
-- (thresholds in `_dmabuf_leak_thresholds`). Kinds:
-- `kernel_held` — buffers the kernel lists that no process holds by fd or mapping, per
-- exporter (or, where no per-buffer list exists, the `kernel_rss` dmabuf_dump reported);
-- `mapped_only` — buffers a process holds only through a mapping after closing every fd;
-- `unfreed_in_trace` — allocations still outstanding at the end of a trace, per responsible process;
-- `rss_growth` — a process whose DMA-BUF RSS rises across a trace by more than a threshold.
-- Most severe first.
-- @column snapshot_id Snapshot.
-- @column kind `kernel_held`, `mapped_only`, `unfreed_in_trace` or `rss_growth`.
-- @column subject What the finding is about: an exporter, or a process as `name (pid)`.
-- @column bytes Bytes concerned.
-- @column severity `high`, `medium`, `low` or `info`.
-- @column evidence One sentence saying what was seen and where.
CREATE VIEW dmabuf_leak_suspects AS
WITH findings AS (
  SELECT b.snapshot_id, 'kernel_held' AS kind, b.exporter AS subject, sum(b.size) AS bytes,
         count(*) || ' buffer(s) of exporter ' || b.exporter || ' listed by the kernel (' || group_concat(DISTINCT b.seen_by) ||
         ') but held by no process; largest ' || max(b.size) || ' bytes' ||
         coalesce('; names: ' || group_concat(DISTINCT b.name), '') AS evidence
  FROM _dmabuf_buffer b
  WHERE b.in_global_list AND b.holders_known AND b.holder_count = 0
  GROUP BY b.snapshot_id, b.exporter
  UNION ALL
  SELECT r.snapshot_id, 'kernel_held', '<all exporters>', r.kernel_bytes,
         'dmabuf_dump reported kernel_rss of ' || r.kernel_bytes || ' bytes (buffers no process holds); no per-buffer list in this capture names them'
  FROM dmabuf_reported_total r
  WHERE r.origin = 'dmabuf_dump' AND r.kernel_bytes > 0
    AND NOT EXISTS (SELECT 1 FROM dmabuf d WHERE d.snapshot_id = r.snapshot_id AND d.in_global_list)
  UNION ALL
  SELECT h.snapshot_id, 'mapped_only', coalesce(p.name, '?') || ' (' || h.pid || ')', sum(d.size),
         count(*) || ' buffer(s) mapped by the process with no fd left open (inodes ' || group_concat(h.inode, ', ') || ')'
  FROM _dmabuf_holder h
  JOIN dmabuf d ON d.snapshot_id = h.snapshot_id AND d.inode = h.inode
  LEFT JOIN process p ON p.snapshot_id = h.snapshot_id AND p.pid = h.pid
  -- mapped_only's own condition first: its subquery then runs for the holders that map a buffer only.
  WHERE coalesce(h.map_refs, 0) > 0 AND coalesce(h.fd_refs, 0) = 0 AND h.mapped_only
  GROUP BY h.snapshot_id, h.pid
  UNION ALL
  SELECT snapshot_id, kind, subject, bytes, evidence FROM _dmabuf_leak_suspects_trace
),
shared AS (
  SELECT f.*, 100.0 * f.bytes / nullif(t.total_bytes, 0) AS share
  FROM findings f
  LEFT JOIN _dmabuf_snapshot_total t ON t.snapshot_id = f.snapshot_id
  WHERE f.bytes > 0
),
graded AS (
  SELECT s.*,
         CASE
           WHEN s.bytes >= th.high_bytes OR s.share >= th.high_share_pct THEN 3
           WHEN s.bytes >= th.medium_bytes OR s.share >= th.medium_share_pct THEN 2
           WHEN s.bytes >= th.low_bytes THEN 1
           ELSE 0
         END AS level
  FROM shared s
  CROSS JOIN _dmabuf_leak_thresholds th
)
SELECT snapshot_id, kind, subject, bytes,
       CASE level WHEN 3 THEN 'high' WHEN 2 THEN 'medium' WHEN 1 THEN 'low' ELSE 'info' END AS severity,
       evidence
FROM graded
ORDER BY snapshot_id, level DESC, bytes DESC, kind, subject;
