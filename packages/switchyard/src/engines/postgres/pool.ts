import pg from 'pg'
import { PoolClosedError, PoolExhaustedError, QueryCancelledError, type QueryError, type SwitchyardError } from '../../errors.js'
import type {
  EngineCapabilities,
  EnginePool,
  EngineTransaction,
  FieldInfo,
  PoolStats,
  QueryOptions,
  QueryResult,
  Row,
  RowMode,
  TableInfo,
  TransactionOptions,
} from '../types.js'
import { SavepointTransaction, attachRollbackError, isolationLevelOf, quoteWith, throwIfAborted } from '../shared/transaction.js'
import { localSearchPath } from '../../schema/search-path.js'
import { isConnectionFailure, isStatementError, toConnectionError, toQueryError } from './errors.js'
import { introspectPostgres, pgTypeName, postgresSchemas } from './introspect.js'
import { arrayQuery, StatementCache, type PgResult } from './statement-cache.js'

export const POSTGRES_CAPABILITIES: EngineCapabilities = Object.freeze({
  schemas: true,
  transactionalDdl: true,
  returning: true,
  multipleConnections: true,
  dialect: 'postgres',
  placeholders: 'numbered',
  identifierQuote: '"',
  schemaScoping: 'search-path',
  cancellation: true,
})

/** What pg-pool says when a caller waited in its queue for the whole connect timeout. */
const QUEUE_TIMEOUT = 'timeout exceeded when trying to connect'

/** Field descriptions are built only when asked for: most callers never read them. */
class PgQueryResult<R> implements QueryResult<R> {
  readonly rows: R[]
  readonly rowCount: number
  readonly #res: PgResult

  constructor(res: PgResult) {
    this.#res = res
    this.rows = res.rows as R[]
    this.rowCount = res.command === 'SELECT' ? res.rows.length : (res.rowCount ?? res.rows.length)
  }

  get fields(): FieldInfo[] {
    return (this.#res.fields ?? []).map((f) => ({ name: f.name, type: pgTypeName(f.dataTypeID) }))
  }
}

function toResult<R>(res: PgResult | PgResult[]): QueryResult<R> {
  // A simple-protocol string of several statements yields one result each; the last one is the answer.
  return new PgQueryResult<R>(Array.isArray(res) ? res[res.length - 1]! : res)
}

/** What a connected pg client knows of its backend: enough to send it a cancel request. Not in pg's types. */
interface BackendKey {
  readonly processID?: number
  readonly secretKey?: number
  readonly host: string
  readonly port: number
}

/** pg's protocol connection, used bare for the one-message cancel request; its types leave these out. */
interface CancelConnection {
  readonly stream: { destroy(): void }
  connect(portOrPath: number | string, host?: string): void
  cancel(processID: number, secretKey: number): void
  on(event: 'error' | 'end', listener: () => void): void
  once(event: 'connect', listener: () => void): void
}

export class PostgresPool implements EnginePool {
  readonly engine = 'postgres'
  readonly capabilities = POSTGRES_CAPABILITIES
  readonly #pool: pg.Pool
  readonly #target: string
  #closing: Promise<void> | undefined
  readonly #config: pg.PoolConfig
  readonly #cancels = new WeakMap<pg.PoolClient, Promise<void>>()
  readonly #guarded = new WeakSet<pg.PoolClient>()
  /** Clients that finished connecting and have not been removed: the rest of totalCount is still connecting. */
  #live = 0
  readonly #statements: StatementCache | undefined

  /** `statementCache`: statements prepared per connection (see {@link StatementCache}); 0 prepares none. */
  constructor(config: pg.PoolConfig, target: string, statementCache = 0) {
    this.#config = config
    this.#statements = statementCache > 0 ? new StatementCache(statementCache) : undefined
    this.#pool = new pg.Pool(config)
    this.#target = target
    // An idle client that loses its server must not crash the process; the pool drops it.
    this.#pool.on('error', () => {})
    // Only on connect and removal, never per statement: the hot path pays nothing.
    this.#pool.on('connect', () => this.#live++)
    this.#pool.on('remove', () => this.#live--)
  }

