/**
 * The k6 load driver: the same scenarios as the built-in driver, run by a k6 binary the user
 * has (k6 is AGPL-3.0: this project never installs, downloads or builds it). Used when `k6` is on
 * PATH or K6_BIN is set. Writes the resolved scenario and the k6 options next to the history,
 * runs scenarios/k6/entry.ts with `--out json=`, and parses that NDJSON into the built-in
 * driver's result shape.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { K6_SUMMARY_FILE } from '../../scenarios/k6/summary.ts';
import type { Scenario } from '../../scenarios/types.ts';
import { procStat, STAT, TICKS_PER_SECOND } from '../infra/procfs.ts';
import { LoadDriverError } from './builtin.ts';
import { buildK6Options, type K6OptionsInput } from './k6-options.ts';
import { type K6ParseResult, parseK6Ndjson } from './k6-parse.ts';

export { buildK6Options, K6_METRICS } from './k6-options.ts';
export { parseK6Ndjson } from './k6-parse.ts';

export const K6_ENTRY = path.resolve(import.meta.dirname, '../../scenarios/k6/entry.ts');

/**
 * Lead time to give `startAt` when planning a k6 run: k6 must start and initialise its
 * pre-allocated VUs before setup() can hold the load for the planned instant. A late start is
 * reported in `warnings` (the fault timeline is planned against startAt).
 */
export const K6_START_LEAD_MS = 3_000;

/** k6's documented exit codes (errext/exitcodes), for messages that say what happened. */
export const K6_EXIT_CODES: Record<number, string> = {
  99: 'thresholds failed',
  100: 'setup() timed out',
  101: 'teardown() timed out',
  102: 'timeout',
  103: 'engine error',
  104: 'invalid configuration',
  105: 'aborted from outside (signal)',
  106: 'cannot start the REST API',
  107: 'script exception',
  108: 'script aborted (test.abort())',
  110: 'Go panic',
};

