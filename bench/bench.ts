// `npm run bench`: speed and memory of `analyze` against floors measured in the same run.
//
//  1. A generated bugreport zip holding ~300 MB of text (issue 2). Two floors, both printed:
//     inflating the main entry with zlib from the raw deflate stream in large chunks (the
//     fastest way we know), and through yauzl's own inflating stream. Measured: `analyze <zip>
//     --format json` as a child process. Targets: analyze ≤ 1.5 × floor, peak RSS < 300 MB.
//  2. A 1 GB synthetic Perfetto trace and a zlib-compressed variant (issue 3), written by
//     bench/trace.ts. Floors: reading the file (in this process, and in a fresh node process
//     timed as analyze is, start-up included: both printed); reading it and inflating its
//     compressed_packets. Targets: ≤ 3 × (uncompressed), ≤ 1.5 × (compressed), RSS < 300 MB.
//  3. A 300 MB trace like (2) where a tenth of the events start a binder transaction (its
//     arrival and reply follow) and a fiftieth are `dmabuf_rss_stat` changes, as real traces of
//     DMA-BUF use hold: reported against the read floor, with no target of its own (it keeps the
//     paths those events take in sight).
//  4. A 70 MB hand capture of every /proc/<pid>/fdinfo/<fd> of a busy device (bench/capture.ts:
//     thousands of processes, 250 fds each, a quarter of them DMA-BUFs), read whole as one text:
//     reported against the read floor (node child), with no target of its own (the RSS target
//     holds).
//
// Inputs are generated into bench/out/ (gitignored) and reused when present. Peak RSS of
// the child comes from getrusage via a preloaded probe (bench/rss-probe.ts), so the CLI
// needs no support for it. It reports; it never fails on a missed target (exit 0).
//
// Options: --size-mb N (every input N MB, a quick run), --bugreport-mb N, --trace-mb N,
// --mixed-mb N, --capture-mb N, --skip-bugreport, --skip-trace, --skip-mixed, --skip-capture,
// --repeat N (best of N analyze
// runs, and of N + 1 floor runs: N before, one after; default 3: this machine's runs vary by
// ±15%, some days ±30%), --timeout S (kill an analyze run after S seconds, default 300, so the
// whole bench stays within minutes), --out DIR.
// Env: DMABUF_BENCH_SIZE_MB=N as --size-mb.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import zlib from 'node:zlib';
import yauzl from 'yauzl';
import { randomScenario } from '../test/fixtures/generate-scenario.js';
import { writeBugreportZip } from '../test/fixtures/bugreport.js';
import { parseHeader, WT_LEN } from '../src/importers/perfetto/wire.js';
import { writeSyntheticTrace } from './trace.js';
import { writeFdinfoCapture } from './capture.js';
import type { WithLocalHeader } from '../src/input/zip.js';

const here = path.dirname(fileURLToPath(import.meta.url)); // dist/bench
const root = path.resolve(here, '..', '..');
const bin = path.join(root, 'bin', 'dmabuf-triage.js');
const probe = pathToFileURL(path.join(here, 'rss-probe.js')).href;
const MB = 1e6;
/** Bump when the generators change so stale inputs in bench/out are not reused. */
const INPUT_VERSION = 1;

interface Args {
  bugreportMb: number;
  traceMb: number;
  mixedMb: number;
  captureMb: number;
  skipBugreport: boolean;
  skipTrace: boolean;
  skipMixed: boolean;
  skipCapture: boolean;
  repeat: number;
  /** Seconds after which an analyze run is killed and reported as timed out. */
  timeoutS: number;
  out: string;
}

