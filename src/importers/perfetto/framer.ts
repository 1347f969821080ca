// Frames `Trace.packet` entries (field 1, length-delimited) out of a stream of chunks of any
// size. A packet lying inside one chunk is handed over as a view of that chunk (no copy); a
// packet straddling chunks is assembled in a buffer of exactly its size; a field header cut
// by a chunk boundary is completed byte by byte. Memory held is one packet at most.
import { parseHeader, WT_I32, WT_I64, WT_LEN, WT_VARINT } from './wire.js';

/** Largest packet accepted; a longer length is taken as corruption. */
export const MAX_PACKET_BYTES = 128 * 1024 * 1024;
/** A field header is at most a 5-byte tag and a 10-byte varint (parseHeader refuses longer). */
const MAX_HEADER = 15;

export type FrameError = { code: 'corrupt_trace' | 'truncated'; message: string };

export class PacketFramer {
  /** Stream offset of the next byte to consume. */
  private offset = 0;
  /** Set after an unrecoverable error: the rest of the stream is ignored. */
  stopped = false;
  private readonly hdr = new Uint8Array(MAX_HEADER + 1);
  private hdrLen = 0;
  private pkt: Uint8Array | null = null;
  private pktFill = 0;
  private pktOffset = 0;
  private skipLeft = 0;
  private readonly h = { tag: 0, value: 0 };

  /**
   * `nested`: the packets of a decompressed `compressed_packets` payload, not of the file.
   * `onPackets`, when given, is offered the chunk wherever a field starts: it may take the
   * whole packets from there at once, as `onPacket` would one by one, and returns where it
   * stopped (where it was asked: none taken).
   */
  constructor(
    private readonly onPacket: (buf: Uint8Array, start: number, end: number, offset: number) => void,
    private readonly onError: (e: FrameError) => void,
    private readonly nested = false,
    private readonly onPackets?: (buf: Uint8Array, start: number, end: number, offset: number) => number,
  ) {}

  push(chunk: Uint8Array): void {
    const n = chunk.length;
    let pos = 0;
    while (pos < n && !this.stopped) {
      if (this.pkt) {
        const take = Math.min(this.pkt.length - this.pktFill, n - pos);
        this.pkt.set(chunk.subarray(pos, pos + take), this.pktFill);
        this.pktFill += take;
        pos += take;
        if (this.pktFill === this.pkt.length) {
          const p = this.pkt;
          this.pkt = null;
          this.onPacket(p, 0, p.length, this.pktOffset);
        }
        continue;
      }
      if (this.skipLeft > 0) {
        const take = Math.min(this.skipLeft, n - pos);
        this.skipLeft -= take;
        pos += take;
        continue;
      }
      if (this.hdrLen > 0) {
        // Complete a header cut by the previous chunk boundary, one byte at a time.
        this.hdr[this.hdrLen++] = chunk[pos++];
        const r = parseHeader(this.hdr, 0, this.hdrLen, this.h);
        if (r === -1) {
          if (this.hdrLen > MAX_HEADER) this.corrupt('a field header longer than 15 bytes');
          continue;
        }
        if (r === -2) {
          this.corrupt('an over-long varint in a field header');
          continue;
        }
        const headerAt = this.offset + pos - this.hdrLen;
        this.hdrLen = 0;
        pos = this.field(chunk, pos, n, headerAt);
        continue;
      }
      if (this.onPackets) {
        const to = this.onPackets(chunk, pos, n, this.offset + pos);
        if (to > pos) {
          pos = to;
          continue;
        }
      }
      const r = parseHeader(chunk, pos, n, this.h);
      if (r === -1) {
        // The header continues in the next chunk.
        this.hdr.set(chunk.subarray(pos, n), 0);
        this.hdrLen = n - pos;
        pos = n;
        break;
      }
      if (r === -2) {
        this.corrupt('an over-long varint in a field header');
        break;
      }
      const headerAt = this.offset + pos;
      pos = this.field(chunk, pos + r, n, headerAt);
    }
    this.offset += n;
  }

  /** Handle the field whose header was just parsed (in `this.h`); `pos` is its first value byte. Returns the new position. */
  private field(chunk: Uint8Array, pos: number, n: number, headerAt: number): number {
    const tag = this.h.tag;
    const wt = tag & 7;
    const field = tag >>> 3;
    if (field === 0) {
      this.corrupt(`field number 0 at byte ${headerAt}`);
      return n;
    }
    switch (wt) {
      case WT_LEN: {
        const len = this.h.value;
        if (len > MAX_PACKET_BYTES) {
          this.corrupt(`impossible length ${len} at byte ${headerAt}`);
          return n;
        }
        if (field !== 1) {
          this.skipLeft = len;
          return pos;
        }
        const at = this.offset + pos;
        if (pos + len <= n) {
          this.onPacket(chunk, pos, pos + len, at);
          return pos + len;
        }
        // A Buffer like the chunks, so that the decoder sees one kind of array.
        this.pkt = Buffer.allocUnsafe(len);
        this.pkt.set(chunk.subarray(pos, n), 0);
        this.pktFill = n - pos;
        this.pktOffset = at;
        return n;
      }
      case WT_VARINT:
        return pos;
      case WT_I64:
        this.skipLeft = 8;
        return pos;
      case WT_I32:
        this.skipLeft = 4;
        return pos;
      default:
        this.corrupt(`impossible wire type ${wt} (field ${field}) at byte ${headerAt}`);
        return n;
    }
  }

  private corrupt(what: string): void {
    this.stopped = true;
    this.pkt = null;
    this.hdrLen = 0;
    this.onError({ code: 'corrupt_trace', message: `not a valid trace from here: ${what}; the rest of ${this.nested ? 'these compressed packets' : 'the file'} is ignored` });
  }

  /** The stream ended: report a packet or header cut short. */
  end(): void {
    if (this.stopped) return;
    const ends = this.nested ? 'the compressed packets end' : 'the trace ends';
    if (this.pkt) {
      this.onError({
        code: 'truncated',
        message: `${ends} inside a packet (byte ${this.pktOffset}: ${this.pktFill} of ${this.pkt.length} bytes present); every complete packet was kept`,
      });
      this.pkt = null;
    } else if (this.hdrLen > 0) {
      this.onError({ code: 'truncated', message: `${ends} inside a packet header (last ${this.hdrLen} bytes); every complete packet was kept` });
    } else if (this.skipLeft > 0) {
      this.onError({ code: 'truncated', message: `${ends} inside a field (${this.skipLeft} bytes missing)` });
    }
  }
}
