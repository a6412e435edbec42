/**
 * CLI entry of one target instance: `node target/main.ts --redis-url … --postgres-url … [flags]`.
 * Started by hand or as a child of `startTargets`; in the latter case it reports its ports over
 * IPC and exits when the IPC channel closes, so a dead harness never leaves targets behind.
 * Flags (and CACHEBENCH_TARGET_* environment variables) come from the option table in config.ts.
 * Exit codes: 0 stopped, 1 failed to start or crashed, 2 bad flags.
 */
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { envOf, flagOf, TARGET_OPTIONS, TargetOptionError, type TargetOptionName } from './config.ts';
import { type ReadyMessage, type StartTargetInput, startTarget, type TargetHandle } from './instance.ts';

const PROG = 'cachebench-target';

function fail(message: string, code: number): never {
  process.stderr.write(`${PROG}: error: ${message}\n`);
  process.exit(code);
}

/** One commander option per row of TARGET_OPTIONS; a bad value fails at parse time, naming the flag. */
function optionFor(name: TargetOptionName): Option {
  const row = TARGET_OPTIONS[name];
  const opt = new Option(`${flagOf(name)} <${row.arg}>`, row.doc)
    .env(envOf(name))
    .argParser((raw: string) => {
      const value = row.parse(raw);
      try {
        return row.check(name, value);
      } catch (err) {
        throw new InvalidArgumentError((err as Error).message);
      }
    });
  if (row.default === undefined) opt.makeOptionMandatory();
  else if (typeof row.default !== 'object') opt.default(row.default);
  return opt;
}

async function main(argv: string[]): Promise<void> {
  const program = new Command(PROG)
    .description(
      'Run one cachebench target API instance (Express + PostgreSQL + Redis) with a caching strategy',
    )
    .exitOverride()
    .configureOutput({ writeErr: () => {} });
  const names = Object.keys(TARGET_OPTIONS) as TargetOptionName[];
  const attribute = new Map<TargetOptionName, string>();
  for (const n of names) {
    const option = optionFor(n);
    program.addOption(option);
    attribute.set(n, option.attributeName());
  }

  try {
    program.parse(argv, { from: 'node' });
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version') process.exit(0);
      fail(err.message.replace(/^error: /, ''), 2);
    }
    throw err;
  }
  const flags = program.opts<Record<string, unknown>>();
  const input = Object.fromEntries(names.map((n) => [n, flags[attribute.get(n)!]])) as StartTargetInput;

  let handle: TargetHandle;
  try {
    handle = await startTarget(input);
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
