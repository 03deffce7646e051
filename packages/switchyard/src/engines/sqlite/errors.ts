import { ConnectionError, QueryError, UniqueViolationError } from '../../errors.js'

/** Opening a SQLite file fails only on paths: a missing directory or an unreadable file. */
export function toConnectionError(err: unknown, target: string): ConnectionError {
  const message = (err as Error)?.message ?? String(err)
  if (/directory does not exist|unable to open|ENOENT/i.test(message)) {
    return new ConnectionError('DATABASE_NOT_FOUND', `SQLite database ${target} cannot be opened: ${message}`, { cause: err })
  }
  return new ConnectionError('CONNECTION_FAILED', `SQLite database ${target}: ${message}`, { cause: err })
}

export function toQueryError(err: unknown): QueryError {
  const e = (err ?? {}) as { code?: string; message?: string }
  const message = e.message ?? String(err)
  if (e.code === 'SQLITE_CONSTRAINT_UNIQUE' || e.code === 'SQLITE_CONSTRAINT_PRIMARYKEY') return new UniqueViolationError(message, e.code, { cause: err })
  return new QueryError(message, e.code, { cause: err })
}