function parseArgs(argv: string[]): Args {
  const env = Number(process.env.DMABUF_BENCH_SIZE_MB);
  const a: Args = {
    bugreportMb: env > 0 ? env : 300,
    traceMb: env > 0 ? env : 1000,
    mixedMb: env > 0 ? env : 300,
    captureMb: env > 0 ? env : 70,
    skipBugreport: false,
    skipTrace: false,
    skipMixed: false,
    skipCapture: false,
    repeat: 3,
    timeoutS: 300,
    out: path.join(root, 'bench', 'out'),
  };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    const num = () => {
      const v = Number(argv[++i]);
      if (!(v > 0)) throw new Error(`${k} needs a positive number`);
      return v;
    };
    if (k === '--size-mb') a.bugreportMb = a.traceMb = a.mixedMb = a.captureMb = num();
    else if (k === '--bugreport-mb') a.bugreportMb = num();
    else if (k === '--trace-mb') a.traceMb = num();
    else if (k === '--mixed-mb') a.mixedMb = num();
    else if (k === '--capture-mb') a.captureMb = num();
    else if (k === '--skip-bugreport') a.skipBugreport = true;
    else if (k === '--skip-trace') a.skipTrace = true;
    else if (k === '--skip-mixed') a.skipMixed = true;
    else if (k === '--skip-capture') a.skipCapture = true;
    else if (k === '--repeat') a.repeat = Math.floor(num());
    else if (k === '--timeout') a.timeoutS = num();
    else if (k === '--out') a.out = path.resolve(argv[++i]);
    else if (k === '--help' || k === '-h') {
      console.log('usage: npm run bench -- [--size-mb N] [--bugreport-mb N] [--trace-mb N] [--mixed-mb N] [--capture-mb N] [--skip-bugreport] [--skip-trace] [--skip-mixed] [--skip-capture] [--repeat N] [--timeout SECONDS] [--out DIR]');
      process.exit(0);
    } else throw new Error(`unknown option ${k}`);
  }
  return a;
}

const log = (m: string) => process.stderr.write(`bench: ${m}\n`);
const secs = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

/** Write `file` with `make(tmp)` unless it already exists; a partial file never takes its name. */
async function ensure(file: string, what: string, make: (tmp: string) => Promise<unknown>): Promise<void> {
  if (fs.existsSync(file)) {
    log(`reusing ${path.relative(root, file)}`);
    return;
  }
  log(`generating ${what} → ${path.relative(root, file)}`);
  const t = performance.now();
  const tmp = `${file}.tmp`;
  await make(tmp);
  fs.renameSync(tmp, file);
  log(`  done in ${secs(performance.now() - t)} (${(fs.statSync(file).size / MB).toFixed(1)} MB)`);
}

async function best<T extends { ms: number }>(n: number, f: () => Promise<T>): Promise<T> {
  let b: T | undefined;
  for (let i = 0; i < n; i++) {
    const r = await f();
    if (!b || r.ms < b.ms) b = r;
  }
  return b!;
}

// ---- floors ---------------------------------------------------------------------------

/**
 * Open the zip and inflate its main entry (the largest .txt) to nowhere. `raw`: as fast as
 * Node can, the entry's deflate stream read from the file in 1 MiB chunks through zlib with
 * 1 MiB output chunks (what our reader does, src/input/zip.ts); yauzl's raw stream in its place
 * takes twice as long. `yauzl`: yauzl's own inflating stream (16 KiB chunks), the plain way to
 * read an entry.
 */
function inflateFloor(zipPath: string, how: 'raw' | 'yauzl'): Promise<{ ms: number; bytes: number }> {
  const t = performance.now();
  return new Promise((resolve, reject) => {
    yauzl.open(zipPath, { lazyEntries: true, autoClose: false }, (err, zip) => {
      if (err || !zip) return reject(err);
      let main: yauzl.Entry | undefined;
      zip.on('entry', (e: yauzl.Entry) => {
        if (/\.txt$/.test(e.fileName) && (!main || e.uncompressedSize > main.uncompressedSize)) main = e;
        zip.readEntry();
      });
      zip.on('error', reject);
      zip.on('end', () => {
        if (!main) return reject(new Error('no .txt entry'));
        const entry = main;
        const drain = (stream: NodeJS.ReadableStream) => {
          let bytes = 0;
          stream.on('data', (c: Buffer) => (bytes += c.length));
          stream.on('error', reject);
          stream.on('end', () => {
            zip.close();
            resolve({ ms: performance.now() - t, bytes });
          });
        };
        if (how === 'yauzl') {
          zip.openReadStream(entry, (err2, s) => (err2 || !s ? reject(err2) : drain(s)));
          return;
        }
        (zip as WithLocalHeader).readLocalFileHeader(entry, { minimal: true }, (err2, header) => {
          if (err2 || !header) return reject(err2);
          const start = header.fileDataStart;
          const raw = fs.createReadStream(zipPath, { start, end: start + entry.compressedSize - 1, highWaterMark: 1 << 20 });
          drain(raw.pipe(zlib.createInflateRaw({ chunkSize: 1 << 20 })));
        });
      });
      zip.readEntry();
    });
  });
}

