// Zip archives (bugreport .zip files, zip64 included): the central directory and the local
// headers are read with yauzl, once; an entry's bytes are read on demand, straight from the
// file (one descriptor, opened here and closed with the archive) or the bytes in memory, and
// inflated here.
import type yauzl from 'yauzl';
import fs from 'node:fs';
import zlib from 'node:zlib';
import { pipeline, Readable } from 'node:stream';
import { InputError } from '../errors.js';
import type { Container, ContainerEntry } from './container.js';

/** yauzl 3's local-header reader (not in @types/yauzl). */
export type WithLocalHeader = yauzl.ZipFile & {
  readLocalFileHeader(entry: yauzl.Entry, options: { minimal: true }, callback: (err: Error | null, header?: { fileDataStart: number }) => void): void;
};

const OPTIONS: yauzl.Options = { lazyEntries: true, autoClose: false, decodeStrings: true, validateEntrySizes: true };

/** Open a zip from a path or from bytes in memory. Throws InputError when it is not a readable zip. */
export async function openZip(name: string, source: { path: string } | { bytes: Uint8Array }): Promise<Container> {
  const { fromFd, fromBuffer } = (await import('yauzl')).default;
  const bytes = 'bytes' in source ? Buffer.from(source.bytes.buffer, source.bytes.byteOffset, source.bytes.byteLength) : undefined;
  let fd: number | undefined;
  const zip = await new Promise<yauzl.ZipFile>((resolve, reject) => {
    const done = (err: Error | null, z?: yauzl.ZipFile) => (err || !z ? reject(err) : resolve(z));
    if ('path' in source) {
      fs.open(source.path, 'r', (err, opened) => {
        if (err) return reject(err);
        fd = opened;
        // yauzl closes the descriptor when the archive is closed.
        fromFd(opened, OPTIONS, (e, z) => {
          if (e) fs.close(opened, () => {});
          done(e, z);
        });
      });
    } else fromBuffer(bytes!, OPTIONS, done);
  }).catch((e: Error) => {
    throw new InputError(`${name}: not a readable zip archive (${e.message})`);
  });

  const entries = await new Promise<ContainerEntry[]>((resolve, reject) => {
    const list: ContainerEntry[] = [];
    zip.on('entry', (entry: yauzl.Entry) => {
      if (!entry.fileName.endsWith('/')) {
        list.push({
          path: entry.fileName,
          size: entry.uncompressedSize,
          open: (opts) => openEntry(zip as WithLocalHeader, name, fd ?? bytes!, entry, opts?.readAhead === true),
        });
      }
      zip.readEntry();
    });
    zip.on('end', () => resolve(list));
    zip.on('error', reject);
    zip.readEntry();
  }).catch((e: Error) => {
    zip.close();
    throw e instanceof InputError ? e : new InputError(`${name}: corrupt zip directory (${e.message})`);
  });

  return { name, kind: 'zip', entries, unreadable: [], close: () => zip.close() };
}

/**
 * Inflate output chunk size: large chunks keep the per-chunk overhead of a 500 MB entry small
 * (zlib's round trips to the thread pool, the importer's handling of each chunk). On the
 * benchmark's 300 MB bugreport, 1 MiB took `analyze` some 70 ms less than 256 KiB (10 alternating
 * runs each); 2 and 4 MiB did no better.
 */
const INFLATE_CHUNK = 1024 * 1024;
/** How far (bytes) inflating may run ahead of an importer reading an entry to its end. */
const READ_AHEAD = 8 * 1024 * 1024;

/**
 * An entry's bytes. They are read with a stream of our own rather than yauzl's (destroying a
 * yauzl read stream while another read of the zip is queued crashes yauzl 3.4, and its reads
 * of the file are one at a time). Deflated entries are inflated with large output chunks
 * (cheaper per chunk on big entries); with `readAhead`, up to READ_AHEAD bytes ahead of the
 * reader. The reader checks the size against the directory's (`ContainerEntry.size`).
 */
async function openEntry(zip: WithLocalHeader, zipName: string, file: number | Buffer, entry: yauzl.Entry, readAhead: boolean): Promise<Readable> {
  const fail = (reason: string) => new InputError(`${zipName}!/${entry.fileName}: cannot read (${reason})`);
  if (entry.isEncrypted()) throw fail('the entry is encrypted');
  const method = entry.compressionMethod;
  if (method !== 0 && method !== 8) throw fail(`compression method ${method} is not supported, only stored and deflated entries are`);
  const start = await new Promise<number>((resolve, reject) =>
    zip.readLocalFileHeader(entry, { minimal: true }, (err, header) => (err || !header ? reject(fail(err?.message ?? 'no local header')) : resolve(header.fileDataStart))),
  );
  const end = start + entry.compressedSize;
  const raw = typeof file === 'number' ? new FileRange(file, start, end) : Readable.from(slices(file, start, end));
  if (method === 0) return raw;
  // A deep output buffer lets zlib (on the thread pool) inflate ahead while the importer works.
  const inflate = zlib.createInflateRaw({ chunkSize: INFLATE_CHUNK, ...(readAhead ? { readableHighWaterMark: READ_AHEAD } : {}) } as zlib.ZlibOptions);
  // pipeline: an error of either stream reaches the reader through `inflate`, and a reader
  // that stops early destroys `raw` too.
  return pipeline(raw, inflate, () => {});
}

/** How many compressed bytes are read at a time. */
const READ_CHUNK = 1 << 20;
/**
 * The first read of an entry: what a sniff needs (64 KiB of text, or some 250 KiB inflated),
 * as most entries are only sniffed; inflating is then bounded by it too.
 */
const FIRST_READ = 64 * 1024;

/**
 * The bytes [start, end) of the open file `fd`, read at their positions (the descriptor is
 * shared by every entry and stays open when the stream ends or is destroyed). A file shorter
 * than `end` ends the stream early, as a file stream does (the reader's size check reports it).
 */
class FileRange extends Readable {
  private first = true;

  constructor(
    private readonly fd: number,
    private at: number,
    private readonly end: number,
  ) {
    super({ highWaterMark: READ_CHUNK });
  }

  override _read(): void {
    const n = Math.min(this.end - this.at, this.first ? FIRST_READ : READ_CHUNK);
    this.first = false;
    if (n <= 0) {
      this.push(null);
      return;
    }
    const buf = Buffer.allocUnsafe(n);
    fs.read(this.fd, buf, 0, n, this.at, (err, got) => {
      if (err) return this.destroy(err);
      this.at += got;
      if (got === 0) this.push(null);
      else this.push(got < n ? buf.subarray(0, got) : buf);
    });
  }
}

/** `buf[start, end)` in pieces of READ_CHUNK bytes (no copy). */
function* slices(buf: Buffer, start: number, end: number): Iterable<Buffer> {
  for (let at = start; at < end; at += READ_CHUNK) yield buf.subarray(at, Math.min(end, at + READ_CHUNK));
}
