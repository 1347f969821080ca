-- @analysis dmabuf_devices
-- @title Attached devices
-- Per snapshot and importing device (debugfs bufinfo `Attached Devices`, sysfs
-- attachments): how many buffers it has attached, their bytes and their exporters.
-- @column snapshot_id Snapshot.
-- @column device Importing device name.
-- @column buffers Number of distinct buffers attached.
-- @column bytes Bytes of those buffers.
-- @column exporters Exporters of those buffers, comma-separated.
CREATE VIEW dmabuf_devices AS
SELECT a.snapshot_id, a.device, count(DISTINCT a.dmabuf_id) AS buffers,
       (SELECT sum(d.size) FROM dmabuf d WHERE d.id IN (SELECT a2.dmabuf_id FROM dmabuf_attachment a2
                                                       WHERE a2.snapshot_id = a.snapshot_id AND a2.device = a.device)) AS bytes,
       group_concat(DISTINCT coalesce(d.exporter, '<unknown>')) AS exporters
FROM dmabuf_attachment a LEFT JOIN dmabuf d ON d.id = a.dmabuf_id
GROUP BY a.snapshot_id, a.device
ORDER BY a.snapshot_id, bytes DESC, a.device;
