// What the user pointed at → importers. An input is a path (file or folder) or named bytes.
// Files are recognized by content: zip and gzip by their magic bytes, atrace's compressed dump
// by its `TRACE:` line and zlib header, everything else by asking each importer's sniff in
// registry order. One input makes one snapshot.
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { pipeline, Readable } from 'node:stream';
import { InputError } from '../errors.js';
import type { Db } from '../db/database.js';
import { SourceContext } from '../importers/context.js';
import { streamImporters, textImporters } from '../importers/registry.js';
import { isDumpstateText } from '../importers/bugreport.js';
import type { ImportContext, ImportEnv, StreamImporter, TextImporter } from '../importers/types.js';
import type { Container, ContainerEntry } from './container.js';
import { openZip } from './zip.js';
import { openFolder } from './folder.js';
import { readHead } from './head.js';
import type { TraceWorkers } from '../importers/perfetto/remote.js';

/** A path, or bytes with the name they are shown under. */
export type InputSpec = string | { name: string; bytes: Uint8Array };

/** How many leading bytes importers sniff. */
const SNIFF_BYTES = 64 * 1024;
/** Largest text a text importer is given whole. */
const MAX_TEXT_BYTES = 512 * 1024 * 1024;
const ZIP_MAGIC = [0x50, 0x4b];
const GZIP_MAGIC = [0x1f, 0x8b];

export function makeEnv(progress: (message: string) => void, traceWorkers?: TraceWorkers): ImportEnv {
  return {
    traceWorkers,
    sniffText: (text, p) => sniffText(text, p),
    textImporter: (name) => {
      const i = textImporters.find((t) => t.name === name);
      if (!i) throw new Error(`no text importer named ${name}`);
      return i;
    },
    progress,
  };
}

function sniffText(text: string, p: string): TextImporter | undefined {
  const head = text.length > SNIFF_BYTES ? text.slice(0, SNIFF_BYTES) : text;
  return textImporters.find((t) => safely(() => t.sniff(head, p)));
}

function sniffStream(head: Uint8Array, p: string): StreamImporter | undefined {
  return streamImporters.find((s) => safely(() => s.sniffBytes(head, p)));
}

function safely(f: () => boolean): boolean {
  return tried(f) ?? false;
}

/** What `f` returns, undefined when it throws (a sniff that fails refuses). */
function tried<T>(f: () => T): T | undefined {
  try {
    return f();
  } catch {
    return undefined;
  }
}

/** Load one input into the database as one snapshot. */
export async function loadInput(db: Db, spec: InputSpec, env: ImportEnv): Promise<void> {
  if (typeof spec !== 'string') {
    const { name, bytes } = spec;
    if (hasMagic(bytes, ZIP_MAGIC)) return loadContainer(db, await openZip(name, { bytes }), env, bytes.byteLength);
    const first = await openPeeked(Readable.from([Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)]), name);
    const loaded = await loadStream(db, name, first, bytes.byteLength, null, env);
    if (!loaded) throw notRecognized(name);
    return;
  }
  let stat: fs.Stats;
  try {
    stat = fs.statSync(spec);
  } catch (e) {
    throw new InputError(`${spec}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or directory' : (e as Error).message}`);
  }
  if (stat.isDirectory()) return loadContainer(db, openFolder(spec), env);
  if (!stat.isFile()) return loadPipe(db, spec, env);
  let head: Buffer;
  try {
    head = readHead(spec, 4);
  } catch (e) {
    throw new InputError(`${spec}: cannot read (${(e as Error).message})`);
  }
  if (hasMagic(head, ZIP_MAGIC)) return loadContainer(db, await openZip(spec, { path: spec }), env, stat.size);
  const first = await openPeeked(fs.createReadStream(spec, { highWaterMark: 1 << 20 }), spec);
  const loaded = await loadStream(db, spec, first, stat.size, null, env, { file: spec });
  if (!loaded) throw notRecognized(spec);
}

