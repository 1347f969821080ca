// The analysis catalogue: every view in src/queries/*.sql whose doc block has `@analysis`.
// Parameters are declared with `@param name default description` and live in the
// `analysis_param` table, which the views read; `run` sets them for one query.
import { packageSqlFiles, type Db, type ResultRow } from './db/database.js';
import { readCatalogue } from './db/image.js';
import { params, tag } from './db/sqlfile.js';
export { typed } from './db/sqlfile.js';
import { UsageError } from './errors.js';

export interface AnalysisParam {
  name: string;
  default: string | number | null;
  description: string;
}

export interface AnalysisInfo {
  name: string;
  title: string;
  description: string;
  params: AnalysisParam[];
  columns: { name: string; doc: string }[];
}

let cached: readonly AnalysisInfo[] | undefined;

/** The catalogue, in file order (a copy: callers may keep or change it). */
export function catalogue(): AnalysisInfo[] {
  return analyses().map((a) => ({ ...a, params: a.params.map((p) => ({ ...p })), columns: a.columns.map((c) => ({ ...c })) }));
}

/**
 * The catalogue, read once per process (the SQL files do not change while it runs): as the
 * build wrote it (db/image.ts), else from the SQL files.
 */
function analyses(): readonly AnalysisInfo[] {
  return (cached ??= readCatalogue<AnalysisInfo[]>() ?? catalogueFromSql());
}

/** The catalogue as the SQL files declare it. */
export function catalogueFromSql(): AnalysisInfo[] {
  const out: AnalysisInfo[] = [];
  for (const f of packageSqlFiles('src/queries')) {
    for (const s of f.statements) {
      const name = tag(s, 'analysis');
      if (!name || s.kind !== 'view') continue;
      out.push({
        name,
        title: tag(s, 'title') ?? name,
        description: s.description,
        params: paramsOf(name),
        columns: s.columns,
      });
    }
  }
  return out;
}

/** Parameters of an analysis, wherever declared (helper views attach theirs with `@for`). */
function paramsOf(analysis: string): AnalysisParam[] {
  const out: AnalysisParam[] = [];
  for (const f of packageSqlFiles('src/queries')) {
    for (const s of f.statements) {
      for (const p of params(s)) {
        if (p.analysis === analysis && !out.some((x) => x.name === p.name)) {
          out.push({ name: p.name, default: p.default, description: p.description });
        }
      }
    }
  }
  return out;
}

/** The catalogue entry of an analysis; an unknown name is a UsageError. */
export function findAnalysis(name: string): AnalysisInfo {
  const info = analyses().find((a) => a.name === name);
  if (!info) throw new UsageError(`unknown analysis '${name}'; \`dmabuf-triage analyses\` lists them`);
  return info;
}

/**
 * Check an analysis's name and parameter values (a UsageError when one is wrong): each is one
 * of its parameters, and a parameter whose default is a number takes only a number.
 */
export function checkAnalysis(name: string, params: Record<string, unknown> = {}): void {
  const info = findAnalysis(name);
  for (const [k, v] of given(params)) {
    const p = info.params.find((x) => x.name === k);
    if (!p) {
      const known = info.params.map((x) => x.name);
      throw new UsageError(`analysis '${name}' has no parameter '${k}'${known.length ? ` (it has: ${known.join(', ')})` : ' (it takes none)'}`);
    }
    if (typeof p.default === 'number' && !(typeof v === 'number' && Number.isFinite(v))) {
      throw new UsageError(`parameter '${k}' of '${name}' takes a number (default ${p.default}), got '${String(v)}'`);
    }
  }
}

/** The parameters given a value: one set to undefined (an optional argument passed on) keeps its default. */
function given(params: Record<string, unknown>): [string, unknown][] {
  return Object.entries(params).filter(([, v]) => v !== undefined);
}

/** Run one analysis with parameter values (`checkAnalysis`), bound as given (the CLI types its strings with `typed`). */
export function runAnalysis(db: Db, name: string, params: Record<string, unknown> = {}): ResultRow[] {
  checkAnalysis(name, params);
  try {
    for (const [k, v] of given(params)) {
      db.raw.run('UPDATE analysis_param SET value = ? WHERE analysis = ? AND name = ?', [v as string | number, name, k]);
    }
    return db.query(`SELECT * FROM ${name}`);
  } finally {
    db.raw.run('UPDATE analysis_param SET value = default_value WHERE analysis = ?', [name]);
  }
}
