// The command line: a thin commander wrapper over the library. Results go to stdout,
// progress to stderr; a known failure is one line on stderr and exit code 2.
import fs from 'node:fs';
import readline from 'node:readline';
import { Command, CommanderError, Option } from 'commander';
import path from 'node:path';
import { open, type AnalysisInfo, type SchemaObject, type Session } from '../index.js';
import { catalogue, checkAnalysis, typed } from '../analyses.js';
import { packagePath } from '../paths.js';
import { streamImporters, textImporters } from '../importers/registry.js';
import { InputError, isKnownError, UsageError } from '../errors.js';
import { renderRows, ROW_FORMATS, type RowFormat } from '../report/rows.js';
import { summaryDocument } from '../report/document.js';
import { renderText } from '../report/text.js';
import { renderMarkdown } from '../report/markdown.js';
import { renderHtml } from '../report/html.js';

const SEVERITIES = ['info', 'low', 'medium', 'high'];

type Params = Record<string, string | number | null>;

interface RowOptions {
  format: RowFormat;
  headers: boolean;
  param?: Params;
  quiet?: boolean;
}

/** `--param name=value`: the value typed where it looks numeric (`top=5` is the number 5). */
function collectParam(value: string, previous: Params | undefined): Params {
  const eq = value.indexOf('=');
  if (eq <= 0) throw new UsageError(`--param takes name=value, got '${value}'`);
  return { ...previous, [value.slice(0, eq).replace(/^[:@$]/, '')]: typed(value.slice(eq + 1)) };
}

/** The output flags shared by every command that prints rows. */
function rowOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('-f, --format <format>', 'output format').choices(ROW_FORMATS).default('table'))
    .option('--no-headers', 'omit the header line (table, csv)');
}

function paramOption(cmd: Command, description: string): Command {
  return cmd.option('-p, --param <name=value>', `${description}; numeric-looking values are numbers; repeatable`, collectParam);
}

function quietOption(cmd: Command): Command {
  return cmd.option('-q, --quiet', 'no progress messages on stderr');
}

async function load(inputs: string[], quiet?: boolean): Promise<Session> {
  return open(inputs, { progress: quiet ? undefined : (m) => process.stderr.write(`${m}\n`) });
}

function write(s: string): void {
  process.stdout.write(s);
}

/**
 * Fail before loading when `file` cannot be written: a name, not a folder, in a folder that
 * exists, and none of the inputs (writing it would replace the capture with the output).
 */
function checkOutput(file: string, flag: string, inputs: string[]): void {
  if (file === '') throw new UsageError(`${flag} takes a file name, got ''`);
  const dir = path.dirname(path.resolve(file));
  if (!statOf(dir)?.isDirectory()) throw new UsageError(`cannot write ${file}: no folder ${dir}`);
  let st: fs.Stats | undefined;
  try {
    st = fs.statSync(file, { throwIfNoEntry: false });
  } catch (e) {
    throw new UsageError(`cannot write ${file}: ${(e as Error).message}`);
  }
  if (st?.isDirectory()) throw new UsageError(`cannot write ${file}: it is a folder`);
  const isOutput = (input: string) => {
    const i = statOf(input);
    return st !== undefined && i !== undefined && i.ino === st.ino && i.dev === st.dev;
  };
  if (inputs.some(isOutput)) throw new UsageError(`cannot write ${file}: it is an input, which it would replace`);
}

/** What `fs.statSync` says of a path; undefined when it cannot (no such path, a file in the way, no permission). */
function statOf(p: string): fs.Stats | undefined {
  try {
    return fs.statSync(p, { throwIfNoEntry: false });
  } catch {
    return undefined;
  }
}

function writeOutput(file: string, data: string | Uint8Array): void {
  try {
    fs.writeFileSync(file, data);
  } catch (e) {
    throw new UsageError(`cannot write ${file}: ${(e as Error).message}`);
  }
}

