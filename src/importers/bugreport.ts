// Bugreport text (dumpstate output): the header block and the sections that carry DMA-BUF
// state. Format: ../shared/formats.md §1, as printed by dumpstate
// (frameworks/native/cmds/dumpstate/dumpstate.cpp and DumpstateUtil.cpp).
//
// The text can be 500 MB, so it is scanned as a stream of bytes: only section markers at a
// line start, after any spaces or tabs (`------ TITLE (COMMAND) ------` and the end line
// `------ 0.012s was the duration of 'TITLE' ------`, which also ends a kept section where it
// follows output that lacked its last newline) and, inside DUMPSYS sections, service headers
// (`DUMP OF SERVICE [PRIORITY ]NAME:`) are looked at; the bytes of a section are kept only
// when the section is routed to an importer. Everything else is skipped without being
// decoded. Also used for `dumpstate_board.txt`, which uses the same section format.
import type { ImportContext, ImportEnv, StreamImporter } from './types.js';
import { excerpt, headText } from './common.js';

const SECTION = Buffer.from('------ ');
const SERVICE = Buffer.from('DUMP OF SERVICE ');
const NEWLINE = Buffer.from('\n');
const DASH = 0x2d;
const LETTER_D = 0x44;
const SPACE = 0x20;
const TAB = 0x09;
const CR = 0x0d;
/** dumpstate's end line at the end of an output line that lacked its newline (latin1 text, so an index is a byte offset). */
const GLUED_END = /------ [\d.]+s? was the duration of .* ------[ \t]*\r?$/;
/**
 * The lines dumpstate writes into a section about its command rather than the command's output
 * (formats.md §1), tested per line of a kept section: (1) a failure line (`*** …`) at a line
 * start; (2) a command's failure line glued to the end of its last output line, which lacked its
 * newline (dumpstate prints `*** command '%s' …` with no newline before it, and a command killed
 * when it timed out leaves its block-buffered output cut at any byte); (3) a step skipped on a
 * user build. Groups: 1 the failure (1), 2 the output before it and 3 the failure (2), 4 what was
 * skipped (3).
 */
const OUTCOME_LINE =
  /^[ \t]*\*\*\* (.*?)\r?$|^(.*?)\*\*\* (command '.*' (?:failed: (?:exit code|killed by signal) -?\d+|timed out after [\d.]+s \(killing pid -?\d+\)))[ \t]*\r?$|^Skipping '(.*)' on user build\.[ \t\r]*$/gm;
/**
 * dumpsys's line for a service that did not finish in time (frameworks/native/cmds/dumpsys/
 * dumpsys.cpp, writeDump: `"\n*** SERVICE '%s' DUMP TIMEOUT (%llums) EXPIRED ***\n\n"`).
 */
const SERVICE_TIMEOUT = /^[ \t]*\*\*\* SERVICE '.*' DUMP TIMEOUT \(\d+ms\) EXPIRED \*\*\*/gm;
/** Largest section body kept for an importer; larger ones are cut with a diagnostic. */
const MAX_SECTION_BYTES = 256 * 1024 * 1024;
const HEADER_BYTES = 16 * 1024;

/** Which importer reads a dumpsys service's output. */
const SERVICE_ROUTES: Record<string, string> = {
  meminfo: 'meminfo',
  gpu: 'dumpsys_gpu',
  SurfaceFlinger: 'gralloc_allocator',
};

/** Titles dumpstate gives the dmabuf_dump sections (formats.md §1), lower-cased. */
const DMABUF_DUMP_TITLES = ['dmabuf dump', 'dmabuf per-buffer/per-exporter/per-device stats'];

/** `ion` alone or before `_`, `/`, a space or the end, with no letter or digit before it. */
const ION_WORD = /(?:^|[^a-z0-9])ion(?:$|[^a-z0-9])/;

/**
 * The kernel log's importer. A kernel log section is kept only from its first line holding
 * `KERNEL_LOG_DUMP` (a Samsung dump's title) on, and is no source when it holds none: most are
 * megabytes of other messages.
 */
const KERNEL_LOG = 'kernel_log';
const KERNEL_LOG_DUMP = Buffer.from('Dma-buf Info:');