/**
 * A path that is neither a file nor a folder: a pipe (`analyze <(zcat bugreport.txt.gz)`, a
 * FIFO) or a device. It is read once, from its start, as it comes: nothing can be read at an
 * offset or twice, and its size is unknown. A zip needs random access: its bytes are gathered first.
 */
async function loadPipe(db: Db, spec: string, env: ImportEnv): Promise<void> {
  const first = await openPeeked(fs.createReadStream(spec, { highWaterMark: 1 << 20 }), spec);
  if (hasMagic(first.head, ZIP_MAGIC)) {
    const parts: Buffer[] = [];
    for await (const c of first.chunks) parts.push(c);
    const bytes = Buffer.concat(parts);
    return loadContainer(db, await openZip(spec, { bytes }), env, bytes.byteLength);
  }
  if (!(await loadStream(db, spec, first, undefined, null, env))) throw notRecognized(spec);
}

function notRecognized(name: string): InputError {
  return new InputError(`${name}: not a bugreport, a Perfetto trace or a DMA-BUF capture this tool reads (detected by content)`);
}

function hasMagic(b: Uint8Array, magic: number[]): boolean {
  return b.length >= magic.length && magic.every((m, i) => b[i] === m);
}

/** A stream of bytes with its first bytes read (`peek`). */
type Peeked = Awaited<ReturnType<typeof peek>>;

/**
 * Start reading a byte source: its errors become InputErrors, its size is checked when
 * `expected` is given (a zip entry's directory size), and its first bytes are read for sniffing.
 */
function openPeeked(stream: AsyncIterable<Buffer>, name: string, expected?: number): Promise<Peeked> {
  return peek(guard(stream, name, expected), SNIFF_BYTES);
}

/**
 * Sniff a stream (`first`: from `openPeeked`) and hand it to the importer that recognizes it.
 * With `parent`, the stream is an entry of a container and becomes a child source; otherwise
 * it is a top-level input and makes a snapshot. `cut`: an entry cut short by the end of its zip
 * (read up to the cut; a text's last, likely cut, line is not). Returns false when no importer
 * recognized it.
 */
