-- Helper views shared by the analyses. Names starting with `_` are internals: queryable,
-- documented, but not part of the catalogue.

-- One row per merged buffer with the number of processes holding it and whether the
-- snapshot has any per-process source at all (without one, "held by no process" means nothing).
-- @column id `dmabuf.id`.
-- @column snapshot_id Snapshot.
-- @column inode Inode of the buffer.
-- @column size Size in bytes.
-- @column exporter Exporter name, `<unknown>` when no source gave it.
-- @column name Buffer name, when known.
-- @column seen_by Importers that listed the buffer.
-- @column in_global_list 1 when a source listing every buffer of the kernel listed it.
-- @column holder_count Number of processes holding the buffer (by fd or mapping).
-- @column holders_known 1 when the snapshot has a per-process source (dmabuf_dump, fdinfo, maps…), else 0.
CREATE VIEW _dmabuf_buffer AS
SELECT d.id, d.snapshot_id, d.inode, d.size, coalesce(d.exporter, '<unknown>') AS exporter, d.name, d.seen_by, d.in_global_list,
       (SELECT count(*) FROM dmabuf_holder h WHERE h.snapshot_id = d.snapshot_id AND h.inode = d.inode) AS holder_count,
       EXISTS (SELECT 1 FROM dmabuf_holder h2 WHERE h2.snapshot_id = d.snapshot_id) AS holders_known
FROM dmabuf d;

-- DMA-BUF per snapshot: the merged buffers, and the total that shares are computed against
-- (the bytes of the merged buffers, else the largest total a source reported).
-- @column snapshot_id Snapshot.
-- @column buffers Number of merged buffers.
-- @column buffer_bytes Bytes of the merged buffers whose size is known; 0 when there is none.
-- @column total_bytes buffer_bytes when a buffer's size is known, else the largest whole-device total a source reported (`dmabuf_reported_total`); NULL when neither exists.
CREATE VIEW _dmabuf_snapshot_total AS
SELECT s.id AS snapshot_id, coalesce(b.buffers, 0) AS buffers, coalesce(b.bytes, 0) AS buffer_bytes,
       coalesce(b.bytes, (SELECT max(total_bytes) FROM dmabuf_reported_total r
                          WHERE r.snapshot_id = s.id AND r.pid IS NULL AND r.exporter IS NULL)) AS total_bytes
FROM snapshot s
LEFT JOIN (SELECT snapshot_id, count(*) AS buffers, sum(size) AS bytes FROM dmabuf GROUP BY snapshot_id) b ON b.snapshot_id = s.id;

-- One row per `dmabuf_holder` with whether the process holds the buffer only through a
-- mapping, every fd closed: the `mapped_only` of `dmabuf_processes` and `dmabuf_leak_suspects`.
-- @column snapshot_id Snapshot.
-- @column inode Inode of the held buffer.
-- @column pid Holding process id.
-- @column fd_refs `dmabuf_holder.fd_refs`.
-- @column map_refs `dmabuf_holder.map_refs`.
-- @column reported_pss `dmabuf_holder.reported_pss`.
-- @column mapped_only 1 when the process maps the buffer and holds no fd to it, else 0; NULL when no source counted the process's fds (for any buffer), so that "no fd" would be unseen rather than known.
CREATE VIEW _dmabuf_holder AS
SELECT h.snapshot_id, h.inode, h.pid, h.fd_refs, h.map_refs, h.reported_pss,
       CASE WHEN EXISTS (SELECT 1 FROM dmabuf_holder f WHERE f.snapshot_id = h.snapshot_id AND f.pid = h.pid AND f.fd_refs IS NOT NULL)
            THEN coalesce(h.map_refs, 0) > 0 AND coalesce(h.fd_refs, 0) = 0 END AS mapped_only
FROM dmabuf_holder h;

-- The severity thresholds of `dmabuf_leak_suspects` as one row, for the views that grade findings:
-- a finding is `high` at or above high_bytes or high_share_pct of its snapshot's total, `medium`
-- at or above medium_bytes or medium_share_pct, `low` at or above low_bytes, else `info`.
-- @for dmabuf_leak_suspects
-- @param high_bytes 104857600 A finding of at least this many bytes is `high`.
-- @param medium_bytes 20971520 A finding of at least this many bytes is `medium`.
-- @param low_bytes 1048576 A finding of at least this many bytes is `low`; smaller ones are `info`.
-- @param high_share_pct 25 A finding holding at least this percentage of its snapshot's DMA-BUF total is `high`.
-- @param medium_share_pct 10 A finding holding at least this percentage of its snapshot's DMA-BUF total is `medium`.
-- @column high_bytes Value of the parameter.
-- @column medium_bytes Value of the parameter.
-- @column low_bytes Value of the parameter.
-- @column high_share_pct Value of the parameter.
-- @column medium_share_pct Value of the parameter.
CREATE VIEW _dmabuf_leak_thresholds AS
SELECT
  (SELECT value FROM analysis_param WHERE analysis = 'dmabuf_leak_suspects' AND name = 'high_bytes') AS high_bytes,
  (SELECT value FROM analysis_param WHERE analysis = 'dmabuf_leak_suspects' AND name = 'medium_bytes') AS medium_bytes,
  (SELECT value FROM analysis_param WHERE analysis = 'dmabuf_leak_suspects' AND name = 'low_bytes') AS low_bytes,
  (SELECT value FROM analysis_param WHERE analysis = 'dmabuf_leak_suspects' AND name = 'high_share_pct') AS high_share_pct,
  (SELECT value FROM analysis_param WHERE analysis = 'dmabuf_leak_suspects' AND name = 'medium_share_pct') AS medium_share_pct;
