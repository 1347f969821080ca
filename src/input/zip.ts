// Zip archives (bugreport .zip files, zip64 included) read with yauzl: the central
// directory is read once, entries are inflated as streams on demand.
import yauzl from 'yauzl';
import type { Readable } from 'node:stream';
import { InputError } from '../errors.js';
import type { Container, ContainerEntry } from './container.js';

const OPTIONS: yauzl.Options = { lazyEntries: true, autoClose: false, decodeStrings: true, validateEntrySizes: true };

/** Open a zip from a path or from bytes in memory. Throws InputError when it is not a readable zip. */
export async function openZip(name: string, source: { path: string } | { bytes: Uint8Array }): Promise<Container> {
  const zip = await new Promise<yauzl.ZipFile>((resolve, reject) => {
    const done = (err: Error | null, z?: yauzl.ZipFile) => (err || !z ? reject(err) : resolve(z));
    if ('path' in source) yauzl.open(source.path, OPTIONS, done);
    else yauzl.fromBuffer(Buffer.from(source.bytes.buffer, source.bytes.byteOffset, source.bytes.byteLength), OPTIONS, done);
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
          open: () =>
            new Promise<Readable>((res, rej) =>
              zip.openReadStream(entry, (err, stream) => (err || !stream ? rej(asInputError(name, entry.fileName, err)) : res(stream))),
            ),
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

function asInputError(zipName: string, entry: string, err: Error | null): InputError {
  return new InputError(`${zipName}: cannot read entry ${entry} (${err?.message ?? 'unknown error'})`);
}