/** Read the file front to back in 1 MiB chunks. */
async function readFloor(file: string): Promise<{ ms: number; bytes: number }> {
  const t = performance.now();
  let bytes = 0;
  for await (const c of fs.createReadStream(file, { highWaterMark: 1 << 20 })) bytes += (c as Buffer).length;
  return { ms: performance.now() - t, bytes };
}

/**
 * The same read in a fresh `node` process, timed as `analyze` is (spawn to exit): the least a
 * command that reads the file costs, node's start-up included.
 */
function readFloorChild(file: string): Promise<{ ms: number; bytes: number }> {
  const script = `let n = 0; const s = require('fs').createReadStream(process.argv[1], { highWaterMark: 1 << 20 });
    s.on('data', (c) => (n += c.length)); s.on('end', () => process.stdout.write(String(n)));`;
  const t = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', script, file], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`the reading child exited with ${code}`));
      resolve({ ms: performance.now() - t, bytes: Number(out) });
    });
  });
}

/**
 * Read a trace, frame its top-level packets (`Trace.packet` = field 1) and inflate every
 * `compressed_packets` (TracePacket field 50) with zlib: the least any reader of a
 * compressed trace must do.
 */
async function inflateTraceFloor(file: string): Promise<{ ms: number; bytes: number; inflated: number }> {
  const t = performance.now();
  let bytes = 0;
  let inflated = 0;
  let carry: Buffer = Buffer.alloc(0);
  const h = { tag: 0, value: 0 };
  const packet = (b: Buffer, start: number, end: number) => {
    let p = start;
    while (p < end) {
      const n = parseHeader(b, p, end, h);
      if (n < 0) return;
      p += n;
      const wt = h.tag & 7;
      if (wt === WT_LEN) {
        if (h.tag >>> 3 === 50) inflated += zlib.inflateSync(b.subarray(p, p + h.value)).length;
        p += h.value;
      } else if (wt === 1) p += 8;
      else if (wt === 5) p += 4;
      else if (wt !== 0) return;
    }
  };
  for await (const c of fs.createReadStream(file, { highWaterMark: 1 << 20 })) {
    const chunk = c as Buffer;
    bytes += chunk.length;
    const b = carry.length ? Buffer.concat([carry, chunk]) : chunk;
    let p = 0;
    for (;;) {
      // Top level: Trace.packet fields (tag 0x0a) and their lengths.
      const n = parseHeader(b, p, b.length, h);
      if (n < 0 || (h.tag & 7) !== WT_LEN || p + n + h.value > b.length) break;
      const start = p + n;
      p = start + h.value;
      if (h.tag === 0x0a) packet(b, start, p);
    }
    carry = Buffer.from(b.subarray(p));
  }
  return { ms: performance.now() - t, bytes, inflated };
}

// ---- the measured child ---------------------------------------------------------------

interface Run {
  ms: number;
  code: number | null;
  timedOut: boolean;
  rssKb: number | undefined;
  stdoutBytes: number;
  stderrTail: string;
}

