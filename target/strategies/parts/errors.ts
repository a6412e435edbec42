/**
 * Errors the strategy layer throws, as classes with stable codes (the route and CLI map codes,
 * not messages). Messages are one line: what was wrong, the value, and what is allowed.
 */
import type { CacheError } from '../../cache-client.ts';

export class StrategyError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** fail-closed policy and Redis unusable: the route answers 503. */
export class CacheUnavailableError extends StrategyError {
  readonly cacheError: CacheError;
  constructor(op: string, cacheError: CacheError) {
    super('CACHE_UNAVAILABLE', `cache unavailable during ${op} (${cacheError.kind}): ${cacheError.message}`, {
      cause: cacheError,
    });
    this.cacheError = cacheError;
  }
}

export class UnknownStrategyError extends StrategyError {
  readonly validNames: string[];
  constructor(name: string, validNames: string[]) {
    super(
      'UNKNOWN_STRATEGY',
      `unknown strategy '${name}': valid names are ${validNames.join(', ')}; ` +
        `compose with '+' (e.g. jitter+lock) or pass a module path (e.g. ./my-strategy.ts)`,
    );
    this.validNames = validNames;
  }
}

export class StrategyCompositionError extends StrategyError {
  constructor(spec: string, reason: string) {
    super('INVALID_COMPOSITION', `cannot compose strategy '${spec}': ${reason}`);
  }
}

export class StrategyOptionError extends StrategyError {
  constructor(strategy: string, option: string, value: unknown, allowed: string) {
    super(
      'INVALID_STRATEGY_OPTION',
      `strategy '${strategy}': option ${option}=${JSON.stringify(value)} is invalid; ${allowed}`,
    );
  }
}

export class StrategyModuleError extends StrategyError {
  constructor(path: string, reason: string, cause?: unknown) {
    super('INVALID_STRATEGY_MODULE', `strategy module '${path}': ${reason}`, { cause });
  }
}
