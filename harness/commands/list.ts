/** `cachebench list`: what can be named on the command line. */
import { listScenarios, loadScenario } from '../../scenarios/load.ts';
import { PROFILES } from '../../scenarios/types.ts';
import { loadStrategyModule, strategyNames } from '../../target/strategies/index.ts';

export async function listCommand(): Promise<void> {
  const out: string[] = ['Scenarios:'];
  for (const name of listScenarios()) out.push(`  ${name.padEnd(18)} ${loadScenario(name).question}`);
  out.push('', 'Strategies (compose with "+", e.g. jitter+lock):');
  for (const name of strategyNames())
    out.push(`  ${name.padEnd(24)} ${(await loadStrategyModule(name)).summary}`);
  out.push('', 'Profiles:');
  for (const p of Object.values(PROFILES))
    out.push(`  ${p.name.padEnd(10)} durations ×${p.durationScale}, rates ×${p.rateScale}`);
  process.stdout.write(`${out.join('\n')}\n`);
}
