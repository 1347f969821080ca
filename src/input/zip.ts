// Zip archives (bugreport .zip files, zip64 included) read with yauzl: the central
// directory is read once, entries are inflated as streams on demand.
import type yauzl from 'yauzl';
import zlib from 'node:zlib';
import type { Readable } from 'node:stream';
import { InputError } from '../errors.js';
import type { Container, ContainerEntry } from './container.js';

const OPTIONS: yauzl.Options = { lazyEntries: true, autoClose: false, decodeStrings: true, validateEntrySizes: true };

/** Open a zip from a path or from bytes in memory. Throws InputError when it is not a readable zip. */
export async function openZip(name: string, source: { path: string } | { bytes: Uint8Array }): Promise<Container> {
  const { open, fromBuffer } = (await import('yauzl')).default;
  const zip = await new Promise<yauzl.ZipFile>((resolve, reject) => {
    const done = (err: Error | null, z?: yauzl.ZipFile) => (err || !z ? reject(err) : resolve(z));
    if ('path' in source) open(source.path, OPTIONS, done);
    else fromBuffer(Buffer.from(source.bytes.buffer, source.bytes.byteOffset, source.bytes.byteLength), OPTIONS, done);
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
          open: () => openEntry(zip, name, entry),
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

  return { name, kind: 'zip', entries, close: () => zip.close() };
}

/** Inflate output chunk size: large chunks keep the per-chunk overhead of a 500 MB entry small. */
const INFLATE_CHUNK = 256 * 1024;
/** How far (bytes) inflating may run ahead of the importer. */
const READ_AHEAD = 8 * 1024 * 1024;

/**
 * An entry's bytes. Deflated entries are inflated here rather than by yauzl, with large
 * output chunks (yauzl's 16 KiB chunks cost more than the inflating itself on big entries).
 * The reader checks the inflated size against the directory's (`ContainerEntry.size`).
 */
function openEntry(zip: yauzl.ZipFile, zipName: string, entry: yauzl.Entry): Promise<Readable> {
  const deflated = entry.compressionMethod === 8;
  return new Promise<Readable>((resolve, reject) =>
    zip.openReadStream(entry, (deflated ? { decompress: false } : {}) as yauzl.ZipFileOptions, (err, raw) => {
      if (err || !raw) return reject(asInputError(zipName, entry.fileName, err));
      if (!deflated) return resolve(raw);
      // A deep output buffer lets zlib (on the thread pool) inflate ahead while the importer works.
      const inflate = zlib.createInflateRaw({ chunkSize: INFLATE_CHUNK, readableHighWaterMark: READ_AHEAD } as zlib.ZlibOptions);
      raw.on('error', (e) => inflate.destroy(e));
      resolve(raw.pipe(inflate));
    }),
  );
}

function asInputError(zipName: string, entry: string, err: Error | null): InputError {
  return new InputError(`${zipName}: cannot read entry ${entry} (${err?.message ?? 'unknown error'})`);
}
