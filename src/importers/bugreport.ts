// Bugreport text (dumpstate output): the header block and the sections that carry DMA-BUF
// state. Format: ../shared/formats.md §1, as printed by dumpstate
// (frameworks/native/cmds/dumpstate/dumpstate.cpp and DumpstateUtil.cpp).
//
// The text can be 500 MB, so it is scanned as a stream of bytes: only section headers
// (`------ TITLE (COMMAND) ------` at a line start) and, inside DUMPSYS sections, service
// headers (`DUMP OF SERVICE [PRIORITY ]NAME:`) are looked at; the bytes of a section are
// kept only when the section is routed to an importer. Everything else is skipped without
// being decoded. Also used for `dumpstate_board.txt`, which uses the same section format.
import type { ImportContext, ImportEnv, StreamImporter, TextImporter } from './types.js';
import { headText } from './common.js';

const SECTION = Buffer.from('------ ');
const SERVICE = Buffer.from('DUMP OF SERVICE ');
const DASH = 0x2d;
const LETTER_D = 0x44;
const EMPTY = Buffer.alloc(0);
/** Largest section body kept for an importer; larger ones are cut with a diagnostic. */
const MAX_SECTION_BYTES = 256 * 1024 * 1024;
const HEADER_BYTES = 16 * 1024;

/** Which importer reads a dumpsys service's output. */
const SERVICE_ROUTES: Record<string, string> = {
  meminfo: 'meminfo',
  gpu: 'dumpsys_gpu',
  SurfaceFlinger: 'gralloc_allocator',
};

/** Which importer reads a section: by name, `sniff` to let the text importers decide, or undefined to skip it. */
function routeSection(title: string, command: string): string | undefined {
  const t = title.toLowerCase();
  const cmd = command.toLowerCase();
  if (/^dmabuf\b/.test(t) || /(^|\/)dmabuf_dump\b/.test(cmd)) {
    if (/\s-\w*b/.test(cmd) || t.includes('per-buffer')) return 'dmabuf_dump_b';
    if (/\s-\w*a/.test(cmd)) return 'dmabuf_dump_a';
    return 'dmabuf_dump';
  }
  if (/dmabuf|dma_buf|dma-buf|bufinfo|fdinfo|dma_heap/.test(t + ' ' + cmd)) return 'sniff';
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
}

export const bugreport: StreamImporter = {
  name: 'bugreport',
  description: 'Android bugreport text (dumpstate): header, Dmabuf dump sections, dumpsys meminfo/gpu/SurfaceFlinger',
  snapshotKind: 'bugreport',

  sniffBytes(head: Uint8Array): boolean {
    const text = headText(head);
    if (/^== dumpstate: \d{4}-\d\d-\d\d/m.test(text)) return true;
    // dumpstate_board.txt and cut-down reports: at least one section header of dumpstate's shape.
    return /^------ [^-\r\n].* ------\r?$/m.test(text);
  },

  async importStream(chunks: AsyncIterable<Uint8Array>, ctx: ImportContext, env: ImportEnv): Promise<void> {
    const scanner = new SectionScanner(ctx, env);
    for await (const chunk of chunks) scanner.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
    scanner.end();
  },
};

class SectionScanner {
  /** Lines fully consumed before the current region. */
  private line = 1;
  private carry: Buffer = Buffer.alloc(0);
  private headerParts: Buffer[] = [];
  private headerBytes = 0;
  private headerDone = false;
  /** The current dumpstate section, when one is open. */
  private section: { title: string; dumpsys: boolean; collect?: Collecting } | undefined;
  /** The current dumpsys service block being collected. */
  private service: Collecting | undefined;
  private sections = 0;

  constructor(
    private readonly ctx: ImportContext,
    private readonly env: ImportEnv,
  ) {}

  push(chunk: Buffer): void {
    if (!this.headerDone) this.keepHeader(chunk);
    const lastNl = chunk.lastIndexOf(10);
    if (lastNl < 0) {
      this.carry = this.carry.length ? Buffer.concat([this.carry, chunk]) : Buffer.from(chunk);
      return;
    }
    let from = 0;
    if (this.carry.length) {
      // Only the line that straddles the chunk boundary is copied.
      const firstNl = chunk.indexOf(10);
      this.scan(Buffer.concat([this.carry, chunk.subarray(0, firstNl + 1)]));
      from = firstNl + 1;
    }
    if (from <= lastNl) this.scan(from === 0 && lastNl === chunk.length - 1 ? chunk : chunk.subarray(from, lastNl + 1));
    this.carry = lastNl + 1 < chunk.length ? Buffer.from(chunk.subarray(lastNl + 1)) : EMPTY;
  }