async function loadStream(
  db: Db,
  name: string,
  first: Peeked,
  bytes: number | undefined,
  parent: SourceContext | null,
  env: ImportEnv,
  opts: { forced?: StreamImporter; file?: string; cut?: boolean } = {},
): Promise<boolean> {
  let chunks: AsyncIterable<Buffer>;
  let peeked = first;
  let compressed = false;
  let cut = false;
  const entryCut = opts.cut === true;
  const body = compressedBody(peeked.head);
  if (body) {
    compressed = true;
    // pipeline: a source error reaches the reader through the inflater, and a reader that
    // stops early (a sniff) stops the source too, which closes the file or zip entry under it.
    // A stream cut short: keep what came before the cut (recorded below), refuse nothing.
    const raw = skipBytes(peeked.chunks, body.at);
    chunks = guard(pipeline(Readable.from(body.crlf ? lfOnly(raw) : raw), body.inflater(), () => {}), name, undefined, () => (cut = true));
    peeked = await peek(chunks, SNIFF_BYTES);
  }
  const noteCut = (ctx: SourceContext, lines: boolean) => {
    const read = lines ? 'every whole line before the cut was read' : 'everything before the cut was read';
    if (entryCut) ctx.diag('warning', 'truncated', `the entry is cut short by the end of the zip (zip_truncated): ${read}`);
    else if (cut) ctx.diag('warning', 'truncated', `the ${body!.kind} stream ends early (the file was cut): ${read}`);
  };
  // A line cut short is not read as a line (`total_allocated=163` of `…=16384B`).
  const asLines = (c: AsyncIterable<Buffer>) => (compressed || entryCut ? wholeLines(c, () => cut || entryCut) : c);
  const bom = textEncodingBom(peeked.head);
  if (bom) {
    // A capture saved by a Windows shell (UTF-16) or an editor (UTF-8 BOM): re-encode as plain UTF-8.
    chunks = toUtf8(peeked.chunks, bom);
    peeked = await peek(chunks, SNIFF_BYTES);
  }
  const label = path.basename(name);
  let si = opts.forced ?? sniffStream(peeked.head, name);
  // A binary file saved through a terminal (`adb shell cat trace > file`, a pty): every LF
  // became CR LF. Read with the translation undone (exactly: each CR LF there was an LF).
  let crlf = false;
  if (!si && peeked.head[0] === 0x0d && peeked.head[1] === 0x0a) {
    const undone = sniffStream(undoCrlf(peeked.head, false).out, name);
    if (undone && !undone.lines) {
      si = undone;
      crlf = true;
      chunks = lfOnly(peeked.chunks);
      peeked = await peek(chunks, SNIFF_BYTES);
    }
  }
  if (si) {
    const whole = !compressed && !crlf && !entryCut;
    const ctx = parent
      ? parent.child(name, si.name, { bytes: whole ? bytes : undefined })
      : SourceContext.topLevel(db, name, si.name, si.snapshotKind, label, whole ? bytes : undefined);
    env.progress(`reading ${name} (${si.name})`);
    const file = opts.file !== undefined && bytes !== undefined && whole && !bom ? { path: opts.file, bytes } : undefined;
    await si.importStream(si.lines ? asLines(peeked.chunks) : peeked.chunks, ctx, env, file);
    await peeked.stop(); // the importer may have read the file itself
    noteCut(ctx, si.lines === true);
    if (crlf) {
      ctx.diag(
        'warning',
        'crlf_undone',
        'the file was saved through a terminal that turned every LF byte into CR LF (adb shell with a pty): read with that undone; adb pull or adb exec-out save it as it is',
      );
    }
    return true;
  }
  // Only the sniffed bytes are decoded: the head can be a whole 1 MiB chunk, and decoding that
  // much binary (a zip's proto/ and .pb entries) as UTF-8 took milliseconds per entry.
  let ti = sniffText(peeked.head.toString('utf8', 0, Math.min(peeked.head.length, SNIFF_BYTES)), name);
  if (!ti) {
    await peeked.stop();
    return false;
  }
  const sniffed = ti.name;
  const { text, total } = await readText(asLines(peeked.chunks), !compressed && !bom && !entryCut ? bytes : undefined, async () => {
    await peeked.stop();
    return new InputError(`${name}: a ${sniffed} capture larger than ${MAX_TEXT_BYTES} bytes is not supported`);
  });
  let read: ((ctx: ImportContext) => void) | undefined;
  if (total > SNIFF_BYTES) {
    // What the head did not show: an importer that recognizes the whole text reads it.
    for (const t of textImporters) {
      const whole = t !== ti && t.sniffWhole ? tried(() => t.sniffWhole!(text, name)) : undefined;
      if (whole) {
        ti = t;
        read = whole;
        break;
      }
    }
  }
  const ctx = parent
    ? parent.child(name, ti.name, { bytes: total })
    : SourceContext.topLevel(db, name, ti.name, 'capture', label, total);
  env.progress(`reading ${name} (${ti.name})`);
  if (read) read(ctx);
  else ti.importText(text, ctx);
  // RegExp's last match (RegExp.lastMatch, $1, …) keeps its subject, a line of the text, and
  // with it the whole text the line was cut from (tens of megabytes) until another match: one here.
  /^/.exec('');
  noteCut(ctx, true);
  return true;
}

/**
 * The chunks as UTF-8 text, and how many bytes they were (`size`: how many are expected, when
 * known). They are gathered into one buffer as they come: the chunks and their concatenation are
 * not held at once (a 70 MB capture peaked 70 MB higher). Beyond MAX_TEXT_BYTES, what `tooLarge`
 * gives is thrown.
 */
