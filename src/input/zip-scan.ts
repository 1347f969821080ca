// The entries of a zip whose central directory is missing or cannot be read (a bugreport cut
// short: an interrupted `adb bugreport` pull, an upload cut at a bug tracker's size limit, a
// partial download), found as a streaming unzip finds them: the local file headers one after
// the other from the start of the file (APPNOTE.TXT 4.3.6-4.3.9), each followed by its data and,
// when general-purpose bit 3 is set, a data descriptor.
//
// What Android writes: dumpstate packs its zip with libziparchive's ZipWriter (AOSP
// system/libziparchive/zip_writer.cc, read in the LineageOS/android_system_libziparchive mirror at
// cb9dcb24). StartAlignedEntryWithTime writes every local header first with bit 3 set and CRC and
// sizes 0 ("Always start expecting a data descriptor"), alignment padding in the extra field.
// FinishEntry then, when the output is seekable (a regular file, as dumpstate's zip is), seeks
// back and rewrites the header with the CRC and sizes and bit 3 clear, and writes no descriptor;
// when it is not (a pipe or socket), it leaves the header and writes a data descriptor after the
// data: the `PK\x07\x08` signature, CRC, then 32-bit compressed and uncompressed sizes (ZipWriter
// writes no zip64). Other streaming writers (zip to a pipe, Java's ZipOutputStream) write the
// descriptor with or without its signature, and with 64-bit sizes when the entry's local header
// has a zip64 extra field. An entry whose header has sizes 0 and bit 3 is read here to its end:
// a deflated one by inflating its raw deflate stream until it ends (the descriptor's sizes
// are then checked against what was inflated), any other by finding the descriptor whose
// compressed size is its distance from the data's start. Such a deflated entry is inflated twice
// (once here to find its end, once when read): the price of recovery, paid only on this path.
import type { Readable } from 'node:stream';
import zlib from 'node:zlib';

const SIG_LOCAL = 0x04034b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_DESCRIPTOR = 0x08074b50;
const SIG_EOCD = 0x06054b50;
const SIG_ZIP64_EOCD = 0x06064b50;
const SIG_ZIP64_LOCATOR = 0x07064b50;
const SIG_DIGITAL_SIGNATURE = 0x05054b50;
const SIG_ARCHIVE_EXTRA = 0x08064b50;
/** The records that start or follow the central directory: the scan ends at them. */
const DIRECTORY_SIGS = new Set([SIG_CENTRAL, SIG_EOCD, SIG_ZIP64_EOCD, SIG_ZIP64_LOCATOR, SIG_DIGITAL_SIGNATURE, SIG_ARCHIVE_EXTRA]);
const U32_MAX = 0xffffffff;
const FLAG_ENCRYPTED = 0x0001;
const FLAG_DESCRIPTOR = 0x0008;
/** Compression methods APPNOTE.TXT 4.4.5 names: store, shrink, reduce 1-4, implode, deflate, deflate64, bzip2, lzma, zstd (93 and old 20), mp3, xz, jpeg, wavpack, ppmd, AES (99). */
const KNOWN_METHODS = new Set([0, 1, 2, 3, 4, 5, 6, 8, 9, 10, 12, 14, 16, 18, 19, 20, 93, 94, 95, 96, 97, 98, 99]);
/** The highest "version needed to extract" APPNOTE.TXT defines (6.3). */
const MAX_VERSION = 63;
const PK = Buffer.from('PK');

/** The bytes of a zip file or of a zip in memory. */
export interface ByteSource {
  readonly size: number;
  /** Up to `n` bytes at `at`: fewer at the end of the file. */
  read(at: number, n: number): Promise<Buffer>;
  /** The bytes [start, end) as a stream. */
  range(start: number, end: number): Readable;
}

export interface ScannedEntry {
  /** As yauzl names it (UTF-8 flag, Info-ZIP Unicode path field, else CP437; `\` made `/`). */
  name: string;
  flags: number;
  method: number;
  /** Offset of the entry's data. */
  dataStart: number;
  /** Bytes of its data (compressed when deflated); for a cut entry, those the file holds. */
  compressedSize: number;
  /** Uncompressed size; undefined for a cut entry. */
  size: number | undefined;
  /** The file ends inside the entry's data. */
  cut: boolean;
  /** A cut entry's compressed size as its local header gives it (not a streamed entry's, whose header gives none). */
  declaredSize?: number;
}

