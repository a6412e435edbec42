/**
 * `cachebench check-strategy <module>`: runs the strategy contract kit
 * (target/strategies/contract/) against a user's module — or a catalog name or composition —
 * on real Redis, PostgreSQL and Toxiproxy started for the purpose and stopped afterwards.
 * One line per check; exit 0 all passed, 1 a check failed, 2 the module cannot be loaded.
 */
import type { Command } from 'commander';
import { UsageError } from '../errors.ts';
import { infraOption } from './flags.ts';

export function declareCheckStrategyCommand(program: Command): Command {
  return program
    .command('check-strategy')
    .description('run the strategy contract checks against a strategy module (exit 1 if one fails)')
    .argument('<module>', 'path to a module exporting a StrategyModule (or a catalog name / a+b)')
    .addOption(infraOption().choices(['local', 'containers', 'auto']))
    .action((spec: string, opts: { infra: 'local' | 'containers' | 'auto' }) =>
      checkStrategyCommand(spec, opts),
    );
}

export async function checkStrategyCommand(
  spec: string,
  opts: { infra: 'local' | 'containers' | 'auto' },
): Promise<void> {
  const { loadStrategyModule, StrategyError } = await import('../../target/strategies/index.ts');
  let module: Awaited<ReturnType<typeof loadStrategyModule>>;
  try {
    module = await loadStrategyModule(spec);
  } catch (err) {
    if (err instanceof StrategyError) throw new UsageError(err.code, err.message, { cause: err });
    throw err;
  }
  const { runContract } = await import('../../target/strategies/contract/index.ts');
  const { registerCleanup } = await import('../infra/cleanup.ts');
  const { startInfra } = await import('../infra/index.ts');
  const infra = await startInfra({ infra: opts.infra, log: (l) => process.stderr.write(`${l}\n`) });
  registerCleanup('infra', () => infra.stop());
  process.stdout.write(`contract checks for strategy '${module.name}' (${spec})\n`);
  let failed = 0;
  try {
    await runContract(module, infra, {
      onResult: (r) => {
        if (!r.ok) failed += 1;
        const ms = `${r.ms.toFixed(0)} ms`;
        process.stdout.write(r.ok ? `✔ ${r.name} (${ms})\n` : `✘ ${r.name}: ${r.reason} (${ms})\n`);
      },
    });
  } finally {
    await infra.stop();
  }
  process.stdout.write(failed === 0 ? 'all checks passed\n' : `${failed} check(s) failed\n`);
  if (failed > 0) process.exitCode = 1;
}
