// Mutation testing of text importers: rendered captures with random line deletions,
// duplications and swaps, truncations, byte flips, junk insertions and huge numbers. No
// exception may escape `sniff` or `importText`, and none may be swallowed either: the
// `importer_failed` diagnostic (an exception caught by the importer's guard) must never appear.
import assert from 'node:assert/strict';
import { Db } from '../src/db/database.js';
import { SourceContext } from '../src/importers/context.js';
import type { TextImporter } from '../src/importers/types.js';
import { rng } from './helpers.js';

const JUNK = ['\t', ' ', '\n', '\r', '|', ':', '0', '9', '-', '(', ')', '"', ',', '/', 'x', '\u0000', '\u00ff', '😀', '==> ', '<==', 'refs'];

/** One random mutation round set of `text`. */
export function mutate(text: string, r: () => number): string {
  const pick = <T>(a: T[]): T => a[Math.floor(r() * a.length)];
  let t = text;
  const rounds = 1 + Math.floor(r() * 4);
  for (let i = 0; i < rounds; i++) {
    const lines = t.split('\n');
    const at = Math.floor(r() * lines.length);
    switch (Math.floor(r() * 7)) {
      case 0: // delete a line
        lines.splice(at, 1);
        t = lines.join('\n');
        break;
      case 1: // duplicate a line
        lines.splice(at, 0, lines[at] ?? '');
        t = lines.join('\n');
        break;
      case 2: {
        // swap two lines
        const b = Math.floor(r() * lines.length);
        [lines[at], lines[b]] = [lines[b], lines[at]];
        t = lines.join('\n');
        break;
      }
      case 3: // truncate
        t = t.slice(0, Math.floor(r() * t.length));
        break;
      case 4: {
        // flip bytes
        const chars = [...t];
        for (let n = 0; n < 1 + Math.floor(r() * 8); n++) chars[Math.floor(r() * chars.length)] = pick(JUNK);
        t = chars.join('');
        break;
      }
      case 5: {
        // insert junk
        const p = Math.floor(r() * (t.length + 1));
        t = t.slice(0, p) + Array.from({ length: 1 + Math.floor(r() * 5) }, () => pick(JUNK)).join('') + t.slice(p);
        break;
      }
      case 6: // huge numbers
        t = t.replace(/\d+/, '99999999999999999999999');
        break;
    }
  }
  return t;
}


/** Import `iterations` mutations of the texts (taken in turn) straight through the importer. */
export async function fuzzImporter(imp: TextImporter, texts: string[], opts: { seed: number; iterations: number; path?: string }): Promise<void> {
  const path = opts.path ?? 'capture.txt';
  const r = rng(opts.seed);
  const db = await Db.create();
  for (let i = 0; i < opts.iterations; i++) {
    const m = mutate(texts[i % texts.length], r);
    const ctx = SourceContext.topLevel(db, path, imp.name, 'capture', path);
    assert.doesNotThrow(() => imp.sniff(m, path));
    assert.doesNotThrow(() => imp.importText(m, ctx), `mutation ${i}: ${JSON.stringify(m.slice(0, 200))}`);
  }
  assert.deepEqual(db.query("SELECT message FROM diagnostic WHERE code = 'importer_failed'"), []);
  db.close();
}
