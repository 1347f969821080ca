// A folder given as input: an extracted bugreport, or a pulled /proc or /sys tree.
import fs from 'node:fs';
import path from 'node:path';
import type { Container, ContainerEntry } from './container.js';

/** Every regular file below `root` (symbolic links are not followed: /proc and /sys trees are full of cycles). */
export function openFolder(root: string): Container {
  const entries: ContainerEntry[] = [];
  const walk = (dir: string) => {
    let names: fs.Dirent[];
    try {
      names = fs.readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    names.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const d of names) {
      const full = path.join(dir, d.name);
      if (d.isDirectory()) walk(full);
      else if (d.isFile()) {
        const rel = path.relative(root, full).split(path.sep).join('/');
        entries.push({
          path: rel,
          size: fs.statSync(full).size,
          open: async () => fs.createReadStream(full, { highWaterMark: 1 << 20 }),
        });
      }
    }
  };
  walk(root);
  return { name: root, kind: 'folder', entries, close: () => {} };
}
