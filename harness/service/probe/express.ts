/**
 * The cachebench probe for Express (package export `cachebench/probe`): the service calls
 * `probe.hit()`, `probe.miss()` and `probe.load('db')` where its cache code decides, mounts
 * `probe.middleware`, and cachebench reads `GET /__cachebench/stats` before and after the load.
 * The HTTP contract (docs/service-mode.md "Probe contract") is small on purpose, so any other stack
 * answers it in a few lines. No import of the rest of cachebench: a service depends on this file only.
 */
import type { NextFunction, Request, Response } from 'express';

/** The JSON body of the stats path: counters since the process started, never reset. */
export interface ProbeStats {
  /** HTTP requests the service answered, the stats path itself excluded. */
  requests: number;
  hits: number;
  misses: number;
  /** Source loads by source name ("db"). */
  loads: Record<string, number>;
}

export interface Probe {
  hit(): void;
  miss(): void;
  load(source?: string): void;
  /** Counts requests and answers the stats path; mount it before the routes. */
  middleware(req: Request, res: Response, next: NextFunction): void;
  stats(): ProbeStats;
}

export const DEFAULT_PROBE_PATH = '/__cachebench/stats';

export function createProbe(opts: { path?: string } = {}): Probe {
  const path = opts.path ?? DEFAULT_PROBE_PATH;
  const counts: ProbeStats = { requests: 0, hits: 0, misses: 0, loads: {} };
  const stats = (): ProbeStats => ({ ...counts, loads: { ...counts.loads } });
  return {
    hit: () => {
      counts.hits++;
    },
    miss: () => {
      counts.misses++;
    },
    load: (source = 'db') => {
      counts.loads[source] = (counts.loads[source] ?? 0) + 1;
    },
    middleware(req, res, next) {
      if (req.method === 'GET' && req.path === path) {
        res.set('cache-control', 'no-store').json(stats());
        return;
      }
      counts.requests++;
      next();
    },
    stats,
  };
}

/** One probe per process, for services that want `import { probe } from 'cachebench/probe'`. */
export const probe: Probe = createProbe();
