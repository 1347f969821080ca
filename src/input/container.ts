// A container is a set of named files read lazily: the entries of a zip or the files of a
// folder. An extracted bugreport and its zip go through the same code (src/input/load.ts).
import type { Readable } from 'node:stream';

export interface ContainerEntry {
  /** Path inside the container, `/`-separated (e.g. `FS/proc/meminfo`). */
  path: string;
  /** Uncompressed size in bytes (what `open()` must yield; the reader checks it). */
  size: number;
  /**
   * A fresh stream of the entry's bytes. `readAhead`: the entry is likely read to its end (the
   * bugreport text, a large entry that may be a trace), so a zip entry may inflate well ahead of
   * its reader; otherwise little is produced before it is asked for (most entries are only sniffed).
   */
  open(opts?: { readAhead?: boolean }): Promise<Readable>;
}

export interface Container {
  /** How the container is shown: the zip or folder path. */
  name: string;
  /** `zip` or `folder`. */
  kind: 'zip' | 'folder';
  entries: ContainerEntry[];
  /** What was found but cannot be listed or read (a folder that cannot be listed, a file whose size cannot be read): path inside the container, and why. */
  unreadable: { path: string; reason: string }[];
  close(): void;
}
