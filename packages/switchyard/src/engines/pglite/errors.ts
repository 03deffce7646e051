import { ConnectionError } from '../../errors.js'

export { toQueryError } from '../postgres/errors.js'

/** PGlite runs in-process: the only connection failure is a data directory it cannot open. */
export function toConnectionError(err: unknown, target: string): ConnectionError {
  const message = (err as Error)?.message ?? String(err)
  if (/ENOENT|no such file/i.test(message)) {
    return new ConnectionError('DATABASE_NOT_FOUND', `PGlite data directory ${target} cannot be opened: ${message}`, { cause: err })
  }
  return new ConnectionError('CONNECTION_FAILED', `PGlite at ${target} failed to start: ${message}`, { cause: err })
}
