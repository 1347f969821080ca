// The trimmed Perfetto schema (proto/perfetto_trimmed.proto) loaded with protobufjs. The
// importer decodes rare packets (process stats, sys stats, GPU memory totals, generic events)
// with it; tests and the benchmark build traces with it. The hot path (framing, ftrace
// bundles) and the process tree, the first packet of nearly every trace, do not use it (see
// decoder.ts): protobufjs is loaded when a trace first needs it (loading it and compiling the
// schema take some 40 ms).
import { createRequire } from 'node:module';
import type protobuf from 'protobufjs';
import { packagePath } from '../../paths.js';

/** Path of the trimmed schema inside the package. */
const PROTO_PATH = packagePath('proto', 'perfetto_trimmed.proto');

export interface PerfettoTypes {
  root: protobuf.Root;
  Trace: protobuf.Type;
  TracePacket: protobuf.Type;
  FtraceEventBundle: protobuf.Type;
  FtraceEvent: protobuf.Type;
  ProcessTree: protobuf.Type;
  ProcessStats: protobuf.Type;
  SysStats: protobuf.Type;
  GpuMemTotalEvent: protobuf.Type;
  GenericFtraceEvent: protobuf.Type;
}

// The schema is immutable: loading it once per process is safe with any number of sessions.
let types: PerfettoTypes | undefined;

/** The trimmed schema's message types (loaded on first use). */
export function perfettoTypes(): PerfettoTypes {
  if (!types) {
    const pb = createRequire(import.meta.url)('protobufjs') as typeof protobuf;
    const root = pb.loadSync(PROTO_PATH);
    const t = (name: string) => root.lookupType(`perfetto.protos.${name}`);
    types = {
      root,
      Trace: t('Trace'),
      TracePacket: t('TracePacket'),
      FtraceEventBundle: t('FtraceEventBundle'),
      FtraceEvent: t('FtraceEvent'),
      ProcessTree: t('ProcessTree'),
      ProcessStats: t('ProcessStats'),
      SysStats: t('SysStats'),
      GpuMemTotalEvent: t('GpuMemTotalEvent'),
      GenericFtraceEvent: t('GenericFtraceEvent'),
    };
  }
  return types;
}

/** A protobufjs integer field (number, or a Long for 64-bit fields) as a number or bigint. */
export function longValue(v: unknown): number | bigint | null {
  if (v === null || v === undefined) return null;
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return v;
  if (typeof v === 'string') return Number.isSafeInteger(Number(v)) ? Number(v) : BigInt(v);
  const l = v as { low: number; high: number; unsigned?: boolean; toString(): string };
  if (typeof l.low === 'number' && typeof l.high === 'number') {
    const s = l.toString();
    const n = Number(s);
    return Number.isSafeInteger(n) ? n : BigInt(s);
  }
  return null;
}