/** Which importer reads a section: by name, `sniff` to let the text importers decide, or undefined to skip it. */
function routeSection(title: string, command: string): string | undefined {
  const t = title.toLowerCase();
  const cmd = command.toLowerCase();
  // By name only when it is dmabuf_dump: a vendor `dmabuf …` section (e.g. a bufinfo dump) is recognized by its content.
  if (/(^|\/)dmabuf_dump\b/.test(cmd) || DMABUF_DUMP_TITLES.includes(t)) {
    if (/\s-\w*b/.test(cmd) || t.includes('per-buffer')) return 'dmabuf_dump_b';
    if (/\s-\w*a/.test(cmd)) return 'dmabuf_dump_a';
    return 'dmabuf_dump';
  }
  // Vendor files without those words: Qualcomm `dmaprocs` (also `dmabuf process info`), Nothing's `show_all_task_dma`.
  if (/dmabuf|dma_buf|dma-buf|bufinfo|fdinfo|dma_heap|dmaprocs|show_all_task_dma/.test(t + ' ' + cmd)) return 'sniff';
  // ION's debug files (`/d/ion/heaps/system`, `ION HEAPS`, `ion_mm_heap`): `ion` as a word of its own, not inside one (version, region).
  if (ION_WORD.test(t + ' ' + cmd)) return 'sniff';
  // The kernel log (`KERNEL LOG (dmesg)`, `LAST KMSG (/proc/last_kmsg)`): read only when it
  // holds a Samsung `Dma-buf Info` dump (finish), as a section of its own.
  if (/^(?:kernel log|last kmsg)\b/.test(t) || /(^|\/)dmesg\b/.test(cmd)) return KERNEL_LOG;
  return undefined;
}

interface Collecting {
  /** Path shown for the child source. */
  path: string;
  title: string;
  /** Importer name, or `sniff`. */
  route: string;
  lineStart: number;
  parts: Buffer[];
  bytes: number;
  cut: boolean;
  /** An earlier section (or service block) of the text had the same path. */
  repeated: boolean;
  /** A kernel log before its first line holding KERNEL_LOG_DUMP: nothing kept yet. */
  waiting: boolean;
}

export const bugreport: StreamImporter = {
  name: 'bugreport',
  description: 'Android bugreport text (dumpstate): header, Dmabuf dump sections, dumpsys meminfo/gpu/SurfaceFlinger',
  snapshotKind: 'bugreport',
  lines: true,

  sniffBytes(head: Uint8Array): boolean {
    if (isDumpstateText(head)) return true;
    // dumpstate_board.txt and cut-down reports: at least one section header of dumpstate's shape.
    return /^------ [^-\r\n].* ------\r?$/m.test(headText(head));
  },

  async importStream(chunks: AsyncIterable<Uint8Array>, ctx: ImportContext, env: ImportEnv): Promise<void> {
    const scanner = new SectionScanner(ctx, env);
    for await (const chunk of chunks) scanner.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
    scanner.end();
  },
};

/**
 * Do these first bytes start a bugreport's main text (dumpstate's `== dumpstate: <date>` header
 * line), rather than dumpstate_board.txt or another text made of sections only?
 */
export function isDumpstateText(head: Uint8Array): boolean {
  return /^== dumpstate: \d{4}-\d\d-\d\d/m.test(headText(head));
}

class SectionScanner {
  /** Lines fully consumed before the current region. */
  private line = 1;
  /** The start of a line that no chunk has ended yet, joined once its newline (or the end) comes. */
  private carry: Buffer[] = [];
  private headerParts: Buffer[] = [];
  private headerBytes = 0;
  private headerDone = false;
  /** The current dumpstate section, when one is open. */
  private section: { title: string; dumpsys: boolean; collect?: Collecting } | undefined;
  /** The current dumpsys service block being collected. */
  private service: Collecting | undefined;
  private sections = 0;
  /** Paths of the sections and service blocks kept so far. */
  private readonly keptPaths = new Set<string>();

  constructor(
    private readonly ctx: ImportContext,
    private readonly env: ImportEnv,
  ) {}

