// The triage summary as a neutral document (headings, key/value facts, tables, notes) that
// the text, markdown and html renderers each turn into their own form. The headings are the
// analysis names a user types with `run`.
import type { Summary, SnapshotSummary } from '../summary.js';
import type { ResultRow } from '../db/database.js';
import { bytes, count } from './format.js';

export interface Table {
  columns: string[];
  /** Per column: true for numbers (right-aligned), false for text (left-aligned). */
  numeric: boolean[];
  rows: string[][];
}

/** A table from its columns, each `name` (text) or `#name` (a number). */
function table(columns: string[], rows: string[][]): Table {
  return { columns: columns.map((c) => c.replace(/^#/, '')), numeric: columns.map((c) => c.startsWith('#')), rows };
}

export interface Block {
  heading: string;
  facts?: [string, string][];
  table?: Table;
  notes?: string[];
}

export interface Document {
  title: string;
  blocks: Block[];
}

export function summaryDocument(s: Summary): Document {
  const blocks: Block[] = [];
  for (const snap of s.snapshots) blocks.push(...snapshotBlocks(snap, s.snapshots.length > 1));
  const d = s.diagnostics;
  const sev = Object.entries(d.by_severity).map(([k, v]) => `${v} ${k}`).join(', ');
  blocks.push({
    heading: 'Import diagnostics',
    facts: [['total', d.total === 0 ? '0' : `${d.total} (${sev})`]],
    table: d.by_code.length
      ? table(['severity', 'code', '#count', 'example'], d.by_code.map((r) => [String(r.severity), String(r.code), count(r.count), String(r.example).slice(0, 110)]))
      : undefined,
    notes: d.total ? ['All of them: `query <input> --sql "SELECT * FROM diagnostic"`.'] : undefined,
  });
  if (s.errors.length) blocks.push({ heading: 'Parts that could not be computed', notes: s.errors });
  return { title: 'dmabuf-triage', blocks };
}

function snapshotBlocks(snap: SnapshotSummary, several: boolean): Block[] {
  const tag = several ? ` [snapshot ${snap.snapshot_id}]` : '';
  const out: Block[] = [];
  const facts: [string, string][] = [['input', `${snap.label} (${snap.kind})`]];
  if (snap.build_fingerprint) facts.push(['device', snap.build_fingerprint]);
  const sys = [snap.android_sdk ? `SDK ${snap.android_sdk}` : '', snap.kernel_release ? `kernel ${snap.kernel_release}` : ''].filter(Boolean).join(', ');
  if (sys) facts.push(['system', sys]);
  if (snap.captured_at) facts.push(['captured', snap.captured_at]);
  facts.push(['DMA-BUF', snap.buffers === 0 ? 'no per-buffer data' : `${bytes(snap.total_bytes)} in ${count(snap.buffers)} buffers`]);
  for (const r of snap.reported_totals) facts.push([`reported by ${r.origin}${r.heap === null ? '' : ` (${r.heap})`}`, reportedText(r)]);
  out.push({ heading: `Snapshot ${snap.snapshot_id}: ${snap.label}`, facts });

  if (snap.heaps.length) {
    out.push({ heading: `dmabuf_heaps${tag}`, table: table(['item', '#bytes'], snap.heaps.map((r) => [String(r.item), bytes(r.bytes)])) });
  }
  if (snap.exporters.length) {
    out.push({
      heading: `dmabuf_exporters${tag}`,
      table: table(
        ['exporter', '#buffers', '#bytes', '#share', '#largest', '#processes', '#held by none'],
        snap.exporters.map((r) => [String(r.exporter), count(r.buffers), bytes(r.bytes), r.share_pct === null ? '-' : `${r.share_pct}%`, bytes(r.largest_bytes), count(r.processes), bytes(r.unheld_bytes)]),
      ),
    });
  }
  if (snap.processes.length) {
    out.push({
      heading: `dmabuf_processes${tag}`,
      table: table(
        ['pid', 'process', '#buffers', '#rss', '#pss', '#private'],
        snap.processes.map((r) => [String(r.pid), String(r.process_name ?? '?'), count(r.buffers), bytes(r.rss_bytes), bytes(r.pss_bytes), bytes(r.private_bytes)]),
      ),
    });
  }
  if (snap.process_totals.length) {
    out.push({
      heading: `dmabuf_process_totals${tag}`,
      table: table(
        ['pid', 'process', 'origin', 'heap', '#bytes', '#pss'],
        snap.process_totals.map((r) => [String(r.pid), String(r.process_name ?? '?'), String(r.origin), String(r.heap ?? ''), bytes(r.bytes), r.pss_bytes === null ? '' : bytes(r.pss_bytes)]),
      ),
      notes: ['Totals as the sources printed them (no buffer list to split shared buffers by): compare rows of one origin.'],
    });
  }
  if (snap.trace.length) {
    // A `trace` row per trace: a snapshot of several traces says which each line is of.
    const wholes = snap.trace.filter((r) => r.scope === 'trace');
    const procs = snap.trace.filter((r) => r.scope === 'process');
    const of = (r: (typeof wholes)[number]) => (wholes.length > 1 ? ` (trace from ts ${r.first_ts} to ${r.trace_end_ts ?? r.last_ts})` : '');
    out.push({
      heading: `dmabuf_trace_summary${tag}`,
      facts: wholes.length
        ? wholes.flatMap((whole): [string, string][] => [
            [`heaps total${of(whole)}`, `avg ${bytes(whole.heap_avg_bytes)}, min ${bytes(whole.heap_min_bytes)}, max ${bytes(whole.heap_max_bytes)}, at end ${bytes(whole.heap_end_bytes)}`],
            [`during the trace${of(whole)}`, `${count(whole.allocs)} ${whole.allocs === 1 ? 'allocation' : 'allocations'} (${bytes(whole.allocated_bytes)}), ${count(whole.frees)} ${whole.frees === 1 ? 'free' : 'frees'} (${bytes(whole.freed_bytes)}), ${bytes(whole.outstanding_bytes)} still allocated at the end`],
          ])
        : undefined,
      table: procs.length
        ? table(
            ['pid', 'process', '#allocated', '#freed', '#outstanding', '#peak'],
            procs.map((r) => [String(r.pid ?? `tid ${r.tid}`), String(r.process_name ?? '?'), bytes(r.allocated_bytes), bytes(r.freed_bytes), bytes(r.outstanding_bytes), bytes(r.peak_outstanding_bytes)]),
          )
        : undefined,
    });
  }
  if (snap.devices.length) {
    out.push({
      heading: `dmabuf_devices${tag}`,
      table: table(['device', '#buffers', '#bytes', 'exporters'], snap.devices.map((r) => [String(r.device), count(r.buffers), bytes(r.bytes), String(r.exporters ?? '')])),
    });
  }
  out.push({
    heading: `dmabuf_leak_suspects${tag}`,
    table: snap.leak_suspects.length
      ? table(
          ['severity', 'kind', 'subject', '#bytes', 'evidence'],
          snap.leak_suspects.map((r) => [String(r.severity).toUpperCase(), String(r.kind), String(r.subject), bytes(r.bytes), String(r.evidence)]),
        )
      : undefined,
    notes: snap.leak_suspects.length ? undefined : ['none found'],
  });
  out.push({
    heading: `dmabuf_consistency${tag}`,
    facts: [['checks', `${snap.consistency_checks} made, ${snap.consistency_findings.length} not ok`]],
    table: snap.consistency_findings.length
      ? table(
          ['status', 'check', 'subject', '#reported', '#computed', '#difference'],
          snap.consistency_findings.map((r) => {
            const f = r.unit === 'bytes' ? bytes : count;
            return [String(r.status), String(r.check_name), String(r.subject), f(r.reported), f(r.computed), f(r.difference)];
          }),
        )
      : undefined,
  });
  return out;
}

function reportedText(r: ResultRow): string {
  const parts: string[] = [];
  if (r.total_bytes !== null) parts.push(`total ${bytes(r.total_bytes)}`);
  if (r.buffer_count !== null) parts.push(`${count(r.buffer_count)} buffers`);
  if (r.kernel_bytes !== null) parts.push(`kernel ${bytes(r.kernel_bytes)}`);
  if (r.userspace_rss_bytes !== null) parts.push(`userspace rss ${bytes(r.userspace_rss_bytes)}`);
  if (r.userspace_pss_bytes !== null) parts.push(`pss ${bytes(r.userspace_pss_bytes)}`);
  return parts.join(', ');
}
