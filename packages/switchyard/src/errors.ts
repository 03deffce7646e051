/**
 * Every error Switchyard throws extends {@link SwitchyardError}: it carries a stable
 * `code` that callers (and the server's HTTP mapping) can switch on, and the driver's
 * original error as `cause` where there is one.
 *
 * @example
 * ```ts
 * import { createSwitchyard, SwitchyardError, UnknownAliasError } from 'switchyard'
 * import { sqlite } from 'switchyard/sqlite'
 *
 * const sy = createSwitchyard({ databases: { default: sqlite({ filename: ':memory:' }) } })
 * try {
 *   await sy.on('reporting').read('select 1')
 * } catch (err) {
 *   if (err instanceof UnknownAliasError) console.error(err.code, err.knownAliases) // UNKNOWN_ALIAS [ 'default' ]
 *   else if (err instanceof SwitchyardError) console.error(err.code, err.message, err.cause)
 * }
 * await sy.close()
 * ```
 */
export class SwitchyardError extends Error {
  readonly code: string

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.code = code
    this.name = new.target.name
  }
}

/** An alias that no configured database or resolver knows. Never falls back to another alias. */
export class UnknownAliasError extends SwitchyardError {
  readonly alias: string
  readonly knownAliases: readonly string[]

  constructor(alias: string, knownAliases: readonly string[]) {
    const known = knownAliases.length > 0 ? knownAliases.map((a) => `'${a}'`).join(', ') : '(none)'
    super('UNKNOWN_ALIAS', `Unknown database alias '${alias}'. Known aliases: ${known}.`)
    this.alias = alias
    this.knownAliases = Object.freeze([...knownAliases])
  }
}

/** A statement relates tables whose models live on different aliases, and no router allowed it. */
export class CrossDatabaseRelationError extends SwitchyardError {
  constructor(
    readonly left: { table: string; alias: string },
    readonly right: { table: string; alias: string },
  ) {
    super(
      'CROSS_DATABASE_RELATION',
      `Cannot relate '${left.table}' (on '${left.alias}') with '${right.table}' (on '${right.alias}'): ` +
        'they live on different databases and no router allowed the relation.',
    )
  }
}

/** A schema name (usually derived from a tenant key) that is not a plain identifier. */
export class InvalidSchemaNameError extends SwitchyardError {
  constructor(readonly schema: string, reason: string) {
    super('INVALID_SCHEMA_NAME', `Invalid schema name ${JSON.stringify(schema)}: ${reason}.`)
  }
}

/** A statement names a schema that belongs to neither the asking tenant nor the shared set. */
export class TenantIsolationError extends SwitchyardError {
  constructor(readonly schema: string, readonly tenantSchema: string, message?: string) {
    super(
      'TENANT_ISOLATION',
      message ?? `Statement references schema '${schema}', but this context may only use '${tenantSchema}' and the shared schemas.`,
    )
  }
}

/** The SQL text could not be parsed (classification, qualification or guarding needs a parse). */
export class SqlParseError extends SwitchyardError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('SQL_PARSE', `Could not parse SQL: ${message}`, options)
  }
}

/** Something that cannot be done on this engine (a capability flag is off). */
export class UnsupportedError extends SwitchyardError {
  constructor(message: string) {
    super('UNSUPPORTED', message)
  }
}

/** The configuration given to a factory is wrong; names the offending key. */
export class ConfigurationError extends SwitchyardError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('CONFIGURATION', message, options)
  }
}

/** Why a connection could not be made; the engines map their drivers' errors onto these. */
export type ConnectionFailure = 'HOST_UNREACHABLE' | 'AUTHENTICATION_FAILED' | 'DATABASE_NOT_FOUND' | 'CONNECTION_TIMEOUT' | 'CONNECTION_FAILED'

/** A connection attempt failed. `code` tells which of the distinct failures it was. */
export class ConnectionError extends SwitchyardError {
  constructor(code: ConnectionFailure, message: string, options?: { cause?: unknown }) {
    super(code, message, options)
  }
}

/** A statement failed in the database. `sqlState` is the engine's SQLSTATE (or errno for MySQL). */
export class QueryError extends SwitchyardError {
  constructor(message: string, readonly sqlState: string | undefined, options?: { cause?: unknown }) {
    super('QUERY_FAILED', message, options)
  }
}

/** A unique constraint was violated; `getOrCreate` relies on telling it apart from other failures. */
export class UniqueViolationError extends QueryError {
  constructor(message: string, sqlState: string | undefined, options?: { cause?: unknown }) {
    super(message, sqlState, options)
    Object.defineProperty(this, 'code', { value: 'UNIQUE_VIOLATION' })
  }
}

/** A tenant key that the registry does not know. */
export class UnknownTenantError extends SwitchyardError {
  constructor(readonly tenant: string) {
    super('UNKNOWN_TENANT', `Unknown tenant '${tenant}'.`)
  }
}

/**
 * Every connection of a pool stayed busy for the whole connect timeout. Unlike
 * CONNECTION_TIMEOUT the server is fine: the pool is too small for the load (or a caller
 * holds connections too long).
 */
export class PoolExhaustedError extends SwitchyardError {
  constructor(
    readonly target: string,
    /** The pool's size (`max`). */
    readonly poolSize: number,
    /** How long the caller waited for a free connection, in milliseconds. */
    readonly waitedMs: number,
    options?: { cause?: unknown },
  ) {
    super(
      'POOL_EXHAUSTED',
      `Connection pool for ${target} is exhausted: all ${poolSize} connection(s) stayed busy for ${waitedMs} ms. ` +
        'Raise max, shorten transactions, or lower concurrency.',
      options,
    )
  }
}

/** A statement stopped because its AbortSignal fired (before it started, or by cancelling it on the server). */
export class QueryCancelledError extends SwitchyardError {
  constructor(message = 'The statement was cancelled by its AbortSignal', options?: { cause?: unknown }) {
    super('QUERY_CANCELLED', message, options)
  }
}

/** A pool (or the whole Switchyard) was closed; it takes no new work. */
export class PoolClosedError extends SwitchyardError {
  constructor(what: string) {
    super('POOL_CLOSED', `${what} is closed and takes no new statements`)
  }
}

/**
 * A transaction's ROLLBACK failed after its body threw. The body's error is what the caller
 * gets; this one rides along on it as `rollbackError` (see {@link rollbackErrorOf}).
 */
export class RollbackFailedError extends SwitchyardError {
  constructor(options: { cause: unknown }) {
    const reason = options.cause instanceof Error ? options.cause.message : String(options.cause)
    super('ROLLBACK_FAILED', `ROLLBACK failed (the connection was discarded): ${reason}`, options)
  }
}

/** The ROLLBACK failure attached to a transaction's error, if its rollback failed too. */
export function rollbackErrorOf(err: unknown): RollbackFailedError | undefined {
  const value = (err as { rollbackError?: unknown } | null | undefined)?.rollbackError
  return value instanceof RollbackFailedError ? value : undefined
}
