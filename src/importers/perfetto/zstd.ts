// How much memory decompressing a `zstd_compressed_packets` payload can take, read from its
// frame and block headers before decompressing (RFC 8878 §3.1): fzstd allocates what a frame
// header declares (its content size, or its window) and appends every block's output, so a
// few corrupt bytes could otherwise ask for gigabytes.

const ZSTD_MAGIC = 0xfd2fb528;
/** Skippable frames: magic 0x184D2A50–0x184D2A5F, a 4-byte size, then that many bytes. */
const SKIPPABLE_MASK = 0xfffffff0;
const SKIPPABLE_MAGIC = 0x184d2a50;
/** Block_Maximum_Size: a compressed block never regenerates more. */
const MAX_BLOCK = 128 * 1024;

const u32 = (b: Uint8Array, p: number) => (b[p] | (b[p + 1] << 8) | (b[p + 2] << 16) | (b[p + 3] << 24)) >>> 0;

/**
 * The most bytes decompressing `dat` may allocate or produce, or -1 when its headers are not
 * zstd's (the decompressor then reports the error). Frames and blocks are walked, not decoded.
 */
export function zstdBound(dat: Uint8Array): number {
  let p = 0;
  let total = 0;
  let largest = 0;
  while (p < dat.length) {
    if (p + 4 > dat.length) return -1;
    const magic = u32(dat, p);
    if ((magic & SKIPPABLE_MASK) >>> 0 === SKIPPABLE_MAGIC) {
      if (p + 8 > dat.length) return -1;
      p += 8 + u32(dat, p + 4);
      continue;
    }
    if (magic !== ZSTD_MAGIC || p + 5 > dat.length) return -1;
    const fhd = dat[p + 4];
    const fcsFlag = fhd >> 6;
    const singleSegment = (fhd >> 5) & 1;
    const checksum = (fhd >> 2) & 1;
    const dictBytes = [0, 1, 2, 4][fhd & 3];
    p += 5;
    let window = 0;
    if (!singleSegment) {
      const wd = dat[p++];
      const base = 2 ** (10 + (wd >> 3));
      window = base + (base / 8) * (wd & 7);
    }
    p += dictBytes;
    const fcsBytes = fcsFlag === 0 ? singleSegment : 1 << fcsFlag;
    if (p + fcsBytes > dat.length) return -1;
    let content = 0;
    for (let i = fcsBytes - 1; i >= 0; i--) content = content * 256 + dat[p + i];
    if (fcsFlag === 1) content += 256;
    p += fcsBytes;
    largest = Math.max(largest, window, content);
    // Blocks: a 3-byte header (last, type, size); raw and compressed blocks carry `size` bytes,
    // an RLE block one byte repeated `size` times.
    for (;;) {
      if (p + 3 > dat.length) return -1;
      const h = dat[p] | (dat[p + 1] << 8) | (dat[p + 2] << 16);
      const last = h & 1;
      const type = (h >> 1) & 3;
      const size = h >>> 3;
      p += 3;
      if (type === 3) return -1;
      total += type === 2 ? MAX_BLOCK : size;
      p += type === 1 ? 1 : size;
      if (last) break;
    }
    if (checksum) p += 4;
  }
  return Math.max(total, largest);
}
