-- @analysis dmabuf_buffers
-- @title Largest buffers and their holders
-- The largest buffers of each snapshot with the processes holding them (by fd or mapping)
-- and the sources that listed them. At most `top` buffers per snapshot.
-- @param top 50 How many buffers per snapshot.
-- @column snapshot_id Snapshot.
-- @column inode Inode of the buffer (NULL for sources without inodes).
-- @column size Size in bytes.
-- @column exporter Exporter name.
-- @column name Buffer name, when known.
-- @column holder_count Number of processes holding it.
-- @column holders Holders as `name(pid)`, comma-separated in pid order; empty when no process holds it.
-- @column seen_by Importers that listed it.
CREATE VIEW dmabuf_buffers AS
WITH ranked AS (
  SELECT b.*, row_number() OVER (PARTITION BY b.snapshot_id ORDER BY b.size DESC, b.inode) AS rank
  FROM _dmabuf_buffer b
)
SELECT r.snapshot_id, r.inode, r.size, r.exporter, r.name, r.holder_count,
       coalesce((SELECT group_concat(holder, ', ') FROM (
                   SELECT coalesce(p.name, '?') || '(' || h.pid || ')' AS holder
                   FROM dmabuf_holder h LEFT JOIN process p ON p.snapshot_id = h.snapshot_id AND p.pid = h.pid
                   WHERE h.snapshot_id = r.snapshot_id AND h.inode = r.inode ORDER BY h.pid)), '') AS holders,
       r.seen_by
FROM ranked r
WHERE r.rank <= (SELECT value FROM analysis_param WHERE analysis = 'dmabuf_buffers' AND name = 'top')
ORDER BY r.snapshot_id, r.size DESC, r.inode;
