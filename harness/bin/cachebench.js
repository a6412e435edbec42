#!/usr/bin/env node
// npm bin shim: Node >= 22.22 runs the TypeScript entry directly (type stripping).
import { main } from '../cli.ts';
import { interruptedBy, runCleanups, signalExitCode } from '../infra/cleanup.ts';

const code = await main(process.argv);
await runCleanups();
const sig = interruptedBy();
process.exit(sig ? signalExitCode(sig) : code);
