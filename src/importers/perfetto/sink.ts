// Where trace events go: rows of the trace tables (src/db/schema/20-trace.sql), threads and
// processes, the trace's time bounds. Shared by the `perfetto` and `systrace_text` importers.
//
// An ftrace event names a thread (the kernel pid of the task). Its process comes from the
// trace's process tree (threads → tgid, processes → their main thread) or the TGID column
// of a text capture, which may arrive after the event: rows whose thread is not known yet
// wait in a bounded buffer and are written when the import ends, with the process known then.
// A task the trace saw created (task_newtask, emitted by its creator) belongs to its creator's
// process (a thread: CLONE_THREAD) or is the main thread of a new one (a fork), as Perfetto
// reads them; the process tree, when it names the thread, comes first. The names of threads and
// processes are settled at the end, as Perfetto's trace processor settles them (tasks.ts): a
// process tree's thread name beats ftrace's, a process takes the latest of its names.
//
// Rows are written in batches through `insertMany` (one multi-row INSERT per 100 rows,
// several times faster than row by row in sql.js); the context adds the snapshot and source.
import type { ImportContext, ProcessFields, ThreadFields } from '../types.js';
import type { Int64 } from './wire.js';
import { MAX_CLONE_HOPS, TaskFacts, TREE_NAME, parentPid, type ProcessInstance, type Tasks } from './tasks.js';

/** Rows waiting for their thread's process, at most this many (then written with what is known). */
const MAX_PENDING = 100_000;
/** Rows per batch handed to the database. */
const BATCH_ROWS = 500;
/**
 * Packed rows per batch: more, as they cost one object whatever their number, and each batch is
 * a message from the trace worker (some 30 µs of its time each; a trace may hold millions).
 */
const PACKED_BATCH_ROWS = 4000;
/**
 * Packed rows of a table's first batch; each next one holds twice as many, up to
 * PACKED_BATCH_ROWS. The first rows reach the database thread sooner, and the path that writes
 * a batch has run before V8 optimizes the per-row code that calls it (when it had not, that
 * code was thrown away at the first write and optimized again: some 3 ms of the worker).
 */
const FIRST_PACKED_BATCH_ROWS = 250;

type Value = string | number | bigint | null;

/** One CPU's kernel ftrace buffer counters of an `ftrace_stats` packet (FtraceCpuStats). */
export interface FtraceCpuCounters {
  cpu: number;
  overrun: number;
  commitOverrun: number;
  droppedEvents: number;
}

/** The data-loss counters of a `trace_stats` packet, summed over the service's buffers. */
export interface ServiceLoss {
  chunksOverwritten: number;
  chunksDiscarded: number;
  writerPacketLoss: number;
  abiViolations: number;
  flushesFailed: number;
}

/** A thread row's process and name, as one string. */
const threadKey = ([, pid, name]: ThreadFields): string => (name === null || name === undefined ? `${pid}` : `${pid} ${name}`);

/**
 * A gralloc allocator process by its name or cmdline: the GLOBs of the view
 * `_dmabuf_gralloc_thread` (src/queries/android_dmabuf_allocs.sql), which decides.
 */
const GRALLOC_ALLOCATOR = /^\/vendor\/bin\/hw\/(android\.hardware\.graphics\.allocator|.*gralloc\.allocator)/s;

/**
 * Rows of one table waiting to be written: value arrays, and packed (src/db/packed.ts) for a
 * row of numbers and NULLs written by `packedRow`. The packed rows waiting are older than the
 * value arrays waiting (a packed row first writes what waits), and `flush` writes them first.
 */
class Batch {
  rows: Value[][] = [];
  /** Packed rows (`packedRows` of them), or null. */
  packed: Float64Array | null = null;
  packedRows = 0;
  /** Rows `packed` holds. */
  capacity = FIRST_PACKED_BATCH_ROWS;
  /** Index of the `pid` column (filled from the thread's process), or -1. */
  readonly pidIndex: number;

  constructor(
    readonly table: string,
    readonly columns: readonly string[],
  ) {
    this.pidIndex = columns.indexOf('pid');
  }
}

interface Pending {
  batch: Batch;
  values: Value[];
  tid: number;
}

