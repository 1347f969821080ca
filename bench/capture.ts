// Synthetic hand capture for the benchmark: every `/proc/<pid>/fdinfo/<fd>` of a busy device
// printed by a loop with a banner (`for f in /proc/*/fdinfo/*; do echo "--- $f"; cat $f; done`),
// one process after another, 250 fds each. A quarter of the fds are DMA-BUFs (Linux 6.x fdinfo,
// as test/fixtures/kernel.ts renders it: size, count, exporter, a name for some), shared
// between processes from a pool of 40,000 buffers, the few popular ones by many; the others are
// eventfds, epoll instances and regular files, which the importer reads and skips.
// Deterministic (seeded); streamed to disk, never held whole.
import fs from 'node:fs';
import { once } from 'node:events';
import { Rng } from '../test/fixtures/generate-scenario.js';

const FDS_PER_PROCESS = 250;
const BUFFERS = 40_000;
const EXPORTERS = ['system', 'system-uncached', 'qcom,system', 'mali', 'camera_heap', 'kgsl-3d0'];

/** Write a capture of at least `bytes` bytes (whole processes) to `file`; returns what it holds. */
export async function writeFdinfoCapture(file: string, bytes: number, seed = 1): Promise<{ processes: number; fds: number; dmabufFds: number }> {
  const rng = new Rng(seed);
  const buffers = Array.from({ length: BUFFERS }, (_, i) => ({
    inode: 100_000 + i,
    size: 4096 * rng.int(1, 2048),
    exporter: EXPORTERS[i % EXPORTERS.length],
    name: i % 3 === 0 ? `buf${i}` : i % 3 === 1 ? '' : undefined,
    count: rng.int(1, 4),
  }));
  const out = fs.createWriteStream(file);
  let written = 0;
  let processes = 0;
  let dmabufFds = 0;
  while (written < bytes) {
    const pid = 100 + 3 * processes++;
    let text = '';
    for (let fd = 0; fd < FDS_PER_PROCESS; fd++) {
      text += `--- /proc/${pid}/fdinfo/${fd}\n`;
      const r = rng.next();
      if (r < 0.25) {
        // Skewed towards the first buffers: a few are held by many processes.
        const b = buffers[Math.floor(rng.next() * rng.next() * BUFFERS)];
        text += `pos:\t0\nflags:\t02000002\nmnt_id:\t15\nino:\t${b.inode}\nsize:\t${b.size}\ncount:\t${b.count}\nexp_name:\t${b.exporter}\n`;
        if (b.name !== undefined) text += `name:\t${b.name}\n`;
        dmabufFds++;
      } else if (r < 0.35) {
        text += `pos:\t0\nflags:\t02004002\nmnt_id:\t16\nino:\t9177\neventfd-count:                0\neventfd-id: ${fd}\n`;
      } else if (r < 0.4) {
        text += `pos:\t0\nflags:\t02\nmnt_id:\t16\nino:\t9177\ntfd:       ${fd - 1} events:       19 data:                 c  pos:0 ino:2b5f sdev:f\n`;
      } else {
        text += `pos:\t${rng.int(0, 99_999)}\nflags:\t0100000\nmnt_id:\t23\nino:\t${rng.int(0, 999_999)}\n`;
      }
    }
    written += Buffer.byteLength(text);
    if (!out.write(text)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
  return { processes, fds: processes * FDS_PER_PROCESS, dmabufFds };
}
