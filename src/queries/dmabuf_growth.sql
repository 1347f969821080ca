-- @analysis dmabuf_growth
-- @title Growth between snapshots
-- Over several inputs loaded together: for each exporter and each process, its bytes in the
-- first and in the last snapshot that hold any DMA-BUF data, and the change. Largest growth first.
-- Processes are matched by name (pids change), as the kernel's 15-character comm shows it, which
-- dmabuf_dump prints: a program's comm is the start of its file name (exec keeps the first 15
-- characters), an app's the end of its dotted name when that is longer (Android names the
-- process so). A capture naming a process by its command line (a trace's
-- `/system/bin/surfaceflinger`, `/vendor/bin/hw/android.hardware.graphics.allocator@4.0-service`,
-- `com.google.android.apps.maps`) and one naming it by comm (`surfaceflinger`, `android.hardwar`,
-- `droid.apps.maps`) match.
-- @column kind `exporter` or `process`.
-- @column subject Exporter name, or process name (the longest seen of its comm).
-- @column first_snapshot_id The earliest snapshot (by id, i.e. input order).
-- @column last_snapshot_id The latest snapshot.
-- @column first_bytes Bytes in the first snapshot (0 when absent).
-- @column last_bytes Bytes in the last snapshot (0 when absent).
-- @column delta_bytes last_bytes − first_bytes.
CREATE VIEW dmabuf_growth AS
WITH snaps AS (SELECT min(snapshot_id) AS first_id, max(snapshot_id) AS last_id FROM dmabuf),
named AS (
  SELECT coalesce(process_name, 'pid ' || pid) AS name, snapshot_id, rss_bytes FROM dmabuf_processes
),
-- base: the name after its last `/`.
based AS (
  SELECT name, snapshot_id, rss_bytes, substr(name, length(rtrim(name, replace(name, '/', ''))) + 1) AS base FROM named
),
procs AS (
  SELECT name, snapshot_id, rss_bytes,
         coalesce(nullif(CASE WHEN instr(name, '/') > 0 OR length(base) <= 15 OR instr(base, '@') > 0 OR instr(base, '.') = 0
                              THEN substr(base, 1, 15) ELSE substr(base, -15) END, ''), name) AS comm
  FROM based
),
per AS (
  SELECT 'exporter' AS kind, exporter AS subject, snapshot_id, bytes FROM dmabuf_exporters
  UNION ALL
  SELECT 'process', comm, snapshot_id, sum(rss_bytes) FROM procs GROUP BY 1, 2, 3
),
-- The name a process is shown by: the longest one seen with its comm.
shown AS MATERIALIZED (
  SELECT comm, name, max(length(name)) FROM procs GROUP BY comm
)
SELECT per.kind, CASE per.kind WHEN 'process' THEN (SELECT name FROM shown WHERE shown.comm = per.subject) ELSE per.subject END AS subject,
       s.first_id AS first_snapshot_id, s.last_id AS last_snapshot_id,
       coalesce(sum(CASE WHEN per.snapshot_id = s.first_id THEN per.bytes END), 0) AS first_bytes,
       coalesce(sum(CASE WHEN per.snapshot_id = s.last_id THEN per.bytes END), 0) AS last_bytes,
       coalesce(sum(CASE WHEN per.snapshot_id = s.last_id THEN per.bytes END), 0)
         - coalesce(sum(CASE WHEN per.snapshot_id = s.first_id THEN per.bytes END), 0) AS delta_bytes
FROM per CROSS JOIN snaps s
WHERE s.first_id < s.last_id
GROUP BY per.kind, per.subject
ORDER BY delta_bytes DESC, per.kind, per.subject;