async function readText(chunks: AsyncIterable<Buffer>, size: number | undefined, tooLarge: () => Promise<Error>): Promise<{ text: string; total: number }> {
  let buf = Buffer.allocUnsafe(size !== undefined && size <= MAX_TEXT_BYTES ? size : 1 << 20);
  let total = 0;
  for await (const c of chunks) {
    if (total + c.length > MAX_TEXT_BYTES) throw await tooLarge();
    if (total + c.length > buf.length) {
      const grown = Buffer.allocUnsafe(Math.min(MAX_TEXT_BYTES, Math.max(2 * buf.length, total + c.length)));
      buf.copy(grown, 0, 0, total);
      buf = grown;
    }
    c.copy(buf, total);
    total += c.length;
  }
  return { text: buf.toString('utf8', 0, total), total };
}

/** The line atrace writes before the trace it dumps, and before its zlib stream with `-z`. */
const ATRACE_DUMP = /(?:^|\n)TRACE:\r?\n/;

/**
 * A compressed file: gzip, or the dump of `atrace -z` (what it printed, a `TRACE:` line, then
 * the ftrace text as a zlib stream; frameworks/native cmds/atrace): where the compressed stream
 * starts, what inflates it, and whether a terminal turned its every LF into CR LF (`adb shell`
 * through a pty does, `adb exec-out` does not; the `TRACE:` line then ends with CR LF too).
 */
function compressedBody(head: Buffer): { kind: string; at: number; crlf: boolean; inflater: () => zlib.Gunzip | zlib.Inflate } | undefined {
  if (hasMagic(head, GZIP_MAGIC)) return { kind: 'gzip', at: 0, crlf: false, inflater: () => zlib.createGunzip({ chunkSize: 1 << 20 }) };
  const m = ATRACE_DUMP.exec(head.subarray(0, 4096).toString('latin1'));
  if (!m) return undefined;
  const at = m.index + m[0].length;
  // A zlib header: deflate (CM 8) with a window of at most 32 KiB, header check a multiple of 31.
  const zlibHeader = head.length >= at + 2 && (head[at] & 0x0f) === 8 && head[at] >> 4 <= 7 && ((head[at] << 8) | head[at + 1]) % 31 === 0;
  if (!zlibHeader) return undefined;
  return { kind: 'zlib', at, crlf: m[0].endsWith('\r\n'), inflater: () => zlib.createInflate({ chunkSize: 1 << 20 }) };
}

/**
 * `c` with every CR LF made LF: a terminal's translation of LF undone. `heldCr`: the bytes
 * before `c` ended with a CR, held back; the result says whether `c` ends with one.
 */
function undoCrlf(c: Buffer, heldCr: boolean): { out: Buffer; heldCr: boolean } {
  if (c.length === 0) return { out: c, heldCr };
  const out = Buffer.allocUnsafe(c.length + 1);
  let n = 0;
  if (heldCr && c[0] !== 0x0a) out[n++] = 0x0d;
  for (let i = 0; i < c.length; i++) {
    const b = c[i];
    if (b === 0x0d) {
      if (i + 1 === c.length) return { out: out.subarray(0, n), heldCr: true };
      if (c[i + 1] === 0x0a) continue;
    }
    out[n++] = b;
  }
  return { out: out.subarray(0, n), heldCr: false };
}

/** The bytes with every CR LF made LF again (`undoCrlf`), whatever the chunks. */
export async function* lfOnly(chunks: AsyncIterable<Buffer>): AsyncIterable<Buffer> {
  let heldCr = false;
  for await (const c of chunks) {
    const r = undoCrlf(c, heldCr);
    heldCr = r.heldCr;
    if (r.out.length > 0) yield r.out;
  }
  if (heldCr) yield Buffer.from([0x0d]);
}

/** Longest line held back by `wholeLines`: past it, a line is given as it comes. */
const MAX_HELD_LINE = 1 << 20;

/**
 * The bytes of `chunks` as whole lines: what follows a chunk's last line end waits for the next
 * chunk, and at the end is given unless the stream was cut short (`cut()`).
 */