function isExecutable(p: string): boolean {
  try {
    fs.accessSync(p, fs.constants.X_OK);
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
}

/** K6_BIN (a path, or a name looked up on PATH), else `k6` on PATH; undefined when neither. */
export function findK6(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const lookup = (name: string) => {
    for (const dir of (env.PATH ?? '').split(path.delimiter)) {
      if (!dir) continue;
      const p = path.join(dir, name);
      if (isExecutable(p)) return p;
    }
    return undefined;
  };
  const fromEnv = env.K6_BIN;
  if (fromEnv)
    return fromEnv.includes('/')
      ? isExecutable(fromEnv)
        ? path.resolve(fromEnv)
        : undefined
      : lookup(fromEnv);
  return lookup('k6');
}

export interface K6LoadOptions extends K6OptionsInput {
  scenario: Scenario;
  /** Base URLs of the target instances; requests are spread round-robin. */
  targets: string[];
  seed: number;
  /** NDJSON file for the operation history (HistoryRecord per line), created or truncated. */
  historyPath: string;
  /** Epoch ms at which the load should start (the entry script's setup() waits for it). */
  startAt?: number;
  /** Where scenario.json, k6-options.json, k6.ndjson and k6-summary.json go; default: the history's directory. */
  workDir?: string;
  /** Defaults to findK6(). */
  k6Bin?: string;
  /** SIGINT to k6 (it stops the scenarios and flushes its output); resolves with `aborted`. */
  signal?: AbortSignal;
  /** k6's stdout/stderr lines. */
  onLog?: (line: string) => void;
}

export interface K6LoadResult extends K6ParseResult {
  exitCode: number;
  /** Exit 99: a budget expressed as a k6 threshold failed. The run itself is valid. */
  thresholdsFailed: boolean;
  ndjsonPath: string;
  /** k6's own end-of-test summary (handleSummary in the entry script), when k6 wrote it. */
  summaryPath?: string;
  /** Budgets only the harness's analysis can judge. */
  unenforcedBudgets: string[];
  notes: string[];
}

/** CPU seconds and RSS of a live process from /proc (Linux); undefined elsewhere or once gone. */
function procSample(pid: number): { cpuS: number; rssMB: number } | undefined {
  const f = procStat(pid);
  if (!f) return undefined;
  const ticks = Number(f[STAT.utime]) + Number(f[STAT.stime]);
  return { cpuS: ticks / TICKS_PER_SECOND, rssMB: (Number(f[STAT.rss]) * 4096) / (1024 * 1024) };
}

function waitExit(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
}

export async function runK6Load(opts: K6LoadOptions): Promise<K6LoadResult> {
  const bin = opts.k6Bin ?? findK6();
  if (!bin) {
    throw new LoadDriverError(
      process.env.K6_BIN
        ? `k6 driver: K6_BIN='${process.env.K6_BIN}' is not an executable file`
        : 'k6 driver: no k6 binary (not on PATH, K6_BIN unset). k6 is not bundled (AGPL): install it yourself, or use the built-in driver',
    );
  }
  if (opts.targets.length === 0) throw new LoadDriverError('k6 driver: no target URLs given');
  if (opts.signal?.aborted) throw opts.signal.reason;

  const workDir = opts.workDir ?? path.dirname(opts.historyPath);
  fs.mkdirSync(workDir, { recursive: true });
  const scenarioPath = path.resolve(workDir, 'scenario.json');
  const optionsPath = path.resolve(workDir, 'k6-options.json');
  const ndjsonPath = path.resolve(workDir, 'k6.ndjson');
  const summaryPath = path.resolve(workDir, K6_SUMMARY_FILE);
  const built = buildK6Options(opts.scenario, opts);
  fs.writeFileSync(scenarioPath, JSON.stringify(opts.scenario));
  fs.writeFileSync(optionsPath, JSON.stringify(built.options, null, 2));
  fs.rmSync(ndjsonPath, { force: true });
  fs.rmSync(summaryPath, { force: true });

  const env: Record<string, string> = {
    CACHEBENCH_SCENARIO: scenarioPath,
    CACHEBENCH_K6_OPTIONS: optionsPath,
    CACHEBENCH_TARGETS: opts.targets.join(','),
    CACHEBENCH_SEED: String(opts.seed),
    CACHEBENCH_REQUEST_TIMEOUT_MS: String(opts.requestTimeoutMs ?? 10_000),
    CACHEBENCH_K6_SUMMARY: summaryPath,
  };
  if (opts.startAt !== undefined) env.CACHEBENCH_START_AT = String(Math.round(opts.startAt));
  const args = ['run', '--no-usage-report', '--quiet', '--no-color', '--out', `json=${ndjsonPath}`];
  for (const [k, v] of Object.entries(env)) args.push('-e', `${k}=${v}`);
  args.push(K6_ENTRY);

  const child = spawn(bin, args, {
    // No phoning home: every byte of a benchmark run stays on loopback.
    env: { ...process.env, K6_NO_USAGE_REPORT: 'true' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const tail: string[] = [];
  const onData = (chunk: Buffer) => {
    for (const line of chunk.toString('utf8').split('\n')) {
      if (!line.trim()) continue;
      tail.push(line);
      if (tail.length > 30) tail.shift();
      opts.onLog?.(line);
    }
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);

  const t0 = Date.now();
  let peakRss = 0;
  let lastCpu = 0;
  const sampler = setInterval(() => {
    const s = child.pid ? procSample(child.pid) : undefined;
    if (s) {
      peakRss = Math.max(peakRss, s.rssMB);
      lastCpu = s.cpuS;
    }
  }, 250);
  let aborted = false;
  let killTimer: NodeJS.Timeout | undefined;
  const onAbort = () => {
    aborted = true;
    child.kill('SIGINT');
    killTimer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  };
  opts.signal?.addEventListener('abort', onAbort, { once: true });

  let exit: { code: number | null; signal: NodeJS.Signals | null };
  try {
    exit = await waitExit(child);
  } catch (e) {
    throw new LoadDriverError(`k6 driver: could not start ${bin}: ${(e as Error).message}`, { cause: e });
  } finally {
    clearInterval(sampler);
    if (killTimer) clearTimeout(killTimer);
    opts.signal?.removeEventListener('abort', onAbort);
  }
  const wallS = (Date.now() - t0) / 1000;
  const code = exit.code ?? -1;
  const thresholdsFailed = code === 99;
  if (code !== 0 && !thresholdsFailed && !aborted) {
    const what = K6_EXIT_CODES[code] ?? (exit.signal ? `killed by ${exit.signal}` : 'unexpected exit');
    throw new LoadDriverError(
      `k6 driver: k6 exited with code ${code} (${what}):\n${tail.slice(-10).join('\n')}`,
    );
  }
  if (!fs.existsSync(ndjsonPath)) {
    throw new LoadDriverError(`k6 driver: k6 exited with code ${code} but wrote no ${ndjsonPath}`);
  }

  const history = fs.createWriteStream(opts.historyPath);
  const parsed = await parseK6Ndjson(ndjsonPath, {
    scenario: opts.scenario,
    startAt: opts.startAt,
    onHistory: (r) => history.write(`${JSON.stringify(r)}\n`),
  });
  await new Promise<void>((resolve, reject) => {
    history.once('error', reject);
    history.end(() => resolve());
  });

  if (opts.startAt !== undefined && parsed.loadStartedAt - opts.startAt > 100) {
    parsed.warnings.push(
      `k6 started the load ${Math.round(parsed.loadStartedAt - opts.startAt)} ms after the planned start (VU initialisation took longer than the lead time; plan startAt at least K6_START_LEAD_MS ahead)`,
    );
  }
  // k6 is a separate process: its CPU over its whole life (init included) as a fraction of a core.
  parsed.load.driverCpu = wallS > 0 ? Math.round((lastCpu / wallS) * 1000) / 1000 : 0;
  parsed.load.driverPeakRssMB = Math.round(peakRss * 10) / 10;
  return {
    ...parsed,
    aborted,
    exitCode: code,
    thresholdsFailed,
    ndjsonPath,
    summaryPath: fs.existsSync(summaryPath) ? summaryPath : undefined,
    unenforcedBudgets: built.unenforcedBudgets,
    notes: built.notes,
  };
}
