import { ConnectionError, QueryError, UniqueViolationError } from '../../errors.js'

interface MysqlLikeError {
  code?: string
  errno?: number
  sqlState?: string
  message?: string
}

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'ECONNRESET', 'PROTOCOL_CONNECTION_LOST'])

/** Maps a mysql2 connection failure onto one of the distinct {@link ConnectionError} codes. */
export function toConnectionError(err: unknown, target: string): ConnectionError {
  const e = (err ?? {}) as MysqlLikeError
  const message = e.message || e.code || String(err)
  if (e.code === 'ETIMEDOUT' || /timeout/i.test(message)) {
    return new ConnectionError('CONNECTION_TIMEOUT', `Timed out connecting to MySQL at ${target}.`, { cause: err })
  }
  if (e.code && NETWORK_CODES.has(e.code)) {
    return new ConnectionError('HOST_UNREACHABLE', `Cannot reach MySQL at ${target}: ${message}`, { cause: err })
  }
  if (e.code === 'ER_ACCESS_DENIED_ERROR' || e.code === 'ER_DBACCESS_DENIED_ERROR' || e.errno === 1045 || e.errno === 1044) {
    return new ConnectionError('AUTHENTICATION_FAILED', `Authentication to MySQL at ${target} failed: ${message}`, { cause: err })
  }
  if (e.code === 'ER_BAD_DB_ERROR' || e.errno === 1049) {
    return new ConnectionError('DATABASE_NOT_FOUND', `MySQL at ${target}: ${message}`, { cause: err })
  }
  return new ConnectionError('CONNECTION_FAILED', `Cannot connect to MySQL at ${target}: ${message}`, { cause: err })
}

export function isConnectionFailure(err: unknown): boolean {
  const e = (err ?? {}) as MysqlLikeError & { fatal?: boolean }
  return e.fatal === true || (e.code !== undefined && (NETWORK_CODES.has(e.code) || e.code === 'ETIMEDOUT'))
}

/** Statement failures; duplicate keys (errno 1062) get their own type so `getOrCreate` can retry. */
export function toQueryError(err: unknown): QueryError {
  const e = (err ?? {}) as MysqlLikeError
  const message = e.message ?? String(err)
  if (e.errno === 1062) return new UniqueViolationError(message, e.sqlState ?? '23000', { cause: err })
  return new QueryError(message, e.sqlState ?? e.code, { cause: err })
}