function analyze(input: string, timeoutS: number): Promise<Run> {
  const rssFile = path.join(path.dirname(input), `.rss-${process.pid}-${Date.now()}`);
  const t = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', probe, bin, 'analyze', input, '--format', 'json'], {
      env: { ...process.env, DMABUF_BENCH_RSS_FILE: rssFile },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdoutBytes = 0;
    let stderr = '';
    let timedOut = false;
    // Fallback for a run that is killed (the probe's exit handler never runs): poll the
    // high-water mark the kernel keeps (/proc/<pid>/status VmHWM, Linux).
    let polledKb: number | undefined;
    const poll = setInterval(() => {
      try {
        const m = /^VmHWM:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${child.pid}/status`, 'utf8'));
        if (m) polledKb = Math.max(polledKb ?? 0, Number(m[1]));
      } catch {
        // not Linux, or the process is gone
      }
    }, 250);
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutS * 1000);
    child.stdout.on('data', (c: Buffer) => (stdoutBytes += c.length));
    child.stderr.on('data', (c: Buffer) => {
      stderr = (stderr + c.toString()).slice(-4000);
    });
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      clearInterval(poll);
      const ms = performance.now() - t;
      let rssKb: number | undefined;
      try {
        rssKb = Number(fs.readFileSync(rssFile, 'utf8'));
        fs.rmSync(rssFile);
      } catch {
        rssKb = polledKb;
      }
      resolve({ ms, code, timedOut, rssKb, stdoutBytes, stderrTail: stderr.trim().split('\n').slice(-1)[0] ?? '' });
    });
  });
}

// ---- report ---------------------------------------------------------------------------

interface Row {
  name: string;
  inputMb: number;
  /** What MB/s is computed over (file bytes, or text bytes for the bugreport). */
  throughputMb: number;
  floorMs: number;
  floorWhat: string;
  run: Run;
  /** Largest ratio aimed at; none: reported only (the RSS target still holds). */
  target?: number;
}

function table(rows: Row[]): string {
  const head = ['benchmark', 'input', 'floor', 'analyze', 'MB/s', 'ratio', 'target', 'peak RSS', 'target', 'status'];
  const body = rows.map((r) => {
    const ok = r.run.code === 0;
    const ratio = r.run.ms / r.floorMs;
    const rssMb = r.run.rssKb !== undefined ? (r.run.rssKb * 1024) / MB : undefined;
    const meets = ok && (r.target === undefined || ratio <= r.target) && rssMb !== undefined && rssMb < 300;
    return [
      r.name,
      `${r.inputMb.toFixed(1)} MB`,
      `${secs(r.floorMs)} (${r.floorWhat})`,
      secs(r.run.ms),
      ok ? ((r.throughputMb / r.run.ms) * 1000).toFixed(1) : '-',
      ratio.toFixed(2),
      r.target === undefined ? '-' : `≤ ${r.target}`,
      rssMb !== undefined ? `${rssMb.toFixed(0)} MB` : 'n/a',
      '< 300 MB',
      r.run.timedOut
        ? `TIMED OUT (killed after ${secs(r.run.ms)}; ratio and RSS are lower bounds)`
        : ok
          ? meets
            ? 'meets targets'
            : 'MISSES target'
          : `FAILED (exit ${r.run.code}): ${r.run.stderrTail}`,
    ];
  });
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]))).join('  ');
  return [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)].join('\n');
}

// ---- main -----------------------------------------------------------------------------

async function main(): Promise<void> {
  let args: Args;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (e) {
    // A wrong option is the caller's to fix: one line, not a stack trace.
    console.error(`bench: ${(e as Error).message} (npm run bench -- --help)`);
    process.exit(2);
  }
  if (!fs.existsSync(bin)) throw new Error(`${bin} not found`);
  fs.mkdirSync(args.out, { recursive: true });
  const rows: Row[] = [];
  log(`node ${process.version}, ${process.platform}/${process.arch}`);

  if (!args.skipBugreport) {
    const file = path.join(args.out, `bugreport-v${INPUT_VERSION}-${args.bugreportMb}mb.zip`);
    await ensure(file, `a bugreport zip with ${args.bugreportMb} MB of text`, (tmp) =>
      writeBugreportZip(tmp, randomScenario({ seed: 300, processes: 400, buffers: 4000, leak: 'camera', sdk: 35, platform: 'qcom' }), {
        textBytes: args.bugreportMb * MB,
        seed: 300,
      }),
    );
    log('floors: inflating the main entry (raw zlib, and through yauzl)');
    const raw1 = await best(args.repeat, () => inflateFloor(file, 'raw'));
    const yauzl1 = await best(args.repeat, () => inflateFloor(file, 'yauzl'));
    log(`analyze ${path.relative(root, file)}`);
    const run = await best(args.repeat, () => analyze(file, args.timeoutS));
    const raw2 = await inflateFloor(file, 'raw');
    const yauzl2 = await inflateFloor(file, 'yauzl');
    for (const [floor, what] of [
      [raw1.ms < raw2.ms ? raw1 : raw2, 'raw inflate'],
      [yauzl1.ms < yauzl2.ms ? yauzl1 : yauzl2, 'yauzl inflate'],
    ] as const) {
      rows.push({
        name: `bugreport zip (${(floor.bytes / MB).toFixed(0)} MB text)`,
        inputMb: fs.statSync(file).size / MB,
        throughputMb: floor.bytes / MB,
        floorMs: floor.ms,
        floorWhat: what,
        run,
        target: 1.5,
      });
    }
  }

  if (!args.skipTrace) {
    for (const compressed of [false, true]) {
      const file = path.join(args.out, `trace-v${INPUT_VERSION}-${args.traceMb}mb${compressed ? '-zlib' : ''}.pftrace`);
      await ensure(file, `a ${args.traceMb} MB ${compressed ? 'zlib-compressed ' : ''}trace`, async (tmp) => {
        const r = await writeSyntheticTrace(tmp, args.traceMb * MB, { compressed });
        log(`  ${r.dmaHeapEvents} dma_heap_stat events`);
      });
      log(`floor: ${compressed ? 'reading and inflating' : 'reading'} ${path.basename(file)}`);
      const floorOf = async () => (compressed ? inflateTraceFloor(file) : { ...(await readFloor(file)), inflated: 0 });
      const f1 = await best(args.repeat, floorOf);
      const c1 = compressed ? undefined : await best(args.repeat, () => readFloorChild(file));
      log(`analyze ${path.relative(root, file)}`);
      const run = await best(args.repeat, () => analyze(file, args.timeoutS));
      const f2 = await floorOf();
      const floor = f1.ms < f2.ms ? f1 : f2;
      const inputMb = fs.statSync(file).size / MB;
      rows.push({
        name: compressed ? `trace, zlib packets (${(floor.inflated / MB).toFixed(0)} MB inflated)` : 'trace, uncompressed',
        inputMb,
        throughputMb: inputMb,
        floorMs: floor.ms,
        floorWhat: compressed ? 'read+inflate' : 'read',
        run,
        target: compressed ? 1.5 : 3,
      });
      if (c1) {
        const c2 = await readFloorChild(file);
        rows.push({
          name: 'trace, uncompressed',
          inputMb,
          throughputMb: inputMb,
          floorMs: Math.min(c1.ms, c2.ms),
          floorWhat: 'read, node child',
          run,
          target: 3,
        });
      }
    }
  }

  if (!args.skipMixed) {
    const file = path.join(args.out, `trace-v${INPUT_VERSION}-${args.mixedMb}mb-binder-rss.pftrace`);
    await ensure(file, `a ${args.mixedMb} MB trace with binder and DMA-BUF RSS events`, async (tmp) => {
      const r = await writeSyntheticTrace(tmp, args.mixedMb * MB, { compressed: false, binder: 0.1, rss: 0.02 });
      log(`  ${r.dmaHeapEvents} dma_heap_stat events`);
    });
    log(`floor: reading ${path.basename(file)}`);
    const f1 = await best(args.repeat, () => readFloor(file));
    log(`analyze ${path.relative(root, file)}`);
    const run = await best(args.repeat, () => analyze(file, args.timeoutS));
    const f2 = await readFloor(file);
    const inputMb = fs.statSync(file).size / MB;
    rows.push({ name: 'trace, binder and RSS events', inputMb, throughputMb: inputMb, floorMs: Math.min(f1.ms, f2.ms), floorWhat: 'read', run });
  }

  if (!args.skipCapture) {
    const file = path.join(args.out, `capture-v${INPUT_VERSION}-${args.captureMb}mb-fdinfo.txt`);
    await ensure(file, `a ${args.captureMb} MB capture of /proc/*/fdinfo`, async (tmp) => {
      const r = await writeFdinfoCapture(tmp, args.captureMb * MB);
      log(`  ${r.processes} processes, ${r.fds} fds, ${r.dmabufFds} of them DMA-BUFs`);
    });
    log(`floor: reading ${path.basename(file)} (node child)`);
    const f1 = await best(args.repeat, () => readFloorChild(file));
    log(`analyze ${path.relative(root, file)}`);
    const run = await best(args.repeat, () => analyze(file, args.timeoutS));
    const f2 = await readFloorChild(file);
    const inputMb = fs.statSync(file).size / MB;
    rows.push({ name: 'fdinfo capture', inputMb, throughputMb: inputMb, floorMs: Math.min(f1.ms, f2.ms), floorWhat: 'read, node child', run });
  }

  console.log('');
  console.log(table(rows));
  console.log('');
  console.log(`ratio = best analyze wall time of ${args.repeat} / floor (same run; floor = best of ${args.repeat + 1}, before and after).`);
  console.log('analyze runs as a child: `node bin/dmabuf-triage.js analyze <input> --format json`, node start-up included;');
  console.log('floor "read, node child": the same 1 MiB-chunk read in a fresh node process, timed the same way.');
  console.log('peak RSS = the child\'s getrusage maxrss. MB = 10^6 bytes. MB/s over the text (bugreport) or file (trace, capture) bytes.');
}

main().catch((e) => {
  // A crash of the benchmark itself (not a missed target) is an error.
  console.error(`bench: ${(e as Error).stack ?? e}`);
  process.exit(1);
});
