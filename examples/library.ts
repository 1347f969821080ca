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

  // A query of our own: the largest buffers with a given name, and who holds them
  // (no holder = only the kernel keeps them alive).
  const rows = session.query(
    `SELECT d.inode, d.size, d.exporter,
            (SELECT group_concat(p.name || ' (' || h.pid || ')', ', ')
               FROM dmabuf_holder h LEFT JOIN process p ON p.snapshot_id = h.snapshot_id AND p.pid = h.pid
              WHERE h.snapshot_id = d.snapshot_id AND h.inode = d.inode) AS holders
       FROM dmabuf d
      WHERE d.name = :name
      ORDER BY d.size DESC
      LIMIT 10`,
    { name: 'CAMERA' },
  );
  console.log('Largest CAMERA buffers:');
  console.table(rows.map((r) => ({ ...r, holders: r.holders ?? '(none: kernel-held)' })));
} finally {
  session.close();
}
