// Zip archives (bugreport .zip files, zip64 included): the central directory and the local
// headers are read with yauzl, once; an entry's bytes are read on demand, straight from the
// file (one descriptor, opened here and closed with the archive) or the bytes in memory, and
// inflated here. A zip whose central directory is missing or cannot be read (a file cut short)
// is read from its local headers instead (zip-scan.ts): the entries found whole, and the one the
// end of the file cuts, with what can be read of it.
import type yauzl from 'yauzl';
import fs from 'node:fs';
import zlib from 'node:zlib';
import { pipeline, Readable } from 'node:stream';
import { InputError } from '../errors.js';
import type { Container, ContainerEntry } from './container.js';
import { scanLocalHeaders, type ByteSource, type ScanEnd, type ScannedEntry, type YauzlNames } from './zip-scan.js';

/** yauzl 3's local-header reader (not in @types/yauzl). */
export type WithLocalHeader = yauzl.ZipFile & {
  readLocalFileHeader(entry: yauzl.Entry, options: { minimal: true }, callback: (err: Error | null, header?: { fileDataStart: number }) => void): void;
};

const OPTIONS: yauzl.Options = { lazyEntries: true, autoClose: false, decodeStrings: true, validateEntrySizes: true };

/**
 * yauzl's errors for a central directory that is missing or runs past the end of the file (or
 * that an end record found by chance in the data of a cut file points at): the zip is then read
 * from its local headers. Its other errors (a name it refuses, strong encryption, a multi-disk
 * zip, an I/O error) refuse the zip as before.
 */
const DIRECTORY_UNREADABLE =
  /End of central directory record signature not found|Invalid comment length|invalid zip64 end of central directory|invalid central directory file header signature|unexpected EOF|zip64 extended information extra field/;

/** Open a zip from a path or from bytes in memory. Throws InputError when it is not a readable zip. */
export async function openZip(name: string, source: { path: string } | { bytes: Uint8Array }): Promise<Container> {
  const yauzlModule = (await import('yauzl')).default;
  const { fromFd, fromBuffer } = yauzlModule;
  const bytes = 'bytes' in source ? Buffer.from(source.bytes.buffer, source.bytes.byteOffset, source.bytes.byteLength) : undefined;
  const recoverable = (e: Error) => (e as NodeJS.ErrnoException).syscall === undefined && DIRECTORY_UNREADABLE.test(e.message);
  let fd: number | undefined;
  let zip: yauzl.ZipFile;
  try {
    zip = await new Promise<yauzl.ZipFile>((resolve, reject) => {
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
    });
  } catch (e) {
    if (recoverable(e as Error)) return recoverZip(name, source, bytes, e as Error, yauzlModule as unknown as YauzlNames);
    throw new InputError(`${name}: not a readable zip archive (${(e as Error).message})`);
  }

  let entries: ContainerEntry[];
  try {
    entries = await new Promise<ContainerEntry[]>((resolve, reject) => {
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
    });
  } catch (e) {
    zip.close();
    if (e instanceof InputError) throw e;
    if (recoverable(e as Error)) return recoverZip(name, source, bytes, e as Error, yauzlModule as unknown as YauzlNames);
    throw new InputError(`${name}: corrupt zip directory (${(e as Error).message})`);
  }

  return { name, kind: 'zip', entries, unreadable: [], close: () => zip.close() };
}

/** Why an entry cannot be read here (encrypted, a method other than stored or deflated), if it cannot. */
function unsupported(zipName: string, entryName: string, encrypted: boolean, method: number): InputError | undefined {
  const fail = (reason: string) => new InputError(`${zipName}!/${entryName}: cannot read (${reason})`);
  if (encrypted) return fail('the entry is encrypted');
  if (method !== 0 && method !== 8) return fail(`compression method ${method} is not supported, only stored and deflated entries are`);
  return undefined;
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
  const method = entry.compressionMethod;
  const refused = unsupported(zipName, entry.fileName, entry.isEncrypted(), method);
  if (refused) throw refused;
  const start = await new Promise<number>((resolve, reject) =>
    zip.readLocalFileHeader(entry, { minimal: true }, (err, header) =>
      err || !header ? reject(new InputError(`${zipName}!/${entry.fileName}: cannot read (${err?.message ?? 'no local header'})`)) : resolve(header.fileDataStart),
    ),
  );
  return entryBytes(file, start, start + entry.compressedSize, method, readAhead, false);
}

/**
 * The bytes of an entry whose (compressed) data is at [start, end) of the file or buffer,
 * inflated when `method` is 8. `cut`: the data is cut short by the end of the file; what inflates
 * from it ends the stream, without the error an unfinished deflate stream otherwise is.
 */
