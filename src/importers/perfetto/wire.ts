// Protobuf wire-format primitives for the hot path of the Perfetto importer: a cursor over
// a Uint8Array that reads varints and skips fields without allocating. Out-of-bounds reads
// never throw here: a varint read past the end of the buffer stops after 10 bytes and sets
// `bad`; callers compare `pos` with the end of the message they are reading.

export const WT_VARINT = 0;
export const WT_I64 = 1;
export const WT_LEN = 2;
export const WT_I32 = 5;

const TWO_32 = 4294967296;
/** Above this `hi` word a 64-bit value no longer fits a double exactly (2^53). */
const SAFE_HI = 0x200000;

/** An unsigned or signed 64-bit integer: a number when exact, else a bigint. */
export type Int64 = number | bigint;

export class Cursor {
  buf: Uint8Array;
  pos: number;
  /** Set when a varint ran over 10 bytes (corrupt data) — the value read is meaningless. */
  bad = false;
  // The two 32-bit words of the last 64-bit varint read by `words()`.
  private lo = 0;
  private hi = 0;

  constructor(buf: Uint8Array, pos = 0) {
    this.buf = buf;
    this.pos = pos;
  }

  reset(buf: Uint8Array, pos: number): void {
    this.buf = buf;
    this.pos = pos;
    this.bad = false;
  }

  /** A varint truncated to its low 32 bits, unsigned (tags, lengths, uint32 fields). */
  u32(): number {
    const b = this.buf;
    let p = this.pos;
    let c = b[p++];
    if (c < 0x80) {
      this.pos = p;
      return c;
    }
    let x = c & 0x7f;
    c = b[p++];
    x |= (c & 0x7f) << 7;
    if (c < 0x80) {
      this.pos = p;
      return x;
    }
    c = b[p++];
    x |= (c & 0x7f) << 14;
    if (c < 0x80) {
      this.pos = p;
      return x;
    }
    c = b[p++];
    x |= (c & 0x7f) << 21;
    if (c < 0x80) {
      this.pos = p;
      return x;
    }
    c = b[p++];
    x += (c & 0x0f) * 0x10000000;
    if (c < 0x80) {
      this.pos = p;
      return x;
    }
    // Bits above 32 (negative int32 values are sign-extended to 10 bytes): drop them.
    for (let i = 0; i < 5; i++) {
      if (b[p++] < 0x80) {
        this.pos = p;
        return x;
      }
    }
    this.pos = p;
    this.bad = true;
    return x;
  }

  /** A varint as a signed 32-bit value (int32 fields). */
  i32(): number {
    return this.u32() | 0;
  }

  /** Read a 64-bit varint into `lo`/`hi` words; returns false on a runaway varint. */
  private words(): boolean {
    const b = this.buf;
    let p = this.pos;
    let lo = 0;
    let hi = 0;
    let c = 0;
    for (let shift = 0; shift < 28; shift += 7) {
      c = b[p++];
      lo |= (c & 0x7f) << shift;
      if (c < 0x80) {
        this.pos = p;
        this.lo = lo >>> 0;
        this.hi = 0;
        return true;
      }
    }
    c = b[p++];
    lo |= (c & 0x0f) << 28;
    hi = (c & 0x7f) >> 4;
    if (c < 0x80) {
      this.pos = p;
      this.lo = lo >>> 0;
      this.hi = hi;
      return true;
    }
    for (let shift = 3; shift < 32; shift += 7) {
      c = b[p++];
      hi |= (c & 0x7f) << shift;
      if (c < 0x80) {
        this.pos = p;
        this.lo = lo >>> 0;
        this.hi = hi >>> 0;
        return true;
      }
    }
    this.pos = p;
    this.bad = true;
    this.lo = lo >>> 0;
    this.hi = hi >>> 0;
    return false;
  }

