// The processes that held each pid of a trace (`process_instance`, src/db/schema/20-trace.sql)
// and the rule that says which held it at a time: what the in-memory passes (charge.ts, rss.ts)
// read, as the SQL views do. A pid is of one trace: two traces in one snapshot each have their
// own processes, looked up by the source (`source_id`) of the event or sample.
import type { Db } from './database.js';
import { isExact } from './packed.js';

/** The processes that held one pid in one trace, in time order: upid, start (-Infinity: from the start), end (Infinity: none). */
export interface Instances {
  upids: number[];
  starts: number[];
  ends: number[];
  /** One process, for the whole trace. */
  simple: boolean;
  /** Index of its first process among all the snapshot's (`ProcessInstances.upids`). */
  first: number;
}

export interface ProcessInstances {
  /** Per source, per pid. */
  bySource: Map<number, Map<number, Instances>>;
  /** Every upid, pid by pid (a pid's at `first`, `first` + 1, …). */
  upids: number[];
  /** The pid of each of `upids`. */
  pids: number[];
  /** The source (trace) of each of `upids`. */
  sources: number[];
  /** Whether some pid was held by several processes, or by one only for part of the trace, or some trace's processes are not the only ones. */
  complex: boolean;
}

/** A snapshot's `process_instance` rows, or 'inexact' when a start or end is beyond what a JS number holds exactly. */
export function processInstances(db: Db, id: number): ProcessInstances | 'inexact' {
  const bySource = new Map<number, Map<number, Instances>>();
  const upids: number[] = [];
  const pids: number[] = [];
  const sources: number[] = [];
  let complex = false;
  for (const r of db.query('SELECT upid, source_id, pid, start_ts, end_ts FROM process_instance WHERE snapshot_id = ? ORDER BY source_id, pid, instance, upid', [id])) {
    const [start, end] = [r.start_ts, r.end_ts];
    if ((start !== null && !isExact(start)) || (end !== null && !isExact(end)) || !isExact(r.upid)) return 'inexact';
    const source = r.source_id as number;
    const pid = r.pid as number;
    let ofSource = bySource.get(source);
    if (ofSource === undefined) bySource.set(source, (ofSource = new Map()));
    let list = ofSource.get(pid);
    if (list === undefined) ofSource.set(pid, (list = { upids: [], starts: [], ends: [], simple: true, first: upids.length }));
    list.upids.push(r.upid as number);
    upids.push(r.upid as number);
    pids.push(pid);
    sources.push(source);
    list.starts.push(start === null ? -Infinity : (start as number));
    list.ends.push(end === null ? Infinity : (end as number));
    list.simple = list.upids.length === 1 && start === null && end === null;
    if (!list.simple) complex = true;
  }
  if (bySource.size > 1) complex = true;
  return { bySource, upids, pids, sources, complex };
}

/**
 * Which of a pid's processes held it at `ts` (the rule of `process_instance` and of the SQL
 * views): the index of the last that started at or before then, -1 when none or that one had ended.
 */
export function heldBy(list: Instances, ts: number): number {
  for (let i = list.starts.length - 1; i >= 0; i--) {
    if (list.starts[i] <= ts) return list.ends[i] <= ts ? -1 : i;
  }
  return -1;
}
