#!/usr/bin/env node
// The dmabuf-triage command (compiled by `npm run build` into dist/).
import { main } from '../dist/src/cli/main.js';

process.exitCode = await main(process.argv.slice(2));
