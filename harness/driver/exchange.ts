/**
 * One request's life on the driver's connections (connections.ts), and the history record it becomes.
 */

import { type PlannedRequest, parseResponse } from '../../scenarios/workload.ts';
import type { HistoryRecord } from '../results/schema.ts';
import { responseVersion, type ServicePlannedRequest } from '../service/operations.ts';
import type { ResponseHandler } from './connections.ts';
import { type DriverRecord, RAW_VERSIONS } from './history-writer.ts';
import { scanResponse } from './response-scan.ts';

/** What happens to one request's outcome (the measured run, or the warm-up that discards it). */
export interface Sink {
  complete(x: Exchange, status: number, body: string): void;
  fail(x: Exchange, err: unknown): void;
}

/** One request: collects the status and body and hands them to the sink. */
export class Exchange implements ResponseHandler {
  status = 0;
  retried?: boolean;
  /** Service mode: the header a service operation reports its version in. */
  versionHeader: string | undefined;
  private chunk: Buffer | undefined;
  private owned = 0;
  private more: Buffer[] | undefined;
  readonly sink: Sink;
  readonly plan: PlannedRequest;
  readonly scheduled: number;
  readonly start: number;
  readonly instance: number;
  readonly secIndex: number;
  constructor(
    sink: Sink,
    plan: PlannedRequest,
    scheduled: number,
    start: number,
    instance: number,
    secIndex: number,
  ) {
    this.sink = sink;
    this.plan = plan;
    this.scheduled = scheduled;
    this.start = start;
    this.instance = instance;
    this.secIndex = secIndex;
  }
  onResponse(statusCode: number, rawHeaders: readonly string[]): void {
    this.status = statusCode;
    const h = (this.plan as ServicePlannedRequest).versionFrom?.header;
    if (h) {
      for (let i = 0; i < rawHeaders.length; i += 2) {
        if ((rawHeaders[i] as string).length === h.length && (rawHeaders[i] as string).toLowerCase() === h) {
          this.versionHeader = rawHeaders[i + 1];
          break;
        }
      }
    }
  }
  onData(chunk: Buffer): void {
    if (this.chunk === undefined) this.chunk = chunk;
    else if (this.more === undefined) this.more = [this.chunk, chunk];
    else this.more.push(chunk);
  }
  /** Copies the body pieces that still point into the shared read buffer (the first `owned` are copies). */
  keep(): void {
    if (this.more) {
      for (let i = this.owned; i < this.more.length; i++) this.more[i] = Buffer.from(this.more[i] as Buffer);
      this.owned = this.more.length;
    } else if (this.chunk && this.owned === 0) {
      this.chunk = Buffer.from(this.chunk);
      this.owned = 1;
    }
  }
  onEnd(): void {
    const body = this.more
      ? Buffer.concat(this.more).toString('utf8')
      : this.chunk
        ? this.chunk.toString('utf8')
        : '';
    this.sink.complete(this, this.status, body);
  }
  onError(err: Error): void {
    this.sink.fail(this, err);
  }
}

/** The fields every history record of an exchange carries, answered or not. */
function baseRecord(x: Exchange, status: number, end: number): HistoryRecord {
  const plan = x.plan;
  return {
    op: plan.op,
    kind: plan.kind,
    key: plan.key,
    scheduled: x.scheduled,
    start: x.start,
    end,
    status,
    instance: x.instance,
  };
}

export function historyRecord(x: Exchange, status: number, text: string, end: number): HistoryRecord {
  const plan = x.plan;
  const rec = baseRecord(x, status, end);
  // A target's 2xx answer is scanned, not parsed (response-scan.ts says why); its versions go
  // to the history line as text. Service responses and errors take the parse below.
  if (!(plan as ServicePlannedRequest).versionFrom) {
    const scanned = scanResponse(plan.op, status, text);
    if (scanned !== undefined) {
      if (scanned.versions !== undefined) (rec as DriverRecord)[RAW_VERSIONS] = scanned.versions;
      const value = scanned.value ?? plan.value;
      if (value !== undefined) rec.value = value;
      return rec;
    }
  }
  let parsed: unknown;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = undefined;
  }
  const info = (plan as ServicePlannedRequest).versionFrom
    ? { versions: responseVersion(plan, status, parsed, x.versionHeader), value: undefined }
    : parseResponse(plan.op, status, parsed);
  if (info.versions) rec.versions = info.versions;
  const value = info.value ?? plan.value;
  if (value !== undefined) rec.value = value;
  if (status >= 400) {
    const err = parsed && typeof parsed === 'object' ? (parsed as { error?: unknown }).error : undefined;
    rec.error = typeof err === 'string' ? err : `HTTP ${status}`;
  }
  return rec;
}

export function failedRecord(x: Exchange, err: unknown, end: number): HistoryRecord {
  const plan = x.plan;
  const e = err as { code?: string; message?: string };
  const rec = baseRecord(x, 0, end);
  rec.error = e.code ?? e.message ?? String(err);
  if (plan.value !== undefined) rec.value = plan.value;
  return rec;
}