/** The catalogue as `analyses` and the shell's `.analyses` print it. */
function analysesText(list: AnalysisInfo[]): string {
  return list
    .map((a) => `${a.name} — ${a.title}\n  ${a.description}\n${a.params.map((p) => `  --param ${p.name}=<value>  (default ${p.default}) ${p.description}\n`).join('')}\n`)
    .join('');
}

/** Tables and views as `schema` and the shell's `.schema` print them. */
function schemaText(objects: SchemaObject[]): string {
  return objects
    .map((x) => {
      const w = Math.max(0, ...x.columns.map((c) => c.name.length));
      return `${x.kind} ${x.name}\n  ${x.doc}\n${x.columns.map((c) => `    ${c.name.padEnd(w)}  ${c.doc}\n`).join('')}\n`;
    })
    .join('');
}

function packageVersion(): string {
  return (JSON.parse(fs.readFileSync(packagePath('package.json'), 'utf8')) as { version: string }).version;
}

/** The formats read, for `--help`: every importer's name and one-line description. */
function inputFormats(): string {
  const all = [...streamImporters, ...textImporters];
  const width = Math.max(...all.map((i) => i.name.length));
  return `\nInputs read (recognized by content, also inside a zip or folder):\n${all.map((i) => `  ${i.name.padEnd(width)}  ${i.description}`).join('\n')}\n`;
}

