#!/usr/bin/env node
// The dmabuf-triage command: a plain JavaScript launcher for the code `npm run build` compiles into dist/.
import v8 from 'node:v8';

// Output piped into a reader that stops early (`| head`): the rest is not wanted, so stop quietly.
// Output that cannot be written (a full disk): one line on stderr and exit 2, as any known failure.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (e) => {
    if (e.code === 'EPIPE') process.exit(0);
    if (stream === process.stdout) process.stderr.write(`dmabuf-triage: cannot write the output (${e.message})\n`);
    process.exit(2);
  });
}

// A large Perfetto trace named on the command line starts decoding (on a worker thread) while
// the rest of the program loads; the session that opens it takes that worker.
const { prestartTraceWorkers } = await import('../dist/src/importers/perfetto/remote.js');
const workersLoaded = prestartTraceWorkers(process.argv.slice(2));
const { main } = await import('../dist/src/cli/main.js');

// A CLI run is short: V8's optimizing compile of the SQLite wasm module (sql.js) costs more
// than it saves, and on a 2-core machine it competes with inflating the input. Baseline
// compilation only, for this process (the library leaves the host's settings alone). Set once
// the code is loaded, on this thread and the workers': a changed flag makes V8 refuse the
// compile cache of node's own modules, which then load some 30-50 ms slower.
await workersLoaded;
v8.setFlagsFromString('--liftoff-only');

process.exitCode = await main(process.argv.slice(2));
