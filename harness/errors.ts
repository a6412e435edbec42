/**
 * Errors with stable codes. A `UsageError` is the user's mistake (bad flag, bad file, port
 * taken): the CLI prints its one-line message and exits 2, never a stack trace.
 */
export class CachebenchError extends Error {
  readonly code: string;
  readonly exitCode: number;
  constructor(code: string, message: string, opts: { cause?: unknown; exitCode?: number } = {}) {
    super(message, { cause: opts.cause });
    this.name = 'CachebenchError';
    this.code = code;
    this.exitCode = opts.exitCode ?? 1;
  }
}

export class UsageError extends CachebenchError {
  constructor(code: string, message: string, opts: { cause?: unknown } = {}) {
    super(code, message, { ...opts, exitCode: 2 });
    this.name = 'UsageError';
  }
}

export function isUsageError(e: unknown): e is CachebenchError {
  return e instanceof CachebenchError && e.exitCode === 2;
}
