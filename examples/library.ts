// Using dmabuf-triage as a library. An application that installed the package writes
//   import { open } from 'dmabuf-triage';
// This example compiles inside the package itself, so it imports the source entry point
// instead. Run it with `npm run build && node dist/examples/library.js [bugreport.zip]`.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { open } from '../src/index.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const input = process.argv[2] ?? path.resolve(here, '..', '..', 'examples', 'bugreport-example.zip');

const session = await open([input]);
try {
  // A catalogue analysis: who exported the memory.
  console.log('DMA-BUF by exporter:');
  console.table(session.run('dmabuf_exporters'));

  // A query of our own, with a named parameter: the largest buffers and who holds them.
  // No holder means only the kernel keeps the buffer alive (a bugreport names such buffers
  // only by inode, size and exporter).
  const rows = session.query(
    `SELECT d.inode, d.size, d.exporter, d.name,
            (SELECT group_concat(coalesce(p.name, '?') || ' (' || h.pid || ')', ', ')
               FROM dmabuf_holder h LEFT JOIN process p ON p.snapshot_id = h.snapshot_id AND p.pid = h.pid
              WHERE h.snapshot_id = d.snapshot_id AND h.inode = d.inode) AS holders
       FROM dmabuf d
      WHERE d.size >= :min_bytes
      ORDER BY d.size DESC, d.inode
      LIMIT 10`,
    { min_bytes: 8 * 1024 * 1024 },
  );
  console.log('Largest buffers:');
  console.table(rows.map((r) => ({ ...r, name: r.name ?? '', holders: r.holders ?? '(none: kernel-held)' })));
} finally {
  session.close();
}
