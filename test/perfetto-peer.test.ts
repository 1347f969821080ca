// Perfetto's own DMA-BUF diff tests (../shared/peer-tests/perfetto/, see its README) run as
// conformance tests: each case's binary trace is loaded through `open()` (detected by
// content) and Perfetto's expected answer is compared with ours on the columns that mean the
// same thing everywhere. Every case folder must be handled by one of the comparisons below.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { open, type Session } from '../src/index.js';
import { sharedDir } from './helpers.js';

const PEER_DIR = path.join(sharedDir, 'peer-tests', 'perfetto');

// ---- expected-answer parsers ----------------------------------------------------------

type Cell = string | number | null;

/** Perfetto's diff-test CSV: quoted strings, bare numbers, `"[NULL]"` for SQL NULL. */
function parseCsv(text: string): { header: string[]; rows: Cell[][] } {
  const lines = text.split(/\r?\n/).filter((l) => l.trim() !== '');
  const split = (line: string): { v: string; quoted: boolean }[] => {
    const out: { v: string; quoted: boolean }[] = [];
    let i = 0;
    while (i <= line.length) {
      if (line[i] === '"') {
        let v = '';
        i++;
        for (;;) {
          if (line[i] === '"' && line[i + 1] === '"') {
            v += '"';
            i += 2;
          } else if (line[i] === '"') {
            i++;
            break;
          } else v += line[i++];
        }
        out.push({ v, quoted: true });
        i++; // comma
      } else {
        const j = line.indexOf(',', i);
        const end = j < 0 ? line.length : j;
        out.push({ v: line.slice(i, end), quoted: false });
        i = end + 1;
      }
    }
    return out;
  };
  const header = split(lines[0]).map((c) => c.v);
  const rows = lines.slice(1).map((l) =>
    split(l).map(({ v, quoted }): Cell => (v === '[NULL]' ? null : !quoted && v !== '' && !Number.isNaN(Number(v)) ? Number(v) : v)),
  );
  return { header, rows };
}

type TextProto = { [key: string]: Array<string | number | TextProto> };

/** Enough of the protobuf text format for Perfetto's expected metric outputs. */
function parseTextProto(text: string): TextProto {
  const tokens = text.replace(/#[^\n]*/g, '').match(/"(?:[^"\\]|\\.)*"|[{}:]|[^\s{}:"]+/g) ?? [];
  let i = 0;
  const block = (): TextProto => {
    const out: TextProto = {};
    while (i < tokens.length && tokens[i] !== '}') {
      const key = tokens[i++];
      let value: string | number | TextProto;
      if (tokens[i] === ':') i++;
      if (tokens[i] === '{') {
        i++;
        value = block();
        i++; // }
      } else {
        const t = tokens[i++];
        value = t.startsWith('"') ? JSON.parse(t) : Number(t);
      }
      (out[key] ??= []).push(value);
    }
    return out;
  };
  return block();
}

function one(p: TextProto, key: string): string | number | TextProto {
  const v = p[key];
  assert.ok(v && v.length === 1, `expected one ${key}`);
  return v[0];
}

// ---- comparisons ----------------------------------------------------------------------

function close(actual: unknown, expected: unknown, what: string): void {
  if (typeof expected === 'number' && typeof actual === 'number') {
    assert.ok(Math.abs(actual - expected) <= 1e-9 * Math.max(1, Math.abs(expected)), `${what}: ${actual} ≠ ${expected}`);
  } else {
    assert.equal(actual, expected, what);
  }
}

function sortRows(rows: Cell[][]): Cell[][] {
  return [...rows].sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));
}

/** Compare our rows with expected rows on the named columns (order-insensitive). */
function sameRows(ours: Record<string, unknown>[], expected: { header: string[]; rows: Cell[][] }, cols: string[], map: Record<string, string> = {}): void {
  const idx = cols.map((c) => {
    const k = expected.header.indexOf(c);
    assert.ok(k >= 0, `expected.csv has no column ${c}`);
    return k;
  });
  const want = sortRows(expected.rows.map((r) => idx.map((k) => r[k])));
  const got = sortRows(ours.map((r) => cols.map((c) => (r[map[c] ?? c] ?? null) as Cell)));
  assert.deepEqual(got, want);
}

