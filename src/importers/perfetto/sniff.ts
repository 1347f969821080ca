// Content detection of a Perfetto trace: is the head of a file a sequence of `Trace.packet`
// fields? Used by the importer's sniff and to start decoding a large trace file early.
import { MAX_PACKET_BYTES } from './framer.js';
import { parseHeader, WT_I32, WT_I64, WT_LEN, WT_VARINT } from './wire.js';

/** TracePacket fields a real trace's first packets carry, with their wire type. */
const KNOWN_PACKET_FIELDS = new Map<number, number>([
  [1, WT_LEN], // ftrace_events
  [2, WT_LEN], // process_tree
  [6, WT_LEN], // clock_snapshot
  [7, WT_LEN], // sys_stats
  [8, WT_VARINT], // timestamp
  [9, WT_LEN], // process_stats
  [10, WT_VARINT], // trusted_packet_sequence_id
  [11, WT_LEN], // track_event
  [12, WT_LEN], // interned_data
  [13, WT_VARINT], // sequence_flags
  [33, WT_LEN], // trace_config
  [35, WT_LEN], // trace_stats
  [36, WT_LEN], // synchronization_marker
  [41, WT_VARINT], // incremental_state_cleared
  [42, WT_VARINT], // previous_packet_dropped
  [45, WT_LEN], // system_info
  [46, WT_LEN], // trigger
  [50, WT_LEN], // compressed_packets
  [58, WT_VARINT], // timestamp_clock_id
  [60, WT_LEN], // track_descriptor
  [71, WT_LEN], // gpu_mem_total_event
  [79, WT_VARINT], // trusted_pid
  [87, WT_VARINT], // first_packet_on_sequence
  [91, WT_LEN], // service_event
  [133, WT_LEN], // zstd_compressed_packets
]);

/**
 * Content detection: the head is a sequence of `Trace.packet` fields (tag 0x0A, a plausible
 * length) whose contents parse as protobuf fields, at least one of them a TracePacket field
 * with its proper wire type; a head of printable text is refused.
 */
export function looksLikePerfettoTrace(head: Uint8Array): boolean {
  if (head.length < 2 || head[0] !== 0x0a) return false;
  if (isPrintableText(head)) return false;
  const h = { tag: 0, value: 0 };
  let pos = 0;
  let packets = 0;
  let known = false;
  // Valid packets from the start; a corrupt packet further on ends the scan (the importer
  // reports it), but a single valid packet must reach the end of the head.
  let reachedEnd = false;
  while (packets < 64) {
    if (pos >= head.length) {
      reachedEnd = true;
      break;
    }
    const r = parseHeader(head, pos, head.length, h);
    if (r === -1) {
      reachedEnd = true; // cut by the end of the head
      break;
    }
    if (r === -2 || h.tag !== 0x0a || h.value > MAX_PACKET_BYTES) break;
    const s = pos + r;
    const full = s + h.value <= head.length;
    const v = validatePacket(head, s, full ? s + h.value : head.length, !full);
    if (v < 0) break;
    if (v > 0) known = true;
    packets++;
    pos = s + h.value;
  }
  return known && (packets >= 2 || (packets === 1 && reachedEnd));
}

/** -1: not a packet; 0: valid fields, none known; 1: valid with a known TracePacket field. */
function validatePacket(buf: Uint8Array, s: number, e: number, partial: boolean): number {
  const h = { tag: 0, value: 0 };
  let pos = s;
  let known = 0;
  while (pos < e) {
    const r = parseHeader(buf, pos, e, h);
    if (r === -1) return partial ? known : -1;
    if (r === -2) return -1;
    const field = h.tag >>> 3;
    const wt = h.tag & 7;
    if (field === 0) return -1;
    pos += r;
    if (wt === WT_LEN) pos += h.value;
    else if (wt === WT_I64) pos += 8;
    else if (wt === WT_I32) pos += 4;
    else if (wt !== WT_VARINT) return -1;
    if (pos > e && !partial) return -1;
    if (KNOWN_PACKET_FIELDS.get(field) === wt) known = 1;
  }
  return known;
}

function isPrintableText(b: Uint8Array): boolean {
  const n = Math.min(b.length, 4096);
  for (let i = 0; i < n; i++) {
    const c = b[i];
    if (c < 0x20 ? c !== 0x09 && c !== 0x0a && c !== 0x0d : c > 0x7e) return false;
  }
  return true;
}
