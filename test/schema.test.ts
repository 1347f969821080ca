// The schema is documented: every table, view and column carries a doc comment that
// `schema` prints, and the documented columns are exactly the real ones; every diagnostic code
// is explained in the README.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { openTexts } from './helpers.js';
import { DIAGNOSTIC_CODES } from '../src/diagnostics.js';
import { packagePath } from '../src/paths.js';

test('every table and view, and every column of each, is documented', async () => {
  const s = await openTexts({});
  const docs = s.schema();
  const objects = s.query("SELECT name, type FROM sqlite_master WHERE type IN ('table', 'view') AND name NOT LIKE 'sqlite_%' ORDER BY name");
  assert.ok(objects.length > 15);
  for (const o of objects) {
    const d = docs.find((x) => x.name === o.name);
    assert.ok(d, `${o.type} ${o.name} has no documentation`);
    assert.ok(d.doc.length > 10, `${o.name}: documentation too short: '${d.doc}'`);
    const real = s.columns(`SELECT * FROM "${o.name}"`);
    assert.deepEqual(d.columns.map((c) => c.name), real, `${o.name}: documented columns differ from the real ones`);
    for (const c of d.columns) assert.ok(c.doc.length > 2, `${o.name}.${c.name} is undocumented`);
  }
  s.close();
});

test('the contract tables exist with their key columns', async () => {
  const s = await openTexts({});
  const want: Record<string, string[]> = {
    source: ['id', 'path', 'importer', 'bytes', 'parent_id'],
    snapshot: ['id', 'source_id', 'captured_at', 'build_fingerprint', 'kernel_release', 'android_sdk'],
    process: ['snapshot_id', 'pid', 'name', 'cmdline'],
    thread: ['snapshot_id', 'tid', 'pid', 'name'],
    dmabuf: ['snapshot_id', 'inode', 'size', 'exporter', 'name', 'file_count'],
    dmabuf_holder: ['snapshot_id', 'inode', 'pid', 'fd_refs', 'map_refs'],
    dmabuf_attachment: ['snapshot_id', 'inode', 'device'],
    dmabuf_reported_total: ['snapshot_id', 'origin', 'total_bytes', 'buffer_count', 'kernel_bytes', 'userspace_rss_bytes', 'userspace_pss_bytes'],
    meminfo_dmabuf: ['snapshot_id', 'total_bytes', 'mapped_bytes', 'unmapped_bytes', 'heaps_bytes', 'pool_bytes', 'gpu_total_bytes', 'gpu_dmabuf_bytes', 'gpu_private_bytes'],
    dma_heap_event: ['snapshot_id', 'ts', 'inode', 'size_delta', 'heap_total', 'tid', 'pid'],
    dmabuf_rss_sample: ['snapshot_id', 'ts', 'pid', 'rss_bytes'],
    diagnostic: ['source_id', 'line', 'severity', 'code', 'message'],
    android_dmabuf_allocs: ['ts', 'buf_size', 'inode', 'utid', 'tid', 'thread_name', 'upid', 'pid', 'process_name'],
    android_memory_cumulative_dmabuf: ['upid', 'process_name', 'utid', 'thread_name', 'ts', 'value'],
  };
  for (const [table, cols] of Object.entries(want)) {
    const real = s.columns(`SELECT * FROM ${table}`);
    for (const c of cols) assert.ok(real.includes(c), `${table}.${c} missing`);
  }
  const analyses = s.analyses().map((a) => a.name);
  for (const a of ['dmabuf_exporters', 'dmabuf_processes', 'dmabuf_buffers', 'dmabuf_devices', 'dmabuf_heaps', 'dmabuf_leak_suspects', 'dmabuf_consistency', 'dmabuf_trace_summary', 'dmabuf_growth']) {
    assert.ok(analyses.includes(a), `analysis ${a} missing`);
  }
  s.close();
});

test('every diagnostic code is explained in the README, and the README explains no other', () => {
  const readme = fs.readFileSync(packagePath('README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Diagnostics'), readme.indexOf('\n## ', readme.indexOf('## Diagnostics') + 1));
  const explained = [...section.matchAll(/^\| `([a-z_]+)` \| (.+) \|$/gm)];
  assert.deepEqual(explained.map((m) => m[1]), [...DIAGNOSTIC_CODES].sort());
  for (const m of explained) assert.ok(m[2].length > 20, `${m[1]}: explanation too short`);
});
