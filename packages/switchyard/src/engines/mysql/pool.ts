import type { ConnectionOptions, FieldPacket, Pool, PoolConnection, PoolOptions, ResultSetHeader } from 'mysql2/promise'
import { createConnection, createPool } from 'mysql2/promise'
import { PoolClosedError, PoolExhaustedError, QueryCancelledError, type SwitchyardError } from '../../errors.js'
import type {
  EngineCapabilities,
  EnginePool,
  EngineTransaction,
  PoolStats,
  QueryOptions,
  QueryResult,
  Row,
  RowMode,
  TableInfo,
  TransactionOptions,
} from '../types.js'
import { SavepointTransaction, attachRollbackError, isolationLevelOf, quoteWith, throwIfAborted } from '../shared/transaction.js'
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
  cancellation: true,
  // InnoDB's REPEATABLE READ: a plain select inside a transaction keeps reading the snapshot
  // of its first read and misses rows other transactions committed since.
  currentReadClause: ' lock in share mode',
})

/** ER_QUERY_INTERRUPTED: what a statement stopped by KILL QUERY fails with. */
const QUERY_INTERRUPTED = 1317

/** Pool-only options a single mysql2 Connection warns about. */
const POOL_ONLY_OPTIONS = new Set(['connectionLimit', 'waitForConnections', 'queueLimit', 'maxIdle', 'idleTimeout', 'enableKeepAlive', 'keepAliveInitialDelay'])

/** What mysql2's core pool keeps and its promise wrapper has no public API for. */
interface CorePoolState {
  _allConnections?: { length: number; get?(index: number): { authorized?: boolean } | undefined }
  _freeConnections?: { length: number }
  _connectionQueue?: { length: number }
}

function toResult<R>(rows: unknown, fields: FieldPacket[] | undefined): QueryResult<R> {
  if (Array.isArray(rows)) {
    return { rows: rows as R[], rowCount: rows.length, fields: (fields ?? []).map((f) => ({ name: f.name, type: mysqlTypeName(f.type) })) }
  }
  const header = rows as ResultSetHeader
  // 0 is mysql2's "no id generated"; an id past 2^53 comes as a string with supportBigNumbers.
  const id = header.insertId as number | string | undefined
  const result = { rows: [], rowCount: header.affectedRows ?? 0, fields: [] }
  return id !== undefined && id !== 0 && id !== '0' ? { ...result, insertId: BigInt(id) } : result
}

/** MySQL/MariaDB on mysql2. "Schemas" are databases: a statement's `schema` selects one with USE, restored afterwards. */
export class MysqlPool implements EnginePool {
  readonly engine = 'mysql'
  readonly capabilities = MYSQL_CAPABILITIES
  readonly #pool: Pool
  /** For the short-lived connections that send KILL QUERY: outside the pool, whose slots may all be busy. */
  readonly #killConfig: ConnectionOptions
  #inFlight = 0
  readonly #discard = new WeakSet<PoolConnection>()
  readonly #destroyed = new WeakSet<PoolConnection>()
  #idle: (() => void)[] = []
  #closing: Promise<void> | undefined
  /** How long a queued caller waits for a free connection: connectTimeoutMs, as on postgres. */
  readonly #waitMs: number
  readonly #max: number

  constructor(
    config: PoolOptions,
    private readonly target: string,
    /** The database connections start in; restored after a per-statement USE. */
    private readonly homeDatabase: string | undefined,
  ) {
    this.#pool = createPool(config)
    this.#waitMs = config.connectTimeout ?? 10_000
    this.#max = config.connectionLimit ?? 10
    const single = Object.fromEntries(Object.entries(config).filter(([k]) => !POOL_ONLY_OPTIONS.has(k) && k !== 'database'))
    this.#killConfig = Object.freeze(single as ConnectionOptions)
  }