/** Why the scan stopped. `at`: an offset in the file. */
export type ScanEnd =
  /** The file ends right after the last entry: where its central directory would start. */
  | { kind: 'end' }
  /** A central directory record (or the end record) starts at `at`: the directory is cut short or unreadable. */
  | { kind: 'directory'; at: number }
  /** The file ends inside a local header (`name`: the entry's, when the header holds it whole). */
  | { kind: 'header'; at: number; name?: string }
  /** The file ends inside the last entry's data (the last entry is `cut`). */
  | { kind: 'entry' }
  /** The file ends inside the data descriptor of the last entry, whose data is whole. */
  | { kind: 'descriptor'; at: number }
  /** The deflated data of a streamed entry (sizes in a descriptor after it) is corrupt: where it ends is unknown. */
  | { kind: 'corrupt'; at: number; name: string; why: string }
  /** The bytes at `at` are no zip record. */
  | { kind: 'junk'; at: number; why: string };

/** yauzl's helpers that read an entry's name (public, not in @types/yauzl): names are read as yauzl reads them. */
export interface YauzlNames {
  getFileNameLowLevel(flags: number, name: Buffer, extraFields: Array<{ id: number; data: Buffer }>, strictFileNames: boolean): string;
  parseExtraFields(extra: Buffer): Array<{ id: number; data: Buffer }>;
}

/**
 * The entries whose local headers follow each other from the start of `src`, up to where the
 * file ends or something else starts (the central directory, bytes that are no zip record).
 */
