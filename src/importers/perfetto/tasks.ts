// The processes and threads of a trace, with their names, as Perfetto's trace processor settles
// them: what the trace says about tasks (process trees, the TGID column and `ps` dump of a text
// capture, task_newtask, task_rename, sched_process_free) is kept as facts while it is read, and
// replayed once at its end in time order (timestamp, then the order read), as the trace processor
// parses a trace after sorting it. The rules, from google/perfetto:
//
// - A thread name has a priority by its source: a process tree's (or a text capture's) beats
//   ftrace's (task_newtask, task_rename); among names of one priority the later one stands
//   (ProcessTracker::UpdateThreadNameByUtid keeps a name unless the new one's priority is at
//   least as high: src/trace_processor/importers/common/process_tracker.cc @
//   d3151b19e60bc90e0fac10544e84348450ee3f9b, ThreadNamePriority kFtrace 1 < kProcessTree 2;
//   process_tracker_unittest.cc @ 4e2303cb84f29df580d050a410932f406806cdf2, UpdateThreadName).
//   So a task_rename after a process tree does not rename the thread the tree named.
// - A process name is not ranked: the latest of a process tree's argv0, the comm of the
//   task_newtask that forked it and the new comm of a task_rename of its main thread stands
//   (ProcessTracker::UpdateThreadNameAndMaybeProcessName, SetProcessMetadata, StartNewProcess,
//   same file and commit; FtraceParser::ParseTaskRename and ParseTaskNewTask,
//   src/trace_processor/importers/ftrace/ftrace_parser.cc @ 8d2a9ab275b5761104956281bf07a41f4ecb143a).
// - A thread or process has instances (Perfetto's utid and upid): a task_newtask starts a new
//   thread (its name priority starts afresh), a fork a new process with its pid, whatever was
//   known of that pid before (StartNewProcess); a sched_process_free ends a thread, and the
//   process when it is the main thread: what is later said of that pid is of a new process
//   (EndThread, FtraceParser::ParseSchedProcessFree; process_tracker_unittest.cc,
//   PidReuseWithoutStartAndEndThread, PidReuseAfterExplicitEnd). A thread is of a process until
//   that process ends or another takes its pid.
//
// Facts a text capture repeats on every line (the same thread, process and name) are kept once.
import type { Int64 } from './wire.js';

/** Priority of a thread name from ftrace (task_newtask, task_rename). */
const FTRACE_NAME = 1;
/** Priority of a thread name from a process tree or a text capture. */
export const TREE_NAME = 2;

/** Threads created by threads created by… followed this far back to a process, at most (here and in the sink). */
export const MAX_CLONE_HOPS = 64;

const enum Kind {
  Process,
  Thread,
  NewTask,
  Rename,
  Free,
}

type Fact =
  | { kind: Kind.Process; ts: Int64; seq: number; pid: number; name: string | null; cmdline: string | null; ppid: number | null; uid: number | null }
  | { kind: Kind.Thread; ts: Int64; seq: number; tid: number; tgid: number | null; name: string | null; prio: number; soft: boolean }
  | { kind: Kind.NewTask; ts: Int64; seq: number; creator: number; tid: number; comm: string | null; thread: boolean }
  | { kind: Kind.Rename; ts: Int64; seq: number; tid: number; comm: string | null }
  | { kind: Kind.Free; ts: Int64; seq: number; tid: number };

/** One process of a trace: a pid from the time it was forked, or first heard of, until it ended or its pid was taken. */
export interface ProcessInstance {
  pid: number;
  /** 0, 1, … in the order the trace saw the pid's processes. */
  index: number;
  /** When a fork created it, or (a later instance of a pid whose process ended) the time of the first fact about it; null for a process the trace found running. */
  start: Int64 | null;
  /** When its main thread was freed (sched_process_free), or a fork gave its pid to another process; null when the trace did not see it end. */
  end: Int64 | null;
  name: string | null;
  cmdline: string | null;
  uid: number | null;
  /** Parent pid as a process tree said; else that of the thread that forked it, once known. */
  ppid: number | null;
  /** The thread that forked it (task_newtask), for its parent when no tree says. */
  parent: ThreadInstance | null;
  /** Its main thread (tid = pid), the last one the trace associated with it. */
  main: ThreadInstance | null;
  ended: boolean;
}

/** One thread of a trace: a tid from the time it was created, or first heard of, until it ended or was replaced. */
interface ThreadInstance {
  tid: number;
  proc: ProcessInstance | null;
  /** The thread that created it (task_newtask with CLONE_THREAD): its process is this one's, once known. */
  link: ThreadInstance | null;
  name: string | null;
  prio: number;
  ended: boolean;
}