  async query<R = Row>(sql: string, params: readonly unknown[] = [], options?: QueryOptions): Promise<QueryResult<R>> {
    // Before taking a connection: a cancelled caller must not wait in the pool's queue.
    throwIfAborted(options?.signal)
    return this.#withConnection(async (conn) => {
      if (options?.schema === undefined) return this.#run<R>(conn, sql, params, options?.signal, options?.rowMode)
      return this.#inDatabase(conn, options.schema, () => this.#run<R>(conn, sql, params, options.signal, options.rowMode))
    }, options?.signal)
  }

  async transaction<T>(fn: (tx: EngineTransaction) => Promise<T>, options?: TransactionOptions): Promise<T> {
    // Checked before a connection is taken: the level is inlined into SET TRANSACTION below.
    const level = isolationLevelOf(options)
    return this.#withConnection(async (conn) => {
      const body = async () => {
        // Without SESSION or GLOBAL it sets the next transaction only, so the connection is back on
        // its default when this one ends; START TRANSACTION has to follow at once to be that one.
        if (level !== undefined) await this.#run(conn, `SET TRANSACTION ISOLATION LEVEL ${level.toUpperCase()}`, [])
        try {
          await this.#run(conn, options?.readOnly ? 'START TRANSACTION READ ONLY' : 'START TRANSACTION', [])
        } catch (err) {
          // The level set above would still be waiting on the connection, for whoever's transaction came next.
          if (level !== undefined) this.#discard.add(conn)
          throw err
        }
        try {
          const result = await fn(new SavepointTransaction((sql, params, o) => this.#run(conn, sql, params, o?.signal, o?.rowMode)))
          await this.#run(conn, 'COMMIT', [])
          return result
        } catch (err) {
          try {
            await conn.query('ROLLBACK')
          } catch (rollbackErr) {
            // Never hand a connection with a transaction in an unknown state to the next
            // caller; and the caller gets the error that caused the rollback, not this one.
            this.#discard.add(conn)
            attachRollbackError(err, isConnectionFailure(rollbackErr) ? toConnectionError(rollbackErr, this.target) : toQueryError(rollbackErr))
          }
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
    const p = this.#core()
    return { total: p._allConnections?.length ?? 0, idle: p._freeConnections?.length ?? 0, waiting: p._connectionQueue?.length ?? 0 }
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      if (this.#inFlight > 0) await new Promise<void>((resolve) => this.#idle.push(resolve))
      await this.#pool.end()
    })()
    return this.#closing
  }

  async #withConnection<T>(fn: (conn: PoolConnection) => Promise<T>, signal?: AbortSignal): Promise<T> {
    if (this.#closing) throw new PoolClosedError(`MySQL pool for ${this.target}`)
    this.#inFlight++
    let conn: PoolConnection | undefined
    let broken = false
    try {
      conn = await this.#acquire(signal)
      return await fn(conn)
    } catch (err) {
      broken = isConnectionFailure((err as { cause?: unknown }).cause ?? err)
      throw err
    } finally {
      if (conn && !this.#destroyed.has(conn)) {
        if (broken || this.#discard.has(conn)) conn.destroy()
        else conn.release()
      }
      this.#leave()
    }
  }

  #leave(): void {
    if (--this.#inFlight === 0) for (const wake of this.#idle.splice(0)) wake()
  }

  /**
   * Takes a connection. mysql2 queues a caller for as long as every connection stays busy, with
   * no timeout of its own, so a queued caller races a timer, and its AbortSignal ends the wait
   * too. mysql2 cannot take a waiter out of its queue: whatever it hands over after the caller
   * gave up goes straight back to the pool, unused, so no connection is lost and no abandoned
   * statement runs late.
   */
  #acquire(signal: AbortSignal | undefined): Promise<PoolConnection> {
    // Decided before asking, as mysql2 decides synchronously: a caller given an idle connection
    // or a new one is not queued, and opening a new one is bounded by mysql2's connectTimeout,
    // so a server that cannot be reached stays a ConnectionError. A timeout of 0 means no
    // limit, as it does for mysql2's connectTimeout (and pg's).
    const bounded = this.#waitMs > 0 && this.#willQueue()
    const pending = this.#pool.getConnection()
    if (!bounded && signal === undefined) {
      // The common case pays for no timer and no extra promise.
      return pending.catch((err: unknown) => {
        throw toConnectionError(err, this.target)
      })
    }
    return new Promise<PoolConnection>((resolve, reject) => {
      let settled = false
      const settle = (): boolean => {
        if (settled) return false
        settled = true
        clearTimeout(timer)
        signal?.removeEventListener('abort', onAbort)
        return true
      }
      const giveUp = (err: unknown) => {
        if (!settle()) return
        // In flight until mysql2 lets go of it (counted before the caller's own count drops):
        // close() must not end the pool under a connection still being opened for it.
        this.#inFlight++
        pending
          .then((conn) => conn.release())
          // A late failure to connect has no caller left to tell: it already has its error.
          .catch(() => {})
          .finally(() => this.#leave())
        reject(err)
      }
      const onAbort = () => {
        try {
          throwIfAborted(signal)
        } catch (err) {
          giveUp(err)
        }
      }
      const timer = bounded ? setTimeout(() => giveUp(this.#waitError()), this.#waitMs) : undefined
      signal?.addEventListener('abort', onAbort, { once: true })
      if (signal?.aborted) onAbort()
      pending.then(
        (conn) => {
          if (settle()) resolve(conn)
        },
        (err: unknown) => {
          if (settle()) reject(toConnectionError(err, this.target))
        },
      )
    })
  }

  /**
   * Why a queued caller's wait ran out. Only a pool whose every connection is open and busy is
   * exhausted; while one is still being opened the caller is waiting on the server, which is
   * how pg-pool (and so the postgres engine) reports it too.
   */
  #waitError(): SwitchyardError {
    if (this.#stillOpening()) return toConnectionError(new Error(`timeout: no connection to the server opened within ${this.#waitMs} ms`), this.target)
    return new PoolExhaustedError(this.target, this.#max, this.#waitMs)
  }

  /** Whether mysql2 will queue the next getConnection: no idle connection and no room to open one. */
  #willQueue(): boolean {
    const core = this.#core()
    // Internals gone (another mysql2 version): assume the worst, so the wait stays bounded.
    if (!core._allConnections || !core._freeConnections) return true
    return core._freeConnections.length === 0 && core._allConnections.length >= this.#max
  }

  #stillOpening(): boolean {
    const all = this.#core()._allConnections
    if (!all?.get) return false
    for (let i = 0; i < all.length; i++) if (all.get(i)?.authorized !== true) return true
    return false
  }

  #core(): CorePoolState {
    return this.#pool.pool as unknown as CorePoolState
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

  /**
   * Runs one statement. When its signal fires, `KILL QUERY` goes out on a connection of its
   * own (never through the pool: queued there it could land after this statement, on the next
   * one run on this thread — another caller's), and the statement does not settle until the
   * kill has landed and the connection is known clean, so no late kill can hit a later statement.
   */
  async #run<R>(conn: PoolConnection, sql: string, params: readonly unknown[], signal?: AbortSignal, rowMode?: RowMode): Promise<QueryResult<R>> {
    throwIfAborted(signal)
    let killing: Promise<boolean> | undefined
    const onAbort = () => {
      killing = this.#killQuery(conn)
    }
    signal?.addEventListener('abort', onAbort, { once: true })
    let outcome: { ok: true; value: QueryResult<R> } | { ok: false; error: unknown }
    try {
      // mysql2's own option for array rows (in field order, duplicate names kept); the default call is unchanged.
      const [rows, fields] = rowMode === 'array' ? await conn.query({ sql, rowsAsArray: true }, params as unknown[]) : await conn.query(sql, params as unknown[])
      outcome = { ok: true, value: toResult<R>(rows, fields) }
    } catch (err) {
      outcome = { ok: false, error: err }
    } finally {
      signal?.removeEventListener('abort', onAbort)
    }
    if (killing) await this.#afterKill(conn, await killing)
    if (outcome.ok) return outcome.value
    const e = outcome.error as { errno?: number }
    if (killing && e.errno === QUERY_INTERRUPTED) {
      throw new QueryCancelledError('The statement was cancelled on the server by its AbortSignal', { cause: outcome.error })
    }
    // The KILL connection could not be opened, so the connection was closed under the statement
    // (and stays destroyed): the caller asked for a cancellation, and that is what happened.
    if (killing && this.#destroyed.has(conn)) {
      throw new QueryCancelledError('The statement was cancelled by its AbortSignal: no connection was free to send KILL QUERY, so its own connection was closed', {
        cause: outcome.error,
      })
    }
    throw toQueryError(outcome.error)
  }

  /** Sends KILL QUERY for the statement running on `conn`; false if it could not be sent. */
  async #killQuery(conn: PoolConnection): Promise<boolean> {
    let killer: Awaited<ReturnType<typeof createConnection>> | undefined
    try {
      killer = await createConnection(this.#killConfig)
      await killer.query(`KILL QUERY ${Number(conn.threadId)}`)
      return true
    } catch {
      // No spare connection on the server: closing the socket is the only way left to stop
      // waiting. The statement then fails with a lost connection (reported as cancelled, see
      // #run), and the connection is gone.
      this.#destroyed.add(conn)
      abortSocket(conn)
      conn.destroy()
      return false
    } finally {
      await killer?.end().catch(() => {})
    }
  }

  /**
   * A kill that arrived after its statement had finished may be left pending on the idle
   * thread; a probe consumes it. A connection that fails the probe is not reused.
   */
  async #afterKill(conn: PoolConnection, killed: boolean): Promise<void> {
    if (!killed || this.#destroyed.has(conn)) return
    try {
      await conn.query('do 1')
    } catch {
      this.#discard.add(conn)
    }
  }
}

/**
 * Fails the statement in flight on `conn` now. mysql2's `destroy()` only half-closes the
 * socket (and marks the connection closing, which silences its close event): the server would
 * finish the statement and its answer would still arrive. Destroying the socket with an error
 * fails the pending command at once with a fatal error; `destroy()` then takes the connection
 * out of the pool.
 */
function abortSocket(conn: PoolConnection): void {
  const core = (conn as unknown as { connection?: { stream?: { destroy?: (err?: Error) => void } } }).connection
  const lost = Object.assign(new Error('Connection closed to stop a cancelled statement: no connection was free to send KILL QUERY'), { code: 'PROTOCOL_CONNECTION_LOST', fatal: true })
  core?.stream?.destroy?.(lost)
}
