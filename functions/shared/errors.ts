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

/** Another recovery holds the shard's lock; transient: retry once it has finished. */
export class RecoveryInProgressError extends AppError {
  override readonly code = 'RecoveryInProgress';
  override readonly status = 409;
}

/** A node is not yet in the state a step needs (still catching up, failover still running); transient. */
export class NodeNotReadyError extends AppError {
  override readonly code = 'NodeNotReady';
  override readonly status = 503;
}

/** No replica is safe to promote: none reachable, caught up and within the lag limit, or their positions diverged. */
export class NoFailoverCandidateError extends AppError {
  override readonly code = 'NoFailoverCandidate';
  override readonly status = 409;
}

/** A one-time decision (an approval) was already taken. */
export class ConflictError extends AppError {
  override readonly code = 'Conflict';
  override readonly status = 409;
}

/** A shard node refused or dropped the connection, or did not answer in time. */
export class NodeUnreachableError extends AppError {
  override readonly code = 'NodeUnreachable';
  override readonly status = 503;
}

/** A node's credentials cannot be resolved: no secretRef, or an unreadable or malformed secret. */
export class NodeCredentialsError extends AppError {
  override readonly code = 'NodeCredentialsUnavailable';
  override readonly status = 500;
}

/** A write was attempted on a read-only node. */
export class NodeNotWritableError extends AppError {
  override readonly code = 'NodeNotWritable';
  override readonly status = 409;
}

/** A replication change was refused or failed on the server (wrong flavor, replication would not start). */
export class ReplicationChangeError extends AppError {
  override readonly code = 'ReplicationChangeFailed';
  override readonly status = 500;
}

/** A monitor's lease expired or was taken over; it must stop writing health state. */
export class LeaseLostError extends AppError {
  override readonly code = 'LeaseLost';
  override readonly status = 409;
}

/** EventBridge kept rejecting entries after retries. */
export class EventPublishError extends AppError {
  override readonly code = 'EventPublishFailed';
  override readonly status = 502;
}

/** A dump spanning invocations lost its point in time (the paused replica moved); it must start over. */
export class SnapshotLostError extends AppError {
  override readonly code = 'SnapshotLost';
  override readonly status = 409;
}

/** A backup's objects or restored data do not match what its manifest recorded. */
export class BackupIntegrityError extends AppError {
  override readonly code = 'BackupIntegrity';
  override readonly status = 422;
}

/** An archive object that rows were (or may have been) deleted against is missing or altered; an operator must look. */
export class ArchiveIntegrityError extends AppError {
  override readonly code = 'ArchiveIntegrity';
  override readonly status = 500;
}

export function isAppError(error: unknown): error is AppError {
  return error instanceof AppError;
}

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'EPIPE', 'PROTOCOL_CONNECTION_LOST', 'PROTOCOL_SEQUENCE_TIMEOUT']);

/**
 * Step Functions matches Retry and Catch on the error's name: AppErrors go by their code, lost
 * MySQL connections are NodeUnreachable, S3 throttling and 5xx are ObjectStoreUnavailable.
 */
export function asStepFunctionsError(error: unknown): Error {
  const rename = (name: string) => {
    const mapped = new Error(error instanceof Error ? error.message : String(error), { cause: error });
    mapped.name = name;
    return mapped;
  };
  if (isAppError(error)) return rename(error.code);
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && NETWORK_CODES.has(code)) return rename('NodeUnreachable');
  const status = (error as { $metadata?: { httpStatusCode?: number } } | null)?.$metadata?.httpStatusCode;
  const name = (error as { name?: unknown } | null)?.name;
  if ((typeof status === 'number' && status >= 500) || name === 'SlowDown' || name === 'ThrottlingException') return rename('ObjectStoreUnavailable');
  return error instanceof Error ? error : new Error(String(error));
}
