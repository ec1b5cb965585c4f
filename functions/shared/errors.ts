/**
 * The one error hierarchy. Use cases throw these; edges (HTTP, CLI, Step Functions)
 * map them to statuses, exit codes or error names via `code` and `status`.
 */
export interface AppErrorOptions {
  cause?: unknown;
  details?: Record<string, unknown>;
}

export class AppError extends Error {
  /** Stable machine-readable name; also the Step Functions error name. */
  readonly code: string = 'AppError';
  /** HTTP status an edge should answer with. */
  readonly status: number = 500;
  readonly details: Record<string, unknown> | undefined;

  constructor(message: string, options: AppErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.details = options.details;
  }
}

/** The caller sent something malformed; the message says what. */
export class ValidationError extends AppError {
  override readonly code: string = 'ValidationError';
  override readonly status: number = 400;
}

export class InvalidKeyError extends ValidationError {
  override readonly code = 'InvalidKey';
}

export class NotFoundError extends AppError {
  override readonly code: string = 'NotFound';
  override readonly status: number = 404;
}

export class MethodNotAllowedError extends AppError {
  override readonly code = 'MethodNotAllowed';
  override readonly status = 405;
  constructor(readonly allowed: readonly string[], message = `method not allowed; use ${allowed.join(', ')}`) {
    super(message, { details: { allowed } });
  }
}

/** A shard map that cannot be served: gaps, overlaps, unknown shards, bad names. */
export class ShardMapError extends AppError {
  override readonly code = 'InvalidShardMap';
  override readonly status = 422;
}

/** Optimistic concurrency: the writer's map version is not the current one. */
export class StaleMapVersionError extends AppError {
  override readonly code = 'StaleMapVersion';
  override readonly status = 409;
  constructor(readonly expected: number, readonly actual: number | undefined) {
    super(`shard map changed: expected version ${expected}, catalog has ${actual ?? 'none'}; reload and retry`, {
      details: { expected, actual },
    });
  }
}

export class CatalogUnavailableError extends AppError {
  override readonly code = 'CatalogUnavailable';
  override readonly status = 503;
}

export class NoShardMapError extends AppError {
  override readonly code = 'NoShardMap';
  override readonly status = 503;
}

/** Deployment or function configuration is wrong; raised at startup, never per request. */
export class ConfigError extends AppError {
  override readonly code = 'ConfigError';
  override readonly status = 500;
}

export function isAppError(error: unknown): error is AppError {
  return error instanceof AppError;
}