  /** An unsigned 64-bit varint (uint64 fields): a number when below 2^53, else a bigint. */
  u64(): Int64 {
    // Fast path: up to 7 bytes (49 bits) — timestamps, sizes and inodes of real traces. The
    // bits are gathered with int32 operations, 28 low and 21 high. V8 compiles arithmetic for
    // the numbers it saw first: a sum that gave small integers at first is compiled for those
    // and its code thrown away at the first large result (over and over when that code was
    // entered in the middle of a loop, as --trace-deopt showed). Joined here as an int32 below
    // 2^30, else by a product that is never a small integer.
    const b = this.buf;
    let p = this.pos;
    let lo = 0;
    for (let shift = 0; shift < 28; shift += 7) {
      const c = b[p++];
      lo |= (c & 0x7f) << shift;
      if (c < 0x80) {
        this.pos = p;
        return lo;
      }
    }
    let hi = 0;
    for (let shift = 0; shift < 21; shift += 7) {
      const c = b[p++];
      hi |= (c & 0x7f) << shift;
      if (c < 0x80) {
        this.pos = p;
        return hi < 4 ? (hi << 28) | lo : hi * 0x10000000 + lo;
      }
    }
    this.words();
    return combine(this.lo, this.hi, false);
  }

  /** A signed 64-bit varint (int64 fields, two's complement on 10 bytes when negative). */
  i64(): Int64 {
    this.words();
    return combine(this.lo, this.hi, true);
  }

  /** Skip one field's value of wire type `wt`; returns false for an impossible wire type. */
  skip(wt: number): boolean {
    switch (wt) {
      case WT_VARINT: {
        const b = this.buf;
        let p = this.pos;
        for (let i = 0; i < 10; i++) {
          if (b[p++] < 0x80) {
            this.pos = p;
            return true;
          }
        }
        this.pos = p;
        this.bad = true;
        return false;
      }
      case WT_I64:
        this.pos += 8;
        return true;
      case WT_LEN: {
        const n = this.u32();
        this.pos += n;
        return true;
      }
      case WT_I32:
        this.pos += 4;
        return true;
      default:
        return false;
    }
  }
}

function combine(lo: number, hi: number, signed: boolean): Int64 {
  if (signed && hi & 0x80000000) {
    // Negative: magnitude = two's complement of the 64-bit word pair.
    const nlo = (~lo + 1) >>> 0;
    const nhi = (~hi + (nlo === 0 ? 1 : 0)) >>> 0;
    if (nhi < SAFE_HI) return -(nhi * TWO_32 + nlo);
    return -((BigInt(nhi) << 32n) | BigInt(nlo));
  }
  if (hi < SAFE_HI) return hi * TWO_32 + lo;
  return (BigInt(hi) << 32n) | BigInt(lo);
}

/** −v, exact. */
export function negate(v: Int64): Int64 {
  return -v;
}

/** a + b, exact: a bigint when the sum leaves the safe-integer range. */
export function add(a: Int64, b: Int64): Int64 {
  if (typeof a === 'number' && typeof b === 'number') {
    const r = a + b;
    if (Number.isSafeInteger(r)) return r;
  }
  return BigInt(a) + BigInt(b);
}

/** Number of a bigint-or-number (for arithmetic where an approximation is fine). */
export function toNumber(v: Int64): number {
  return typeof v === 'number' ? v : Number(v);
}

/**
 * Parse a field header (tag, then the length for wire type 2 or the value for wire type 0)
 * at `buf[pos..end)`. Returns the number of header bytes (at most 15), -1 when more bytes are
 * needed, -2 when the bytes cannot be a header (a tag longer than 5 bytes, a value longer than 10).
 * The parsed tag and value are left in `out`.
 */
export function parseHeader(buf: Uint8Array, pos: number, end: number, out: { tag: number; value: number }): number {
  let p = pos;
  // Tag: a 32-bit varint, at most 5 bytes.
  let tag = 0;
  let shift = 0;
  for (;;) {
    if (p >= end) return -1;
    const c = buf[p++];
    if (shift < 28) tag |= (c & 0x7f) << shift;
    else tag += (c & 0x0f) * 0x10000000;
    if (c < 0x80) break;
    shift += 7;
    if (shift > 28) return -2;
  }
  tag >>>= 0;
  out.tag = tag;
  const wt = tag & 7;
  if (wt === WT_LEN || wt === WT_VARINT) {
    let v = 0;
    let mul = 1;
    let n = 0;
    for (;;) {
      if (p >= end) return -1;
      const c = buf[p++];
      v += (c & 0x7f) * mul;
      mul *= 128;
      if (c < 0x80) break;
      if (++n >= 10) return -2;
    }
    out.value = v;
  } else {
    out.value = 0;
  }
  return p - pos;
}
