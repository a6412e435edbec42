import { defineConfig } from 'vitest/config';

// Files whose assertions are timing bounds (fault edges within 50 ms of plan, an open-model
// driver with 0 drops, stall latencies, stale-while-revalidate timing) or that gate a real run. On a 2-core machine they
// run last and one at a time, so no other test file's PostgreSQL initdb or stack start competes
// with the clocks they measure. Everything else runs two files at a time first.
const TIMING = [
  'test/driver-builtin.test.ts',
  'test/faults-timeline.test.ts',
  'test/pipeline.test.ts',
  'test/strategies-signatures.test.ts',
  'test/strategies-fail-open.test.ts',
  'test/cache-client-watchdog.test.ts',
  'test/target-observed-loads.test.ts',
  // Gates a real run against a baseline: an untrusted run (machine load) cannot pass a gate.
  'test/ci-action.test.ts',
];

const shared = {
  // Tests start real Redis/PostgreSQL/Toxiproxy processes: give them room.
  testTimeout: 60_000,
  hookTimeout: 120_000,
  pool: 'forks' as const,
};

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          ...shared,
          name: 'parallel',
          include: ['test/**/*.test.ts'],
          exclude: TIMING,
          maxWorkers: 2,
          sequence: { groupOrder: 0 },
        },
      },
      {
        test: {
          ...shared,
          name: 'timing',
          include: TIMING,
          maxWorkers: 1,
          fileParallelism: false,
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
