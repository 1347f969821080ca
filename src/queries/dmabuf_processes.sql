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
-- @column mapped_only_buffers Buffers it holds only through a mapping (every fd closed), when fd and map counts are known.
-- @column reported_pss_bytes Sum of the PSS dmabuf_dump printed for it (Android's own rule, which differs between releases), when known.
CREATE VIEW dmabuf_processes AS
WITH holders AS (
  SELECT snapshot_id, inode, count(*) AS n FROM dmabuf_holder GROUP BY snapshot_id, inode
)
SELECT h.snapshot_id, h.pid, p.name AS process_name, count(*) AS buffers,
       coalesce(sum(d.size), 0) AS rss_bytes,
       CAST(coalesce(sum(d.size * 1.0 / n.n), 0) AS INTEGER) AS pss_bytes,
       coalesce(sum(CASE WHEN n.n = 1 THEN d.size END), 0) AS private_bytes,
       sum(h.fd_refs = 0 AND h.map_refs > 0) AS mapped_only_buffers,
       sum(h.reported_pss) AS reported_pss_bytes
FROM dmabuf_holder h
JOIN holders n ON n.snapshot_id = h.snapshot_id AND n.inode = h.inode
LEFT JOIN dmabuf d ON d.snapshot_id = h.snapshot_id AND d.inode = h.inode
LEFT JOIN process p ON p.snapshot_id = h.snapshot_id AND p.pid = h.pid
GROUP BY h.snapshot_id, h.pid
ORDER BY h.snapshot_id, rss_bytes DESC, h.pid;
