// Zip archives (bugreport .zip files, zip64 included): the central directory and the local
// headers are read with yauzl, once; an entry's bytes are read on demand, straight from the
// file (or the bytes in memory), and inflated here.
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
  const { open, fromBuffer } = (await import('yauzl')).default;
  const bytes = 'bytes' in source ? Buffer.from(source.bytes.buffer, source.bytes.byteOffset, source.bytes.byteLength) : undefined;
  const zip = await new Promise<yauzl.ZipFile>((resolve, reject) => {
    const done = (err: Error | null, z?: yauzl.ZipFile) => (err || !z ? reject(err) : resolve(z));
    if ('path' in source) open(source.path, OPTIONS, done);
    else fromBuffer(bytes!, OPTIONS, done);
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
          open: () => openEntry(zip as WithLocalHeader, name, 'path' in source ? source.path : bytes!, entry),
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
/** How far (bytes) inflating may run ahead of the importer. */
const READ_AHEAD = 8 * 1024 * 1024;

/**
 * An entry's bytes. They are read with a stream of our own rather than yauzl's: a reader that
 * stops early (a sniff) destroys it, which closes its file descriptor (destroying a yauzl read
 * stream while another read of the zip is queued crashes yauzl 3.4). Deflated entries are
 * inflated with large output chunks (cheaper per chunk on big entries). The reader checks the
 * size against the directory's (`ContainerEntry.size`).
 */
async function openEntry(zip: WithLocalHeader, zipName: string, file: string | Buffer, entry: yauzl.Entry): Promise<Readable> {
  const fail = (reason: string) => new InputError(`${zipName}!/${entry.fileName}: cannot read (${reason})`);
  if (entry.isEncrypted()) throw fail('the entry is encrypted');
  const method = entry.compressionMethod;
  if (method !== 0 && method !== 8) throw fail(`compression method ${method} is not supported, only stored and deflated entries are`);
  const start = await new Promise<number>((resolve, reject) =>
    zip.readLocalFileHeader(entry, { minimal: true }, (err, header) => (err || !header ? reject(fail(err?.message ?? 'no local header')) : resolve(header.fileDataStart))),
  );
  const end = start + entry.compressedSize;
  const raw =
    typeof file !== 'string'
      ? Readable.from(slices(file, start, end))
      : end > start
        ? fs.createReadStream(file, { start, end: end - 1, highWaterMark: READ_CHUNK })
        : Readable.from([]);
  if (method === 0) return raw;
  // A deep output buffer lets zlib (on the thread pool) inflate ahead while the importer works.
  const inflate = zlib.createInflateRaw({ chunkSize: INFLATE_CHUNK, readableHighWaterMark: READ_AHEAD } as zlib.ZlibOptions);
  // pipeline: an error of either stream reaches the reader through `inflate`, and a reader
  // that stops early destroys `raw` too.
  return pipeline(raw, inflate, () => {});
}

/** How many compressed bytes are read at a time. */
const READ_CHUNK = 1 << 20;

/** `buf[start, end)` in pieces of READ_CHUNK bytes (no copy). */
function* slices(buf: Buffer, start: number, end: number): Iterable<Buffer> {
  for (let at = start; at < end; at += READ_CHUNK) yield buf.subarray(at, Math.min(end, at + READ_CHUNK));
}