export function buildProgram(): Command {
  const program = new Command();
  program
    .name('dmabuf-triage')
    .description('Where did the DMA-BUF memory go? Reads Android bugreports (zip, txt, txt.gz), Perfetto traces, folders and kernel captures.')
    .version(packageVersion())
    .addHelpText('after', inputFormats)
    .showHelpAfterError(false)
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });

  quietOption(
    program
      .command('analyze')
      .description('ingest inputs and print the triage summary: device, totals, heaviest exporters and processes, leak suspects, consistency, diagnostics')
      .argument('<input...>', 'bugreport .zip/.txt/.txt.gz, Perfetto trace, folder or capture file (one snapshot each)')
      .addOption(new Option('-f, --format <format>', 'output format').choices(['text', 'json', 'markdown']).default('text'))
      .option('--top <n>', 'rows of the exporters, processes, process totals, devices and trace processes tables (leak suspects, findings and diagnostics are all shown)', (v) => positiveInt(v, '--top'), 10)
      .option('--html <file>', 'also write the summary as an HTML page')
      .option('--fail-on <severity>', `exit 1 when a leak suspect at or above this severity exists: ${SEVERITIES.join(', ')}, or 'leaks' (= low)`),
  ).action(async (inputs: string[], o: { format: string; top: number; html?: string; failOn?: string; quiet?: boolean }) => {
    const failLevel = o.failOn === undefined ? undefined : SEVERITIES.indexOf(o.failOn === 'leaks' ? 'low' : o.failOn);
    if (failLevel === -1) throw new UsageError(`--fail-on takes one of ${SEVERITIES.join(', ')} or 'leaks', got '${o.failOn}'`);
    if (o.html !== undefined) checkOutput(o.html, '--html', inputs);
    const s = await load(inputs, o.quiet);
    const summary = s.summary({ top: o.top });
    s.close();
    const doc = summaryDocument(summary);
    if (o.format === 'json') write(JSON.stringify(summary, null, 2) + '\n');
    else if (o.format === 'markdown') write(renderMarkdown(doc));
    else write(renderText(doc));
    if (o.html) writeOutput(o.html, renderHtml(doc));
    if (failLevel !== undefined) {
      const worst = Math.max(-1, ...summary.snapshots.flatMap((x) => x.leak_suspects.map((r) => SEVERITIES.indexOf(String(r.severity)))));
      if (worst >= failLevel) process.exitCode = 1;
    }
  });

  quietOption(
    paramOption(
      rowOptions(
        program
          .command('query')
          .description('run SQL over the loaded database')
          .argument('<input...>', 'inputs to load')
          .requiredOption('--sql <sql>', 'the SQL to run'),
      ),
      'bind :name (also @name, $name) in the SQL to value',
    ),
  ).action(async (inputs: string[], o: RowOptions & { sql: string }) => {
    // A --param the SQL does not name (a misspelt :name) would leave the one it names NULL.
    for (const name of Object.keys(o.param ?? {})) {
      if (![':', '@', '$'].some((p) => o.sql.includes(p + name))) throw new UsageError(`--param ${name}: the SQL names no :${name}`);
    }
    // The SQL checked against the schema before the inputs load (a large bugreport takes seconds): a typo fails at once.
    const empty = await open([]);
    try {
      empty.columns(o.sql);
    } finally {
      empty.close();
    }
    const s = await load(inputs, o.quiet);
    // The columns first: they are read without running the statement, which may create what it names.
    const columns = s.columns(o.sql);
    write(renderRows(s.query(o.sql, o.param), columns, o.format, { headers: o.headers }));
    s.close();
  });

  quietOption(
    paramOption(
      rowOptions(
        program
          .command('run')
          .description('run one catalogue analysis (see `analyses`)')
          .argument('<analysis>', 'analysis name')
          .argument('<input...>', 'inputs to load'),
      ),
      'set a parameter of the analysis (`analyses` lists them with their defaults)',
    ),
  ).action(async (analysis: string, inputs: string[], o: RowOptions) => {
    // Fail on a misspelt name or parameter before loading what may be a 500 MB bugreport.
    checkAnalysis(analysis, o.param);
    const s = await load(inputs, o.quiet);
    const rows = s.run(analysis, o.param);
    write(renderRows(rows, s.columns(`SELECT * FROM ${analysis}`), o.format, { headers: o.headers }));
    s.close();
  });

  program
    .command('analyses')
    .description('list the analysis catalogue: name, description, parameters')
    .addOption(new Option('-f, --format <format>', 'output format').choices(['text', 'json']).default('text'))
    .action((o: { format: string }) => {
      const list = catalogue();
      write(o.format === 'json' ? JSON.stringify(list, null, 2) + '\n' : analysesText(list));
    });

  program
    .command('schema')
    .description('print every table and view with its documentation')
    .addOption(new Option('-f, --format <format>', 'output format').choices(['text', 'json']).default('text'))
    .argument('[name]', 'only this table or view')
    .action(async (name: string | undefined, o: { format: string }) => {
      const s = await open([]);
      let objects = s.schema();
      s.close();
      if (name) {
        objects = objects.filter((x) => x.name === name);
        if (!objects.length) throw new UsageError(`no table or view named '${name}'`);
      }
      write(o.format === 'json' ? JSON.stringify(objects, null, 2) + '\n' : schemaText(objects));
    });

  quietOption(
    program
      .command('export')
      .description('write the loaded database as a SQLite file (for sqlite3, Datasette, …)')
      .argument('<input...>', 'inputs to load')
      .requiredOption('-o, --out <file>', 'the .sqlite file to write (replaced when it exists; never an input)'),
  ).action(async (inputs: string[], o: { out: string; quiet?: boolean }) => {
    checkOutput(o.out, '--out', inputs);
    const s = await load(inputs, o.quiet);
    writeOutput(o.out, s.exportSqlite());
    s.close();
    if (!o.quiet) process.stderr.write(`wrote ${o.out}\n`);
  });

  quietOption(
    program
      .command('shell')
      .description('interactive SQL shell over the loaded database (.tables, .schema NAME, .analyses, .quit)')
      .argument('<input...>', 'inputs to load'),
  ).action(async (inputs: string[], o: { quiet?: boolean }) => {
    const s = await load(inputs, o.quiet);
    await shell(s);
    s.close();
  });

  quietOption(
    rowOptions(
      program
        .command('diff')
        .description('what grew, shrank, appeared and disappeared between two captures (dmabuf_growth, unchanged rows left out)')
        .argument('<before>', 'the earlier capture')
        .argument('<after>', 'the later capture'),
    ),
  ).action(async (before: string, after: string, o: RowOptions) => {
    const s = await load([before, after], o.quiet);
    // dmabuf_growth compares buffer lists: without one on either side (a trace, per-process totals
    // alone) it lists nothing, which would read as "nothing changed".
    const listed = new Set(s.query('SELECT DISTINCT snapshot_id FROM dmabuf').map((r) => r.snapshot_id));
    [before, after].forEach((input, i) => {
      if (!listed.has(i + 1)) {
        s.close();
        throw new InputError(`${input}: lists no DMA-BUF buffers, so there is nothing to compare (diff compares buffer lists; \`analyze\` shows what it holds)`);
      }
    });
    const rows = s.run('dmabuf_growth').filter((r) => Number(r.delta_bytes) !== 0 || Number(r.first_bytes) === 0 || Number(r.last_bytes) === 0).map((r) => ({
      ...r,
      change: Number(r.first_bytes) === 0 ? 'appeared' : Number(r.last_bytes) === 0 ? 'disappeared' : Number(r.delta_bytes) > 0 ? 'grew' : 'shrank',
    }));
    write(renderRows(rows, ['change', 'kind', 'subject', 'first_bytes', 'last_bytes', 'delta_bytes'], o.format, { headers: o.headers }));
    s.close();
  });

  return program;
}

