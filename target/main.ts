/**
 * CLI entry of one target instance: `node target/main.ts --redis-url … --postgres-url … [flags]`.
 * Started by hand or as a child of `startTargets`; in the latter case it reports its ports over
 * IPC and exits when the IPC channel closes, so a dead harness never leaves targets behind.
 * Exit codes: 0 stopped, 1 failed to start or crashed, 2 bad flags.
 */
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { TARGET_DEFAULTS, TargetOptionError } from './config.ts';
import { type ReadyMessage, startTarget, type TargetHandle } from './instance.ts';

const PROG = 'cachebench-target';

function int() {
  return (v: string): number => {
    if (!/^[0-9]+$/.test(v))
      throw new InvalidArgumentError(`expected a non-negative integer, got ${JSON.stringify(v)}`);
    return Number(v);
  };
}

function jsonObject(v: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(v);
  } catch {
    throw new InvalidArgumentError(`expected a JSON object like '{"ttlMs":5000}', got ${JSON.stringify(v)}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new InvalidArgumentError(`expected a JSON object like '{"ttlMs":5000}', got ${JSON.stringify(v)}`);
  }
  return parsed as Record<string, unknown>;
}

function fail(message: string, code: number): never {
  process.stderr.write(`${PROG}: error: ${message}\n`);
  process.exit(code);
}

async function main(argv: string[]): Promise<void> {
  const d = TARGET_DEFAULTS;
  const program = new Command(PROG)
    .description(
      'Run one cachebench target API instance (Express + PostgreSQL + Redis) with a caching strategy',
    )
    // URLs may carry passwords: prefer the environment, which other local users cannot read.
    .option(
      '--redis-url <url>',
      'Redis URL the target caches in (default $CACHEBENCH_REDIS_URL), e.g. redis://:pw@127.0.0.1:6379',
      process.env.CACHEBENCH_REDIS_URL,
    )
    .option(
      '--postgres-url <url>',
      'PostgreSQL URL of the seeded database (default $CACHEBENCH_POSTGRES_URL)',
      process.env.CACHEBENCH_POSTGRES_URL,
    )
    .option('--strategy <spec>', 'catalog name, "a+b" composition, or a module path', d.strategy)
    .option('--strategy-options <json>', 'strategy options as a JSON object', jsonObject)
    .option('--policy <policy>', 'Redis failure policy: fail-open | fail-closed', d.policy)
    .option('--port <n>', 'API port (0 = free port)', int(), d.port)
    .option('--host <host>', 'API interface', d.host)
    .option('--control-port <n>', 'loopback control port (0 = free port)', int(), d.controlPort)
    .option('--instance-id <id>', 'instance id for x-instance and rebuild events', d.instanceId)
    .option('--report-cost-ms <n>', 'server-side cost of one team report', int(), d.reportCostMs)
    .option('--user-read-cost-ms <n>', 'server-side cost of one user read', int(), d.userReadCostMs)
    .option('--redis-timeout-ms <n>', 'Redis command budget', int(), d.redisCommandTimeoutMs)
    .option('--pg-pool-size <n>', 'PostgreSQL pool size', int(), d.pgPoolSize)
    .option('--pg-query-timeout-ms <n>', 'PostgreSQL query timeout', int(), d.pgQueryTimeoutMs)
    .option(
      '--pg-connection-timeout-ms <n>',
      'PostgreSQL connection acquire timeout',
      int(),
      d.pgConnectionTimeoutMs,
    )
    .option('--key-prefix <prefix>', 'cache key prefix', d.keyPrefix)
    .option('--max-body-bytes <n>', 'largest accepted request body', int(), d.maxBodyBytes)
    .exitOverride()
    .configureOutput({ writeErr: () => {} });

  try {
    program.parse(argv, { from: 'node' });
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version') process.exit(0);
      fail(err.message.replace(/^error: /, ''), 2);
    }
    throw err;
  }
  const f = program.opts<{
    redisUrl: string;
    postgresUrl: string;
    strategy: string;
    strategyOptions?: Record<string, unknown>;
    policy: string;
    port: number;
    host: string;
    controlPort: number;
    instanceId: string;
    reportCostMs: number;
    userReadCostMs: number;
    redisTimeoutMs: number;
    pgPoolSize: number;
    pgQueryTimeoutMs: number;
    pgConnectionTimeoutMs: number;
    keyPrefix: string;
    maxBodyBytes: number;
  }>();

  if (!f.redisUrl) fail("required option '--redis-url <url>' not specified (or set CACHEBENCH_REDIS_URL)", 2);
  if (!f.postgresUrl)
    fail("required option '--postgres-url <url>' not specified (or set CACHEBENCH_POSTGRES_URL)", 2);

  let handle: TargetHandle;
  try {
    handle = await startTarget({
      redisUrl: f.redisUrl,
      postgresUrl: f.postgresUrl,
      strategy: f.strategy,
      strategyOptions: f.strategyOptions ?? {},
      policy: f.policy as 'fail-open',
      port: f.port,
      host: f.host,
      controlPort: f.controlPort,
      instanceId: f.instanceId,
      reportCostMs: f.reportCostMs,
      userReadCostMs: f.userReadCostMs,
      redisCommandTimeoutMs: f.redisTimeoutMs,
      pgPoolSize: f.pgPoolSize,
      pgQueryTimeoutMs: f.pgQueryTimeoutMs,
      pgConnectionTimeoutMs: f.pgConnectionTimeoutMs,
      keyPrefix: f.keyPrefix,
      maxBodyBytes: f.maxBodyBytes,
    });
  } catch (err) {
    const e = err as { code?: string; message?: string };
    // Option errors (ours and the strategy registry's) are the user's: exit 2 like bad flags.
    const userError = err instanceof TargetOptionError || /^(UNKNOWN_STRATEGY|INVALID_)/.test(e?.code ?? '');
    fail(e?.message ?? String(err), userError ? 2 : 1);
  }

  let stopping = false;
  const shutdown = (why: string) => {
    if (stopping) return;
    stopping = true;
    const force = setTimeout(() => process.exit(1), 10_000);
    force.unref();
    handle.stop().then(
      () => {
        if (why !== 'signal') process.stderr.write(`${PROG}: ${handle.instanceId} stopping (${why})\n`);
        process.exit(0);
      },
      () => process.exit(1),
    );
  };
  process.on('SIGTERM', () => shutdown('signal'));
  process.on('SIGINT', () => shutdown('signal'));
  // A strategy's stray background promise must not take the instance down mid-run.
  process.on('unhandledRejection', (reason) => {
    process.stderr.write(`${PROG}: unhandled rejection: ${(reason as Error)?.message ?? String(reason)}\n`);
  });

  if (process.send) {
    process.on('disconnect', () => shutdown('parent gone'));
    const msg: ReadyMessage = {
      type: 'ready',
      url: handle.url,
      controlUrl: handle.controlUrl,
      instanceId: handle.instanceId,
      pid: process.pid,
    };
    process.send(msg);
  } else {
    process.stdout.write(
      `${PROG}: ${handle.instanceId} (${handle.options.strategy}, ${handle.options.policy}) listening on ${handle.url}, control ${handle.controlUrl}\n`,
    );
  }
}

main(process.argv).catch((err: unknown) => fail((err as Error)?.message ?? String(err), 1));
