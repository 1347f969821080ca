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

-- Total DMA-BUF bytes per snapshot: the merged buffers, else the largest total a source reported.
-- @column snapshot_id Snapshot.
-- @column total_bytes Bytes of all buffers of the snapshot.
-- @column buffers Number of merged buffers.
CREATE VIEW _dmabuf_snapshot_total AS
SELECT s.id AS snapshot_id,
       coalesce((SELECT sum(size) FROM dmabuf d WHERE d.snapshot_id = s.id),
                (SELECT max(total_bytes) FROM dmabuf_reported_total r WHERE r.snapshot_id = s.id AND r.pid IS NULL AND r.exporter IS NULL)) AS total_bytes,
       (SELECT count(*) FROM dmabuf d WHERE d.snapshot_id = s.id) AS buffers
FROM snapshot s;

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