function entryBytes(file: number | Buffer, start: number, end: number, method: number, readAhead: boolean, cut: boolean): Readable {
  const raw = typeof file === 'number' ? new FileRange(file, start, end) : Readable.from(slices(file, start, end));
  if (method === 0) return raw;
  // A deep output buffer lets zlib (on the thread pool) inflate ahead while the importer works.
  const inflate = zlib.createInflateRaw({
    chunkSize: INFLATE_CHUNK,
    ...(readAhead ? { readableHighWaterMark: READ_AHEAD } : {}),
    ...(cut ? { finishFlush: zlib.constants.Z_SYNC_FLUSH } : {}),
  } as zlib.ZlibOptions);
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

// ---- a zip read from its local headers ----------------------------------------------------

/**
 * A zip whose central directory yauzl could not read (`cause`), read from its local headers: each
 * entry found whole, in the order of the file, and the entry the end of the file cuts
 * (`ContainerEntry.cut`: what can be read of it). `recovered` says what was found and where the
 * file ends. Nothing found (not a zip, or one cut inside its first header): InputError.
 */
async function recoverZip(name: string, source: { path: string } | { bytes: Uint8Array }, bytes: Buffer | undefined, cause: Error, names: YauzlNames): Promise<Container> {
  const refuse = () => new InputError(`${name}: not a readable zip archive (${cause.message})`);
  let fd: number | undefined;
  let src: ByteSource;
  try {
    if ('path' in source) {
      fd = fs.openSync(source.path, 'r');
      src = fileSource(fd, fs.fstatSync(fd).size);
    } else src = bufferSource(bytes!);
  } catch {
    if (fd !== undefined) fs.closeSync(fd);
    throw refuse();
  }
  const close = () => {
    if (fd !== undefined) fs.closeSync(fd);
    fd = undefined;
  };
  let scan: Awaited<ReturnType<typeof scanLocalHeaders>>;
  try {
    scan = await scanLocalHeaders(src, names);
  } catch {
    close();
    throw refuse();
  }
  if (scan.entries.length === 0) {
    close();
    throw refuse();
  }
  const file = fd ?? bytes!;
  const entries: ContainerEntry[] = scan.entries
    .filter((e) => !e.name.endsWith('/'))
    .map((e) => ({
      path: e.name,
      size: e.cut ? e.compressedSize : e.size!,
      ...(e.cut ? { cut: true } : {}),
      open: async (opts) => {
        const refused = unsupported(name, e.name, (e.flags & 1) !== 0, e.method);
        if (refused) throw refused;
        return entryBytes(file, e.dataStart, e.dataStart + e.compressedSize, e.method, opts?.readAhead === true, e.cut);
      },
    }));
  return { name, kind: 'zip', entries, unreadable: [], recovered: recoveryMessage(scan.entries, scan.end, src.size, cause), close };
}

/** The `zip_truncated` warning: why the directory was not read, how many entries were found, where the file ends. */
function recoveryMessage(entries: ScannedEntry[], end: ScanEnd, fileSize: number, cause: Error): string {
  const whole = entries.filter((e) => !e.cut).length;
  const why = /End of central directory record signature not found/.test(cause.message) ? 'it has no end of central directory record' : `its central directory cannot be read: ${cause.message}`;
  const found = whole === 1 ? '1 entry recovered whole from its local header' : `${whole} entries recovered whole from their local headers`;
  const last = entries[entries.length - 1];
  let where: string;
  switch (end.kind) {
    case 'entry': {
      const of = last.declaredSize !== undefined ? ` (of ${last.declaredSize})` : ' (streamed: its size was to follow its data)';
      const what = last.method === 8 ? 'what inflates from it is read' : last.method === 0 ? 'what it holds is read' : 'it cannot be read';
      where =
        last.compressedSize === 0
          ? `${last.name} is cut: the file ends right after its local header, at byte ${fileSize}; nothing of it is left`
          : `${last.name} is cut: the file ends ${last.compressedSize} bytes into its data${of}, at byte ${fileSize}; ${what}`;
      break;
    }
    case 'header':
      where = `the file ends inside the local header ${end.name !== undefined ? `of ${end.name} ` : ''}that starts at byte ${end.at}: that entry is lost`;
      break;
    case 'descriptor':
      where = `the file ends in the data descriptor of ${last.name}, whose data is whole`;
      break;
    case 'end':
      where = `the file ends after ${last.name}, where the next local header or the central directory would start`;
      break;
    case 'directory':
      where = `the central directory starts at byte ${end.at} of ${fileSize}: it is cut short or damaged`;
      break;
    case 'corrupt':
      where = `the deflated data of ${end.name} at byte ${end.at} is corrupt (${end.why}), and its size is only in a data descriptor after it: it and any entries after it are lost`;
      break;
    case 'junk':
      where = `byte ${end.at} starts no zip record (${end.why}): any entries after it are lost`;
      break;
  }
  return `the zip is cut short or damaged (${why}): ${found}; ${where}`;
}

/** A zip file read through its open descriptor, with a window of it kept (local headers are read one after the other). */
function fileSource(fd: number, size: number): ByteSource {
  let window = Buffer.alloc(0);
  let windowAt = 0;
  return {
    size,
    async read(at: number, n: number): Promise<Buffer> {
      const want = Math.max(0, Math.min(n, size - at));
      if (at >= windowAt && at + want <= windowAt + window.length) return window.subarray(at - windowAt, at - windowAt + want);
      const buf = Buffer.allocUnsafe(Math.min(Math.max(want, 64 * 1024), size - at));
      let got = 0;
      while (got < buf.length) {
        const r = await new Promise<number>((resolve, reject) => fs.read(fd, buf, got, buf.length - got, at + got, (err, k) => (err ? reject(err) : resolve(k))));
        if (r === 0) break;
        got += r;
      }
      window = buf.subarray(0, got);
      windowAt = at;
      return window.subarray(0, Math.min(want, got));
    },
    range: (start, end) => new FileRange(fd, start, end),
  };
}

function bufferSource(buf: Buffer): ByteSource {
  return {
    size: buf.length,
    read: async (at, n) => buf.subarray(at, Math.min(buf.length, at + n)),
    range: (start, end) => Readable.from(slices(buf, start, end)),
  };
}
