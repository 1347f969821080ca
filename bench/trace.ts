// Synthetic Perfetto trace for the benchmark: real Perfetto framing (a `Trace` of
// `TracePacket`s), written with protobufjs's Writer using the field numbers of our trimmed
// schema (proto/perfetto_trimmed.proto). Content, like a scheduler-heavy system trace:
// a process tree first, then per-CPU ftrace bundles of mostly `sched_switch` and `print`
// (atrace) events, each bundle also carrying a `compact_sched` block, and 1% (by count of
// ftrace events) `dma_heap_stat` allocations and frees. The compressed variant groups
// packets into `compressed_packets` (zlib), as traced's deflate compression does. On request,
// some events are binder transactions, their arrivals and replies (a busy device sends thousands
// a second, one in fifty here to the gralloc allocator) and `dmabuf_rss_stat` changes, as real
// traces of DMA-BUF use hold.
// Deterministic (seeded); streamed to disk, never held whole.
import fs from 'node:fs';
import zlib from 'node:zlib';
import protobuf from 'protobufjs';
import { perfettoTypes } from '../src/importers/perfetto/proto.js';
import { Rng } from '../test/fixtures/generate-scenario.js';

const WT_VARINT = 0;
const WT_LEN = 2;

/** Bytes of packets grouped into one `compressed_packets` packet (before compression). */
const COMPRESS_GROUP_BYTES = 512 * 1024;
/** Regular ftrace events per bundle. */
const EVENTS_PER_BUNDLE = 256;
/** Switches in each bundle's compact_sched block. */
const COMPACT_SWITCHES = 192;
const CPUS = 8;

/** Field numbers, read from the trimmed schema so the generator and the importer agree. */
function fieldIds() {
  const T = perfettoTypes();
  const id = (type: protobuf.Type, name: string) => {
    // protobufjs keys fields by their camelCase name.
    const f = type.fields[name.replace(/_([a-z])/g, (_m, c: string) => c.toUpperCase())];
    if (!f) throw new Error(`${type.name} has no field ${name}`);
    return f.id;
  };
  const root = T.root;
  const look = (n: string) => root.lookupType(`perfetto.protos.${n}`);
  const compact = look('FtraceEventBundle.CompactSched');
  return {
    tracePacket: id(T.Trace, 'packet'),
    ftraceEvents: id(T.TracePacket, 'ftrace_events'),
    timestamp: id(T.TracePacket, 'timestamp'),
    seqId: id(T.TracePacket, 'trusted_packet_sequence_id'),
    compressed: id(T.TracePacket, 'compressed_packets'),
    bundleCpu: id(T.FtraceEventBundle, 'cpu'),
    bundleEvent: id(T.FtraceEventBundle, 'event'),
    bundleCompact: id(T.FtraceEventBundle, 'compact_sched'),
    evTs: id(T.FtraceEvent, 'timestamp'),
    evPid: id(T.FtraceEvent, 'pid'),
    evPrint: id(T.FtraceEvent, 'print'),
    evSched: id(T.FtraceEvent, 'sched_switch'),
    evDma: id(T.FtraceEvent, 'dma_heap_stat'),
    evBinder: id(T.FtraceEvent, 'binder_transaction'),
    evBinderReceived: id(T.FtraceEvent, 'binder_transaction_received'),
    evRss: id(T.FtraceEvent, 'dmabuf_rss_stat'),
    csTs: id(compact, 'switch_timestamp'),
    csState: id(compact, 'switch_prev_state'),
    csPid: id(compact, 'switch_next_pid'),
    csPrio: id(compact, 'switch_next_prio'),
    csIntern: id(compact, 'intern_table'),
    csComm: id(compact, 'switch_next_comm_index'),
  };
}

interface Proc {
  pid: number;
  name: string;
  threads: { tid: number; name: string }[];
}