  push(chunk: Buffer): void {
    if (!this.headerDone) this.keepHeader(chunk);
    const lastNl = chunk.lastIndexOf(10);
    if (lastNl < 0) {
      this.carry.push(Buffer.from(chunk));
      return;
    }
    let from = 0;
    if (this.carry.length) {
      // Only the line that straddles the chunk boundary is copied.
      const firstNl = chunk.indexOf(10);
      this.carry.push(chunk.subarray(0, firstNl + 1));
      this.scan(Buffer.concat(this.carry));
      from = firstNl + 1;
    }
    if (from <= lastNl) this.scan(from === 0 && lastNl === chunk.length - 1 ? chunk : chunk.subarray(from, lastNl + 1));
    this.carry = lastNl + 1 < chunk.length ? [Buffer.from(chunk.subarray(lastNl + 1))] : [];
  }

  end(): void {
    if (!this.headerDone) this.parseHeader();
    // A last line without its newline is handed on as it is, so that the importers see the cut.
    if (this.carry.length) this.scan(Buffer.concat(this.carry));
    this.carry = [];
    if (this.section) {
      const open = this.service ?? this.section.collect;
      if (open && !open.waiting) this.ctx.diag('warning', 'truncated', `the text ends inside section '${this.section.title}'`, this.line);
    }
    this.closeSection();
    if (this.sections === 0 && this.headerBytes === 0) this.ctx.diag('warning', 'empty', 'the bugreport text is empty');
  }

  private keepHeader(chunk: Buffer): void {
    this.headerParts.push(chunk.subarray(0, HEADER_BYTES - this.headerBytes));
    this.headerBytes += Math.min(chunk.length, HEADER_BYTES - this.headerBytes);
    if (this.headerBytes >= HEADER_BYTES) this.parseHeader();
  }

