import { SwitchyardError } from 'switchyard'

/**
 * An error with an HTTP status. Route code throws these (or lets library errors through);
 * {@link toHttpError} is the one place that decides what a client sees.
 */
export class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
    /** A body to send instead of `{ message }` (Metabase's per-destination error map, for one). */
    readonly body?: Record<string, unknown>,
    options?: { cause?: unknown },
  ) {
    super(message, options)
    this.name = 'HttpError'
  }
}

export const badRequest = (message: string, body?: Record<string, unknown>) => new HttpError(400, message, body)
export const unauthorized = (message = 'Unauthenticated') => new HttpError(401, message)
export const forbidden = (message = "You don't have permissions to do that.") => new HttpError(403, message)
export const notFound = (what: string) => new HttpError(404, `${what} not found.`)

/**
 * Library error codes that are the caller's fault, not the server's: they come from the
 * caller's own databases (a connection test, a question run). The metadata store's failures
 * never reach this table: the store wraps them as METADATA_STORE_* (see `MetadataStoreError`).
 */
const CLIENT_CODES: Record<string, number> = {
  HOST_UNREACHABLE: 400,
  AUTHENTICATION_FAILED: 400,
  DATABASE_NOT_FOUND: 400,
  CONNECTION_TIMEOUT: 400,
  CONNECTION_FAILED: 400,
  QUERY_FAILED: 400,
  UNIQUE_VIOLATION: 400,
  SQL_PARSE: 400,
  TENANT_ISOLATION: 403,
  INVALID_SCHEMA_NAME: 400,
  UNKNOWN_TENANT: 400,
  CONFIGURATION: 400,
  UNSUPPORTED: 400,
  QUERY_CANCELLED: 400,
  // A user's database is up but every connection of its pool is busy: retry later.
  POOL_EXHAUSTED: 503,
}

/** The server's own failures: a status and the only message a client sees (details go to the log). */
const SERVER_CODES: Record<string, { status: number; message: string }> = {
  METADATA_STORE_UNAVAILABLE: { status: 503, message: 'The metadata store is unavailable; try again shortly.' },
  METADATA_STORE_FAILED: { status: 500, message: 'Internal error' },
  // The store refused a value the caller sent (SQLSTATE class 22); which value is named by the
  // request check in app.ts where it can be, so this generic answer is the backstop.
  METADATA_STORE_INVALID_VALUE: { status: 400, message: 'Invalid value: the request holds a value the metadata store cannot keep (such as a NUL character).' },
}

export interface HttpFailure {
  readonly statusCode: number
  readonly body: Record<string, unknown>
}

/** Maps anything thrown to a status and a body; never leaks a stack or a secret. */
export function toHttpError(err: unknown): HttpFailure {
  if (err instanceof HttpError) return { statusCode: err.statusCode, body: err.body ?? { message: err.message } }
  const e = err as { validation?: unknown; statusCode?: number; message?: string; code?: string }
  if (e?.validation) return { statusCode: 400, body: { message: e.message ?? 'Invalid request', errors: e.validation } }
  if (err instanceof SwitchyardError) {
    const server = SERVER_CODES[err.code]
    if (server) return { statusCode: server.status, body: { message: server.message } }
    const status = CLIENT_CODES[err.code] ?? 500
    return { statusCode: status, body: { message: status === 500 ? 'Internal error' : err.message, code: err.code } }
  }
  if (typeof e?.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
    return { statusCode: e.statusCode, body: { message: e.message ?? 'Bad request' } }
  }
  return { statusCode: 500, body: { message: 'Internal error' } }
}
