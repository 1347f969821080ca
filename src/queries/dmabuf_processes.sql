-- @analysis dmabuf_processes
-- @title Heaviest processes
-- Per snapshot and process: the buffers it holds (by fd or mapping), their bytes (RSS: a
-- shared buffer counts fully for every holder), its proportional share (PSS: each buffer
-- split equally among its holders) and the bytes it alone holds. Largest RSS first.
-- @column snapshot_id Snapshot.
-- @column pid Process id.
-- @column process_name Process name (longest any source gave).
-- @column buffers Number of buffers it holds.
-- @column rss_bytes Sum of the sizes of the buffers it holds.
-- @column pss_bytes Sum of each buffer's size divided by its number of holders (rounded down to bytes).
-- @column private_bytes Bytes of the buffers only this process holds.
-- @column mapped_only_buffers Buffers it holds only through a mapping, every fd closed (`_dmabuf_holder.mapped_only`); NULL when no source counted its fds.
-- @column reported_pss_bytes Sum of the PSS dmabuf_dump printed for it (Android's own rule, which differs between releases), when known.
CREATE VIEW dmabuf_processes AS
WITH buffers AS MATERIALIZED (
  -- Each buffer's holder count computed once (a subquery of _dmabuf_buffer, which each mention
  -- below would run again for every holder).
  SELECT snapshot_id, inode, size, holder_count FROM _dmabuf_buffer
),
held AS (
  -- Per process, from its holder rows; its name and whether a source counted its fds are then
  -- looked up once per process, not once per holder row (`_dmabuf_holder.mapped_only` states
  -- the rule: NULL for a process no source counted the fds of).
  SELECT h.snapshot_id, h.pid, count(*) AS buffers,
         coalesce(sum(b.size), 0) AS rss_bytes,
         CAST(coalesce(sum(b.size * 1.0 / b.holder_count), 0) AS INTEGER) AS pss_bytes,
         coalesce(sum(CASE WHEN b.holder_count = 1 THEN b.size END), 0) AS private_bytes,
         sum(coalesce(h.map_refs, 0) > 0 AND coalesce(h.fd_refs, 0) = 0) AS mapped_only_buffers,
         sum(h.reported_pss) AS reported_pss_bytes
  FROM dmabuf_holder h
  -- every holder has a merged buffer row (merge.ts gives holder-only buffers one)
  JOIN buffers b ON b.snapshot_id = h.snapshot_id AND b.inode = h.inode
  GROUP BY h.snapshot_id, h.pid
)
SELECT x.snapshot_id, x.pid, p.name AS process_name, x.buffers, x.rss_bytes, x.pss_bytes, x.private_bytes,
       CASE WHEN EXISTS (SELECT 1 FROM dmabuf_holder f WHERE f.snapshot_id = x.snapshot_id AND f.pid = x.pid AND f.fd_refs IS NOT NULL)
            THEN x.mapped_only_buffers END AS mapped_only_buffers,
       x.reported_pss_bytes
FROM held x
LEFT JOIN process p ON p.snapshot_id = x.snapshot_id AND p.pid = x.pid
ORDER BY x.snapshot_id, x.rss_bytes DESC, x.pid;