  private parseHeader(): void {
    this.headerDone = true;
    const text = Buffer.concat(this.headerParts).toString('utf8');
    this.headerParts = [];
    const head = text.split(/\n------ /)[0];
    const get = (re: RegExp) => re.exec(head)?.[1]?.trim();
    const when = get(/^== dumpstate: (\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d)/m);
    const sdk = get(/^Android SDK version: (\d+)/m);
    this.ctx.snapshot({
      captured_at: when ? when.replace(' ', 'T') : undefined,
      build_id: get(/^Build: (.+)$/m),
      build_fingerprint: get(/^Build fingerprint: '?([^'\r\n]+)'?/m),
      android_sdk: sdk ? Number(sdk) : undefined,
      kernel_release: get(/^Kernel: Linux version (\S+)/m),
      uptime: get(/^Uptime: (.+)$/m),
    });
  }

  /**
   * Scan a region that starts at a line start and ends with a newline (or is the text's last
   * line): one pass over its lines (memchr per line is cheaper than a substring search plus a
   * separate line count), looking at the first bytes of each line (after spaces and tabs) for
   * a section or service header and, while a section is kept, at the last bytes of a line for
   * an end line glued to the command's output.
   */
  private scan(buf: Buffer): void {
    const dumpsys = this.section?.dumpsys ?? false;
    let segment = 0;
    /** The line number of `segment`. */
    let segmentLine = this.line;
    let start = 0;
    while (start < buf.length) {
      let eol = buf.indexOf(10, start);
      if (eol < 0) eol = buf.length;
      const next = Math.min(eol + 1, buf.length);
      let p = start;
      while (buf[p] === SPACE || buf[p] === TAB) p++;
      let ended = false;
      if ((buf[p] === DASH && startsWithAt(buf, p, SECTION)) || (dumpsys && buf[start] === LETTER_D && startsWithAt(buf, start, SERVICE))) {
        this.append(buf, segment, start, segmentLine);
        this.marker(buf.toString('utf8', p, eol).replace(/\r$/, ''), buf, start, next);
        segment = next;
        segmentLine = this.line + 1;
        ended = true;
      } else if (this.kept() && endsWithDash(buf, start, eol)) {
        // `------ 0.012s was the duration of '…' ------` right after output that lacked its last newline.
        const m = GLUED_END.exec(buf.toString('latin1', start, eol));
        if (m) {
          this.append(buf, segment, start + m.index, segmentLine);
          // The end line shows the output was complete: its last line gets its newline back.
          const c = this.kept()!;
          if (!c.cut) c.parts.push(NEWLINE);
          this.closeSection(this.line);
          segment = next;
          segmentLine = this.line + 1;
          ended = true;
        }
      }
      this.line++;
      if (ended && (this.section?.dumpsys ?? false) !== dumpsys) {
        // Entering or leaving a DUMPSYS section changes what is looked for.
        this.scan(buf.subarray(next));
        return;
      }
      start = next;
    }
    this.append(buf, segment, buf.length, segmentLine);
  }

  /** Where the current line's bytes go, if anywhere: the open service block or the section. */
  private kept(): Collecting | undefined {
    return this.service ?? this.section?.collect;
  }

  private marker(lineText: string, buf: Buffer, start: number, end: number): void {
    if (lineText.startsWith('DUMP OF SERVICE ')) {
      this.closeService();
      const m = /^DUMP OF SERVICE (?:(?:CRITICAL|HIGH|NORMAL) )?(\S+?):?\s*$/.exec(lineText);
      const name = m?.[1] ?? '';
      const route = SERVICE_ROUTES[name];
      if (route) this.service = this.collecting(`${this.section!.title}/${name}`, route);
      return;
    }
    const trimmed = lineText.trim();
    if (/^------ [\d.]+s? was the duration of /.test(trimmed)) {
      // The end line of the current section; its bytes belong to nobody.
      this.closeSection();
      return;
    }
    const m = /^------ (.*?) ------$/.exec(trimmed);
    if (!m) {
      // A line that merely starts with six dashes and a space: section content.
      this.append(buf, start, end, this.line);
      return;
    }
    this.closeSection();
    this.sections++;
    const header = m[1];
    const p = /^(.*?) \((.*)\)(?::.*)?$/.exec(header);
    const title = (p ? p[1] : header).trim();
    const command = p ? p[2] : '';
    const dumpsys = /^DUMPSYS\b/.test(title) || /(^|\/)dumpsys( |$)/.test(command);
    this.section = { title, dumpsys };
    const route = routeSection(title, command);
    if (route) this.section.collect = this.collecting(title, route);
    else if (dumpsys && /(^|\/)dumpsys\s+(?:-\S+\s+\S+\s+)*meminfo\b/.test(command)) {
      // A section that runs `dumpsys meminfo` alone: no service header inside.
      this.section.collect = this.collecting(title, 'meminfo');
    }
  }

  private collecting(title: string, route: string): Collecting {
    const path = `${this.ctx.path}#${title}`;
    const repeated = this.keptPaths.has(path);
    this.keptPaths.add(path);
    return { path, title, route, lineStart: this.line + 1, parts: [], bytes: 0, cut: false, repeated, waiting: route === KERNEL_LOG };
  }

  /** Keep `buf[start, end)`, which starts at the start of line `startLine`, for the open section or service block. */
  private append(buf: Buffer, start: number, end: number, startLine: number): void {
    if (end <= start || !this.section) return;
    const c = this.kept();
    if (!c || c.cut) return;
    if (c.waiting) {
      const k = buf.subarray(start, end).indexOf(KERNEL_LOG_DUMP);
      if (k < 0) return;
      const from = buf.lastIndexOf(10, start + k) + 1;
      let line = startLine;
      for (let nl = buf.indexOf(10, start); nl >= 0 && nl < from; nl = buf.indexOf(10, nl + 1)) line++;
      c.lineStart = line;
      c.waiting = false;
      start = Math.max(start, from);
    }
    if (c.bytes + (end - start) > MAX_SECTION_BYTES) {
      c.cut = true;
      this.ctx.diag('warning', 'section_too_large', `section '${c.title}' is larger than ${MAX_SECTION_BYTES} bytes; the rest was skipped`, this.line);
      return;
    }
    c.parts.push(Buffer.from(buf.subarray(start, end)));
    c.bytes += end - start;
  }

  /** Close the open service block; `lastLine` is its last line (by default the one before the current line). */
  private closeService(lastLine = this.line - 1): void {
    if (this.service) this.finish(this.service, lastLine);
    this.service = undefined;
  }

  private closeSection(lastLine = this.line - 1): void {
    this.closeService(lastLine);
    if (this.section?.collect) this.finish(this.section.collect, lastLine);
    this.section = undefined;
  }

  private finish(c: Collecting, lineEnd: number): void {
    if (c.waiting) return;
    const text = Buffer.concat(c.parts).toString('utf8');
    c.parts = [];
    const child = this.ctx.child(c.path, c.route, { bytes: c.bytes, lineStart: c.lineStart, lineEnd });
    if (c.repeated) child.diag('info', 'repeated_block', `section '${c.title}' appears again in this text (an earlier one was read too): each is read`);
    // Failure lines dumpstate writes into a section are the section's outcome, not its data
    // (each becomes an empty line, so line numbers stay those of the section).
    const body = dropCutBeforeTimeout(text, child).replace(OUTCOME_LINE, (_all, failure: string | undefined, before: string | undefined, glued: string | undefined, skipped: string | undefined) => {
      if (skipped !== undefined) {
        child.diag('warning', 'section_skipped', `skipped on a user build: ${skipped}`);
        return '';
      }
      if (glued === undefined) {
        commandFailed(child, failure!);
        return '';
      }
      // A command that exited kept its last line whole (stdio flushes at exit); one that was
      // killed lost the rest of that line, which is dropped rather than read with cut values.
      if (/failed: exit code/.test(glued)) {
        commandFailed(child, glued);
        return before!;
      }
      commandFailed(child, `${glued} (its output was cut inside a line, which was not read: ${excerpt(before!)})`);
      return '';
    });
    // Every text importer runs under `guarded` (./common.ts): it records its own failures.
    const importer = c.route === 'sniff' ? this.env.sniffText(body, c.path) : this.env.textImporter(c.route);
    if (!importer) {
      child.diag('info', 'unrecognized_section', `no importer recognized the content of section '${c.title}'`);
      return;
    }
    if (c.route === 'sniff') child.describe(importer.name);
    importer.importText(body, child);
  }
}

