import type { PoolOptions } from 'mysql2/promise'
import { ConfigurationError, type ConnectionError, type PoolExhaustedError } from '../../errors.js'
import type { EngineSpec, NetworkConnectionDetails } from '../types.js'
import { MYSQL_CAPABILITIES, MysqlPool } from './pool.js'

export type MysqlConnectionDetails = NetworkConnectionDetails

/**
 * A MySQL or MariaDB database on `mysql2`. Nothing connects until the pool is first used.
 * Placeholders are `?`; "schemas" are databases.
 *
 * An AbortSignal cancels a running statement with `KILL QUERY`, sent on a connection of its
 * own so it can never reach another caller's statement.
 *
 * Connection failures are {@link ConnectionError}s with distinct codes (HOST_UNREACHABLE,
 * AUTHENTICATION_FAILED, DATABASE_NOT_FOUND, CONNECTION_TIMEOUT); a pool whose connections
 * all stay busy for `connectTimeoutMs` fails with POOL_EXHAUSTED ({@link PoolExhaustedError})
 * instead. A caller whose AbortSignal fires while it waits for a connection leaves the queue
 * at once with QUERY_CANCELLED; its statement never runs.
 *
 * @example
 * ```ts
 * import { createSwitchyard } from 'switchyard'
 * import { mysql } from 'switchyard/mysql'
 *
 * const sy = createSwitchyard({
 *   databases: { default: mysql({ host: '127.0.0.1', port: 3306, user: 'root', max: 10 }) },
 * })
 * const controller = new AbortController()
 * setTimeout(() => controller.abort(), 100)
 * const slow = sy.read('select sleep(5)', [], { signal: controller.signal }).catch((err) => err.code)
 * const { rows } = await sy.read('select ? + 1 as answer', [41])
 * console.log(rows, await slow) // [ { answer: 42 } ] QUERY_CANCELLED, after ~100 ms
 * await sy.close()
 * ```
 */
export function mysql(details: MysqlConnectionDetails): EngineSpec {
  const max = details.max ?? 10
  if (!Number.isInteger(max) || max < 1) throw new ConfigurationError(`mysql(): max must be a positive integer, got ${String(details.max)}`)
  let fromUrl: Partial<MysqlConnectionDetails> = {}
  if (details.connectionString) {
    let u: URL
    try {
      u = new URL(details.connectionString)
    } catch (err) {
      throw new ConfigurationError(`mysql(): connectionString is not a valid URL (${(err as Error).message})`)
    }
    fromUrl = {
      host: u.hostname,
      port: u.port ? Number(u.port) : undefined,
      user: decodeURIComponent(u.username) || undefined,
      password: decodeURIComponent(u.password) || undefined,
      database: u.pathname.replace(/^\//, '') || undefined,
    }
  }
  const d = { ...fromUrl, ...stripUndefined(details) }
  if (!d.host) throw new ConfigurationError('mysql(): give either connectionString or host')
  const ssl = d.ssl === true ? {} : d.ssl === false || d.ssl === undefined ? undefined : d.ssl
  const config: PoolOptions = Object.freeze({
    host: d.host,
    port: d.port ?? 3306,
    user: d.user,
    password: d.password,
    database: d.database,
    ssl: ssl as PoolOptions['ssl'],
    connectionLimit: max,
    // Also how long a caller waits for a free connection (MysqlPool races mysql2's queue, which never gives up).
    connectTimeout: d.connectTimeoutMs ?? 10_000,
    waitForConnections: true,
    // Statements are one per call: a stacked query in a parameter can never run.
    multipleStatements: false,
    supportBigNumbers: true,
  })
  const target = `${d.host}:${d.port ?? 3306}/${d.database ?? ''}`
  return Object.freeze({
    engine: 'mysql',
    capabilities: MYSQL_CAPABILITIES,
    description: Object.freeze({ host: d.host, port: d.port ?? 3306, database: d.database, user: d.user, ssl: Boolean(d.ssl), max }),
    maxConnections: max,
    createPool: () => new MysqlPool(config, target, d.database),
  })
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>
}

export { MysqlPool, MYSQL_CAPABILITIES }
