// Where the package's own files are at run time. Compiled code lives in dist/src/, the
// SQL files (schema and analyses) stay in src/ and ship with the package.
import { fileURLToPath } from 'node:url';
import path from 'node:path';

/** Root of the installed package (the folder holding package.json). */
export const packageRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Absolute path of a file or folder of the package, given relative to its root. */
export function packagePath(...parts: string[]): string {
  return path.join(packageRoot, ...parts);
}