const COLUMNS = {
  dma_heap_event: ['ts', 'inode', 'size_delta', 'heap_total', 'tid', 'pid'],
  dmabuf_rss_sample: ['ts', 'pid', 'rss_bytes', 'polled', 'tid', 'rss_delta', 'inode'],
  ion_heap_event: ['ts', 'origin', 'heap_name', 'buffer_id', 'size_delta', 'heap_total', 'reported_total', 'tid', 'pid'],
  gpu_mem_total_sample: ['ts', 'gpu_id', 'pid', 'size_bytes', 'origin'],
  trace_meminfo_sample: ['ts', 'counter', 'value_bytes'],
  binder_event: ['ts', 'tid', 'received', 'debug_id', 'reply', 'flags', 'to_proc', 'to_thread'],
} as const;

/** Reused pids a `pid_reused` diagnostic names, at most. */
const MAX_REUSED_NAMED = 20;

const INSTANCE_COLUMNS = ['pid', 'instance', 'start_ts', 'end_ts', 'reused', 'name', 'cmdline', 'ppid', 'uid', 'thread_name'] as const;

interface ProcInfo {
  name: string | null;
  cmdline: string | null;
  ppid: number | null;
  uid: number | null;
}

export type TraceFormat = 'perfetto' | 'systrace_text';

export class TraceSink {
  /** tid → tgid, from process trees and text TGID columns. */
  private readonly tgid = new Map<number, number>();
  /** The last name a process tree (or text capture) gave each thread, as read: the rows a tree posts (`treeRead`). */
  private readonly threadNames = new Map<number, string>();
  /** What the trace says about tasks, replayed in time order at the end for their names (tasks.ts). */
  private readonly facts = new TaskFacts();
  private readonly processes = new Map<number, ProcInfo>();
  /** Threads that emitted a stored event. */
  private readonly seenTids = new Set<number>();
  /** `pidOf` of the threads that emitted a stored event (NaN: unknown), until a thread or process changes. */
  private readonly pidCache = new Map<number, number>();
  /** Threads created during the trace: new tid → the thread that created it (same process). */
  private readonly clones = new Map<number, number>();
  /** Processes created during the trace (fork): pid → the thread that created it. */
  private readonly forks = new Map<number, number>();
  /** Threads renamed during the trace (task_rename). */
  private readonly renamed = new Set<number>();
  private pending: Pending[] = [];
  private pendingOverflow = false;
  /** Thread rows posted after a process tree (`treeRead`), as `threadKey` gives them. */
  private readonly postedThreads = new Map<number, string>();
  /** Processes posted after a process tree (without their names). */
  private readonly postedProcesses = new Set<number>();

  /**
   * Binder events stored in full, at most: past them, only those the gralloc attribution may
   * need are (see `binder`), the others counted in a `binder_events_thinned` diagnostic. Held in
   * memory until used (64 bytes each), a trace's binder events would grow without bound. Tests
   * lower it.
   */
  static maxBinderEvents = 2_000_000;
  private binderStored = 0;
  private binderThinned = 0;

  startTs: Int64 | null = null;
  endTs: Int64 | null = null;
  packets = 0;
  ftraceEvents = 0;
  storedEvents = 0;
  compressedPackets = 0;
  /** Ftrace events of ours without a timestamp or a pid: not read (`perfetto`). */
  unreadEvents = 0;
  /** Ftrace bundles with `lost_events` (`perfetto`), or lines reporting lost events (`systrace_text`). */
  lostEventBundles = 0;
  /** Per CPU, the counters of the last START_OF_TRACE and END_OF_TRACE `ftrace_stats` (`perfetto`). */
  private readonly ftraceStart = new Map<number, FtraceCpuCounters>();
  private readonly ftraceEnd = new Map<number, FtraceCpuCounters>();
  /** The service's counters from the last `trace_stats` packet (`perfetto`); null before one. */
  private serviceStats: ServiceLoss | null = null;
  /** Sequences (`trusted_packet_sequence_id`) a packet was seen on, and the last one. */
  private readonly sequences = new Set<number>();
  private lastSequence = -1;
  /** Packets marked `previous_packet_dropped` after an earlier packet of their sequence. */
  packetsDropped = 0;

