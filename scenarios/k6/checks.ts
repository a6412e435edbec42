/**
 * Correctness of one response, beyond its status: what the target API contract promises each
 * operation returns (docs/architecture.md). Pure, no imports but types: the k6 entry script and
 * the vitest suite both load it.
 */
import type { Operation } from '../types.ts';

export interface ResponseVerdict {
  /** 2xx. */
  statusOk: boolean;
  /** The body carries what the op promises (only judged for a 2xx). */
  bodyOk: boolean;
  /** Why bodyOk is false, for the history's `error`. */
  problem?: string;
}

function record(v: unknown): Record<string, unknown> | undefined {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
    ? (v as Record<string, unknown>)
    : undefined;
}

function allNumbers(o: Record<string, unknown>): boolean {
  return Object.values(o).every((v) => typeof v === 'number' && Number.isFinite(v));
}

export function checkResponse(
  plan: { op: Operation; key: string },
  status: number,
  body: unknown,
): ResponseVerdict {
  const statusOk = status >= 200 && status < 300;
  if (!statusOk) return { statusOk, bodyOk: false, problem: `HTTP ${status}` };
  const obj = record(body);
  if (!obj) return { statusOk, bodyOk: false, problem: 'body is not a JSON object' };
  switch (plan.op) {
    case 'read-user':
    case 'update-user':
    case 'delete-user': {
      // A user read/write must say which version of that very user it reflects (a delete: its tombstone).
      const versions = record(obj.versions);
      const v = versions?.[plan.key];
      if (typeof v !== 'number' || !Number.isFinite(v)) {
        return { statusOk, bodyOk: false, problem: `versions["${plan.key}"] missing` };
      }
      return { statusOk, bodyOk: true };
    }
    case 'read-team-members':
    case 'read-team-report': {
      // One version per member; a team without members legitimately has none.
      const versions = record(obj.versions);
      if (!versions || !allNumbers(versions)) return { statusOk, bodyOk: false, problem: 'versions missing' };
      return { statusOk, bodyOk: true };
    }
    case 'incr-counter':
    case 'read-counter':
      if (typeof obj.value !== 'number' || !Number.isFinite(obj.value)) {
        return { statusOk, bodyOk: false, problem: 'value missing' };
      }
      return { statusOk, bodyOk: true };
    case 'leaderboard-score':
      if (typeof obj.score !== 'number' || !Number.isFinite(obj.score)) {
        return { statusOk, bodyOk: false, problem: 'score missing' };
      }
      return { statusOk, bodyOk: true };
    case 'leaderboard-top':
      if (!Array.isArray(obj.top)) return { statusOk, bodyOk: false, problem: 'top missing' };
      return { statusOk, bodyOk: true };
  }
}