/** The facts of one trace, in the order they were read. */
export class TaskFacts {
  private readonly facts: Fact[] = [];
  /** The last thread or process fact kept per tid (`t<tid>`) and pid (`p<pid>`), to skip repeats. */
  private readonly last = new Map<string, string>();

  /** A process as a process tree (or, `text`, a text capture: repeats kept once) describes it; null: not said. */
  process(ts: Int64, pid: number, name: string | null, cmdline: string | null, ppid: number | null, uid: number | null, text: boolean): void {
    if (text && this.repeated(`p${pid}`, `${name}\0${cmdline}\0${ppid}\0${uid}`)) return;
    this.facts.push({ kind: Kind.Process, ts, seq: this.facts.length, pid, name, cmdline, ppid, uid });
  }

  /**
   * A thread as a process tree describes it, or (`text`) a text capture: repeats kept once, and
   * a thread given another process stays the same thread.
   */
  thread(ts: Int64, tid: number, tgid: number | null, name: string | null, prio: number, text: boolean): void {
    if (text && this.repeated(`t${tid}`, `${tgid}\0${name}\0${prio}`)) return;
    this.facts.push({ kind: Kind.Thread, ts, seq: this.facts.length, tid, tgid, name, prio, soft: text });
  }

  /** task_newtask: `creator` created `tid`, a thread of its process or (`thread` false) a new process. */
  newTask(ts: Int64, creator: number, tid: number, comm: string | null, thread: boolean): void {
    this.forget(tid);
    this.facts.push({ kind: Kind.NewTask, ts, seq: this.facts.length, creator, tid, comm, thread });
  }

  /** task_rename of `tid`. */
  rename(ts: Int64, tid: number, comm: string | null): void {
    this.forget(tid);
    this.facts.push({ kind: Kind.Rename, ts, seq: this.facts.length, tid, comm });
  }

  /** sched_process_free of `tid`. */
  free(ts: Int64, tid: number): void {
    this.forget(tid);
    this.facts.push({ kind: Kind.Free, ts, seq: this.facts.length, tid });
  }

  private repeated(key: string, value: string): boolean {
    if (this.last.get(key) === value) return true;
    this.last.set(key, value);
    return false;
  }

  /** A fact that may change what a repeat would say again: the next repeat is kept. */
  private forget(tid: number): void {
    this.last.delete(`t${tid}`);
    this.last.delete(`p${tid}`);
  }

  /** Replay the facts in time order. */
  replay(): Tasks {
    const facts = this.facts.slice().sort((a, b) => (a.ts < b.ts ? -1 : a.ts > b.ts ? 1 : a.seq - b.seq));
    const tasks = new Tasks();
    for (const f of facts) tasks.apply(f);
    return tasks;
  }
}

/** The processes and threads after the replay. */
export class Tasks {
  /** Every process instance of each pid, in the order seen. */
  readonly processes = new Map<number, ProcessInstance[]>();
  /** The last thread instance of each tid. */
  readonly threads = new Map<number, ThreadInstance>();

  apply(f: Fact): void {
    switch (f.kind) {
      case Kind.Process: {
        const p = this.getOrCreateProcess(f.pid, f.ts);
        if (f.name !== null) p.name = f.name;
        if (f.cmdline !== null) p.cmdline = f.cmdline;
        if (f.ppid !== null) p.ppid = f.ppid;
        if (f.uid !== null) p.uid = f.uid;
        return;
      }
      case Kind.Thread: {
        const t = f.tgid !== null ? this.updateThread(f.tid, f.tgid, f.ts, f.soft) : this.getOrCreateThread(f.tid);
        setName(t, f.name, f.prio);
        return;
      }
      case Kind.NewTask: {
        const creator = this.getOrCreateThread(f.creator);
        const t = this.newThread(f.tid);
        setName(t, f.comm, FTRACE_NAME);
        if (f.thread) {
          t.link = creator;
          return;
        }
        // A fork: a new process with this pid, whatever the pid was before (which gave it up).
        const before = this.current(f.tid);
        if (before !== undefined && before.end === null) before.end = f.ts;
        const p = this.newProcess(f.tid, f.ts, f.ts);
        p.name = f.comm;
        p.parent = creator;
        t.proc = p;
        p.main = t;
        return;
      }
      case Kind.Rename: {
        const t = this.getOrCreateThread(f.tid);
        setName(t, f.comm, FTRACE_NAME);
        const p = procOf(t);
        if (p !== null && p.pid === f.tid && f.comm) p.name = f.comm;
        return;
      }
      case Kind.Free: {
        const t = this.liveThread(f.tid);
        if (t === undefined) return;
        t.ended = true;
        const p = procOf(t);
        if (p !== null && p.pid === f.tid && this.current(p.pid) === p) {
          p.ended = true;
          p.end = f.ts;
        }
        return;
      }
    }
  }

