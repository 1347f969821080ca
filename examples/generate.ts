// Writes examples/bugreport-example.zip: a realistic generated bugreport (Android 15, a few
// hundred processes, a few thousand buffers, a camera-style leak: large CAMERA buffers no
// process holds and others the camera provider keeps only through a mapping), carrying a
// Perfetto trace of its last 20 seconds in which the camera provider allocates the leaked
// buffers and its DMA-BUF RSS grows.
// Deterministic: the same code writes the same bytes. Run with `npm run examples`.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomScenario } from '../test/fixtures/generate-scenario.js';
import { writeBugreportZip } from '../test/fixtures/bugreport.js';
import { scenarioTrace } from '../test/fixtures/trace.js';

/** Options of the example; change them and re-run `npm run examples` to regenerate. */
export const EXAMPLE = {
  seed: 20261102,
  processes: 320,
  buffers: 3200,
  leak: 'camera' as const,
  sdk: 35,
  platform: 'qcom' as const,
  /** Size of the bugreport text (logs and other sections around the DMA-BUF ones). */
  textBytes: 6_000_000,
};

/** The package root: this file runs from dist/examples/. */
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

export async function writeExample(out = path.join(root, 'examples', 'bugreport-example.zip')) {
  const { seed, processes, buffers, leak, sdk, platform, textBytes } = EXAMPLE;
  const scenario = randomScenario({ seed, processes, buffers, leak, sdk, platform });
  const trace = scenarioTrace(scenario, { seed });
  const r = await writeBugreportZip(out, scenario, {
    textBytes,
    seed,
    extraEntries: { 'FS/data/misc/perfetto-traces/bugreport/systrace.pftrace': trace.bytes },
  });
  return { ...r, scenario };
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const r = await writeExample(process.argv[2]);
  const held = new Set(r.scenario.processes.flatMap((p) => p.holds.map((h) => h.inode)));
  const bytes = r.scenario.buffers.reduce((a, b) => a + b.size, 0);
  const kernel = r.scenario.buffers.filter((b) => !held.has(b.inode)).reduce((a, b) => a + b.size, 0);
  console.log(
    `${path.relative(process.cwd(), r.path)}: ${(r.zipBytes / 1e6).toFixed(2)} MB zip, ${(r.textBytes / 1e6).toFixed(1)} MB text, ` +
      `${r.scenario.processes.length} processes, ${r.scenario.buffers.length} buffers, ` +
      `${(bytes / 2 ** 20).toFixed(0)} MiB DMA-BUF of which ${(kernel / 2 ** 20).toFixed(0)} MiB held by no process`,
  );
}
