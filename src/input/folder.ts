// A folder given as input: an extracted bugreport, or a pulled /proc or /sys tree.
import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { InputError } from '../errors.js';
import type { Container, ContainerEntry } from './container.js';

/**
 * Files up to this size (bytes) are read in one synchronous call: a pulled /proc tree holds
 * thousands of files of a few hundred bytes, and a stream's asynchronous open, reads and close
 * cost far more than reading them, as does its read buffer (allocated whole, 1 MiB).
 */
const SMALL_FILE = 64 * 1024;

/**
 * Symbolic links whose target is read as if it were the link's content: a sysfs attachment's
 * `device` link (`…/buffers/<inode>/attachments/<uid>/device`, formats.md §3c), which names the
 * importing device by its target alone. The sysfs importer reads such a file as it reads the
 * value of a `grep -r` line (the target's last component is the device). Tested on the path
 * below the folder's parent, so a folder given as `buffers` itself matches.
 */
const READ_LINK = /(?:^|\/)\d+\/attachments\/[^/]+\/device$/;

/** A link's target and a newline, as one entry (never followed: only the link itself is read). */
function linkEntry(full: string, rel: string): ContainerEntry {
  const bytes = Buffer.from(`${fs.readlinkSync(full)}\n`);
  return { path: rel, size: bytes.length, open: async () => Readable.from([bytes]) };
}

/** The bytes of a small file, read when first asked for (an error then fails the stream). */
function* readWhole(file: string): Iterable<Buffer> {
  yield fs.readFileSync(file);
}

/**
 * Every regular file below `root` (symbolic links are not followed: /proc and /sys trees are
 * full of cycles), and the links READ_LINK names, read as their target. A subfolder that
 * cannot be listed, or a file that cannot be stat'ed or a link read, is noted in `unreadable`;
 * a root that cannot be listed is an InputError.
 */
export function openFolder(root: string): Container {
  const entries: ContainerEntry[] = [];
  const unreadable: Container['unreadable'] = [];
  const links: string[] = [];
  const rel = (full: string) => path.relative(root, full).split(path.sep).join('/');
  const walk = (dir: string) => {
    let names: fs.Dirent[];
    try {
      names = fs.readdirSync(dir, { withFileTypes: true });
    } catch (e) {
      if (dir === root) throw new InputError(`${root}: cannot read (${(e as Error).message})`);
      unreadable.push({ path: rel(dir), reason: (e as Error).message });
      return;
    }
    names.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const d of names) {
      const full = path.join(dir, d.name);
      if (d.isDirectory()) walk(full);
      else if (d.isSymbolicLink()) {
        if (!READ_LINK.test(path.basename(root) + '/' + rel(full))) {
          links.push(rel(full));
          continue;
        }
        try {
          entries.push(linkEntry(full, rel(full)));
        } catch (e) {
          unreadable.push({ path: rel(full), reason: (e as Error).message });
        }
      } else if (d.isFile()) {
        let size: number;
        try {
          size = fs.statSync(full).size;
        } catch (e) {
          unreadable.push({ path: rel(full), reason: (e as Error).message });
          continue;
        }
        entries.push({
          path: rel(full),
          size,
          open: async () => (size <= SMALL_FILE ? Readable.from(readWhole(full)) : fs.createReadStream(full, { highWaterMark: 1 << 20 })),
        });
      }
    }
  };
  walk(root);
  return { name: root, kind: 'folder', entries, unreadable, links, close: () => {} };
}