  constructor(
    readonly ctx: ImportContext,
    private readonly format: TraceFormat,
  ) {}

  /** An `ftrace_stats` packet: its phase (1 START_OF_TRACE, 2 END_OF_TRACE; others are ignored, as Perfetto does) and per-CPU counters. */
  ftraceStats(phase: number, cpus: readonly FtraceCpuCounters[]): void {
    const into = phase === 1 ? this.ftraceStart : phase === 2 ? this.ftraceEnd : null;
    if (into) for (const c of cpus) into.set(c.cpu, c);
  }

  /** A `trace_stats` packet: the counters are cumulative, so the last packet's stand. */
  traceStats(stats: ServiceLoss): void {
    this.serviceStats = stats;
  }

  /**
   * A packet on sequence `seq` (`trusted_packet_sequence_id`), `dropped` when it carries
   * `previous_packet_dropped`: counted unless it is its sequence's first packet, which the
   * service always marks (as Perfetto counts `traced_buf_sequence_packet_loss`).
   */
  sequencePacket(seq: number, dropped: boolean): void {
    if (seq === this.lastSequence) {
      if (dropped) this.packetsDropped++;
      return;
    }
    if (this.sequences.has(seq)) {
      if (dropped) this.packetsDropped++;
    } else {
      this.sequences.add(seq);
    }
    this.lastSequence = seq;
  }

  /** Kernel ftrace buffer losses during the trace, END minus START per CPU summed (null: no such pair). */
  private ftraceLoss(): { overrun: number; dropped: number } | null {
    let pairs = 0;
    let overrun = 0;
    let dropped = 0;
    for (const [cpu, end] of this.ftraceEnd) {
      const start = this.ftraceStart.get(cpu);
      if (!start) continue;
      pairs++;
      overrun += Math.max(0, end.overrun - start.overrun) + Math.max(0, end.commitOverrun - start.commitOverrun);
      dropped += Math.max(0, end.droppedEvents - start.droppedEvents);
    }
    return pairs > 0 ? { overrun, dropped } : null;
  }

  /** Extend the trace bounds with a timestamp. */
  noteTs(ts: Int64): void {
    if (this.endTs === null || ts > this.endTs) this.endTs = ts;
    if (this.startTs === null || ts < this.startTs) this.startTs = ts;
  }

  // ---- threads and processes --------------------------------------------------------

  /**
   * When a fact without a time of its own happened: a text capture's line, or a packet without a
   * timestamp, at the latest time read so far, as Perfetto times a packet without one
   * (src/trace_processor/importers/proto/proto_trace_reader.cc @
   * 9c596adf5d9684ada0cee7fae3ebf6be975366a6: max(latest_timestamp_, sorter max_timestamp())).
   */
  get latestTs(): Int64 {
    return this.endTs ?? 0;
  }

  /**
   * A thread and (when known) its process, with its name when known: from a process tree at `ts`
   * (its packet's time), or from a text capture (no `ts`: its latest time; repeats are kept once).
   */
  thread(tid: number, tgid: number | null, name?: string | null, ts?: Int64): void {
    if (tgid !== null && tgid >= 0 && this.tgid.get(tid) !== tgid) {
      this.tgid.set(tid, tgid);
      this.pidCache.clear();
    }
    if (name) this.threadNames.set(tid, name);
    this.facts.thread(ts ?? this.latestTs, tid, tgid !== null && tgid >= 0 ? tgid : null, name || null, TREE_NAME, ts === undefined);
  }

  /**
   * A process of a process tree at `ts` (or of a text capture: no `ts`, as `thread`). Later
   * non-empty values win.
   */
  process(pid: number, info: Partial<ProcInfo>, ts?: Int64): void {
    if (!this.processes.has(pid)) this.pidCache.clear();
    const p = this.processes.get(pid) ?? { name: null, cmdline: null, ppid: null, uid: null };
    if (info.name) p.name = info.name;
    if (info.cmdline) p.cmdline = info.cmdline;
    if (info.ppid !== undefined && info.ppid !== null) p.ppid = info.ppid;
    if (info.uid !== undefined && info.uid !== null) p.uid = info.uid;
    this.processes.set(pid, p);
    this.facts.process(ts ?? this.latestTs, pid, info.name || null, info.cmdline || null, info.ppid ?? null, info.uid ?? null, ts === undefined);
  }

