/**
 * The contract test kit for strategy authors: run the contract every catalog strategy keeps
 * against your module, either from the CLI (`cachebench check-strategy ./mine.ts`), from code
 * (`runContract`), or inside your own test runner (`registerStrategyContract`, in the way
 * bentocache exports its driver test suite).
 */
import { CONTRACT_CHECKS, type ContractCheck, type StrategySpec } from './checks.ts';
import { type ContractInfra, StrategyFixture } from './fixture.ts';

export { CONTRACT_CHECKS, type ContractCheck, type StrategySpec } from './checks.ts';
export { type ContractInfra, StrategyFixture } from './fixture.ts';

export interface CheckResult {
  name: string;
  ok: boolean;
  /** One line: why the check failed. */
  reason?: string;
  ms: number;
}

const oneLine = (err: unknown) =>
  (err instanceof Error ? err.message : String(err)).split('\n')[0]!.replace(/\s+/g, ' ').trim();

/** Runs every check on a fresh fixture state; never throws for a failed check. */
export async function runContract(
  spec: StrategySpec,
  infra: ContractInfra,
  o: { checks?: readonly ContractCheck[]; onResult?: (r: CheckResult) => void } = {},
): Promise<CheckResult[]> {
  const fx = new StrategyFixture(() => infra);
  const results: CheckResult[] = [];
  await fx.setup();
  try {
    for (const check of o.checks ?? CONTRACT_CHECKS) {
      const t0 = performance.now();
      let result: CheckResult;
      try {
        await fx.reset();
        await check.run(fx, spec);
        await fx.closeStrategies();
        result = { name: check.name, ok: true, ms: performance.now() - t0 };
      } catch (err) {
        result = { name: check.name, ok: false, reason: oneLine(err), ms: performance.now() - t0 };
      }
      results.push(result);
      o.onResult?.(result);
    }
  } finally {
    await fx.teardown();
  }
  return results;
}

/** The test functions of vitest, jest, mocha (…) the suite registers with. */
export interface TestApi {
  describe(name: string, fn: () => void): void;
  it(name: string, fn: () => Promise<void>, timeoutMs?: number): void;
  beforeAll(fn: () => Promise<void>, timeoutMs?: number): void;
  afterAll(fn: () => Promise<void>, timeoutMs?: number): void;
  beforeEach(fn: () => Promise<void>, timeoutMs?: number): void;
}

/**
 * Registers one test per contract check for `spec`. `infra` returns where the services are (it
 * is called inside the tests, so it may be started in a beforeAll). Pass `fixture` to share one
 * fixture between several suites of a file.
 */
export function registerStrategyContract(
  t: TestApi,
  o: { strategy: StrategySpec; infra: () => ContractInfra; fixture?: StrategyFixture; label?: string },
): void {
  const own = o.fixture === undefined;
  const fx = o.fixture ?? new StrategyFixture(o.infra);
  const label = o.label ?? (typeof o.strategy === 'string' ? o.strategy : o.strategy.name);
  t.describe(`strategy contract: ${label}`, () => {
    if (own) {
      t.beforeAll(() => fx.setup());
      t.afterAll(() => fx.teardown());
    }
    t.beforeEach(() => fx.reset());
    for (const check of CONTRACT_CHECKS) t.it(check.name, () => check.run(fx, o.strategy), 30_000);
  });
}
