-- @analysis dmabuf_exporters
-- @title Heaviest exporters
-- Per snapshot and exporter: how many buffers, how many bytes and what share of the
-- snapshot's DMA-BUF, the largest buffer, how many processes hold its buffers and how much
-- of it no process holds. Largest first.
-- @column snapshot_id Snapshot.
-- @column exporter Exporter name (`<unknown>` when no source named it).
-- @column buffers Number of buffers.
-- @column bytes Bytes of those buffers.
-- @column share_pct Percentage of the snapshot's DMA-BUF bytes.
-- @column largest_bytes Size of the largest buffer.
-- @column processes Number of distinct processes holding at least one of its buffers.
-- @column unheld_buffers Buffers no process holds (NULL when the snapshot has no per-process source).
-- @column unheld_bytes Bytes of those buffers (NULL when the snapshot has no per-process source).
CREATE VIEW dmabuf_exporters AS
WITH buffers AS MATERIALIZED (
  -- Each buffer's holder count and whether its snapshot knows holders, computed once (each is a
  -- subquery of _dmabuf_buffer, which every mention below would run again).
  SELECT snapshot_id, exporter, size, holder_count, holders_known FROM _dmabuf_buffer
),
holders AS (
  -- Each (exporter, process) once, then counted: some 0.1 s less than count(DISTINCT pid) over
  -- a hand capture's 190,000 holders.
  SELECT snapshot_id, exporter, count(*) AS processes
  FROM (SELECT DISTINCT d.snapshot_id, coalesce(d.exporter, '<unknown>') AS exporter, h.pid
        FROM dmabuf_holder h JOIN dmabuf d ON d.snapshot_id = h.snapshot_id AND d.inode = h.inode)
  GROUP BY 1, 2
)
SELECT b.snapshot_id, b.exporter, count(*) AS buffers, sum(b.size) AS bytes,
       round(100.0 * sum(b.size) / nullif(t.total_bytes, 0), 2) AS share_pct,
       max(b.size) AS largest_bytes,
       coalesce(n.processes, 0) AS processes,
       CASE WHEN max(b.holders_known) THEN sum(b.holder_count = 0) END AS unheld_buffers,
       CASE WHEN max(b.holders_known) THEN coalesce(sum(CASE WHEN b.holder_count = 0 THEN b.size END), 0) END AS unheld_bytes
FROM buffers b JOIN _dmabuf_snapshot_total t ON t.snapshot_id = b.snapshot_id
LEFT JOIN holders n ON n.snapshot_id = b.snapshot_id AND n.exporter = b.exporter
GROUP BY b.snapshot_id, b.exporter
ORDER BY b.snapshot_id, bytes DESC, b.exporter;