async function* wholeLines(chunks: AsyncIterable<Buffer>, cut: () => boolean): AsyncIterable<Buffer> {
  let rest: Buffer | null = null;
  for await (const c of chunks) {
    const end = c.lastIndexOf(0x0a) + 1;
    if (end === 0) {
      rest = rest ? Buffer.concat([rest, c]) : Buffer.from(c);
      if (rest.length > MAX_HELD_LINE) {
        yield rest;
        rest = null;
      }
      continue;
    }
    if (rest) yield rest;
    yield c.subarray(0, end);
    // A copy: the chunk's memory may be reused once the next one is asked for.
    rest = end < c.length ? Buffer.from(c.subarray(end)) : null;
  }
  if (rest && !cut()) yield rest;
}

/** The bytes after the first `n`. */
async function* skipBytes(chunks: AsyncIterable<Buffer>, n: number): AsyncIterable<Buffer> {
  let left = n;
  for await (const c of chunks) {
    if (left >= c.length) {
      left -= c.length;
      continue;
    }
    yield left > 0 ? c.subarray(left) : c;
    left = 0;
  }
}

function textEncodingBom(head: Buffer): 'utf-16le' | 'utf-16be' | 'utf-8' | undefined {
  if (head[0] === 0xff && head[1] === 0xfe) return 'utf-16le';
  if (head[0] === 0xfe && head[1] === 0xff) return 'utf-16be';
  if (head[0] === 0xef && head[1] === 0xbb && head[2] === 0xbf) return 'utf-8';
  return undefined;
}

/** Decode text in `encoding` (its byte order mark dropped) and yield it as UTF-8 bytes. */
async function* toUtf8(chunks: AsyncIterable<Buffer>, encoding: 'utf-16le' | 'utf-16be' | 'utf-8'): AsyncIterable<Buffer> {
  const decoder = new TextDecoder(encoding);
  for await (const c of chunks) yield Buffer.from(decoder.decode(c, { stream: true }), 'utf8');
  const rest = decoder.decode();
  if (rest) yield Buffer.from(rest, 'utf8');
}

/**
 * Re-throw errors of the byte source (I/O, corrupt deflate) as InputError, and check that it
 * yields exactly `expected` bytes when that is known (a zip entry's directory size). With
 * `onEarlyEnd`, a compressed stream that merely stops early ends the iteration instead.
 */
async function* guard(stream: AsyncIterable<Buffer>, name: string, expected?: number, onEarlyEnd?: () => void): AsyncIterable<Buffer> {
  let seen = 0;
  try {
    for await (const c of stream) {
      seen += c.length;
      yield c;
    }
  } catch (e) {
    if (e instanceof InputError) throw e;
    if (onEarlyEnd && (e as NodeJS.ErrnoException).code === 'Z_BUF_ERROR') {
      onEarlyEnd();
      return;
    }
    throw new InputError(`${name}: cannot read (${(e as Error).message})`);
  }
  if (expected !== undefined && seen !== expected) {
    throw new InputError(`${name}: read ${seen} bytes where the archive says ${expected}`);
  }
}

/** Read at least `n` bytes (or all) from `src`; `chunks` then yields everything from the start. */
async function peek(src: AsyncIterable<Buffer>, n: number): Promise<{ head: Buffer; chunks: AsyncIterable<Buffer>; stop: () => Promise<void> }> {
  const it = src[Symbol.asyncIterator]();
  const buffered: Buffer[] = [];
  let total = 0;
  let done = false;
  while (total < n) {
    const r = await it.next();
    if (r.done) {
      done = true;
      break;
    }
    buffered.push(r.value);
    total += r.value.length;
  }
  const head = Buffer.concat(buffered);
  async function* all(): AsyncIterable<Buffer> {
    try {
      yield* buffered;
      while (!done) {
        const r = await it.next();
        if (r.done) done = true;
        else yield r.value;
      }
    } finally {
      // A reader that stops early (or is destroyed) stops the source too, closing what it reads.
      if (!done) await it.return?.();
    }
  }
  return { head, chunks: all(), stop: async () => void (await it.return?.()) };
}

/**
 * The bugreport text of a zip or extracted folder: at its top, else inside the one folder of it
 * that holds a bugreport (an extracted bugreport zipped again, or the folder above an extracted
 * one given as input), else, found by its content, a file at its top whose name says nothing
 * (a vendor's `dumpState_*.log`, a renamed file).
 */
