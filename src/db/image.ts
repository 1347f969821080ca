// What the SQL files make, written at build time (`npm run build` calls `writeImage`): the
// schema as a ready SQLite file (dist/src/db/schema-image.sqlite), which `Db.create` opens
// instead of running every CREATE statement and writing the docs (some 40 ms less per session),
// and the analysis catalogue (catalogue.json beside it), which analyses.ts reads instead of
// parsing the SQL files (some 5 ms, in the summary's time). Each carries a hash of the SQL files
// it was made from (the image in `PRAGMA user_version`); when they have changed since, it is
// not used and what it holds is made from them as before.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { packagePath } from '../paths.js';

/** Where the build writes the image: beside this module's compiled code. */
export const IMAGE_PATH = fileURLToPath(new URL('./schema-image.sqlite', import.meta.url));
/** Where the build writes the catalogue. */
export const CATALOGUE_PATH = fileURLToPath(new URL('./catalogue.json', import.meta.url));
const SQL_FOLDERS = ['src/db/schema', 'src/queries'];

let current: number | undefined;

/** Hash of the package's SQL files, names and texts, as a signed 32-bit integer (what user_version holds). */
export function schemaHash(): number {
  if (current === undefined) {
    const h = createHash('sha256');
    for (const folder of SQL_FOLDERS) {
      const dir = packagePath(folder);
      for (const f of fs.readdirSync(dir).filter((x) => x.endsWith('.sql')).sort()) {
        h.update(`${folder}/${f}\u0000`);
        h.update(fs.readFileSync(`${dir}/${f}`));
      }
    }
    current = h.digest().readInt32LE(0);
  }
  return current;
}

/** The image's bytes, or undefined when there is none. Whether it is current is the opener's to check (its user_version). */
export function readImage(file = IMAGE_PATH): Uint8Array | undefined {
  try {
    return fs.readFileSync(file);
  } catch {
    return undefined;
  }
}

/** The catalogue the build wrote, if it is that of the current SQL files (else undefined). */
export function readCatalogue<T>(file = CATALOGUE_PATH): T | undefined {
  try {
    const c = JSON.parse(fs.readFileSync(file, 'utf8')) as { hash: number; analyses: T };
    return c.hash === schemaHash() ? c.analyses : undefined;
  } catch {
    return undefined;
  }
}

/** Write the schema image and the catalogue of the current SQL files (the build step). */
export async function writeImage(file = IMAGE_PATH, catalogueFile = CATALOGUE_PATH): Promise<void> {
  const { Db } = await import('./database.js');
  const db = await Db.createFromSql();
  db.raw.run(`PRAGMA user_version = ${schemaHash()}`);
  fs.writeFileSync(file, db.export());
  db.close();
  const { catalogueFromSql } = await import('../analyses.js');
  fs.writeFileSync(catalogueFile, JSON.stringify({ hash: schemaHash(), analyses: catalogueFromSql() }));
}
