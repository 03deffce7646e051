import { QueryError, SwitchyardError, UniqueViolationError } from 'switchyard'

/** Library codes that mean the store cannot take work right now (unreachable, or every connection busy), as opposed to a statement failing. */
const UNREACHABLE = new Set(['HOST_UNREACHABLE', 'AUTHENTICATION_FAILED', 'DATABASE_NOT_FOUND', 'CONNECTION_TIMEOUT', 'CONNECTION_FAILED', 'POOL_EXHAUSTED'])

/**
 * A failure of the metadata store itself. The library's error codes (QUERY_FAILED,
 * HOST_UNREACHABLE, ...) describe the caller's database when a user's query fails, but here
 * they describe the server's own storage: the HTTP mapping turns these into 500/503 with a
 * generic message, and the original error stays in `cause` for the log.
 *
 * @example
 * ```ts
 * try {
 *   await store.query('select 1')
 * } catch (err) {
 *   if (err instanceof MetadataStoreError) console.error(err.code, err.storeCode) // 'METADATA_STORE_UNAVAILABLE' 'HOST_UNREACHABLE'
 * }
 * ```
 */
export class MetadataStoreError extends SwitchyardError {
  /** The library code of the underlying failure, when it had one. */
  readonly storeCode: string | undefined
  /** The store's SQLSTATE, when the failure was a statement's. */
  readonly sqlState: string | undefined

  constructor(cause: unknown) {
    const storeCode = cause instanceof SwitchyardError ? cause.code : undefined
    const sqlState = cause instanceof QueryError ? cause.sqlState : undefined
    super(storeErrorCode(storeCode, sqlState), `Metadata store failure: ${(cause as Error)?.message ?? String(cause)}`, { cause })
    this.name = 'MetadataStoreError'
    this.storeCode = storeCode
    this.sqlState = sqlState
  }
}

/**
 * SQLSTATE class 22 (data exception: a NUL character, an invalid Unicode escape, a value out
 * of range) means the store refused a value the caller sent, not that the store is broken:
 * it becomes METADATA_STORE_INVALID_VALUE, which the HTTP mapping answers with 400.
 */
function storeErrorCode(storeCode: string | undefined, sqlState: string | undefined): string {
  if (storeCode !== undefined && UNREACHABLE.has(storeCode)) return 'METADATA_STORE_UNAVAILABLE'
  if (sqlState?.startsWith('22')) return 'METADATA_STORE_INVALID_VALUE'
  return 'METADATA_STORE_FAILED'
}

/** Wraps a store failure once; an already wrapped error passes through. */
export function storeError(err: unknown): MetadataStoreError {
  return err instanceof MetadataStoreError ? err : new MetadataStoreError(err)
}

/** Whether `err` is a unique-constraint violation in the store (so a route can answer 400 for a duplicate). */
export function isStoreUniqueViolation(err: unknown): boolean {
  return err instanceof MetadataStoreError && err.cause instanceof UniqueViolationError
}
