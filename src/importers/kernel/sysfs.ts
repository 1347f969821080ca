// DMA-BUF sysfs statistics (CONFIG_DMABUF_SYSFS_STATS, drivers/dma-buf/dma-buf-sysfs-stats.c;
// Documentation/ABI/testing/sysfs-kernel-dmabuf-buffers): `/sys/kernel/dmabuf/buffers/<inode>/`
// holds `exporter_name` and `size` (bytes); the early layout (v5.12/5.13 Android kernels)
// also had `attachments/<attach_uid>/device` (a symlink to the importing device) and
// `attachments/<attach_uid>/map_counter`. See ../shared/formats.md §3c.
// Accepted:
//   - `grep -r . /sys/kernel/dmabuf/buffers` output: `<path>:<value>` lines (any prefix before
//     `<inode>/<attribute>`, so `grep -r . .` from inside the folder works too). A `device`
//     line's value is taken as the symlink's target (what `readlink`/`find -printf %l`
//     print): the device name is its last path component. `grep -R` follows the symlink into
//     the device's own attributes (`…/device/uevent:…`): those lines only prove the
//     attachment exists; its name stays unknown.
//     Prompts and `grep: …` complaints (`Is a directory`, `Permission denied`) are skipped.
//   - a pulled folder's single files (`…/buffers/<inode>/size`, `…/exporter_name`,
//     `…/attachments/<uid>/device` holding the link target, `…/map_counter`), one source each.
//     A folder keeping the `device` symlink (tar, cp -a) gives its target as the file's content
//     (../../input/folder.ts). `adb pull` follows the link instead: `device/` becomes a copy of
//     the device's own folder (uevent, …), which names no device and is not read.
// Rows: one `dmabuf_observation` per inode (exact size, exporter; sysfs has no name and no
// file count; global_list 1, sysfs listing every buffer); one `dmabuf_attachment` per
// attachment whose device is known (map_count from map_counter when the same source has it).
// Attachments without a device name: one `info` diagnostic.
import type { ImportContext, TextImporter } from '../types.js';
import { excerpt, guarded, isShellNoise, LineReader, splitLines, toInt } from '../common.js';
import { plural } from './common.js';

// <prefix><inode>/<attribute>[/<followed>]:<value>
const GREP = /^((?:[^:]*\/)?)(\d+)\/(exporter_name|size|attachments\/([^/:]+)\/(device|map_counter))(\/[^:]*)?:(.*)$/;
const FILE = /(?:^|\/)buffers\/(\d+)\/(exporter_name|size|attachments\/([^/]+)\/(device|map_counter))$/;

interface Buf {
  inode: number | bigint;
  line: number;
  size?: number | bigint;
  exporter?: string;
  attachments: Map<string, { device?: string; map?: number | bigint }>;
}

function deviceName(value: string): string | undefined {
  const t = value.trim().replace(/\/+$/, '');
  if (t === '') return undefined;
  const last = t.slice(t.lastIndexOf('/') + 1);
  return last === '' || last === '.' || last === '..' ? undefined : last;
}