  /**
   * A process tree naming `pids` and `tids` has been read: post its processes and the threads
   * it gave a process, so that the database thread writes them while the trace decodes, and
   * `finish` only what changed since (a trace's process tree comes first; at its end, they were
   * some 10 ms of the wait for the database). The rows end the same: a thread's process and
   * name are what `finish` would write (its process is its tgid, which stays known), and a
   * process's name, which is the latest one and which the database's upsert would not put over
   * a longer earlier one, is left to `finish`. The work is that of the tree: a long trace may
   * hold thousands of small ones, each naming the tasks seen since the last.
   */
  treeRead(pids: readonly number[], tids: readonly number[]): void {
    const processes: [number, ProcessFields][] = [];
    for (const pid of pids) {
      const p = this.processes.get(pid);
      if (!p || this.postedProcesses.has(pid)) continue;
      this.postedProcesses.add(pid);
      processes.push([pid, { cmdline: p.cmdline, ppid: p.ppid, uid: p.uid }]);
    }
    if (processes.length > 0) this.ctx.processes(processes);
    const threads: ThreadFields[] = [];
    for (const tid of [...new Set(tids)].sort((a, b) => a - b)) {
      if (!this.tgid.has(tid)) continue;
      const row = this.threadRow(tid);
      const key = threadKey(row);
      if (this.postedThreads.get(tid) === key) continue;
      this.postedThreads.set(tid, key);
      threads.push(row);
    }
    if (threads.length > 0) this.ctx.threads(threads);
  }

  /** A thread row as a process tree posts it (`treeRead`): its name the tree's, `finish` settles it. */
  private threadRow(tid: number): ThreadFields {
    return [tid, this.pidOf(tid) ?? null, this.threadNames.get(tid) ?? null];
  }

  /** A task created at `ts` by thread `creator`: a thread of its process, or (`thread` false) a new process. */
  newTask(ts: Int64, creator: number, tid: number, comm: string | null, thread: boolean): void {
    this.pidCache.clear();
    if (thread) {
      this.clones.set(tid, creator);
      this.forks.delete(tid);
    } else {
      this.forks.set(tid, creator);
      this.clones.delete(tid);
    }
    this.facts.newTask(ts, creator, tid, comm || null, thread);
  }

  /** A task freed at `ts` (sched_process_free): it ended, and its process with it when it is the main thread. */
  taskFree(ts: Int64, tid: number): void {
    this.facts.free(ts, tid);
  }

  /** A thread's new name at `ts` (task_rename). */
  renameTask(ts: Int64, tid: number, comm: string | null): void {
    this.renamed.add(tid);
    this.facts.rename(ts, tid, comm || null);
  }

  /** The rows of `process_instance`: each process that held one of `pids`. */
  private instances(pids: Iterable<number>, tasks: Tasks): void {
    const rows: Value[][] = [];
    for (const pid of [...pids].sort((a, b) => a - b)) {
      const list = tasks.processes.get(pid) ?? [];
      for (const p of list) {
        rows.push([pid, p.index, p.start, p.end, list.length > 1 ? 1 : 0, p.name, p.cmdline, this.parentOf(p), p.uid, p.main?.name ?? null]);
      }
    }
    if (rows.length > 0) this.ctx.insertMany('process_instance', INSTANCE_COLUMNS, rows);
    const reused = [...pids].filter((pid) => (tasks.processes.get(pid)?.length ?? 0) > 1).sort((a, b) => a - b);
    if (reused.length > 0) {
      const show = reused.slice(0, MAX_REUSED_NAMED).map((pid) => {
        const held = tasks.processes.get(pid)!.map((p) => `${p.name ?? '?'}${p.start !== null ? ` from ${p.start}` : ''}${p.end !== null ? ` until ${p.end}` : ''}`);
        return `${pid} (${held.join('; ')})`;
      });
      const more = reused.length > MAX_REUSED_NAMED ? ` and ${reused.length - MAX_REUSED_NAMED} more` : '';
      this.ctx.diag(
        'info',
        'pid_reused',
        `${reused.length} pids were each held by more than one process during the trace, counted apart by the trace analyses (process_instance): ${show.join(', ')}${more}`,
      );
    }
  }

