// The command line: a thin commander wrapper over the library. Results go to stdout,
// progress to stderr; a known failure is one line on stderr and exit code 2.
import fs from 'node:fs';
import readline from 'node:readline';
import { Command, CommanderError, Option } from 'commander';
import { open, type Session } from '../index.js';
import { catalogue } from '../analyses.js';
import { isKnownError, UsageError } from '../errors.js';
import { renderRows, ROW_FORMATS, type RowFormat } from '../report/rows.js';
import { summaryDocument } from '../report/document.js';
import { renderText } from '../report/text.js';
import { renderMarkdown } from '../report/markdown.js';
import { renderHtml } from '../report/html.js';

const SEVERITIES = ['info', 'low', 'medium', 'high'];

interface RowOptions {
  format: RowFormat;
  headers: boolean;
  param: Record<string, string>;
  quiet?: boolean;
}

function collectParam(value: string, previous: Record<string, string>): Record<string, string> {
  const eq = value.indexOf('=');
  if (eq <= 0) throw new UsageError(`--param takes name=value, got '${value}'`);
  return { ...previous, [value.slice(0, eq).replace(/^[:@$]/, '')]: value.slice(eq + 1) };
}

/** The output flags shared by every command that prints rows. */
function rowOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('-f, --format <format>', 'output format').choices(ROW_FORMATS).default('table'))
    .option('--no-headers', 'omit the header line (table, csv)')
    .option('-p, --param <name=value>', 'bind a named parameter (:name); repeatable', collectParam, {});
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

