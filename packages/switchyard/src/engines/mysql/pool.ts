import type { FieldPacket, Pool, PoolConnection, PoolOptions, ResultSetHeader } from 'mysql2/promise'
import { createPool } from 'mysql2/promise'
import { SwitchyardError } from '../../errors.js'
import type {
  EngineCapabilities,
  EnginePool,
  EngineTransaction,
  PoolStats,
  QueryOptions,
  QueryResult,
  Row,
  TableInfo,
  TransactionOptions,
} from '../types.js'
import { SavepointTransaction, quoteWith } from '../shared/transaction.js'
import { isConnectionFailure, toConnectionError, toQueryError } from './errors.js'
import { SYSTEM_DATABASES, introspectMysql, mysqlTypeName } from './introspect.js'

export const MYSQL_CAPABILITIES: EngineCapabilities = Object.freeze({
  schemas: false,
  transactionalDdl: false,
  returning: false,
  multipleConnections: true,
  dialect: 'mysql',
  placeholders: 'question',
  identifierQuote: '`',
  schemaScoping: 'database',
})

function toResult<R>(rows: unknown, fields: FieldPacket[] | undefined): QueryResult<R> {
  if (Array.isArray(rows)) {
    return { rows: rows as R[], rowCount: rows.length, fields: (fields ?? []).map((f) => ({ name: f.name, type: mysqlTypeName(f.type) })) }
  }
  const header = rows as ResultSetHeader
  return { rows: [], rowCount: header.affectedRows ?? 0, fields: [] }
}

/** MySQL/MariaDB on mysql2. "Schemas" are databases: a statement's `schema` selects one with USE, restored afterwards. */
export class MysqlPool implements EnginePool {
  readonly engine = 'mysql'
  readonly capabilities = MYSQL_CAPABILITIES
  readonly #pool: Pool
  #inFlight = 0
  readonly #discard = new WeakSet<PoolConnection>()
  #idle: (() => void)[] = []
  #closing: Promise<void> | undefined

  constructor(
    config: PoolOptions,
    private readonly target: string,
    /** The database connections start in; restored after a per-statement USE. */
    private readonly homeDatabase: string | undefined,
  ) {
    this.#pool = createPool(config)
  }

  async query<R = Row>(sql: string, params: readonly unknown[] = [], options?: QueryOptions): Promise<QueryResult<R>> {
    return this.#withConnection(async (conn) => {
      if (options?.schema === undefined) return this.#run<R>(conn, sql, params, options?.signal)
      return this.#inDatabase(conn, options.schema, () => this.#run<R>(conn, sql, params, options.signal))
    })
  }

  async transaction<T>(fn: (tx: EngineTransaction) => Promise<T>, options?: TransactionOptions): Promise<T> {
    return this.#withConnection(async (conn) => {
      const body = async () => {
        await this.#run(conn, options?.readOnly ? 'START TRANSACTION READ ONLY' : 'START TRANSACTION', [])
        try {
          const result = await fn(new SavepointTransaction((sql, params, o) => this.#run(conn, sql, params, o?.signal)))
          await this.#run(conn, 'COMMIT', [])
          return result
        } catch (err) {
          await conn.query('ROLLBACK')
          throw err
        }
      }
      return options?.schema === undefined ? body() : this.#inDatabase(conn, options.schema, body)
    })
  }

  async checkConnection(): Promise<void> {
    await this.#withConnection((conn) => this.#run(conn, 'select 1', []))
  }

  introspect(options?: { schema?: string }): Promise<TableInfo[]> {
    return introspectMysql(this, options?.schema)
  }

  async createSchema(name: string): Promise<void> {
    await this.query(`create database ${this.quoteIdentifier(name)}`)
  }

  async dropSchema(name: string): Promise<void> {
    // MySQL drops a database with everything in it; there is no RESTRICT to honour.
    await this.query(`drop database if exists ${this.quoteIdentifier(name)}`)
  }

  async listSchemas(): Promise<string[]> {
    const { rows } = await this.query<{ name: string }>('select schema_name as name from information_schema.schemata order by schema_name')
    return rows.map((r) => r.name).filter((n) => !SYSTEM_DATABASES.has(n))
  }

  quoteIdentifier(name: string): string {
    return quoteWith('`', name)
  }

  stats(): PoolStats {
    const p = this.#pool.pool as unknown as { _allConnections?: { length: number }; _freeConnections?: { length: number }; _connectionQueue?: { length: number } }
    return { total: p._allConnections?.length ?? 0, idle: p._freeConnections?.length ?? 0, waiting: p._connectionQueue?.length ?? 0 }
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      if (this.#inFlight > 0) await new Promise<void>((resolve) => this.#idle.push(resolve))
      await this.#pool.end()
    })()
    return this.#closing
  }

  async #withConnection<T>(fn: (conn: PoolConnection) => Promise<T>): Promise<T> {
    if (this.#closing) throw new SwitchyardError('POOL_CLOSED', `MySQL pool for ${this.target} is closed`)
    this.#inFlight++
    let conn: PoolConnection | undefined
    let broken = false
    try {
      try {
        conn = await this.#pool.getConnection()
      } catch (err) {
        throw toConnectionError(err, this.target)
      }
      return await fn(conn)
    } catch (err) {
      broken = isConnectionFailure((err as { cause?: unknown }).cause ?? err)
      throw err
    } finally {
      if (conn) {
        if (broken || this.#discard.has(conn)) conn.destroy()
        else conn.release()
      }
      if (--this.#inFlight === 0) for (const wake of this.#idle.splice(0)) wake()
    }
  }

  /** Runs `fn` with `database` selected, then puts the connection back where it was. */
  async #inDatabase<T>(conn: PoolConnection, database: string, fn: () => Promise<T>): Promise<T> {
    await this.#run(conn, `USE ${this.quoteIdentifier(database)}`, [])
    try {
      return await fn()
    } finally {
      try {
        if (this.homeDatabase === undefined) throw new Error('no home database to return to')
        await conn.query(`USE ${this.quoteIdentifier(this.homeDatabase)}`)
      } catch {
        // A connection that cannot be reset must not serve another caller in the wrong database.
        this.#discard.add(conn)
      }
    }
  }

  async #run<R>(conn: PoolConnection, sql: string, params: readonly unknown[], signal?: AbortSignal): Promise<QueryResult<R>> {
    signal?.throwIfAborted()
    const onAbort = () => {
      // KILL QUERY from another connection stops the statement and leaves this connection usable.
      this.#pool.query(`KILL QUERY ${Number(conn.threadId)}`).catch(() => {})
    }
    signal?.addEventListener('abort', onAbort, { once: true })
    try {
      const [rows, fields] = await conn.query(sql, params as unknown[])
      return toResult<R>(rows, fields)
    } catch (err) {
      throw toQueryError(err)
    } finally {
      signal?.removeEventListener('abort', onAbort)
    }
  }
}
