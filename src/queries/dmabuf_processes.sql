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
)
SELECT h.snapshot_id, h.pid, p.name AS process_name, count(*) AS buffers,
       coalesce(sum(b.size), 0) AS rss_bytes,
       CAST(coalesce(sum(b.size * 1.0 / b.holder_count), 0) AS INTEGER) AS pss_bytes,
       coalesce(sum(CASE WHEN b.holder_count = 1 THEN b.size END), 0) AS private_bytes,
       sum(h.mapped_only) AS mapped_only_buffers,
       sum(h.reported_pss) AS reported_pss_bytes
FROM _dmabuf_holder h
-- every holder has a merged buffer row (merge.ts gives holder-only buffers one)
JOIN buffers b ON b.snapshot_id = h.snapshot_id AND b.inode = h.inode
LEFT JOIN process p ON p.snapshot_id = h.snapshot_id AND p.pid = h.pid
GROUP BY h.snapshot_id, h.pid
ORDER BY h.snapshot_id, rss_bytes DESC, h.pid;