  end(): void {
    if (!this.headerDone) this.parseHeader();
    if (this.carry.length) this.scan(Buffer.concat([this.carry, Buffer.from('\n')]));
    this.carry = Buffer.alloc(0);
    if (this.section) {
      const open = this.service ?? this.section.collect;
      if (open) this.ctx.diag('warning', 'truncated', `the text ends inside section '${this.section.title}'`, this.line);
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
   * Scan a region that starts at a line start and ends with a newline: one pass over its
   * lines (memchr per line is cheaper than a substring search plus a separate line count),
   * looking at the first bytes of each line for a section or service header.
   */
  private scan(buf: Buffer): void {
    const dumpsys = this.section?.dumpsys ?? false;
    let segment = 0;
    let start = 0;
    while (start < buf.length) {
      const eol = buf.indexOf(10, start);
      const c = buf[start];
      if ((c === DASH && startsWithAt(buf, start, SECTION)) || (dumpsys && c === LETTER_D && startsWithAt(buf, start, SERVICE))) {
        this.append(buf, segment, start);
        const lineText = buf.toString('utf8', start, eol).replace(/\r$/, '');
        this.marker(lineText, buf, start, eol + 1);
        segment = eol + 1;
        if ((this.section?.dumpsys ?? false) !== dumpsys) {
          // Entering or leaving a DUMPSYS section changes what is looked for.
          this.line++;
          this.scan(buf.subarray(eol + 1));
          return;
        }
      }
      this.line++;
      start = eol + 1;
    }
    this.append(buf, segment, buf.length);
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
      this.append(buf, start, end);
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
    return { path: `${this.ctx.path}#${title}`, title, route, lineStart: this.line + 1, parts: [], bytes: 0, cut: false };
  }

  private append(buf: Buffer, start: number, end: number): void {
    if (end <= start || !this.section) return;
    const c = this.service ?? this.section.collect;
    if (!c || c.cut) return;
    if (c.bytes + (end - start) > MAX_SECTION_BYTES) {
      c.cut = true;
      this.ctx.diag('warning', 'section_too_large', `section '${c.title}' is larger than ${MAX_SECTION_BYTES} bytes; the rest was skipped`, this.line);
      return;
    }
    c.parts.push(Buffer.from(buf.subarray(start, end)));
    c.bytes += end - start;
  }

  private closeService(): void {
    if (this.service) this.finish(this.service);
    this.service = undefined;
  }

  private closeSection(): void {
    this.closeService();
    if (this.section?.collect) this.finish(this.section.collect);
    this.section = undefined;
  }

  private finish(c: Collecting): void {
    const lineEnd = this.line - 1;
    let text = Buffer.concat(c.parts).toString('utf8');
    c.parts = [];
    // The end line of `Dmabuf dump` starts with a space (its totals line ends with "\n "), so
    // it is not a marker: cut the body there.
    const endLine = /^[ \t]+------ [\d.]+s? was the duration of .*$/m.exec(text);
    if (endLine) text = text.slice(0, endLine.index);
    const child = this.ctx.child(c.path, c.route, { bytes: c.bytes, lineStart: c.lineStart, lineEnd });
    // Failure lines dumpstate writes into a section are the section's outcome, not its data.
    text = text.replace(/^\s*\*\*\* (.*)$|^Skipping '(.*)' on user build\.\s*$/gm, (_all, failure: string | undefined, skipped: string | undefined) => {
      if (skipped !== undefined) child.diag('warning', 'section_skipped', `skipped on a user build: ${skipped}`);
      else if (/timed out|TIMEOUT/.test(failure!)) child.diag('error', 'section_timeout', failure!);
      else child.diag('error', 'section_failed', failure!);
      return '';
    });
    let importer: TextImporter | undefined;
    if (c.route === 'sniff') {
      importer = this.env.sniffText(text, c.path);
      if (!importer) {
        child.diag('info', 'unrecognized_section', `no importer recognized the content of section '${c.title}'`);
        return;
      }
      child.describe(importer.name);
    } else {
      try {
        importer = this.env.textImporter(c.route);
      } catch {
        child.diag('warning', 'no_importer', `no importer for ${c.route} in this build; section '${c.title}' was not read`);
        return;
      }
    }
    try {
      importer.importText(text, child);
    } catch (e) {
      child.diag('error', 'importer_failed', `${importer.name} failed on section '${c.title}': ${(e as Error).message}`);
    }
  }
}

function startsWithAt(buf: Buffer, pos: number, prefix: Buffer): boolean {
  return buf.length - pos >= prefix.length && buf.compare(prefix, 0, prefix.length, pos, pos + prefix.length) === 0;
}