function positiveInt(v: string, flag: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new UsageError(`${flag} takes a positive whole number, got '${v}'`);
  return n;
}

async function shell(s: Session): Promise<void> {
  // Prompts only for a person at a terminal; piped SQL gets results alone, and its errors (on
  // stderr, as at a terminal) make the exit code 2.
  const interactive = Boolean(process.stdin.isTTY);
  const rl = readline.createInterface({ input: process.stdin, output: interactive ? process.stdout : undefined, prompt: 'dmabuf> ', terminal: interactive });
  if (interactive) write('SQL ends with ";". .tables, .schema NAME, .analyses, .quit\n');
  const fail = (message: string) => {
    process.stderr.write(`${message}\n`);
    if (!interactive) process.exitCode = 2;
  };
  const run = (sql: string) => {
    try {
      const columns = s.columns(sql);
      write(renderRows(s.query(sql), columns, 'table'));
    } catch (e) {
      if (!isKnownError(e)) throw e;
      fail(e.message);
    }
  };
  let pending = '';
  rl.prompt();
  for await (const line of rl) {
    const t = line.trim();
    if (!pending && t.startsWith('.')) {
      const [cmd, arg] = t.split(/\s+/, 2);
      if (cmd === '.quit' || cmd === '.exit') break;
      if (cmd === '.tables') write(s.schema().map((x) => `${x.kind.padEnd(5)} ${x.name}`).join('\n') + '\n');
      else if (cmd === '.analyses') write(analysesText(s.analyses()));
      else if (cmd === '.schema') {
        const objects = s.schema().filter((o) => !arg || o.name === arg);
        if (objects.length) write(schemaText(objects));
        else fail(`no table or view named '${arg}'`);
      } else fail(`unknown command ${cmd}; try .tables, .schema NAME, .analyses, .quit`);
      rl.prompt();
      continue;
    }
    pending += (pending ? '\n' : '') + line;
    if (!t.endsWith(';')) {
      if (pending.trim()) rl.setPrompt('   ...> ');
      rl.prompt();
      continue;
    }
    run(pending.trim().replace(/;$/, ''));
    pending = '';
    rl.setPrompt('dmabuf> ');
    rl.prompt();
  }
  // Input that ends without the last statement's ";" (`echo 'SELECT …' | dmabuf-triage shell x`): run it.
  if (pending.trim()) run(pending.trim());
  rl.close();
}

/** Run the CLI; returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  try {
    await buildProgram().parseAsync(argv, { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      // Help or the version asked for: 0; anything else (no command at all, a bad flag) is a usage error.
      return e.exitCode === 0 ? 0 : 2;
    }
    if (isKnownError(e)) {
      process.stderr.write(`dmabuf-triage: ${e.message}\n`);
      return 2;
    }
    throw e;
  } finally {
    if (process.env.DMABUF_TRIAGE_REPORT_RSS === '1') {
      process.stderr.write(`maxrss_kb=${process.resourceUsage().maxRSS}\n`);
    }
  }
}