const PROC_NAMES = [
  '/system/bin/surfaceflinger',
  'system_server',
  '/vendor/bin/hw/android.hardware.graphics.allocator-service',
  'com.android.systemui',
  'com.google.android.apps.camera',
  'com.android.launcher3',
  '/system/bin/cameraserver',
  'com.google.android.youtube',
  '/vendor/bin/hw/android.hardware.graphics.composer3-service',
  'com.android.chrome',
];
const THREAD_NAMES = ['RenderThread', 'binder:%d_1', 'binder:%d_2', 'HwBinder:%d_1', 'GLThread', 'Jit thread pool', 'hwuiTask0', 'FinalizerDaemon'];

function makeProcesses(rand: () => number): Proc[] {
  const procs: Proc[] = [];
  let nextTid = 1000;
  for (let i = 0; i < 160; i++) {
    const pid = nextTid++;
    const name = i < PROC_NAMES.length ? PROC_NAMES[i] : `com.example.app${i}`;
    const threads = [{ tid: pid, name: name.split('/').pop()!.slice(0, 15) }];
    const n = 1 + Math.floor(rand() * 12);
    for (let t = 0; t < n; t++) {
      threads.push({ tid: nextTid++, name: THREAD_NAMES[t % THREAD_NAMES.length].replace('%d', String(pid)).slice(0, 15) });
    }
    procs.push({ pid, name, threads });
  }
  return procs;
}

export interface SyntheticTraceOptions {
  compressed: boolean;
  /** Share of the ftrace events that are binder transactions, arrivals and replies (default 0). */
  binder?: number;
  /** Share that are `dmabuf_rss_stat` events (default 0). */
  rss?: number;
}

/**
 * Write a synthetic trace of about `targetBytes` (bytes of packets, before compression for the
 * compressed variant) to `path`. Returns how many `dma_heap_stat` events it holds. Without
 * binder or RSS events the trace is the same for the same size whatever the options' version.
 */