  /** The parent pid of a process: as the replay knows it, else the process of the thread that forked it as known now. */
  private parentOf(p: ProcessInstance): number | null {
    return parentPid(p) ?? (p.parent === null ? null : (this.pidOf(p.parent.tid) ?? null));
  }

  /** The thread row `finish` writes: its process, and its name as the replay settled it. */
  private finalThreadRow(tid: number, tasks: Tasks): ThreadFields {
    return [tid, this.pidOf(tid) ?? null, tasks.threadName(tid)];
  }

  /** Process of a thread, if known now. */
  pidOf(tid: number): number | undefined {
    let t = tid;
    for (let hops = 0; hops <= MAX_CLONE_HOPS; hops++) {
      const g = this.tgid.get(t);
      if (g !== undefined) return g;
      if (this.processes.has(t) || this.forks.has(t)) return t;
      const creator = this.clones.get(t);
      if (creator === undefined) return undefined;
      t = creator;
    }
    return undefined;
  }

  // ---- rows ---------------------------------------------------------------------------

  private readonly batches = {
    dma: new Batch('dma_heap_event', COLUMNS.dma_heap_event),
    rss: new Batch('dmabuf_rss_sample', COLUMNS.dmabuf_rss_sample),
    ion: new Batch('ion_heap_event', COLUMNS.ion_heap_event),
    gpu: new Batch('gpu_mem_total_sample', COLUMNS.gpu_mem_total_sample),
    meminfo: new Batch('trace_meminfo_sample', COLUMNS.trace_meminfo_sample),
    binder: new Batch('binder_event', COLUMNS.binder_event),
  };

  private add(batch: Batch, values: Value[]): void {
    this.storedEvents++;
    this.push(batch, values);
  }

  private push(batch: Batch, values: Value[]): void {
    batch.rows.push(values);
    if (batch.rows.length >= BATCH_ROWS) this.flush(batch);
  }

  /**
   * Make `batch.packed` ready for packed rows (the value arrays waiting, and a full batch, are
   * written first); returns how many more it takes.
   */
  private packedRoom(batch: Batch): number {
    if (batch.rows.length > 0 || batch.packedRows === batch.capacity) this.flush(batch);
    batch.packed ??= new Float64Array(batch.capacity * batch.columns.length);
    return batch.capacity - batch.packedRows;
  }

  /** Room for one more packed row in `batch.packed`: the offset of the row's first value. */
  private packedRow(batch: Batch): number {
    this.storedEvents++;
    this.packedRoom(batch);
    return batch.packedRows++ * batch.columns.length;
  }

  /**
   * The `pid` to write now in a row of thread `tid`: its process, null when unknown for good, or
   * undefined when the row is to wait for the process (see `addForThread`).
   */
  private rowPid(tid: number): number | null | undefined {
    let pid = this.pidCache.get(tid);
    if (pid === undefined) {
      this.seenTids.add(tid);
      pid = this.pidOf(tid) ?? NaN;
      this.pidCache.set(tid, pid);
    }
    if (pid === pid) return pid;
    return this.pendingOverflow ? null : undefined;
  }

  /** Add a row whose `pid` is the process of thread `tid` (deferred while unknown). */
  private addForThread(batch: Batch, values: Value[], tid: number): void {
    this.addWithPid(batch, values, tid, this.rowPid(tid));
  }

  /** `addForThread` once `rowPid(tid)` is known. */
  private addWithPid(batch: Batch, values: Value[], tid: number, pid: number | null | undefined): void {
    if (pid !== undefined) {
      values[batch.pidIndex] = pid;
      this.add(batch, values);
      return;
    }
    this.storedEvents++;
    this.pending.push({ batch, values, tid });
    if (this.pending.length >= MAX_PENDING) {
      // Too many threads without a process yet: write what is known and stop deferring.
      this.pendingOverflow = true;
      this.flushPending();
    }
  }

