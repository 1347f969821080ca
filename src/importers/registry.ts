// Every importer of the package. Detection is by content: the input layer asks each
// importer's sniff in this order and takes the first that accepts.
import type { StreamImporter, TextImporter } from './types.js';
import { bugreport } from './bugreport.js';
import { dmabufDumpImporter } from './dmabuf-dump.js';
import { dmabufDumpBImporter } from './dmabuf-dump-b.js';
import { meminfoImporter } from './meminfo.js';

/** Importers for inputs that can be hundreds of megabytes, streamed: tried first. */
export const streamImporters: StreamImporter[] = [
  bugreport,
];

/** Importers for text small enough to hold whole: captures, bugreport sections. */
export const textImporters: TextImporter[] = [
  dmabufDumpImporter,
  dmabufDumpBImporter,
  meminfoImporter,
];