export function buildProgram(): Command {
  const program = new Command();
  program
    .name('dmabuf-triage')
    .description('Where did the DMA-BUF memory go? Reads Android bugreports (zip, txt, txt.gz), Perfetto traces, folders and kernel captures.')
    .version('0.1.0')
    .showHelpAfterError(false)
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });

  quietOption(
    program
      .command('analyze')
      .description('ingest inputs and print the triage summary: device, totals, heaviest exporters and processes, leak suspects, consistency, diagnostics')
      .argument('<input...>', 'bugreport .zip/.txt/.txt.gz, Perfetto trace, folder or capture file (one snapshot each)')
      .addOption(new Option('-f, --format <format>', 'output format').choices(['text', 'json', 'markdown']).default('text'))
      .option('--top <n>', 'rows per table', (v) => positiveInt(v, '--top'), 10)
      .option('--html <file>', 'also write the summary as an HTML page')
      .option('--fail-on <severity>', `exit 1 when a leak suspect at or above this severity exists: ${SEVERITIES.join(', ')}, or 'leaks' (= low)`),
  ).action(async (inputs: string[], o: { format: string; top: number; html?: string; failOn?: string; quiet?: boolean }) => {
    const failLevel = o.failOn === undefined ? undefined : SEVERITIES.indexOf(o.failOn === 'leaks' ? 'low' : o.failOn);
    if (failLevel === -1) throw new UsageError(`--fail-on takes one of ${SEVERITIES.join(', ')} or 'leaks', got '${o.failOn}'`);
    const s = await load(inputs, o.quiet);
    const summary = s.summary({ top: o.top });
    s.close();
    const doc = summaryDocument(summary);
    if (o.format === 'json') write(JSON.stringify(summary, null, 2) + '\n');
    else if (o.format === 'markdown') write(renderMarkdown(doc));
    else write(renderText(doc));
    if (o.html) fs.writeFileSync(o.html, renderHtml(doc));
    if (failLevel !== undefined) {
      const worst = Math.max(-1, ...summary.snapshots.flatMap((x) => x.leak_suspects.map((r) => SEVERITIES.indexOf(String(r.severity)))));
      if (worst >= failLevel) process.exitCode = 1;
    }
  });

  quietOption(
    rowOptions(
      program
        .command('query')
        .description('run SQL over the loaded database')
        .argument('<input...>', 'inputs to load')
        .requiredOption('--sql <sql>', 'the SQL to run'),
    ),
  ).action(async (inputs: string[], o: RowOptions & { sql: string }) => {
    const s = await load(inputs, o.quiet);
    write(renderRows(s.query(o.sql, o.param), s.columns(o.sql), o.format, { headers: o.headers }));
    s.close();
  });

  quietOption(
    rowOptions(
      program
        .command('run')
        .description('run one catalogue analysis (see `analyses`)')
        .argument('<analysis>', 'analysis name')
        .argument('<input...>', 'inputs to load'),
    ),
  ).action(async (analysis: string, inputs: string[], o: RowOptions) => {
    // Fail on a misspelt name before loading what may be a 500 MB bugreport.
    if (!catalogue().some((a) => a.name === analysis)) throw new UsageError(`unknown analysis '${analysis}'; \`dmabuf-triage analyses\` lists them`);
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
      if (o.format === 'json') return write(JSON.stringify(list, null, 2) + '\n');
      for (const a of list) {
        write(`${a.name} — ${a.title}\n  ${a.description}\n`);
        for (const p of a.params) write(`  --param ${p.name}=<value>  (default ${p.default}) ${p.description}\n`);
        write('\n');
      }
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
      if (o.format === 'json') return write(JSON.stringify(objects, null, 2) + '\n');
      for (const x of objects) {
        write(`${x.kind} ${x.name}\n  ${x.doc}\n`);
        const w = Math.max(...x.columns.map((c) => c.name.length));
        for (const c of x.columns) write(`    ${c.name.padEnd(w)}  ${c.doc}\n`);
        write('\n');
      }
    });

  quietOption(
    program
      .command('export')
      .description('write the loaded database as a SQLite file (for sqlite3, Datasette, …)')
      .argument('<input...>', 'inputs to load')
      .requiredOption('-o, --out <file>', 'the .sqlite file to write'),
  ).action(async (inputs: string[], o: { out: string; quiet?: boolean }) => {
    const s = await load(inputs, o.quiet);
    fs.writeFileSync(o.out, s.exportSqlite());
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
    const rows = s.run('dmabuf_growth', o.param).filter((r) => Number(r.delta_bytes) !== 0 || Number(r.first_bytes) === 0 || Number(r.last_bytes) === 0).map((r) => ({
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
  // Prompts only for a person at a terminal; piped SQL gets results alone.
  const interactive = Boolean(process.stdin.isTTY);
  const rl = readline.createInterface({ input: process.stdin, output: interactive ? process.stdout : undefined, prompt: 'dmabuf> ', terminal: interactive });
  if (interactive) write('SQL ends with ";". .tables, .schema NAME, .analyses, .quit\n');
  let pending = '';
  rl.prompt();
  for await (const line of rl) {
    const t = line.trim();
    if (!pending && t.startsWith('.')) {
      const [cmd, arg] = t.split(/\s+/, 2);
      if (cmd === '.quit' || cmd === '.exit') break;
      if (cmd === '.tables') write(s.schema().map((x) => `${x.kind.padEnd(5)} ${x.name}`).join('\n') + '\n');
      else if (cmd === '.analyses') write(s.analyses().map((a) => `${a.name} — ${a.title}`).join('\n') + '\n');
      else if (cmd === '.schema') {
        for (const x of s.schema().filter((o) => !arg || o.name === arg)) {
          write(`${x.kind} ${x.name}: ${x.doc}\n${x.columns.map((c) => `  ${c.name}: ${c.doc}`).join('\n')}\n`);
        }
      } else write(`unknown command ${cmd}; try .tables, .schema NAME, .analyses, .quit\n`);
      rl.prompt();
      continue;
    }
    pending += (pending ? '\n' : '') + line;
    if (!t.endsWith(';')) {
      if (pending.trim()) rl.setPrompt('   ...> ');
      rl.prompt();
      continue;
    }
    try {
      const sql = pending.trim().replace(/;$/, '');
      write(renderRows(s.query(sql), s.columns(sql), 'table'));
    } catch (e) {
      write(`${(e as Error).message}\n`);
    }
    pending = '';
    rl.setPrompt('dmabuf> ');
    rl.prompt();
  }
  rl.close();
}

/** Run the CLI; returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  try {
    await buildProgram().parseAsync(argv, { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      return e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help' ? 0 : 2;
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
