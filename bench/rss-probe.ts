// Preloaded into the child process the benchmark measures (`node --import <this file> …`):
// when the process exits, write its peak resident set size (kB, getrusage ru_maxrss) to the
// file named by DMABUF_BENCH_RSS_FILE. The CLI needs no support for this.
import { writeFileSync } from 'node:fs';

const out = process.env.DMABUF_BENCH_RSS_FILE;
if (out) {
  process.on('exit', () => {
    try {
      writeFileSync(out, String(process.resourceUsage().maxRSS));
    } catch {
      // Nothing sensible to do in an exit handler.
    }
  });
}
