// The triage summary `analyze` prints: for each snapshot, what it is, how much DMA-BUF it
// holds, who holds it, what looks leaked and what does not add up; then the import
// diagnostics. Built from the catalogue analyses and documented tables and views
// (`snapshot`, `_dmabuf_snapshot_total`, `dmabuf_reported_total`, `diagnostic`), so every
// number in it can be reproduced with `run` or `query`. Each part is computed on its own:
// one failing part is reported in `errors` and the others still appear.
import type { ResultRow } from './db/database.js';

/** The subset of Session this needs (keeps summary free of the session's construction). */
interface Queryable {
  query(sql: string, params?: Record<string, unknown> | unknown[]): ResultRow[];
  run(analysis: string, params?: Record<string, unknown>): ResultRow[];
}

export interface SnapshotSummary {
  snapshot_id: number;
  label: string;
  kind: string;
  captured_at: string | null;
  build_fingerprint: string | null;
  kernel_release: string | null;
  android_sdk: number | null;
  /** Bytes of the merged buffers whose size is known (`_dmabuf_snapshot_total.buffer_bytes`); totals sources reported are in `reported_totals`. */
  total_bytes: number;
  /** Number of merged buffers; 0 when no per-buffer source exists. */
  buffers: number;
  /** Totals as sources printed them (dmabuf_dump, -b, meminfo, bufinfo …), and an ION heap file's per-heap totals (`heap`). */
  reported_totals: ResultRow[];
  /** dumpsys meminfo DMA-BUF lines (`dmabuf_heaps`). */
  heaps: ResultRow[];
  exporters: ResultRow[];
  processes: ResultRow[];
  /**
   * `dmabuf_process_totals` rows, when `processes` is empty: the per-process totals of sources
   * that list no buffers (ION heap files, Qualcomm dmaprocs, MediaTek's stats) are then the only
   * answer to "who holds it".
   */
  process_totals: ResultRow[];
  leak_suspects: ResultRow[];
  /** `dmabuf_consistency` rows whose status is not ok. */
  consistency_findings: ResultRow[];
  /** Number of consistency checks made. */
  consistency_checks: number;
  devices: ResultRow[];
  /** `dmabuf_trace_summary` rows (traces only): the `trace` row of each trace, then the first `process` rows. */
  trace: ResultRow[];
}

export interface Summary {
  snapshots: SnapshotSummary[];
  diagnostics: { total: number; by_severity: Record<string, number>; by_code: ResultRow[] };
  /** Parts of the summary that could not be computed, with the reason. */
  errors: string[];
}

/** A snapshot's `dmabuf_trace_summary` rows: every `trace` row (one per trace), then the first `top` process rows. */
function traceRows(rows: ResultRow[], top: number): ResultRow[] {
  return [...rows.filter((r) => r.scope === 'trace'), ...rows.filter((r) => r.scope !== 'trace').slice(0, top)];
}

export function summarize(s: Queryable, opts: { top?: number } = {}): Summary {
  const top = opts.top ?? 10;
  const errors: string[] = [];
  const part = <T>(what: string, f: () => T, fallback: T): T => {
    try {
      return f();
    } catch (e) {
      errors.push(`${what}: ${(e as Error).message}`);
      return fallback;
    }
  };
  /** Rows of a part, grouped by their snapshot_id. */
  const bySnapshot = (what: string, rows: () => ResultRow[]): Map<number, ResultRow[]> => {
    const m = new Map<number, ResultRow[]>();
    for (const r of part(what, rows, [])) {
      const id = Number(r.snapshot_id);
      if (!m.has(id)) m.set(id, []);
      m.get(id)!.push(r);
    }
    return m;
  };
  const analysis = (name: string) => bySnapshot(name, () => s.run(name));
  const exporters = analysis('dmabuf_exporters');
  const processes = analysis('dmabuf_processes');
  const processTotals = analysis('dmabuf_process_totals');
  const leaks = analysis('dmabuf_leak_suspects');
  const consistency = analysis('dmabuf_consistency');
  const heaps = analysis('dmabuf_heaps');
  const devices = analysis('dmabuf_devices');
  const trace = analysis('dmabuf_trace_summary');
  const totals = bySnapshot('_dmabuf_snapshot_total', () => s.query('SELECT snapshot_id, buffers, buffer_bytes FROM _dmabuf_snapshot_total'));
  const reported = bySnapshot('dmabuf_reported_total', () =>
    s.query(
      // Whole-device totals, and an ION heap file's per-heap totals (no other part shows them).
      `SELECT snapshot_id, origin, exporter AS heap, total_bytes, buffer_count, kernel_bytes, userspace_rss_bytes, userspace_pss_bytes
       FROM dmabuf_reported_total
       WHERE pid IS NULL AND (exporter IS NULL OR origin IN ('ion_heap', 'ion_heap_orphaned')) ORDER BY snapshot_id, rowid`,
    ),
  );

  const snapshotRows = part('snapshot', () => s.query('SELECT id, label, kind, captured_at, build_fingerprint, kernel_release, android_sdk FROM snapshot ORDER BY id'), []);
  const snapshots = snapshotRows.map((r): SnapshotSummary => {
    const id = Number(r.id);
    const checks = consistency.get(id) ?? [];
    const total = totals.get(id)?.[0];
    return {
      snapshot_id: id,
      label: String(r.label ?? ''),
      kind: String(r.kind),
      captured_at: r.captured_at as string | null,
      build_fingerprint: r.build_fingerprint as string | null,
      kernel_release: r.kernel_release as string | null,
      android_sdk: r.android_sdk as number | null,
      total_bytes: Number(total?.buffer_bytes ?? 0),
      buffers: Number(total?.buffers ?? 0),
      reported_totals: reported.get(id) ?? [],
      heaps: heaps.get(id) ?? [],
      exporters: (exporters.get(id) ?? []).slice(0, top),
      processes: (processes.get(id) ?? []).slice(0, top),
      process_totals: processes.has(id) ? [] : (processTotals.get(id) ?? []).slice(0, top),
      leak_suspects: leaks.get(id) ?? [],
      consistency_findings: checks.filter((c) => c.status !== 'ok'),
      consistency_checks: checks.length,
      devices: (devices.get(id) ?? []).slice(0, top),
      trace: traceRows(trace.get(id) ?? [], top),
    };
  });

  const byCode = part(
    'diagnostic',
    () =>
      s.query(
        `SELECT severity, code, count(*) AS count, min(message) AS example FROM diagnostic
         GROUP BY severity, code ORDER BY CASE severity WHEN 'error' THEN 0 WHEN 'warning' THEN 1 ELSE 2 END, count DESC`,
      ),
    [],
  );
  const bySeverity: Record<string, number> = {};
  for (const r of byCode) bySeverity[String(r.severity)] = (bySeverity[String(r.severity)] ?? 0) + Number(r.count);
  return {
    snapshots,
    diagnostics: { total: byCode.reduce((n, r) => n + Number(r.count), 0), by_severity: bySeverity, by_code: byCode },
    errors,
  };
}