  query<R = Row>(sql: string, params: readonly unknown[] = [], options?: QueryOptions): Promise<QueryResult<R>> {
    if (options?.schema !== undefined || options?.searchPath !== undefined) {
      return this.#transaction(
        (tx) => tx.query<R>(sql, params, { signal: options.signal, rowMode: options.rowMode }),
        { schema: options.schema, searchPath: options.searchPath },
        options.signal,
      )
    }
    if (options?.signal) return this.#queryCancellable<R>(sql, params, options.signal, options.rowMode)
    if (this.#closing) return Promise.reject(this.#closedError())
    if (this.#statements?.enabled && params.length > 0) return this.#queryPrepared<R>(this.#statements, sql, params, options?.rowMode)
    // The hot path, kept free of extra async frames: pg.Pool.query checks out, runs and
    // releases (destroying a broken client) by itself. Its callback form creates no promise
    // of its own, so a statement costs one promise here rather than pg's plus a then().
    return new Promise<QueryResult<R>>((resolve, reject) => {
      const done = (err: Error | undefined, res: PgResult) => {
        if (err) reject(isConnectionFailure(err) ? this.#connectionError(err) : toQueryError(err))
        else resolve(toResult<R>(res))
      }
      // Array rows need pg's query-config form; the default keeps the plain (text, values) call.
      if (options?.rowMode === 'array') this.#pool.query(arrayQuery(sql, params), done)
      else this.#pool.query<Row>(sql, params as unknown[], done)
    })
  }

  /**
   * The hot path with prepared statements: the statement's name belongs to one connection, so
   * the client is checked out here rather than inside pg.Pool.query. Callbacks throughout, as
   * on the plain path: one promise per statement.
   */
  #queryPrepared<R>(statements: StatementCache, sql: string, params: readonly unknown[], rowMode: RowMode | undefined): Promise<QueryResult<R>> {
    return new Promise<QueryResult<R>>((resolve, reject) => {
      this.#pool.connect((err, client, release) => {
        if (err || !client) return reject(this.#connectionError(err))
        let settled = false
        statements.run(this.#guard(client), sql, params, rowMode, (qerr, res) => {
          // pg calls back twice when it cannot send a value: with the error, then with an empty
          // result once the server is ready again. The client was released at the first.
          if (settled) return
          settled = true
          if (!qerr) {
            release()
            return resolve(toResult<R>(res!))
          }
          // Pooled again only after a plain statement error; anything else may have ended the
          // session or left it mid-message (pg.Pool.query destroys the client on every error).
          release(isStatementError(qerr) ? undefined : qerr)
          reject(isConnectionFailure(qerr) ? this.#connectionError(qerr) : toQueryError(qerr))
        })
      })
    })
  }

  /**
   * pg-pool reports the same timeout for a caller that waited behind busy clients and for a
   * server that never answered. Waiting in the queue while every client is connected and
   * checked out means the pool is too small, not that the server is gone.
   */
  #connectionError(err: unknown): SwitchyardError {
    if ((err as Error | undefined)?.message === QUEUE_TIMEOUT && this.#pool.totalCount - this.#live <= 0) {
      const max = this.#config.max ?? 10
      return new PoolExhaustedError(this.#target, max, this.#config.connectionTimeoutMillis ?? 0, { cause: err })
    }
    return toConnectionError(err, this.#target)
  }

  #closedError(): PoolClosedError {
    return new PoolClosedError(`PostgreSQL pool for ${this.#target}`)
  }

  async #queryCancellable<R>(sql: string, params: readonly unknown[], signal: AbortSignal, rowMode: RowMode | undefined): Promise<QueryResult<R>> {
    const client = await this.#connectOrAbort(signal)
    let broken: Error | undefined
    try {
      return await this.#run<R>(client, sql, params, signal, rowMode, this.#statements)
    } catch (err) {
      // Kept after a plain statement error or a cancellation (on the server, or before the
      // statement was sent); see isStatementError for the rest.
      if (!(err instanceof QueryCancelledError) && !isStatementError((err as { cause?: unknown }).cause)) broken = err as Error
      throw err
    } finally {
      await this.#release(client, broken)
    }
  }

  transaction<T>(fn: (tx: EngineTransaction) => Promise<T>, options?: TransactionOptions): Promise<T> {
    return this.#transaction(fn, options, undefined)
  }