export async function writeSyntheticTrace(path: string, targetBytes: number, opts: SyntheticTraceOptions): Promise<{ dmaHeapEvents: number }> {
  const binderShare = opts.binder ?? 0;
  const rssShare = opts.rss ?? 0;
  const F = fieldIds();
  const T = perfettoTypes();
  const seeded = new Rng(0x5eed);
  const rand = () => seeded.next();
  const procs = makeProcesses(rand);
  const threads = procs.flatMap((p) => p.threads.map((t) => ({ ...t, pid: p.pid })));
  const fd = fs.openSync(path, 'w');
  let written = 0;
  let group: Uint8Array[] = [];
  let groupBytes = 0;

  const out = (bytes: Uint8Array) => {
    let off = 0;
    while (off < bytes.length) off += fs.writeSync(fd, bytes, off, bytes.length - off);
  };
  const flushGroup = () => {
    if (group.length === 0) return;
    const deflated = zlib.deflateSync(Buffer.concat(group));
    const w = protobuf.Writer.create();
    w.uint32((F.tracePacket << 3) | WT_LEN).fork();
    w.uint32((F.compressed << 3) | WT_LEN).bytes(deflated);
    w.ldelim();
    out(w.finish());
    group = [];
    groupBytes = 0;
  };
  /** One serialized `Trace.packet` field. */
  const emit = (packetField: Uint8Array) => {
    written += packetField.length;
    if (!opts.compressed) {
      out(packetField);
      return;
    }
    group.push(packetField);
    groupBytes += packetField.length;
    if (groupBytes >= COMPRESS_GROUP_BYTES) flushGroup();
  };

  try {
    // The process tree, encoded from plain objects against the schema.
    emit(
      T.Trace.encode(
        T.Trace.create({
          packet: [
            {
              timestamp: 1_000_000,
              trustedPacketSequenceId: 1,
              processTree: {
                processes: procs.map((p) => ({ pid: p.pid, ppid: 1, cmdline: [p.name], uid: 10000 + (p.pid % 1000) })),
                threads: threads.filter((t) => t.tid !== t.pid).map((t) => ({ tid: t.tid, tgid: t.pid, name: t.name })),
              },
            },
          ],
        }),
      ).finish(),
    );

    let ts = 5_000_000_000;
    let cpu = 0;
    let dmaHeapEvents = 0;
    let eventCount = 0;
    let heapTotal = 0;
    let nextInode = 10_000;
    const live: { inode: number; len: number }[] = [];
    const comms = threads.slice(0, 64).map((t) => t.name);
    const allocator = procs.find((p) => p.name.includes('graphics.allocator'))!;
    let debugId = 0;
    /** Events to write next (thread, payload): a transaction's arrival and reply. */
    const follow: [number, (w: protobuf.Writer) => void][] = [];

    while (written < targetBytes) {
      // A fresh writer per packet: protobufjs's Writer keeps its content after finish().
      const w = protobuf.Writer.create();
      // packet { ftrace_events { cpu, event*, compact_sched } }
      w.uint32((F.tracePacket << 3) | WT_LEN).fork();
      w.uint32((F.seqId << 3) | WT_VARINT).uint32(2 + cpu);
      w.uint32((F.ftraceEvents << 3) | WT_LEN).fork();
      w.uint32((F.bundleCpu << 3) | WT_VARINT).uint32(cpu);
      for (let i = 0; i < EVENTS_PER_BUNDLE; i++) {
        ts += 1 + Math.floor(rand() * 20_000);
        if (follow.length > 0) {
          // What a transaction calls for: its arrival in a thread of its destination, that thread's reply.
          const [tid, payload] = follow.shift()!;
          eventCount++;
          w.uint32((F.bundleEvent << 3) | WT_LEN).fork();
          w.uint32((F.evTs << 3) | WT_VARINT).uint64(ts);
          w.uint32((F.evPid << 3) | WT_VARINT).uint32(tid);
          payload(w);
          w.ldelim();
          continue;
        }
        const th = threads[Math.floor(rand() * threads.length)];
        eventCount++;
        w.uint32((F.bundleEvent << 3) | WT_LEN).fork();
        w.uint32((F.evTs << 3) | WT_VARINT).uint64(ts);
        w.uint32((F.evPid << 3) | WT_VARINT).uint32(th.tid);
        if (eventCount % 100 === 0) {
          // dma_heap_stat: allocate a new buffer, or free a live one.
          let inode: number;
          let len: number;
          if (live.length > 0 && rand() < 0.48) {
            const k = Math.floor(rand() * live.length);
            const b = live[k];
            live[k] = live[live.length - 1];
            live.pop();
            inode = b.inode;
            len = -b.len;
          } else {
            inode = nextInode++;
            len = 4096 * (1 + Math.floor(rand() * 2048));
            live.push({ inode, len });
          }
          heapTotal += len;
          dmaHeapEvents++;
          w.uint32((F.evDma << 3) | WT_LEN).fork();
          w.uint32((1 << 3) | WT_VARINT).uint64(inode);
          w.uint32((2 << 3) | WT_VARINT).int64(len);
          w.uint32((3 << 3) | WT_VARINT).uint64(heapTotal);
          w.ldelim();
        } else if (binderShare + rssShare > 0 && rand() < binderShare + rssShare) {
          if (rand() < rssShare / (binderShare + rssShare)) {
            w.uint32((F.evRss << 3) | WT_LEN).fork();
            w.uint32((1 << 3) | WT_VARINT).uint64(4096 * (1 + Math.floor(rand() * 100_000)));
            w.uint32((2 << 3) | WT_VARINT).int64(rand() < 0.5 ? 4096 : -4096);
            w.uint32((3 << 3) | WT_VARINT).uint64(nextInode - Math.floor(rand() * 100));
            w.ldelim();
          } else {
            // A synchronous transaction (one in fifty to the gralloc allocator), or a one-way one.
            const to = rand() < 0.02 ? allocator : procs[Math.floor(rand() * procs.length)];
            const id = ++debugId;
            const oneWay = rand() < 0.1;
            const transaction = (reply: boolean, toTid: number, flags: number) => (x: protobuf.Writer) => {
              x.uint32((F.evBinder << 3) | WT_LEN).fork();
              x.uint32((1 << 3) | WT_VARINT).int32(reply ? id + 1 : id);
              x.uint32((2 << 3) | WT_VARINT).int32(reply ? 0 : 100 + (to.pid % 50));
              x.uint32((3 << 3) | WT_VARINT).int32(reply ? th.pid : to.pid);
              x.uint32((4 << 3) | WT_VARINT).int32(toTid);
              x.uint32((5 << 3) | WT_VARINT).int32(reply ? 1 : 0);
              x.uint32((6 << 3) | WT_VARINT).uint32(reply ? 0 : 1 + (id % 30));
              x.uint32((7 << 3) | WT_VARINT).uint32(flags);
              x.ldelim();
            };
            transaction(false, 0, oneWay ? 17 : 16)(w);
            const server = to.threads[Math.floor(rand() * to.threads.length)].tid;
            follow.push([server, (x) => x.uint32((F.evBinderReceived << 3) | WT_LEN).fork().uint32((1 << 3) | WT_VARINT).int32(id).ldelim()]);
            if (!oneWay) {
              debugId++;
              follow.push([server, transaction(true, th.tid, 16)]);
            }
          }
        } else if (rand() < 0.7) {
          const next = threads[Math.floor(rand() * threads.length)];
          w.uint32((F.evSched << 3) | WT_LEN).fork();
          w.uint32((1 << 3) | WT_LEN).string(th.name);
          w.uint32((2 << 3) | WT_VARINT).int32(th.tid);
          w.uint32((3 << 3) | WT_VARINT).int32(120);
          w.uint32((4 << 3) | WT_VARINT).int64(rand() < 0.5 ? 1 : 0);
          w.uint32((5 << 3) | WT_LEN).string(next.name);
          w.uint32((6 << 3) | WT_VARINT).int32(next.tid);
          w.uint32((7 << 3) | WT_VARINT).int32(rand() < 0.9 ? 120 : 97);
          w.ldelim();
        } else {
          w.uint32((F.evPrint << 3) | WT_LEN).fork();
          w.uint32((1 << 3) | WT_VARINT).uint64(0x7f_0812_0000 + Math.floor(rand() * 4096));
          w.uint32((2 << 3) | WT_LEN).string(rand() < 0.5 ? `B|${th.pid}|Choreographer#doFrame ${ts % 100000}` : 'E|' + th.pid);
          w.ldelim();
        }
        w.ldelim();
      }
      // compact_sched { intern_table*, switch_timestamp[], switch_prev_state[], switch_next_pid[], switch_next_prio[], switch_next_comm_index[] }
      w.uint32((F.bundleCompact << 3) | WT_LEN).fork();
      for (const c of comms.slice(0, 16)) w.uint32((F.csIntern << 3) | WT_LEN).string(c);
      const packed = (field: number, gen: () => number, signed: boolean) => {
        w.uint32((field << 3) | WT_LEN).fork();
        for (let i = 0; i < COMPACT_SWITCHES; i++) {
          if (signed) w.int64(gen());
          else w.uint64(gen());
        }
        w.ldelim();
      };
      packed(F.csTs, () => 1 + Math.floor(rand() * 50_000), false);
      packed(F.csState, () => (rand() < 0.5 ? 1 : 0), true);
      packed(F.csPid, () => threads[Math.floor(rand() * threads.length)].tid, true);
      packed(F.csPrio, () => 120, true);
      packed(F.csComm, () => Math.floor(rand() * 16), false);
      w.ldelim();
      w.ldelim(); // ftrace_events
      w.ldelim(); // packet
      emit(w.finish());
      cpu = (cpu + 1) % CPUS;
    }
    if (opts.compressed) flushGroup();
    return { dmaHeapEvents };
  } finally {
    fs.closeSync(fd);
  }
}