/**
 * A service block's text without the line dumpsys cut at its timeout. dumpsys copies the
 * service's output in reads of up to 4 KiB until the timeout, so the output can stop inside a
 * line, and the timeout line's leading newline then ends that line as if it were whole
 * (`Proc 1234 total: 12` of `…: 12345`). A whole last line leaves an empty line before the
 * timeout line; a line with text there was cut: it is emptied (line numbers stay) with a
 * `truncated` warning. The timeout line itself is left for OUTCOME_LINE (`section_timeout`).
 */
function dropCutBeforeTimeout(text: string, ctx: ImportContext): string {
  if (!text.includes('DUMP TIMEOUT (')) return text;
  const parts: string[] = [];
  let from = 0;
  for (const m of text.matchAll(SERVICE_TIMEOUT)) {
    const end = m.index - 1; // the newline before the timeout line
    if (end < from) continue;
    const start = text.lastIndexOf('\n', end - 1) + 1;
    const cut = text.slice(Math.max(start, from), end);
    if (start < from || cut.trim() === '') continue;
    const line = text.slice(0, start).split('\n').length;
    ctx.diag('warning', 'truncated', `the service's output stopped at its dump timeout inside a line, which was not read: ${excerpt(cut)}`, line);
    parts.push(text.slice(from, start));
    from = end;
  }
  parts.push(text.slice(from));
  return parts.join('');
}

/** Record dumpstate's failure line for a section's command. */
function commandFailed(ctx: ImportContext, failure: string): void {
  if (/timed out|TIMEOUT/.test(failure)) ctx.diag('error', 'section_timeout', failure);
  else ctx.diag('error', 'section_failed', failure);
}

function startsWithAt(buf: Buffer, pos: number, prefix: Buffer): boolean {
  return buf.length - pos >= prefix.length && buf.compare(prefix, 0, prefix.length, pos, pos + prefix.length) === 0;
}

/** Does the line `buf[start, eol)` end with a dash (trailing spaces, tabs and CR aside)? */
function endsWithDash(buf: Buffer, start: number, eol: number): boolean {
  let e = eol;
  while (e > start && (buf[e - 1] === SPACE || buf[e - 1] === TAB || buf[e - 1] === CR)) e--;
  return e > start && buf[e - 1] === DASH;
}
