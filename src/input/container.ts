// A container is a set of named files read lazily: the entries of a zip or the files of a
// folder. An extracted bugreport and its zip go through the same code (src/input/load.ts).
import type { Readable } from 'node:stream';

export interface ContainerEntry {
  /** Path inside the container, `/`-separated (e.g. `FS/proc/meminfo`). */
  path: string;
  /** Uncompressed size in bytes (what `open()` must yield; the reader checks it). For a `cut` entry, see there. */
  size: number;
  /**
   * The entry is cut short by the end of its zip (a zip read from its local headers): `open()`
   * yields what can be read of it, then ends; `size` is then the bytes of its data the file
   * still holds (compressed, when it is deflated), a hint of how much there is to read, not what
   * `open()` yields, and is not checked. A text's last line, likely cut, is not read.
   */
  cut?: boolean;
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
  /**
   * A zip whose central directory is missing or unreadable (a file cut short), read from its
   * local headers: how many entries were found whole, which one the end of the file cuts and
   * where (the `zip_truncated` warning).
   */
  recovered?: string;
  /** A folder's symbolic links, which are not followed (paths inside it): named when nothing else was read. */
  links?: string[];
  close(): void;
}