function errors(s: Session): unknown[] {
  return s.query("SELECT code, message FROM diagnostic WHERE severity = 'error'");
}

type Check = (s: Session, dir: string) => void;

/** Which comparison a case gets, from what Perfetto ran on it. */
function checkFor(dir: string): Check | undefined {
  const sqlPath = path.join(dir, 'query.sql');
  const metricPath = path.join(dir, 'query.metric');
  if (fs.existsSync(sqlPath)) {
    const sql = fs.readFileSync(sqlPath, 'utf8');
    const expected = parseCsv(fs.readFileSync(path.join(dir, 'expected.csv'), 'utf8'));
    if (/FROM\s+android_dmabuf_allocs\b/.test(sql)) {
      return (s) => {
        const cols = ['ts', 'buf_size', 'inode', 'tid', 'thread_name', 'pid', 'process_name'];
        sameRows(s.query('SELECT * FROM android_dmabuf_allocs'), expected, cols);
        const col = (name: string) => {
          const i = expected.header.indexOf(name);
          assert.ok(i >= 0, `expected.csv has no ${name} column`);
          return i;
        };
        // upid/utid are internal ids: compare only where Perfetto has none.
        sameRows(
          s.query('SELECT ts, upid IS NULL AS no_upid, utid IS NULL AS no_utid FROM android_dmabuf_allocs'),
          {
            header: ['ts', 'no_upid', 'no_utid'],
            rows: expected.rows.map((r) => [r[col('ts')], r[col('upid')] === null ? 1 : 0, r[col('utid')] === null ? 1 : 0]),
          },
          ['ts', 'no_upid', 'no_utid'],
        );
      };
    }
    if (/FROM\s+android_memory_cumulative_dmabuf\b/.test(sql)) {
      return (s) => {
        sameRows(s.query('SELECT * FROM android_memory_cumulative_dmabuf'), expected, ['process_name', 'thread_name', 'ts', 'value']);
        const up = expected.header.indexOf('upid');
        sameRows(
          s.query('SELECT ts, value, upid IS NULL AS no_upid FROM android_memory_cumulative_dmabuf'),
          { header: ['ts', 'value', 'no_upid'], rows: expected.rows.map((r) => [r[expected.header.indexOf('ts')], r[expected.header.indexOf('value')], r[up] === null ? 1 : 0]) },
          ['ts', 'value', 'no_upid'],
        );
      };
    }
    if (sql.includes("'mem.dma_heap_change'")) {
      // Perfetto's per-thread change counter: one value per dma_heap_stat event, with its inode.
      return (s) => {
        const ours = s.query('SELECT ts, size_delta AS value, inode, tid FROM dma_heap_event');
        sameRows(ours, expected, ['ts', 'value', 'inode']);
        assert.ok(ours.every((r) => r.tid !== null), 'every change belongs to a thread');
        // Perfetto puts all of them on one thread's track: so do we.
        assert.equal(new Set(ours.map((r) => r.tid)).size, new Set(expected.rows.map((r) => r[expected.header.indexOf('utid')])).size);
      };
    }
    if (sql.includes("'mem.dma_buffer'")) {
      // Perfetto's per-buffer slices: allocation to free, named `<size / 1024> kB`.
      return (s) => {
        const ours = s.query("SELECT alloc_ts AS ts, dur, (size / 1024) || ' kB' AS label FROM dmabuf_trace_buffers");
        assert.deepEqual(expected.header, ['name', 'ts', 'dur', 'name']);
        assert.deepEqual(
          sortRows(ours.map((r) => [r.ts as number, r.dur as number, r.label as string])),
          sortRows(expected.rows.map((r) => [r[1], r[2], r[3]])),
        );
      };
    }
    if (sql.includes("GLOB 'mem.ion*'")) {
      // Perfetto's `mem.ion` (global total) and `mem.ion_change` (per-thread change) counters.
      return (s) => {
        const ours = s.query(
          `SELECT 'mem.ion' AS name, ts, heap_total AS value FROM ion_heap_event WHERE origin = 'ion_stat'
           UNION ALL SELECT 'mem.ion_change', ts, size_delta FROM ion_heap_event WHERE origin = 'ion_stat'`,
        );
        sameRows(ours, expected, ['name', 'ts', 'value']);
      };
    }
    return undefined;
  }
  if (fs.existsSync(metricPath)) {
    const metric = fs.readFileSync(metricPath, 'utf8').trim();
    const expected = parseTextProto(fs.readFileSync(path.join(dir, 'expected.textproto'), 'utf8'));
    if (metric === 'android_dma_heap') {
      return (s) => {
        const m = one(expected, 'android_dma_heap') as TextProto;
        const [t] = s.query("SELECT * FROM dmabuf_trace_summary WHERE scope = 'trace'");
        assert.ok(t, 'a trace row');
        close(t.heap_avg_bytes, one(m, 'avg_size_bytes'), 'avg_size_bytes');
        close(t.heap_min_bytes, one(m, 'min_size_bytes'), 'min_size_bytes');
        close(t.heap_max_bytes, one(m, 'max_size_bytes'), 'max_size_bytes');
        close(t.allocated_bytes, one(m, 'total_alloc_size_bytes'), 'total_alloc_size_bytes');
        close(t.net_delta_bytes, one(m, 'total_delta_bytes'), 'total_delta_bytes');
        const perName = s.query(
          "SELECT process_name, sum(net_delta_bytes) AS delta FROM dmabuf_trace_summary WHERE scope = 'process' GROUP BY process_name ORDER BY process_name",
        );
        const want = (m.process_stats ?? []).map((p) => {
          const ps = p as TextProto;
          return { process_name: one(ps, 'process_name'), delta: one(ps, 'delta_bytes') };
        });
        assert.deepEqual(perName, want);
      };
    }
    if (metric === 'android_ion') {
      return (s) => {
        const m = one(expected, 'android_ion') as TextProto;
        const rows = s.query('SELECT * FROM dmabuf_ion_summary ORDER BY heap_name');
        const want = (m.buffer ?? []) as TextProto[];
        assert.equal(rows.length, want.length, 'one summary row per heap');
        for (const b of want) {
          const name = one(b, 'name');
          const r = rows.find((x) => x.heap_name === name);
          assert.ok(r, `heap ${name}`);
          close(r.avg_size_bytes, one(b, 'avg_size_bytes'), `${name} avg_size_bytes`);
          close(r.min_size_bytes, one(b, 'min_size_bytes'), `${name} min_size_bytes`);
          close(r.max_size_bytes, one(b, 'max_size_bytes'), `${name} max_size_bytes`);
          close(r.total_alloc_size_bytes, one(b, 'total_alloc_size_bytes'), `${name} total_alloc_size_bytes`);
        }
      };
    }
    if (metric === 'android_fastrpc') {
      // fastrpc_dma_stat is not ingested: the trace loads, nothing is stored, nothing fails.
      return (s) => {
        assert.deepEqual(s.query('SELECT importer FROM source'), [{ importer: 'perfetto' }]);
        assert.equal(s.query('SELECT count(*) AS n FROM dma_heap_event')[0].n, 0);
        assert.equal(s.query('SELECT count(*) AS n FROM ion_heap_event')[0].n, 0);
        assert.equal(s.query('SELECT ftrace_events FROM trace_info')[0].ftrace_events, 2);
      };
    }
  }
  return undefined;
}

const cases = fs.existsSync(PEER_DIR) ? fs.readdirSync(PEER_DIR).sort() : [];

test('the peer test folder is there', () => {
  assert.ok(cases.length >= 10, `no peer cases in ${PEER_DIR}`);
});

for (const name of cases) {
  const dir = path.join(PEER_DIR, name);
  for (const file of ['trace.pb', 'trace_compressed_packets.pb']) {
    const trace = path.join(dir, file);
    if (!fs.existsSync(trace)) continue;
    test(`perfetto peer ${name} (${file})`, async () => {
      const check = checkFor(dir);
      assert.ok(check, `no comparison for peer case ${name}: add one`);
      const s = await open(trace);
      try {
        assert.deepEqual(errors(s), [], 'no error diagnostics');
        assert.equal(s.query('SELECT importer FROM source WHERE parent_id IS NULL')[0].importer, 'perfetto');
        check(s, dir);
      } finally {
        s.close();
      }
    });
  }
}
