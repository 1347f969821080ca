-- @analysis dmabuf_consistency
-- @title Cross-source consistency
-- Every total a source printed beside the sum of the rows it should equal, and every
-- per-buffer listing beside the others: a row whose status is not `ok` is a finding.
-- Checks: `total_bytes` / `buffer_count` (a listing's own total line), `exporter_bytes` /
-- `exporter_count` (dmabuf_dump -b exporter stats), `process_rss` / `process_pss`
-- (dmabuf_dump PROCESS TOTAL, dmabuf_dump -a per-process totals, vendor dmaprocs per-process sizes, MediaTek /proc/dma_heap per-process RSS, OpenHarmony /proc/process_dmabuf_info per-process totals: every fd counted), `userspace_rss` / `dmabuf_total` (dmabuf_dump's last line),
-- `global_total` (a total reported by one source beside the buffers every global listing
-- found; sources are read at different moments, hence `tolerance_pct`), `source_bytes`
-- (each listing's buffer count and bytes side by side), `source_missing` (buffers other
-- global listings have and this one lacks) and `truncated_capture` (a listing far smaller
-- than a total reported elsewhere, e.g. a BPF iterator cut after one page).
-- Sums of kB values tolerate the rounding of each row (1 kB per row).
-- @param tolerance_pct 2 Allowed difference, in percent, between totals of different sources.
-- @param truncated_ratio 0.5 A listing holding fewer than this fraction of the buffers or bytes reported elsewhere is `truncated`.
-- @column snapshot_id Snapshot.
-- @column check_name Which check (see the description).
-- @column subject What is checked: an origin, an exporter, a process `name (pid)` or an importer.
-- @column reported The value the source printed (bytes or a count).
-- @column computed The value computed from the rows.
-- @column difference reported − computed.
-- @column tolerance Largest difference still `ok`.
-- @column unit What reported, computed, difference and tolerance count: `bytes` or `buffers` (`buffer_count`, `exporter_count`, `source_missing`, `truncated_capture`).
-- @column status `ok`, `mismatch` or `truncated`.
-- @column detail One sentence on where both numbers come from.
CREATE VIEW dmabuf_consistency AS
WITH
p AS (
  SELECT (SELECT value FROM analysis_param WHERE analysis = 'dmabuf_consistency' AND name = 'tolerance_pct') AS tolerance_pct,
         (SELECT value FROM analysis_param WHERE analysis = 'dmabuf_consistency' AND name = 'truncated_ratio') AS truncated_ratio
),
-- src_rows and held are read for the sources that reported a total only: a hand capture's
-- 190,000 holders, say, need not be summed when it printed none.
src_rows AS MATERIALIZED (
  SELECT source_id, count(*) AS n, sum(size) AS bytes, count(DISTINCT inode) AS inodes FROM dmabuf_observation
  WHERE source_id IN (SELECT source_id FROM dmabuf_reported_total)
  GROUP BY source_id
),
glob AS MATERIALIZED (
  SELECT snapshot_id, count(*) AS n, sum(size) AS bytes FROM dmabuf WHERE in_global_list GROUP BY snapshot_id
),
held AS MATERIALIZED (
  -- The holder rows of a source per process: how many, the sum of the sizes that source gave their buffers (once each, and
  -- once per fd: /proc/process_dmabuf_info totals count every fd) and of their Pss.
  SELECT source_id, pid, count(*) AS entries, count(inode) AS buffers, sum(reported_pss) AS pss, sum(sz) AS bytes,
         sum(sz * coalesce(fd_refs, 1)) AS fd_bytes
  FROM (SELECT h.source_id, h.pid, h.inode, h.reported_pss, h.fd_refs,
               (SELECT max(o.size) FROM dmabuf_observation o WHERE o.source_id = h.source_id AND o.inode = h.inode) AS sz
        FROM dmabuf_holder_observation h
        WHERE h.source_id IN (SELECT source_id FROM dmabuf_reported_total))
  GROUP BY source_id, pid
),
listing AS MATERIALIZED (
  SELECT o.snapshot_id, o.source_id, s.importer, count(*) AS n, sum(o.size) AS bytes
  FROM dmabuf_observation o JOIN source s ON s.id = o.source_id
  WHERE o.global_list GROUP BY o.source_id
),
checks AS (
  -- A listing's own total line.
  SELECT r.snapshot_id, 'total_bytes' AS check_name, r.origin AS subject, r.total_bytes AS reported, coalesce(c.bytes, 0) AS computed,
         CASE WHEN r.in_kb THEN 1024 * coalesce(c.n, 0) ELSE 0 END AS tolerance,
         'bytes' AS unit, r.origin || ' total line beside the sum of its ' || coalesce(c.n, 0) || ' rows' AS detail
  FROM dmabuf_reported_total r LEFT JOIN src_rows c ON c.source_id = r.source_id
  WHERE r.pid IS NULL AND r.exporter IS NULL AND r.origin NOT IN ('dmabuf_dump', 'meminfo', 'ion_heap', 'ion_heap_orphaned', 'samsung_dmabuf_trace') AND r.total_bytes IS NOT NULL
  UNION ALL
  SELECT r.snapshot_id, 'buffer_count', r.origin, r.buffer_count, coalesce(c.n, 0), 0,
         'buffers', r.origin || ' buffer count beside its number of rows'
  FROM dmabuf_reported_total r LEFT JOIN src_rows c ON c.source_id = r.source_id
  WHERE r.pid IS NULL AND r.exporter IS NULL AND r.origin NOT IN ('dmabuf_dump', 'meminfo', 'ion_heap', 'ion_heap_orphaned', 'samsung_dmabuf_trace') AND r.buffer_count IS NOT NULL
  UNION ALL
  -- Per-exporter totals (dmabuf_dump -b).
  SELECT r.snapshot_id, 'exporter_bytes', r.exporter, r.total_bytes,
         coalesce((SELECT sum(o.size) FROM dmabuf_observation o WHERE o.source_id = r.source_id AND o.exporter = r.exporter), 0), 0,
         'bytes', r.origin || ' exporter line beside the sum of that exporter''s per-buffer rows'
  -- An ION heap file's totals name the heap, not an exporter, and come with no buffer rows.
  FROM dmabuf_reported_total r WHERE r.exporter IS NOT NULL AND r.total_bytes IS NOT NULL AND r.origin NOT IN ('ion_client', 'ion_heap', 'ion_heap_orphaned')
  UNION ALL
  SELECT r.snapshot_id, 'exporter_count', r.exporter, r.buffer_count,
         (SELECT count(*) FROM dmabuf_observation o WHERE o.source_id = r.source_id AND o.exporter = r.exporter), 0,
         'buffers', r.origin || ' exporter buffer count beside that exporter''s per-buffer rows'
  FROM dmabuf_reported_total r WHERE r.exporter IS NOT NULL AND r.buffer_count IS NOT NULL AND r.origin NOT IN ('ion_client', 'ion_heap', 'ion_heap_orphaned')
  UNION ALL
  -- dmabuf_dump PROCESS TOTAL lines.
  SELECT r.snapshot_id, 'process_rss', coalesce(pr.name, '?') || ' (' || r.pid || ')', coalesce(r.userspace_rss_bytes, r.total_bytes),
         coalesce(CASE WHEN r.origin = 'process_dmabuf_info_process' THEN h.fd_bytes ELSE h.bytes END, 0),
         1024 * coalesce(h.buffers, 0), 'bytes', r.origin || ' process total beside the sum of the process''s rows'
  FROM dmabuf_reported_total r
  LEFT JOIN held h ON h.source_id = r.source_id AND h.pid = r.pid
  LEFT JOIN process pr ON pr.snapshot_id = r.snapshot_id AND pr.pid = r.pid
  WHERE r.pid IS NOT NULL AND coalesce(r.userspace_rss_bytes, r.total_bytes) IS NOT NULL
    -- Qualcomm dmaprocs lists no inodes, and MediaTek's /proc/dma_heap/stats no buffers, so no holder rows: their totals have nothing to be checked against.
    -- Nor have an ION heap file's client totals (handles, not fds or mappings, and no buffers listed), nor Samsung's Dma-buf Info dump (no holders listed).
    AND (r.origin NOT IN ('dmaprocs_process', 'mtk_heap_process', 'ion_client', 'samsung_dmabuf_trace_fd', 'samsung_dmabuf_trace_mmap') OR h.source_id IS NOT NULL)
  UNION ALL
  SELECT r.snapshot_id, 'process_pss', coalesce(pr.name, '?') || ' (' || r.pid || ')', r.userspace_pss_bytes, coalesce(h.pss, 0),
         1024 * coalesce(h.buffers, 0), 'bytes', 'PROCESS TOTAL Pss beside the sum of the process''s rows'
  FROM dmabuf_reported_total r
  LEFT JOIN held h ON h.source_id = r.source_id AND h.pid = r.pid
  LEFT JOIN process pr ON pr.snapshot_id = r.snapshot_id AND pr.pid = r.pid
  WHERE r.origin = 'dmabuf_dump_process' AND r.userspace_pss_bytes IS NOT NULL
  UNION ALL
  -- dmabuf_dump's final line.
  SELECT r.snapshot_id, 'userspace_rss', r.origin, r.userspace_rss_bytes,
         coalesce((SELECT sum(h.bytes) FROM held h WHERE h.source_id = r.source_id), 0),
         1024 * coalesce((SELECT sum(h.entries) FROM held h WHERE h.source_id = r.source_id), 0),
         'bytes', 'userspace_rss beside the sum of every process row'
  FROM dmabuf_reported_total r
  WHERE r.origin = 'dmabuf_dump' AND r.userspace_rss_bytes IS NOT NULL
  UNION ALL
  SELECT r.snapshot_id, 'dmabuf_total', r.origin, r.total_bytes,
         coalesce(c.bytes, 0) + coalesce(r.kernel_bytes, 0),
         1024 * (coalesce(c.inodes, 0) + 1), 'bytes', 'dmabuf total beside the distinct buffers of the process tables plus kernel_rss'
  FROM dmabuf_reported_total r LEFT JOIN src_rows c ON c.source_id = r.source_id
  WHERE r.origin = 'dmabuf_dump' AND r.total_bytes IS NOT NULL
  UNION ALL
  -- Totals of one source beside the global listings of others.
  SELECT r.snapshot_id, 'global_total', r.origin, r.total_bytes, g.bytes,
         max(CAST(p.tolerance_pct * r.total_bytes / 100 AS INTEGER), CASE WHEN r.in_kb THEN 1024 * g.n ELSE 0 END),
         'bytes', r.origin || ' total beside the ' || g.n || ' buffers the global listings found'
  FROM dmabuf_reported_total r JOIN glob g ON g.snapshot_id = r.snapshot_id CROSS JOIN p
  WHERE r.origin IN ('dmabuf_dump', 'meminfo') AND r.total_bytes IS NOT NULL
  UNION ALL
  -- Listings side by side.
  SELECT l.snapshot_id, 'source_bytes', l.importer, l.bytes, g.bytes,
         CAST(p.tolerance_pct * g.bytes / 100 AS INTEGER),
         'bytes', l.importer || ' lists ' || l.n || ' buffers; all global listings together ' || g.n
  FROM listing l JOIN glob g ON g.snapshot_id = l.snapshot_id CROSS JOIN p
  WHERE (SELECT count(*) FROM listing l2 WHERE l2.snapshot_id = l.snapshot_id) > 1
  UNION ALL
  SELECT l.snapshot_id, 'source_missing', l.importer, 0,
         (SELECT count(*) FROM dmabuf d WHERE d.snapshot_id = l.snapshot_id AND d.in_global_list AND d.inode IS NOT NULL
            AND NOT EXISTS (SELECT 1 FROM dmabuf_observation o WHERE o.source_id = l.source_id AND o.inode = d.inode)),
         0, 'buffers', 'buffers other global listings have and ' || l.importer || ' lacks'
  FROM listing l
  WHERE (SELECT count(*) FROM listing l2 WHERE l2.snapshot_id = l.snapshot_id) > 1
)
SELECT c.snapshot_id, c.check_name, c.subject, c.reported, c.computed, c.reported - c.computed AS difference, c.tolerance, c.unit,
       CASE WHEN abs(c.reported - c.computed) <= c.tolerance THEN 'ok' ELSE 'mismatch' END AS status, c.detail
FROM checks c
UNION ALL
-- A listing far smaller than a total reported elsewhere.
SELECT l.snapshot_id, 'truncated_capture', l.importer, ref.ref_count, l.n, ref.ref_count - l.n, 0, 'buffers', 'truncated',
       l.importer || ' lists ' || l.n || ' buffers (' || l.bytes || ' bytes) where ' || ref.origin || ' reports ' ||
       coalesce(ref.ref_count, '?') || ' buffers (' || coalesce(ref.ref_bytes, '?') || ' bytes): the capture looks cut short'
FROM listing l
JOIN (SELECT r.snapshot_id, r.source_id, r.origin, r.buffer_count AS ref_count, r.total_bytes AS ref_bytes
      -- Totals of some heaps only (ION heap files, Samsung's heaps) say nothing of a listing of every buffer.
      FROM dmabuf_reported_total r WHERE r.pid IS NULL AND r.exporter IS NULL AND r.origin NOT IN ('ion_heap', 'ion_heap_orphaned', 'samsung_dmabuf_trace')) ref
  ON ref.snapshot_id = l.snapshot_id AND ref.source_id <> l.source_id
CROSS JOIN p
WHERE l.n < p.truncated_ratio * ref.ref_count OR l.bytes < p.truncated_ratio * ref.ref_bytes
ORDER BY 1, 2, 3;