export async function scanLocalHeaders(src: ByteSource, yauzl: YauzlNames): Promise<{ entries: ScannedEntry[]; end: ScanEnd }> {
  const entries: ScannedEntry[] = [];
  let at = 0;
  for (;;) {
    const h = await src.read(at, 30);
    if (h.length === 0) return { entries, end: { kind: 'end' } };
    if (h.length < 4) return { entries, end: { kind: 'header', at } };
    const sig = h.readUInt32LE(0);
    if (DIRECTORY_SIGS.has(sig)) return { entries, end: { kind: 'directory', at } };
    if (sig !== SIG_LOCAL) return { entries, end: { kind: 'junk', at, why: `signature 0x${sig.toString(16).padStart(8, '0')}` } };
    if (h.length < 30) return { entries, end: { kind: 'header', at } };
    const version = h.readUInt16LE(4) & 0xff;
    const flags = h.readUInt16LE(6);
    const method = h.readUInt16LE(8);
    let csize = h.readUInt32LE(18);
    let usize = h.readUInt32LE(22);
    const nameLength = h.readUInt16LE(26);
    const extraLength = h.readUInt16LE(28);
    const implausible =
      version > MAX_VERSION ? `version needed ${version / 10}` : !KNOWN_METHODS.has(method) ? `compression method ${method}` : nameLength === 0 ? 'no name' : undefined;
    if (implausible) return { entries, end: { kind: 'junk', at, why: `a local header signature, but ${implausible}` } };
    const ne = await src.read(at + 30, nameLength + extraLength);
    const nameBytes = ne.subarray(0, nameLength);
    if (nameBytes.some((b) => b < 0x20)) return { entries, end: { kind: 'junk', at, why: 'a local header signature, but control characters in the name' } };
    let extra: Array<{ id: number; data: Buffer }> = [];
    try {
      if (ne.length === nameLength + extraLength) extra = yauzl.parseExtraFields(ne.subarray(nameLength));
    } catch (e) {
      return { entries, end: { kind: 'junk', at, why: `a local header whose extra field is malformed (${(e as Error).message})` } };
    }
    const name = nameBytes.length === nameLength ? yauzl.getFileNameLowLevel(flags, nameBytes, extra, false) : undefined;
    if (ne.length < nameLength + extraLength) return { entries, end: { kind: 'header', at, name } };
    // zip64: 0xffffffff sizes are in the extra field (uncompressed first, APPNOTE.TXT 4.5.3).
    const zip64 = extra.find((x) => x.id === 0x0001);
    if (zip64) {
      let p = 0;
      if (usize === U32_MAX && zip64.data.length >= p + 8) (usize = Number(zip64.data.readBigUInt64LE(p))), (p += 8);
      if (csize === U32_MAX && zip64.data.length >= p + 8) csize = Number(zip64.data.readBigUInt64LE(p));
    }
    const dataStart = at + 30 + nameLength + extraLength;
    const entry: ScannedEntry = { name: name!, flags, method, dataStart, compressedSize: csize, size: usize, cut: false };
    const deferred = (flags & FLAG_DESCRIPTOR) !== 0 && csize === 0;
    let dataEnd: number;
    if (!deferred) {
      dataEnd = dataStart + csize;
      if (dataEnd > src.size) return cutAt(entries, { ...entry, declaredSize: csize }, src.size);
    } else if (method === 8 && (flags & FLAG_ENCRYPTED) === 0) {
      const r = await inflatedLength(src.range(dataStart, src.size));
      if ('eof' in r) return cutAt(entries, entry, src.size);
      if ('corrupt' in r) return { entries, end: { kind: 'corrupt', at: dataStart, name: entry.name, why: r.corrupt } };
      dataEnd = dataStart + r.compressed;
      entry.compressedSize = r.compressed;
      entry.size = r.size;
    } else {
      const d = await findDescriptor(src, dataStart, method);
      if (!d) return cutAt(entries, entry, src.size);
      entries.push({ ...entry, compressedSize: d.dataEnd - dataStart, size: d.size });
      at = d.next;
      continue;
    }
    entries.push(entry);
    if ((flags & FLAG_DESCRIPTOR) === 0) {
      at = dataEnd;
      continue;
    }
    const next = await descriptorEnd(src, dataEnd, entry.compressedSize, entry.size!, zip64 !== undefined);
    if (next === 'eof') return { entries, end: { kind: 'descriptor', at: dataEnd } };
    if (next === undefined) return { entries, end: { kind: 'junk', at: dataEnd, why: `no data descriptor after the data of ${entry.name}` } };
    at = next;
  }
}

function cutAt(entries: ScannedEntry[], entry: ScannedEntry, fileSize: number): { entries: ScannedEntry[]; end: ScanEnd } {
  entries.push({ ...entry, compressedSize: Math.max(0, fileSize - entry.dataStart), size: undefined, cut: true });
  return { entries, end: { kind: 'entry' } };
}

/**
 * Inflate a raw deflate stream until it ends: the compressed bytes it took and the bytes it
 * gave; `eof` when the bytes ran out first, `corrupt` when they are not deflate data. (A zlib
 * stream ends as soon as the deflate stream does, whatever follows it; `bytesWritten` is then
 * what the inflater consumed.)
 */
function inflatedLength(raw: Readable): Promise<{ compressed: number; size: number } | { eof: true } | { corrupt: string }> {
  return new Promise((resolve) => {
    const inflate = zlib.createInflateRaw({ chunkSize: 1 << 20 });
    let size = 0;
    const done = (r: { compressed: number; size: number } | { eof: true } | { corrupt: string }) => {
      raw.unpipe(inflate);
      raw.destroy();
      inflate.destroy();
      resolve(r);
    };
    inflate.on('data', (c: Buffer) => (size += c.length));
    inflate.on('end', () => done({ compressed: inflate.bytesWritten, size }));
    inflate.on('error', (e: NodeJS.ErrnoException) => done(e.code === 'Z_BUF_ERROR' ? { eof: true } : { corrupt: e.message }));
    raw.on('error', (e) => done({ corrupt: e.message }));
    raw.pipe(inflate);
  });
}

/** Data descriptor layouts: signature or not, 32- or 64-bit sizes (APPNOTE.TXT 4.3.9). */
const DESCRIPTORS = [
  { length: 16, sig: true, wide: false },
  { length: 12, sig: false, wide: false },
  { length: 24, sig: true, wide: true },
  { length: 20, sig: false, wide: true },
];