  private flush(batch: Batch): void {
    if (batch.packed !== null) {
      const rows = batch.packedRows === batch.capacity ? batch.packed : batch.packed.slice(0, batch.packedRows * batch.columns.length);
      batch.packed = null;
      batch.packedRows = 0;
      batch.capacity = Math.min(2 * batch.capacity, PACKED_BATCH_ROWS);
      this.ctx.insertMany(batch.table, batch.columns, rows);
    }
    const rows = batch.rows;
    if (rows.length === 0) return;
    batch.rows = [];
    this.ctx.insertMany(batch.table, batch.columns, rows);
  }

  private flushPending(): void {
    const pending = this.pending;
    this.pending = [];
    for (const p of pending) {
      p.values[p.batch.pidIndex] = this.pidOf(p.tid) ?? null;
      this.push(p.batch, p.values);
    }
  }

  dmaHeap(ts: Int64, tid: number, inode: Int64, len: Int64, total: Int64 | null): void {
    const batch = this.batches.dma;
    const pid = this.rowPid(tid);
    if (pid === undefined || typeof ts !== 'number' || typeof inode !== 'number' || typeof len !== 'number' || typeof total === 'bigint') {
      this.addWithPid(batch, [ts, inode, len, total, tid, null], tid, pid);
      return;
    }
    // The usual row, packed in COLUMNS.dma_heap_event order: no array and no boxed number per
    // event (a trace may hold millions).
    const o = this.packedRow(batch);
    const a = batch.packed!;
    a[o] = ts;
    a[o + 1] = inode;
    a[o + 2] = len;
    a[o + 3] = total ?? NaN;
    a[o + 4] = tid;
    a[o + 5] = pid ?? NaN;
  }

  /** A `dmabuf_rss_stat` ftrace event (the thread's process is the one whose RSS changed). */
  rssEvent(ts: Int64, tid: number, rss: Int64, delta: Int64 | null, inode: Int64 | null): void {
    const batch = this.batches.rss;
    const pid = this.rowPid(tid);
    if (pid === undefined || typeof ts !== 'number' || typeof rss !== 'number' || typeof delta === 'bigint' || typeof inode === 'bigint') {
      this.addWithPid(batch, [ts, null, rss, 0, tid, delta, inode], tid, pid);
      return;
    }
    // Packed in COLUMNS.dmabuf_rss_sample order, as dma_heap_event rows are.
    const o = this.packedRow(batch);
    const a = batch.packed!;
    a[o] = ts;
    a[o + 1] = pid ?? NaN;
    a[o + 2] = rss;
    a[o + 3] = 0;
    a[o + 4] = tid;
    a[o + 5] = delta ?? NaN;
    a[o + 6] = inode ?? NaN;
  }

  /** A `process_stats` sample of a process's DMA-BUF RSS. */
  rssPolled(ts: Int64, pid: number, rssBytes: Int64): void {
    this.add(this.batches.rss, [ts, pid, rssBytes, 1, null, null, null]);
  }

  ion(
    ts: Int64,
    tid: number,
    origin: 'ion_heap_grow' | 'ion_heap_shrink' | 'ion_stat',
    heapName: string | null,
    bufferId: number | null,
    delta: Int64,
    total: Int64 | null,
    reported: Int64 | null,
  ): void {
    this.addForThread(
      this.batches.ion,
      [ts, origin, heapName, bufferId, delta, total, reported, tid, null],
      tid,
    );
  }

  gpuMemTotal(ts: Int64, gpuId: number | null, pid: number, size: Int64, origin: 'gpu_mem_total' | 'gpu_mem_total_event'): void {
    this.add(this.batches.gpu, [ts, gpuId, pid, size, origin]);
  }

  meminfo(ts: Int64, counter: string, bytes: Int64): void {
    this.add(this.batches.meminfo, [ts, counter, bytes]);
  }

  binderTransaction(ts: Int64, tid: number, debugId: number, reply: number, flags: number, toProc: number | null, toThread: number | null): void {
    this.binder(ts, tid, 0, debugId, reply, flags, toProc ?? NaN, toThread ?? NaN);
  }

  binderReceived(ts: Int64, tid: number, debugId: number): void {
    this.binder(ts, tid, 1, debugId, NaN, NaN, NaN, NaN);
  }

