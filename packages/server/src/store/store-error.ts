import { SwitchyardError, UniqueViolationError } from 'switchyard'

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

  constructor(cause: unknown) {
    const storeCode = cause instanceof SwitchyardError ? cause.code : undefined
    super(storeCode !== undefined && UNREACHABLE.has(storeCode) ? 'METADATA_STORE_UNAVAILABLE' : 'METADATA_STORE_FAILED', `Metadata store failure: ${(cause as Error)?.message ?? String(cause)}`, { cause })
    this.name = 'MetadataStoreError'
    this.storeCode = storeCode
  }
}

/** Wraps a store failure once; an already wrapped error passes through. */
export function storeError(err: unknown): MetadataStoreError {
  return err instanceof MetadataStoreError ? err : new MetadataStoreError(err)
}

/** Whether `err` is a unique-constraint violation in the store (so a route can answer 400 for a duplicate). */
export function isStoreUniqueViolation(err: unknown): boolean {
  return err instanceof MetadataStoreError && err.cause instanceof UniqueViolationError
}
