import { ConnectionError, QueryError, UniqueViolationError } from '../../errors.js'

interface PgLikeError {
  code?: string
  message?: string
}

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'ECONNRESET'])

/** Maps a `pg` connection failure onto one of the distinct {@link ConnectionError} codes. */
export function toConnectionError(err: unknown, target: string): ConnectionError {
  const e = (err ?? {}) as PgLikeError
  const message = e.message ?? String(err)
  if (e.code && NETWORK_CODES.has(e.code)) {
    return new ConnectionError('HOST_UNREACHABLE', `Cannot reach PostgreSQL at ${target}: ${message}`, { cause: err })
  }
  // SQLSTATE class 28: invalid authorization (bad password, unknown role, pg_hba refusal).
  if (e.code?.startsWith('28')) {
    return new ConnectionError('AUTHENTICATION_FAILED', `Authentication to PostgreSQL at ${target} failed: ${message}`, { cause: err })
  }
  if (e.code === '3D000') {
    return new ConnectionError('DATABASE_NOT_FOUND', `PostgreSQL at ${target}: ${message}`, { cause: err })
  }
  if (/timeout/i.test(message)) {
    return new ConnectionError('CONNECTION_TIMEOUT', `Timed out connecting to PostgreSQL at ${target}.`, { cause: err })
  }
  return new ConnectionError('CONNECTION_FAILED', `Cannot connect to PostgreSQL at ${target}: ${message}`, { cause: err })
}

/** Connection-phase failures carry no SQLSTATE outside class 28/3D, or a socket errno. */
export function isConnectionFailure(err: unknown): boolean {
  const e = (err ?? {}) as PgLikeError
  // Only pg's SQLSTATE and Node's errno strings count: an AbortSignal's DOMException carries a numeric code.
  if (typeof e.code !== 'string' || e.code === '') return /timeout|terminated|connect/i.test(e.message ?? '')
  return NETWORK_CODES.has(e.code) || e.code.startsWith('28') || e.code === '3D000'
}

/**
 * A statement failed and its connection is fine: PostgreSQL's ERROR severity. A FATAL or PANIC
 * (an administrator's pg_terminate_backend, a server shutting down) ends the session, and an
 * error pg raised itself (a value it could not send) leaves messages in flight: either way the
 * connection must not serve another caller.
 */
export function isStatementError(err: unknown): boolean {
  return (err as { severity?: unknown } | undefined)?.severity === 'ERROR'
}

/** Maps a statement failure; unique violations get their own type so `getOrCreate` can retry. */
export function toQueryError(err: unknown): QueryError {
  const e = (err ?? {}) as PgLikeError
  const message = e.message ?? String(err)
  if (e.code === '23505') return new UniqueViolationError(message, e.code, { cause: err })
  return new QueryError(message, e.code, { cause: err })
}
