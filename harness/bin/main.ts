/**
 * What the `cachebench` bin runs once Node can load TypeScript: the tool-cache lookup, the
 * preflight of the commands that start local infrastructure, the CLI, then the cleanups.
 */
import { main } from '../cli.ts';
import { missingToolsLine, useToolCache } from '../commands/doctor.ts';
import { interruptedBy, runCleanups, signalExitCode } from '../infra/cleanup.ts';

const INFRA_COMMANDS = new Set(['run', 'up', 'check-strategy']);

/** The command needs redis-server, PostgreSQL and Toxiproxy on this machine (`--infra local`). */
function needsLocalTools(args: string[]): string | undefined {
  const command = args.find((a) => !a.startsWith('-'));
  if (!command || !INFRA_COMMANDS.has(command)) return undefined;
  if (args.includes('--help') || args.includes('-h')) return undefined;
  const i = args.findIndex((a) => a === '--infra' || a.startsWith('--infra='));
  const infra = i < 0 ? 'local' : args[i]!.includes('=') ? args[i]!.split('=')[1] : args[i + 1];
  return infra === 'local' ? command : undefined;
}

useToolCache();
const args = process.argv.slice(2);
const command = needsLocalTools(args);
const missing = command ? missingToolsLine(command) : undefined;
if (missing) {
  process.stderr.write(`cachebench: ${missing}\n`);
  process.exit(1);
}
const code = await main(process.argv);
await runCleanups();
const sig = interruptedBy();
process.exit(sig ? signalExitCode(sig) : code);