async function findMainEntry(c: Container): Promise<ContainerEntry | undefined> {
  const top = await mainEntryIn(c, '');
  if (top) return top;
  const folders = new Set(c.entries.map((e) => /^([^/]+\/)(?:main_entry\.txt|bugreport[^/]*\.txt)$/.exec(e.path)?.[1]).filter((d) => d !== undefined));
  if (folders.size === 1) return mainEntryIn(c, [...folders][0]);
  return folders.size === 0 ? mainEntryByContent(c) : undefined;
}

/** Bytes of an entry's start looked at for dumpstate's header. */
const MAIN_SNIFF_BYTES = 4096;
/** Smallest entry looked at: dumpstate's header block alone is longer. */
const MAIN_MIN_BYTES = 128;
/** How many entries at most are looked at (a folder of thousands of pulled files holds no bugreport text). */
const MAIN_MAX_CANDIDATES = 64;

/**
 * The first file at the top of a container whose content starts with dumpstate's header
 * (`== dumpstate: <date>`, the bugreport importer's own test): a bugreport text whatever its
 * name. dumpstate_board.txt, made of sections only, is not one. An entry that cannot be read is
 * not one either (it is reported in its turn).
 */
async function mainEntryByContent(c: Container): Promise<ContainerEntry | undefined> {
  const candidates = c.entries
    .filter((e) => !e.path.includes('/') && e.size >= MAIN_MIN_BYTES && !/^(?:version|dumpstate_board|dumpstate_log)\.txt$/.test(e.path))
    .slice(0, MAIN_MAX_CANDIDATES);
  for (const e of candidates) {
    try {
      if (isDumpstateText(await readStart(await e.open(), MAIN_SNIFF_BYTES))) return e;
    } catch {
      // Unreadable: not taken as the bugreport text.
    }
  }
  return undefined;
}

/** The first `n` bytes of a stream (fewer if it is shorter); the rest is not read. */
async function readStart(s: Readable, n: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  let total = 0;
  try {
    for await (const c of s) {
      parts.push(c as Buffer);
      total += (c as Buffer).length;
      if (total >= n) break;
    }
  } finally {
    s.destroy();
  }
  return Buffer.concat(parts).subarray(0, n);
}

/** The bugreport text directly in `folder` (`''` or ending with `/`): named by its main_entry.txt, else `bugreport-*.txt`. */
async function mainEntryIn(c: Container, folder: string): Promise<ContainerEntry | undefined> {
  const named = c.entries.find((e) => e.path === `${folder}main_entry.txt`);
  if (named) {
    const text = (await readAll(await named.open())).toString('utf8').trim();
    const e = c.entries.find((x) => x.path === folder + text);
    if (e) return e;
  }
  const inFolder = (name: RegExp) => c.entries.find((e) => e.path.startsWith(folder) && name.test(e.path.slice(folder.length)));
  return inFolder(/^bugreport-[^/]*\.txt$/) ?? inFolder(/^bugreport[^/]*\.txt$/);
}

/**
 * A bugreport zip inside a zip or folder that holds no bugreport text of its own (a bugreport
 * sent with other files in one archive): the one `.zip` file of it, opened, when a bugreport
 * text is found in it. Anything else (no such file, several, one that cannot be read or holds no
 * bugreport) is undefined: the container is read as it is.
 */
async function innerBugreport(c: Container): Promise<{ entry: ContainerEntry; zip: Container } | undefined> {
  const zips = c.entries.filter((e) => /\.zip$/i.test(e.path));
  if (zips.length !== 1 || (await findMainEntry(c))) return undefined;
  const entry = zips[0];
  const name = `${c.name}${c.kind === 'zip' ? '!/' : '/'}${entry.path}`;
  let zip: Container;
  try {
    if (c.kind === 'folder') {
      // A file: read from disk as it is needed, as any zip given by path.
      if (!hasMagic(readHead(name, 4), ZIP_MAGIC)) return undefined;
      zip = await openZip(name, { path: name });
    } else {
      const bytes = await readAll(await entry.open());
      if (!hasMagic(bytes, ZIP_MAGIC)) return undefined;
      zip = await openZip(name, { bytes });
    }
  } catch {
    // Unreadable (corrupt, too large): read with the container, which records why.
    return undefined;
  }
  if (await findMainEntry(zip)) return { entry, zip };
  zip.close();
  return undefined;
}