export const sysfsImporter: TextImporter = {
  name: 'sysfs_dmabuf',
  description: 'DMA-BUF sysfs stats (/sys/kernel/dmabuf/buffers): grep -r output or pulled files, early attachments layout included',

  sniff(head: string, path: string): boolean {
    if (FILE.test(path.trim())) {
      // A pulled single file: one short value.
      const t = head.trim();
      return t.length > 0 && t.length < 4096 && !t.includes('\n');
    }
    // Prompts and `grep: …` complaints around the lines are not counted either way.
    const lines = head.split(/\r?\n/, 200).filter((l) => l.trim() !== '' && !isShellNoise(l) && !/^grep:/.test(l.trim()));
    if (lines.length === 0) return false;
    let hits = 0;
    for (const l of lines) if (GREP.test(l.trim()) && /buffers\/|^\.?\/?\d+\//.test(l.trim())) hits++;
    return hits > 0 && hits >= lines.length * 0.8;
  },

  importText(text: string, ctx: ImportContext): void {
    guarded(ctx, 'sysfs_dmabuf', (c) => importSysfs(text, c));
  },
};

function importSysfs(text: string, ctx: ImportContext): void {
  const bufs = new Map<string, Buf>();
  const get = (inode: number | bigint, line: number): Buf => {
    const k = String(inode);
    let b = bufs.get(k);
    if (!b) {
      b = { inode, line, attachments: new Map() };
      bufs.set(k, b);
    }
    return b;
  };
  const apply = (b: Buf, attr: string, uid: string | undefined, leaf: string | undefined, followed: string | undefined, value: string, lineNo: number) => {
    const v = value.trim();
    if (attr === 'size') {
      const n = toInt(v);
      if (n === undefined) ctx.diag('warning', 'malformed_row', `sysfs size is not a number: ${excerpt(v)}`, lineNo);
      else b.size = n;
    } else if (attr === 'exporter_name') {
      if (v === '') ctx.diag('warning', 'empty_exporter', `buffer ${b.inode} has an empty exporter_name`, lineNo);
      else b.exporter = v;
    } else if (uid !== undefined) {
      let a = b.attachments.get(uid);
      if (!a) {
        a = {};
        b.attachments.set(uid, a);
      }
      if (leaf === 'device' && followed === undefined) a.device = deviceName(v) ?? a.device;
      else if (leaf === 'map_counter') {
        const n = toInt(v);
        if (n !== undefined) a.map = n;
      }
    }
  };

  const single = FILE.exec(ctx.path.trim());
  if (single) {
    const inode = toInt(single[1])!;
    const { lines } = splitLines(text);
    const value = lines.find((l) => l.trim() !== '') ?? '';
    apply(get(inode, 1), single[2].startsWith('attachments') ? 'attachments' : single[2], single[3], single[4], undefined, value, 1);
  } else {
    const lines = new LineReader(text);
    for (let line = lines.next(); line !== undefined; line = lines.next()) {
      const lineNo = lines.count;
      const raw = line.trim();
      if (raw === '') continue;
      const m = GREP.exec(raw);
      if (!m) {
        if (!/^grep:/.test(raw) && !isShellNoise(raw)) ctx.diag('warning', 'malformed_row', `not a sysfs path:value line: ${excerpt(raw)}`, lineNo);
        continue;
      }
      if (!lines.more && !lines.complete) {
        ctx.diag('warning', 'truncated', `capture ends without a newline; its last value may be cut: ${excerpt(raw)}`, lineNo);
        if (m[3] === 'size') continue; // a cut number is a wrong number
      }
      const inode = toInt(m[2])!;
      const attr = m[3].startsWith('attachments') ? 'attachments' : m[3];
      apply(get(inode, lineNo), attr, m[4], m[5], m[6], m[7], lineNo);
    }
  }

  let unnamed = 0;
  for (const b of bufs.values()) {
    if (b.size !== undefined || b.exporter !== undefined) {
      ctx.insert('dmabuf_observation', {
        line: b.line,
        inode: b.inode,
        size: b.size ?? null,
        size_exact: 1,
        exporter: b.exporter ?? null,
        name: null,
        file_count: null,
        global_list: 1,
      });
    }
    for (const a of b.attachments.values()) {
      if (a.device === undefined) {
        unnamed++;
        continue;
      }
      ctx.insert('dmabuf_attachment', { inode: b.inode, device: a.device, map_count: a.map ?? null });
    }
  }
  if (unnamed > 0 && !single) {
    ctx.diag(
      'info',
      'attachment_device_unknown',
      `${plural(unnamed, 'sysfs attachment')} without a device name (\`grep -r\` does not read the \`device\` symlink): not recorded in dmabuf_attachment`,
    );
  }
}