  /** `signal`: a per-statement schema's statement, whose caller may give up while waiting for the client. */
  async #transaction<T>(fn: (tx: EngineTransaction) => Promise<T>, options: TransactionOptions | undefined, signal: AbortSignal | undefined): Promise<T> {
    // Checked before a connection is taken: the level is inlined into BEGIN below.
    const level = isolationLevelOf(options)
    const client = await (signal === undefined ? this.#connect() : this.#connectOrAbort(signal))
    let broken: Error | undefined
    try {
      // The modes go on BEGIN itself: PostgreSQL takes them only before the transaction's first
      // statement (set_config below is one), and they end with the transaction.
      const modes = [level !== undefined && `ISOLATION LEVEL ${level.toUpperCase()}`, options?.readOnly && 'READ ONLY'].filter(Boolean)
      const begin = modes.length > 0 ? `BEGIN ${modes.join(', ')}` : 'BEGIN'
      const searchPath = options?.searchPath ?? (options?.schema !== undefined ? [options.schema] : undefined)
      // Local to this transaction: the search path is gone at COMMIT/ROLLBACK, never left on the pooled connection.
      // localSearchPath validates every name, puts pg_catalog before the shared schemas (none of their objects
      // can shadow a built-in) and pg_temp last, so no temporary table can shadow a tenant's.
      // BEGIN and set_config go as one simple-protocol message (one round trip, not two); inlining the
      // path is safe because validated names are plain identifiers, with no quote to escape.
      await this.#run(client, searchPath === undefined ? begin : `${begin}; select set_config('search_path', '${localSearchPath(searchPath)}', true)`, [])
      const tx = new SavepointTransaction((sql, params, o) => this.#run(client, sql, params, o?.signal, o?.rowMode))
      const result = await fn(tx)
      await this.#run(client, 'COMMIT', [])
      return result
    } catch (err) {
      try {
        await client.query('ROLLBACK')
      } catch (rollbackErr) {
        // The connection is in an unknown state: it is destroyed, and the caller still gets
        // the error that caused the rollback, with the rollback's own failure attached.
        broken = rollbackErr as Error
        attachRollbackError(err, isConnectionFailure(rollbackErr) ? toConnectionError(rollbackErr, this.#target) : toQueryError(rollbackErr))
      }
      throw err
    } finally {
      await this.#release(client, broken)
    }
  }

  async checkConnection(): Promise<void> {
    const client = await this.#connect()
    let broken: Error | undefined
    try {
      await client.query('select 1')
    } catch (err) {
      broken = err as Error
      throw isConnectionFailure(err) ? toConnectionError(err, this.#target) : toQueryError(err)
    } finally {
      client.release(broken)
    }
  }

  introspect(options?: { schema?: string }): Promise<TableInfo[]> {
    return introspectPostgres(this, options?.schema)
  }

  createSchema(name: string): Promise<void> {
    return postgresSchemas.create(this, name)
  }

  dropSchema(name: string, options?: { cascade?: boolean }): Promise<void> {
    return postgresSchemas.drop(this, name, options?.cascade)
  }

  listSchemas(): Promise<string[]> {
    return postgresSchemas.list(this)
  }

  quoteIdentifier(name: string): string {
    return quoteWith('"', name)
  }

  stats(): PoolStats {
    return { total: this.#pool.totalCount, idle: this.#pool.idleCount, waiting: this.#pool.waitingCount }
  }

  close(): Promise<void> {
    // pg.Pool.end waits for checked-out clients to come back, but resolves once it has asked
    // them to end, not once they have: wait for every socket to close too, so a caller (the
    // registry's connection cap) can count these connections as gone.
    this.#closing ??= this.#pool.end().then(
      () =>
        new Promise<void>((resolve) => {
          // Runs after the constructor's own 'remove' listener has counted the client out.
          const check = () => {
            if (this.#live <= 0) finish()
          }
          const finish = () => {
            clearTimeout(timer)
            this.#pool.off('remove', check)
            resolve()
          }
          // Bounded: a server that never acknowledges the goodbye must not hang close().
          const timer = setTimeout(finish, 5_000)
          this.#pool.on('remove', check)
          check()
        }),
    )
    return this.#closing
  }

  /**
   * A cancel that arrives after its statement finished must not hit the next statement on
   * that connection (another caller's, maybe another tenant's): wait for it to land first.
   */
  async #release(client: pg.PoolClient, broken: Error | undefined): Promise<void> {
    const cancel = this.#cancels.get(client)
    if (cancel) {
      this.#cancels.delete(client)
      await cancel
    }
    client.release(broken)
  }

  /**
   * Cancels what `client`'s backend is running with PostgreSQL's own cancel request (what libpq's
   * PQcancel sends): a fresh socket carrying the backend's pid and secret key, served with no
   * login and no backend start-up, so it lands within about a round trip. (A full connection
   * running pg_cancel_backend cost a backend start-up, long enough on a busy host for short
   * statements to finish first, and behind a pooler such as PgBouncer, which routes a cancel
   * request by its key, it would reach some other server process.) Settles once the server has
   * closed the socket, by which time it has signalled the backend; never rejects, because a
   * statement that is already over has nothing to cancel.
   */
  #cancelBackend(client: pg.PoolClient): Promise<void> {
    const { processID, secretKey, host, port } = client as unknown as BackendKey
    if (processID === undefined || secretKey === undefined) return Promise.resolve()
    return new Promise<void>((resolve) => {
      const con = new pg.Connection() as unknown as CancelConnection
      // A server that never answers must not hold the pooled connection (released after this) forever.
      const timer = setTimeout(() => con.stream.destroy(), this.#config.connectionTimeoutMillis || 10_000)
      const done = () => {
        clearTimeout(timer)
        resolve()
      }
      con.on('error', done)
      con.on('end', done)
      con.once('connect', () => con.cancel(processID, secretKey))
      // A host starting with '/' is a Unix-socket directory, as in libpq.
      if (host.startsWith('/')) con.connect(`${host}/.s.PGSQL.${port}`)
      else con.connect(port, host)
    })
  }

  async #connect(): Promise<pg.PoolClient> {
    if (this.#closing) throw this.#closedError()
    try {
      return this.#guard(await this.#pool.connect())
    } catch (err) {
      throw this.#connectionError(err)
    }
  }

  /**
   * Takes a client for a caller whose AbortSignal ends the wait: in pg-pool's queue behind busy
   * clients, or while a new connection is opened. pg-pool cannot take a waiter out of its queue
   * (only its own connect timeout does), so the caller stops waiting and whatever pg-pool hands
   * over afterwards goes straight back, unused: no client is lost and the abandoned statement
   * never runs late. close() needs no count of its own for it: the client is in pg-pool's list
   * until released, and pg.Pool.end waits for that list to empty (and serves no waiter once ending).
   */
  #connectOrAbort(signal: AbortSignal): Promise<pg.PoolClient> {
    // Before anything is asked of the pool (and before a closed pool is reported, as on every
    // engine): an aborted caller must not open a connection.
    try {
      throwIfAborted(signal)
    } catch (err) {
      return Promise.reject(err)
    }
    if (this.#closing) return Promise.reject(this.#closedError())
    return new Promise<pg.PoolClient>((resolve, reject) => {
      let waiting = true
      const onAbort = () => {
        waiting = false
        try {
          throwIfAborted(signal)
        } catch (err) {
          reject(err)
        }
      }
      signal.addEventListener('abort', onAbort, { once: true })
      // The callback form: a late client is handed back in the same tick pg-pool hands it over,
      // so the next waiter in the queue is served at once.
      this.#pool.connect((err, client, done) => {
        if (!waiting) {
          // A late failure to connect has no caller left to tell: it already has its error.
          if (client) done()
          return
        }
        waiting = false
        signal.removeEventListener('abort', onAbort)
        if (err || !client) reject(this.#connectionError(err))
        else resolve(this.#guard(client))
      })
    })
  }

  /**
   * pg.Pool listens for errors only on idle clients. A checked-out client whose server goes
   * away (idle in a transaction, say) would emit an unhandled 'error' and kill the process;
   * the failure reaches the caller through its statement instead.
   */
  #guard(client: pg.PoolClient): pg.PoolClient {
    if (!this.#guarded.has(client)) {
      this.#guarded.add(client)
      client.on('error', () => {})
    }
    return client
  }

  /** `statements`: only outside an explicit transaction (see {@link StatementCache}). */
  async #run<R>(client: pg.PoolClient, sql: string, params: readonly unknown[], signal?: AbortSignal, rowMode?: RowMode, statements?: StatementCache): Promise<QueryResult<R>> {
    throwIfAborted(signal)
    const onAbort = () => {
      // Cancel on the server from a separate connection (not a pool slot, which may all be
      // busy); the statement fails with 57014 and the connection stays usable.
      this.#cancels.set(client, this.#cancelBackend(client))
    }
    signal?.addEventListener('abort', onAbort, { once: true })
    try {
      const res: PgResult = statements
        ? await new Promise<PgResult>((resolve, reject) => statements.run(client, sql, params, rowMode, (err, r) => (err ? reject(err) : resolve(r!)), signal))
        : rowMode === 'array'
          ? await client.query(arrayQuery(sql, params))
          : await client.query<Row>(sql, params as unknown[])
      return toResult<R>(res)
    } catch (err) {
      // Housekeeping ran first and the signal fired meanwhile: the statement never went.
      if (err instanceof QueryCancelledError) throw err
      const failure: QueryError = toQueryError(err)
      // 57014 query_canceled: ours, since the signal fired (a server-side statement_timeout is not).
      if (signal?.aborted && failure.sqlState === '57014') throw new QueryCancelledError('The statement was cancelled on the server by its AbortSignal', { cause: err })
      throw failure
    } finally {
      signal?.removeEventListener('abort', onAbort)
    }
  }
}