async function readAll(s: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of s) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

/** How many small entries after the one being loaded are opened and their first bytes read meanwhile. */
const PREFETCH_ENTRIES = 8;
/** Entries up to this size (bytes) are prefetched: their first read is most or all of them. */
const PREFETCH_MAX_BYTES = 1024 * 1024;

/**
 * The entries of a container opened ahead of their turn, their first bytes read: a bugreport
 * zip or a pulled /proc tree holds hundreds or thousands of small files, and opening them one
 * after the other waits on the disk and on zlib's threads for each. Only small entries are
 * opened ahead (a large one inflates ahead into its read-ahead buffer once opened); each is
 * still loaded in its turn, so the database is the same.
 */
class Prefetch {
  private readonly started = new Map<number, Promise<{ ok: Peeked } | { err: unknown }>>();
  constructor(
    private readonly entries: ContainerEntry[],
    private readonly open: (e: ContainerEntry) => Promise<Peeked>,
  ) {}

  /** Entry `i` opened, and the small entries after it starting to open. */
  async take(i: number): Promise<Peeked> {
    for (let j = i + 1; j < Math.min(this.entries.length, i + 1 + PREFETCH_ENTRIES); j++) {
      if (this.entries[j].size <= PREFETCH_MAX_BYTES) this.start(j);
    }
    const r = await (this.started.get(i) ?? this.start(i));
    this.started.delete(i);
    if ('err' in r) throw r.err;
    return r.ok;
  }

  private start(i: number): Promise<{ ok: Peeked } | { err: unknown }> {
    let p = this.started.get(i);
    if (!p) {
      // Settled either way at once: a failure is the entry's, reported in its turn.
      p = this.open(this.entries[i]).then((ok) => ({ ok }), (err: unknown) => ({ err }));
      this.started.set(i, p);
    }
    return p;
  }

  /** Stop the entries opened ahead and not taken (an error stopped the loading). */
  close(): void {
    for (const p of this.started.values()) void p.then((r) => ('ok' in r ? r.ok.stop() : undefined)).catch(() => {});
    this.started.clear();
  }
}

/**
 * A zip or folder (`bytes`: its size, for a zip): the bugreport text first (it fills the
 * snapshot header), then every other entry by content. The bugreport text is the input
 * itself: when it cannot be read, neither can the input. Any other entry that cannot be read
 * (corrupt or unsupported compression, encrypted, too large, an I/O error) is an
 * `entry_unreadable` error diagnostic, and the next entry is read. A container whose bugreport
 * is a zip inside it is that zip (`around`: the container it was in, how many other files
 * that holds, and what was recovered of it when it is a zip cut short). A zip cut short, read
 * from its local headers, is a `zip_truncated` warning; its entry that the end cuts is read up
 * to the cut.
 */