/**
 * Where the data descriptor at `at` of an entry of `csize` compressed and `usize` bytes ends:
 * the layout whose sizes are the entry's (zip64 layouts first when its header has a zip64 field).
 * `eof`: the file ends where the descriptor is; `undefined`: no descriptor of these sizes is there.
 */
async function descriptorEnd(src: ByteSource, at: number, csize: number, usize: number, zip64: boolean): Promise<number | 'eof' | undefined> {
  const d = await src.read(at, 24);
  const layouts = zip64 ? [...DESCRIPTORS.slice(2), ...DESCRIPTORS.slice(0, 2)] : DESCRIPTORS;
  for (const l of layouts) {
    if (d.length < l.length || (l.sig && d.readUInt32LE(0) !== SIG_DESCRIPTOR)) continue;
    const p = l.sig ? 8 : 4;
    const [c, u] = l.wide ? [Number(d.readBigUInt64LE(p)), Number(d.readBigUInt64LE(p + 8))] : [d.readUInt32LE(p), d.readUInt32LE(p + 4)];
    if (l.wide ? c === csize && u === usize : c === csize % 2 ** 32 && u === usize % 2 ** 32) return at + l.length;
  }
  if (d.length >= 4 && (d.readUInt32LE(0) === SIG_LOCAL || DIRECTORY_SIGS.has(d.readUInt32LE(0)))) return at; // bit 3 without a descriptor
  if (d.length < 24 && at + 24 > src.size) return 'eof';
  return undefined;
}

/** How much of the file is searched at a time for a descriptor. */
const SEARCH_WINDOW = 1 << 20;

/**
 * The data descriptor of a streamed entry that is not deflated (stored, or a method not read
 * here): the first whose compressed size is its distance from `dataStart`, with its signature or
 * without it (then found before the next local header or central directory). `undefined`: the
 * file ends first.
 */
async function findDescriptor(src: ByteSource, dataStart: number, method: number): Promise<{ dataEnd: number; next: number; size: number } | undefined> {
  const fits = (c: number, dataEnd: number) => c === (dataEnd - dataStart) % 2 ** 32;
  for (let pos = dataStart; pos < src.size; pos += SEARCH_WINDOW) {
    // The window, 24 bytes more (a descriptor starting in it), 20 bytes before (one ending at a header in it).
    const before = Math.min(20, pos - dataStart);
    const buf = await src.read(pos - before, before + SEARCH_WINDOW + 24);
    for (let i = buf.indexOf(PK, before); i >= 0 && i < before + SEARCH_WINDOW && i + 4 <= buf.length; i = buf.indexOf(PK, i + 1)) {
      const p = pos - before + i;
      const sig = buf.readUInt32LE(i);
      if (sig === SIG_DESCRIPTOR) {
        // 32-bit sizes (a stored entry's two are equal), else 64-bit.
        if (i + 16 <= buf.length && fits(buf.readUInt32LE(i + 8), p) && (method !== 0 || buf.readUInt32LE(i + 12) === buf.readUInt32LE(i + 8))) {
          return { dataEnd: p, next: p + 16, size: buf.readUInt32LE(i + 12) };
        }
        if (i + 24 <= buf.length && Number(buf.readBigUInt64LE(i + 8)) === p - dataStart) return { dataEnd: p, next: p + 24, size: Number(buf.readBigUInt64LE(i + 16)) };
      } else if (sig === SIG_LOCAL || DIRECTORY_SIGS.has(sig)) {
        if (i >= 12 && p - 12 >= dataStart && fits(buf.readUInt32LE(i - 8), p - 12)) return { dataEnd: p - 12, next: p, size: buf.readUInt32LE(i - 4) };
        if (i >= 20 && p - 20 >= dataStart && Number(buf.readBigUInt64LE(i - 16)) === p - 20 - dataStart) return { dataEnd: p - 20, next: p, size: Number(buf.readBigUInt64LE(i - 8)) };
      }
    }
  }
  return undefined;
}
