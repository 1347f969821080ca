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
SELECT a.snapshot_id, a.device, count(a.dmabuf_id) AS buffers, sum(d.size) AS bytes,
       group_concat(DISTINCT coalesce(d.exporter, '<unknown>')) AS exporters
-- each buffer once per device, however many sources listed the attachment
FROM (SELECT DISTINCT snapshot_id, device, dmabuf_id FROM dmabuf_attachment) a
LEFT JOIN dmabuf d ON d.id = a.dmabuf_id
GROUP BY a.snapshot_id, a.device
ORDER BY a.snapshot_id, bytes DESC, a.device;