  /** A binder_event row (NaN for NULL), packed unless its timestamp is a bigint (a trace may hold millions). */
  binder(ts: Int64, tid: number, received: number, debugId: number, reply: number, flags: number, toProc: number, toThread: number): void {
    if (this.binderStored >= TraceSink.maxBinderEvents && !this.mayServeGralloc(tid, toProc)) {
      this.binderThinned++;
      return;
    }
    this.binderStored++;
    this.seenTids.add(tid);
    const batch = this.batches.binder;
    if (typeof ts !== 'number') {
      const n = (v: number) => (v === v ? v : null);
      this.add(batch, [ts, tid, received, debugId, n(reply), n(flags), n(toProc), n(toThread)]);
      return;
    }
    const o = this.packedRow(batch);
    const a = batch.packed!;
    a[o] = ts;
    a[o + 1] = tid;
    a[o + 2] = received;
    a[o + 3] = debugId;
    a[o + 4] = reply;
    a[o + 5] = flags;
    a[o + 6] = toProc;
    a[o + 7] = toThread;
  }

  /**
   * `binder` for `count` rows of `rows`, laid out as `binder_event` rows are packed (ts, tid,
   * received, debug_id, reply, flags, to_proc, to_thread; NaN for NULL; exact integers): copied
   * a run at a time while every binder event is stored.
   */
  binderRows(rows: Float64Array, count: number): void {
    const batch = this.batches.binder;
    const width = batch.columns.length;
    let i = 0;
    while (i < count && this.binderStored < TraceSink.maxBinderEvents) {
      const n = Math.min(count - i, this.packedRoom(batch), TraceSink.maxBinderEvents - this.binderStored);
      batch.packed!.set(rows.subarray(i * width, (i + n) * width), batch.packedRows * width);
      for (let k = 0, o = i * width + 1; k < n; k++, o += width) this.seenTids.add(rows[o]);
      batch.packedRows += n;
      this.storedEvents += n;
      this.binderStored += n;
      i += n;
    }
    // Past the limit, thinned one by one.
    for (let o = i * width; i < count; i++, o += width) {
      this.binder(rows[o], rows[o + 1], rows[o + 2], rows[o + 3], rows[o + 4], rows[o + 5], rows[o + 6], rows[o + 7]);
    }
  }

  /**
   * Whether a binder event of thread `tid`, sent to process `toProc` (NaN: none), may count for
   * the gralloc attribution: the process of either is an allocator, or is not named yet.
   */
  private mayServeGralloc(tid: number, toProc: number): boolean {
    const pid = this.pidOf(tid);
    return pid === undefined || this.maybeAllocator(pid) || (toProc === toProc && this.maybeAllocator(toProc));
  }

  private maybeAllocator(pid: number): boolean {
    const p = this.processes.get(pid);
    if (!p || (!p.name && !p.cmdline)) return true;
    return GRALLOC_ALLOCATOR.test(p.name ?? '') || GRALLOC_ALLOCATOR.test(p.cmdline ?? '');
  }