  /** The process holding `pid` now: its last instance, unless that one ended. */
  private current(pid: number): ProcessInstance | undefined {
    const list = this.processes.get(pid);
    const p = list?.[list.length - 1];
    return p === undefined || p.ended ? undefined : p;
  }

  private newProcess(pid: number, start: Int64 | null, ts: Int64): ProcessInstance {
    let list = this.processes.get(pid);
    if (list === undefined) this.processes.set(pid, (list = []));
    const p: ProcessInstance = {
      pid,
      index: list.length,
      // A later instance starts where it was first heard of, at the latest.
      start: start ?? (list.length > 0 ? ts : null),
      end: null,
      name: null,
      cmdline: null,
      uid: null,
      ppid: null,
      parent: null,
      main: null,
      ended: false,
    };
    list.push(p);
    return p;
  }

  private getOrCreateProcess(pid: number, ts: Int64): ProcessInstance {
    const cur = this.current(pid);
    if (cur !== undefined) return cur;
    const p = this.newProcess(pid, null, ts);
    // Its main thread: the live thread of that tid if it has no process yet, else a new one.
    let t = this.liveThread(pid);
    if (t !== undefined && procOf(t) !== null) t = undefined;
    t ??= this.newThread(pid);
    t.proc = p;
    p.main = t;
    return p;
  }

  private newThread(tid: number): ThreadInstance {
    const t: ThreadInstance = { tid, proc: null, link: null, name: null, prio: 0, ended: false };
    this.threads.set(tid, t);
    return t;
  }

  /** The thread holding `tid` now, if it is alive: not ended, and its process (if known) is alive and still holds its pid. */
  private liveThread(tid: number): ThreadInstance | undefined {
    const t = this.threads.get(tid);
    if (t === undefined || t.ended) return undefined;
    const p = procOf(t);
    if (p !== null && this.current(p.pid) !== p) return undefined;
    return t;
  }

  private getOrCreateThread(tid: number): ThreadInstance {
    return this.liveThread(tid) ?? this.newThread(tid);
  }

  /**
   * A thread of process `pid`: the live one of that tid when it is of no other process, else a
   * new one; `soft` (a text capture's, whose `ps` dump may give a thread another number as its
   * process than its lines' TGID column): the live one, moved to `pid`.
   */
  private updateThread(tid: number, pid: number, ts: Int64, soft = false): ThreadInstance {
    let t = this.liveThread(tid);
    if (t !== undefined) {
      const p = procOf(t);
      if (p !== null && p.pid !== pid) {
        if (soft) (t.proc = null), (t.link = null);
        else t = undefined;
      }
    }
    t ??= this.newThread(tid);
    if (procOf(t) === null) {
      const p = this.getOrCreateProcess(pid, ts);
      t.proc = p;
      if (tid === pid) p.main = t;
    }
    return t;
  }

  /** The name of the last thread with `tid`. */
  threadName(tid: number): string | null {
    return this.threads.get(tid)?.name ?? null;
  }

  /** The last process of `pid`. */
  lastProcess(pid: number): ProcessInstance | undefined {
    const list = this.processes.get(pid);
    return list?.[list.length - 1];
  }
}

function setName(t: ThreadInstance, name: string | null, prio: number): void {
  if (!name || prio < t.prio) return;
  t.name = name;
  t.prio = prio;
}

/** The process of a thread, through the threads that created it; null while unknown. */
function procOf(t: ThreadInstance): ProcessInstance | null {
  let x: ThreadInstance | null = t;
  for (let hops = 0; x !== null && hops <= MAX_CLONE_HOPS; hops++) {
    if (x.proc !== null) return x.proc;
    x = x.link;
  }
  return null;
}

/** The parent pid of a process: as a process tree said, else that of the thread that forked it. */
export function parentPid(p: ProcessInstance): number | null {
  if (p.ppid !== null) return p.ppid;
  return p.parent === null ? null : (procOf(p.parent)?.pid ?? null);
}