async function loadContainer(db: Db, c: Container, env: ImportEnv, bytes?: number, around?: { name: string; files: number; recovered?: string }): Promise<void> {
  const inner = await innerBugreport(c);
  if (inner) {
    c.close();
    const files = c.entries.filter((e) => e !== inner.entry && e.size > 0).length;
    // A cut inner zip's size is what it holds; its entry's size is then only a hint (ContainerEntry.cut).
    return loadContainer(db, inner.zip, env, inner.entry.cut ? undefined : inner.entry.size, { name: c.name, files, recovered: c.recovered });
  }
  try {
    const main = await findMainEntry(c);
    const kind = main ? 'bugreport' : c.kind === 'folder' ? 'folder' : 'capture';
    const ctx = SourceContext.topLevel(db, c.name, c.kind, kind, path.basename(c.name), bytes);
    if (around?.recovered) ctx.diag('warning', 'zip_truncated', `${around.name}, the zip around this bugreport zip: ${around.recovered}`);
    if (c.recovered) ctx.diag('warning', 'zip_truncated', c.recovered);
    if (around && around.files > 0) {
      const files = around.files === 1 ? '1 other file' : `${around.files} other files`;
      ctx.diag('info', 'entries_skipped', `${files} of ${around.name}, beside this bugreport zip, not read`);
    }
    const sep = c.kind === 'zip' ? '!/' : '/';
    const bugreportImporter = streamImporters.find((s) => s.name === 'bugreport');
    const expected = (e: ContainerEntry) => (c.kind === 'zip' && !e.cut ? e.size : undefined);
    if (main) {
      const name = `${c.name}${sep}${main.path}`;
      const first = await openPeeked(await main.open({ readAhead: true }), name, expected(main));
      await loadStream(db, name, first, main.size, ctx, env, { forced: bugreportImporter, cut: main.cut });
    }
    let recognized = 0;
    let skipped = 0;
    // Zips inside, not opened: only the one bugreport zip of an archive without its own text is (innerBugreport).
    const zips: string[] = [];
    const unreadable: string[] = [];
    const cannotRead = (message: string) => {
      unreadable.push(message);
      ctx.diag('error', 'entry_unreadable', message);
    };
    for (const u of c.unreadable) cannotRead(`${c.name}${sep}${u.path}: cannot read (${u.reason})`);
    const rest = c.entries.filter((e) => !(e === main || e.size === 0 || /^(?:[^/]+\/)?(?:main_entry|version)\.txt$/.test(e.path)));
    // A large entry (opened in its turn, not ahead) may be read whole (a trace): it inflates ahead as the bugreport text does.
    const heads = new Prefetch(rest, (e) => e.open({ readAhead: e.size > PREFETCH_MAX_BYTES }).then((s) => openPeeked(s, `${c.name}${sep}${e.path}`, expected(e))));
    try {
      for (let i = 0; i < rest.length; i++) {
        const e = rest[i];
        try {
          const ok = await loadStream(db, `${c.name}${sep}${e.path}`, await heads.take(i), e.size, ctx, env, { cut: e.cut });
          if (ok) recognized++;
          else {
            skipped++;
            if (/\.zip$/i.test(e.path)) zips.push(e.path);
          }
        } catch (err) {
          if (!(err instanceof InputError)) throw err;
          cannotRead(err.message);
        }
      }
    } finally {
      heads.close();
    }
    const zipList = `${zips.slice(0, 3).join(', ')}${zips.length > 3 ? ', …' : ''}`;
    if (!main && recognized === 0) {
      const damaged = c.recovered ? `; ${c.recovered}` : '';
      if (zips.length > 1) {
        throw new InputError(`${c.name}: holds no bugreport text but ${zips.length} zip files (${zipList}), which are not opened: give each as an input of its own${damaged}`);
      }
      if (unreadable.length > 0) {
        throw new InputError(`${c.name}: holds no bugreport, and ${unreadable.length} of its files could not be read (${unreadable[0]})${damaged}`);
      }
      const n = c.links?.length ?? 0;
      const links = n > 0 ? `; ${n === 1 ? 'its symbolic link is' : `its ${n} symbolic links are`} not followed (${c.links!.slice(0, 3).join(', ')}${n > 3 ? ', …' : ''}): give ${n === 1 ? 'the file it points' : 'the files they point'} to` : '';
      throw new InputError(`${c.name}: holds no bugreport and no DMA-BUF capture this tool reads${damaged}${links}`);
    }
    if (skipped > 0) {
      const inner = zips.length === 0 ? '' : `, among them ${zips.length === 1 ? 'a zip file' : `${zips.length} zip files`} not opened (${zipList}): give ${zips.length === 1 ? 'it' : 'each'} as an input of its own`;
      ctx.diag('info', 'entries_skipped', `${skipped} files held nothing this tool reads${inner}`);
    }
  } finally {
    c.close();
  }
}