  /** Write deferred rows, threads, processes and the trace_info row. */
  finish(): void {
    this.flushPending();
    for (const b of Object.values(this.batches)) this.flush(b);
    const tasks = this.facts.replay();
    // Processes: those described, known as some thread's tgid, or seen forked; each as the last
    // process that held its pid (of a pid several held, that one's fields alone: a process tree
    // may have posted an earlier one's, `treeRead`).
    const pids = new Set<number>([...this.processes.keys(), ...this.tgid.values(), ...this.forks.keys()]);
    const processes: [number, ProcessFields][] = [];
    for (const pid of pids) {
      const p = tasks.lastProcess(pid);
      const f: ProcessFields = p === undefined ? {} : { name: p.name, cmdline: p.cmdline, ppid: this.parentOf(p), uid: p.uid };
      if (p !== undefined && (tasks.processes.get(pid)?.length ?? 0) > 1) f.replace = true;
      processes.push([pid, f]);
    }
    this.ctx.processes(processes);
    this.instances(pids, tasks);
    // Threads: those the trace described or saw created, and those that emitted a stored event
    // (but for those posted already as they are).
    const tids = new Set<number>([...this.tgid.keys(), ...this.threadNames.keys(), ...this.seenTids, ...this.clones.keys(), ...this.forks.keys(), ...this.renamed]);
    this.ctx.threads(
      [...tids]
        .sort((a, b) => a - b)
        .map((tid) => this.finalThreadRow(tid, tasks))
        .filter((row) => this.postedThreads.get(row[0]) !== threadKey(row)),
    );
    const ftrace = this.ftraceLoss();
    const service = this.serviceStats;
    this.ctx.insert('trace_info', {
      format: this.format,
      start_ts: this.startTs,
      end_ts: this.endTs,
      packets: this.packets,
      ftrace_events: this.ftraceEvents,
      stored_events: this.storedEvents,
      compressed_packets: this.compressedPackets,
      lost_event_bundles: this.lostEventBundles,
      ftrace_overrun: ftrace?.overrun ?? null,
      ftrace_dropped_events: ftrace?.dropped ?? null,
      chunks_overwritten: service?.chunksOverwritten ?? null,
      chunks_discarded: service?.chunksDiscarded ?? null,
      writer_packet_loss: service?.writerPacketLoss ?? null,
      abi_violations: service?.abiViolations ?? null,
      flushes_failed: service?.flushesFailed ?? null,
      packets_dropped: this.packetsDropped,
    });
    const reports: string[] = [];
    if (this.lostEventBundles > 0) {
      reports.push(
        this.format === 'perfetto'
          ? `${this.lostEventBundles} ftrace bundles report lost events (the kernel ring buffer overran)`
          : `${this.lostEventBundles} lines of the capture report lost events (the kernel ring buffer overran: \`CPU:n [LOST m EVENTS]\`, \`##### CPU n buffer started ####\`, a header counting more entries written than kept)`,
      );
    }
    if (ftrace && ftrace.overrun > 0) reports.push(`the kernel's ftrace ring buffers overwrote ${ftrace.overrun} events during the trace (ftrace_stats overrun)`);
    if (ftrace && ftrace.dropped > 0) reports.push(`the kernel's ftrace ring buffers, full, dropped ${ftrace.dropped} events during the trace (ftrace_stats dropped_events)`);
    if (service) {
      const s = service;
      // chunks_overwritten is not one: a ring buffer (the bugreport's trace) overwrites its oldest
      // data, so the trace starts later; no free of an allocation it shows goes missing for it.
      if (s.chunksDiscarded > 0) reports.push(`the tracing service discarded ${s.chunksDiscarded} chunks of trace data (trace_stats chunks_discarded)`);
      if (s.writerPacketLoss > 0) reports.push(`producers lost ${s.writerPacketLoss} packets before the service got them (trace_stats trace_writer_packet_loss)`);
      if (s.abiViolations > 0) reports.push(`the tracing service dropped data of ${s.abiViolations} shared-memory protocol violations (trace_stats abi_violations)`);
      if (s.flushesFailed > 0) reports.push(`${s.flushesFailed} flushes failed, losing what producers held then (trace_stats flushes_failed)`);
    }
    if (this.packetsDropped > 0) reports.push(`${this.packetsDropped} packets follow lost packets of their sequence (previous_packet_dropped)`);
    if (reports.length > 0) this.ctx.diag('warning', 'trace_lost_events', `${reports.join('; ')}: allocations and frees may be missing`);
    if (this.unreadEvents > 0) {
      this.ctx.diag(
        'warning',
        'malformed_event',
        `${this.unreadEvents} ftrace events of those this tool reads had no timestamp or no pid (the thread that emitted them) and were not read, as Perfetto reads none`,
      );
    }
    if (this.binderThinned > 0) {
      this.ctx.diag(
        'info',
        'binder_events_thinned',
        `${this.binderThinned} binder events between processes other than the gralloc allocator were not stored (past the first ${TraceSink.maxBinderEvents} of the trace)`,
      );
    }
    if (this.storedEvents === 0) {
      this.ctx.diag('info', 'no_dmabuf_events', 'the trace holds no DMA-BUF, ION, GPU memory or binder event this tool reads');
    }
  }
}
