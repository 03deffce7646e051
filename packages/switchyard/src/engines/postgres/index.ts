import type pg from 'pg'
import { ConfigurationError, type ConnectionError } from '../../errors.js'
import type { EngineSpec, NetworkConnectionDetails } from '../types.js'
import { POSTGRES_CAPABILITIES, PostgresPool } from './pool.js'

export interface PostgresConnectionDetails extends NetworkConnectionDetails {
  /**
   * Parameterised statements each connection keeps prepared, so PostgreSQL parses and plans a
   * repeated statement once per connection rather than on every call (a statement whose every
   * parameter is cast, `$1::int`, is prepared on its third run on a connection); least recently
   * used are deallocated beyond this. Default 100; 0 prepares nothing (for PgBouncer in transaction mode
   * before 1.21, or without `max_prepared_statements`; a pool that finds its statements gone
   * three times stops preparing by itself). Statements inside `transaction()` are not prepared.
   */
  readonly statementCache?: number
}

/**
 * A PostgreSQL database on `pg`. Nothing connects until the pool is first used.
 *
 * Connection failures are {@link ConnectionError}s with distinct codes (HOST_UNREACHABLE,
 * AUTHENTICATION_FAILED, DATABASE_NOT_FOUND, CONNECTION_TIMEOUT); a pool whose connections
 * all stay busy for `connectTimeoutMs` fails with POOL_EXHAUSTED instead.
 *
 * @example
 * ```ts
 * import { createSwitchyard } from 'switchyard'
 * import { postgres } from 'switchyard/postgres'
 *
 * // Either form; here both name the same server's `postgres` database.
 * const primary = postgres({ connectionString: 'postgres://postgres@127.0.0.1:5432/postgres', max: 10 })
 * const replica = postgres({ host: '127.0.0.1', port: 5432, database: 'postgres', user: 'postgres', connectTimeoutMs: 2_000 })
 * const sy = createSwitchyard({
 *   databases: { default: primary, replica },
 *   routers: [{ dbForRead: () => 'replica' }],
 * })
 * await sy.write('create temporary table if not exists sy_example (id int)') // on 'default'
 * const { rows, alias } = await sy.read('select $1::int as answer', [42])   // on 'replica'
 * console.log(rows, alias) // [ { answer: 42 } ] replica
 * await sy.close()
 * ```
 */
export function postgres(details: PostgresConnectionDetails): EngineSpec {
  if (!details.connectionString && !details.host && !details.database) {
    throw new ConfigurationError('postgres(): give either connectionString or host/database')
  }
  const max = details.max ?? 10
  if (!Number.isInteger(max) || max < 1) throw new ConfigurationError(`postgres(): max must be a positive integer, got ${String(details.max)}`)
  const statementCache = details.statementCache ?? 100
  if (!Number.isInteger(statementCache) || statementCache < 0) {
    throw new ConfigurationError(`postgres(): statementCache must be a whole number >= 0, got ${String(details.statementCache)}`)
  }
  const config: pg.PoolConfig = Object.freeze({
    connectionString: details.connectionString,
    host: details.host,
    port: details.port,
    database: details.database,
    user: details.user,
    password: details.password,
    ssl: details.ssl,
    max,
    connectionTimeoutMillis: details.connectTimeoutMs ?? 10_000,
    idleTimeoutMillis: 30_000,
  })
  const description = Object.freeze(describe(details))
  const target = details.connectionString
    ? redactUrl(details.connectionString)
    : `${details.host ?? 'localhost'}:${details.port ?? 5432}/${details.database ?? ''}`
  return Object.freeze({
    engine: 'postgres',
    capabilities: POSTGRES_CAPABILITIES,
    description,
    maxConnections: max,
    createPool: () => new PostgresPool(config, target, statementCache),
  })
}

function describe(d: PostgresConnectionDetails): Record<string, unknown> {
  const statementCache = d.statementCache ?? 100
  if (d.connectionString) return { connectionString: redactUrl(d.connectionString), max: d.max ?? 10, statementCache }
  return { host: d.host, port: d.port ?? 5432, database: d.database, user: d.user, ssl: Boolean(d.ssl), max: d.max ?? 10, statementCache }
}

function redactUrl(url: string): string {
  try {
    const u = new URL(url)
    if (u.password) u.password = '***'
    return u.toString()
  } catch {
    return '(unparseable connection string)'
  }
}

export { PostgresPool, POSTGRES_CAPABILITIES }
