// Reads the project's SQL files (schema and analyses) into statements with their doc
// comments. The rules, shared by every .sql file of the package:
// - the `--` lines directly above a statement (no blank line between) are its doc block;
// - inside a doc block, `-- @key value` lines are tags (`@analysis` and its `@title`,
//   `@param`, `@for`, `@column`), the other lines are the description;
// - inside CREATE TABLE, the `--` lines directly above a column definition document it;
// - a statement ends with a line ending in `;`.

export interface DocTag {
  key: string;
  value: string;
}

export interface SqlStatement {
  /** The statement text, comments inside it included, without the doc block. */
  sql: string;
  kind: 'table' | 'view' | 'other';
  /** Name of the created table or view. */
  name?: string;
  /** Description lines of the doc block, joined with spaces. */
  description: string;
  tags: DocTag[];
  /** Column docs of a CREATE TABLE (from comments) or a CREATE VIEW (from `@column` tags). */
  columns: { name: string; doc: string }[];
  /** 1-based line where the statement starts in its file. */
  line: number;
}

const CREATE = /^\s*CREATE\s+(TABLE|VIEW)\s+(?:IF\s+NOT\s+EXISTS\s+)?([A-Za-z_][A-Za-z0-9_]*)/i;
const NOT_A_COLUMN = /^(PRIMARY|UNIQUE|FOREIGN|CHECK|CONSTRAINT)\b/i;

export function parseSqlFile(text: string): SqlStatement[] {
  const lines = text.split(/\r?\n/);
  const out: SqlStatement[] = [];
  let comments: string[] = [];
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    const trimmed = line.trim();
    if (trimmed === '') {
      comments = [];
      i++;
      continue;
    }
    if (trimmed.startsWith('--')) {
      comments.push(trimmed.replace(/^--\s?/, ''));
      i++;
      continue;
    }
    // A statement starts here; gather until a line ending with `;`.
    const start = i;
    const body: string[] = [];
    while (i < lines.length) {
      body.push(lines[i]);
      if (lines[i].trimEnd().endsWith(';') && !lines[i].trim().startsWith('--')) {
        i++;
        break;
      }
      i++;
    }
    out.push(makeStatement(body, comments, start + 1));
    comments = [];
  }
  return out;
}

function makeStatement(body: string[], docLines: string[], line: number): SqlStatement {
  const sql = body.join('\n');
  const m = CREATE.exec(body[0]);
  const tags: DocTag[] = [];
  const description: string[] = [];
  for (const d of docLines) {
    const t = /^@(\w+)\s*(.*)$/.exec(d);
    if (t) tags.push({ key: t[1], value: t[2].trim() });
    else description.push(d.trim());
  }
  const stmt: SqlStatement = {
    sql,
    kind: m ? (m[1].toUpperCase() === 'TABLE' ? 'table' : 'view') : 'other',
    name: m?.[2],
    description: description.join(' ').trim(),
    tags,
    columns: [],
    line,
  };
  if (stmt.kind === 'table') {
    let colDoc: string[] = [];
    for (const l of body.slice(1)) {
      const t = l.trim();
      if (t.startsWith('--')) {
        colDoc.push(t.replace(/^--\s?/, ''));
        continue;
      }
      const c = /^([A-Za-z_][A-Za-z0-9_]*)/.exec(t);
      if (c && !NOT_A_COLUMN.test(t)) stmt.columns.push({ name: c[1], doc: colDoc.join(' ').trim() });
      colDoc = [];
    }
  } else if (stmt.kind === 'view') {
    for (const tag of tags) {
      if (tag.key !== 'column') continue;
      const c = /^(\S+)\s*(.*)$/.exec(tag.value);
      if (c) stmt.columns.push({ name: c[1], doc: c[2].trim() });
    }
  }
  return stmt;
}

/** The value of the first tag with this key, if any. */
export function tag(stmt: SqlStatement, key: string): string | undefined {
  return stmt.tags.find((t) => t.key === key)?.value;
}

export interface ParamDecl {
  /** Analysis the parameter belongs to: the view's `@analysis`, else its `@for`, else the view itself. */
  analysis: string;
  name: string;
  default: string | number | null;
  description: string;
}

/** `-- @param name default description` lines of a statement; helper views name their analysis with `-- @for`. */
export function params(stmt: SqlStatement): ParamDecl[] {
  const analysis = tag(stmt, 'analysis') ?? tag(stmt, 'for') ?? stmt.name ?? '';
  return stmt.tags
    .filter((t) => t.key === 'param')
    .map((t) => {
      const m = /^(\w+)\s+(\S+)\s*(.*)$/.exec(t.value);
      if (!m) throw new Error(`line ${stmt.line}: malformed @param: ${t.value}`);
      return { analysis, name: m[1], default: m[2] === 'NULL' ? null : typed(m[2]), description: m[3] };
    });
}

/**
 * A value given as text (a `@param` default, a command-line `--param`): `"12"` → 12, `"1.5"` →
 * 1.5, anything else unchanged. A whole number a JavaScript number cannot hold exactly (past
 * 2^53: a realtime timestamp in nanoseconds) stays text, which SQLite compares with an integer
 * column as the exact integer.
 */
export function typed(v: unknown): string | number | null {
  if (v === null || v === undefined) return null;
  if (typeof v === 'number') return v;
  const s = String(v);
  if (/^-?\d+$/.test(s)) return Number.isSafeInteger(Number(s)) ? Number(s) : s;
  return /^-?\d+\.\d+$/.test(s) ? Number(s) : s;
}
