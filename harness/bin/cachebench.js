#!/usr/bin/env node
// npm bin shim: Node >= 22.22 runs the TypeScript entry directly (type stripping).
import { main } from '../cli.ts';
import { runCleanups } from '../infra/cleanup.ts';

const code = await main(process.argv);
await runCleanups();
process.exit(code);
