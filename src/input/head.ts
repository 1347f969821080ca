// The first bytes of a file, for recognizing it by content (the input layer, and the trace
// workers started before a session loads its inputs).
import fs from 'node:fs';

/** Up to `n` leading bytes of `file`. */
export function readHead(file: string, n: number): Buffer {
  const fd = fs.openSync(file, 'r');
  try {
    const buf = Buffer.alloc(n);
    return buf.subarray(0, fs.readSync(fd, buf, 0, n, 0));
  } finally {
    fs.closeSync(fd);
  }
}
