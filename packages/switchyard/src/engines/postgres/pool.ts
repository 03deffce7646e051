import pg from 'pg'
import type {
  EngineCapabilities,
  EnginePool,
  EngineTransaction,
  FieldInfo,
  PoolStats,
  QueryOptions,
  QueryResult,
  Row,
  TableInfo,
  TransactionOptions,
} from '../types.js'
import { SavepointTransaction, quoteWith } from '../shared/transaction.js'
import { isConnectionFailure, toConnectionError, toQueryError } from './errors.js'
import { introspectPostgres, pgTypeName, postgresSchemas } from './introspect.js'

export const POSTGRES_CAPABILITIES: EngineCapabilities = Object.freeze({
  schemas: true,
  transactionalDdl: true,
  returning: true,
  multipleConnections: true,
  dialect: 'postgres',
  placeholders: 'numbered',
  identifierQuote: '"',
  schemaScoping: 'search-path',
})

type PgResult = pg.QueryResult<Row>

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

export class PostgresPool implements EnginePool {
  readonly engine = 'postgres'
  readonly capabilities = POSTGRES_CAPABILITIES
  readonly #pool: pg.Pool
  readonly #target: string
  #closing: Promise<void> | undefined
  readonly #config: pg.ClientConfig
  readonly #cancels = new WeakMap<pg.PoolClient, Promise<void>>()
  readonly #guarded = new WeakSet<pg.PoolClient>()

  constructor(config: pg.PoolConfig, target: string) {
    this.#config = config
    this.#pool = new pg.Pool(config)
    this.#target = target
    // An idle client that loses its server must not crash the process; the pool drops it.
    this.#pool.on('error', () => {})
  }

  query<R = Row>(sql: string, params: readonly unknown[] = [], options?: QueryOptions): Promise<QueryResult<R>> {
    if (options?.schema !== undefined) {
      return this.transaction((tx) => tx.query<R>(sql, params, { signal: options.signal }), { schema: options.schema })
    }
    if (options?.signal) return this.#queryCancellable<R>(sql, params, options.signal)
    // The hot path, kept free of extra async frames: pg.Pool.query checks out, runs and
    // releases (destroying a broken client) by itself.
    return this.#pool.query<Row>(sql, params as unknown[]).then(toResult<R>, (err: unknown) => {
      throw isConnectionFailure(err) ? toConnectionError(err, this.#target) : toQueryError(err)
    })
  }

  async #queryCancellable<R>(sql: string, params: readonly unknown[], signal: AbortSignal): Promise<QueryResult<R>> {
    const client = await this.#connect()
    let broken: Error | undefined
    try {
      return await this.#run<R>(client, sql, params, signal)
    } catch (err) {
      if (isConnectionFailure((err as { cause?: unknown }).cause)) broken = err as Error
      throw err
    } finally {
      await this.#release(client, broken)
    }
  }

  async transaction<T>(fn: (tx: EngineTransaction) => Promise<T>, options?: TransactionOptions): Promise<T> {
    const client = await this.#connect()
    let broken: Error | undefined
    try {
      await this.#run(client, options?.readOnly ? 'BEGIN READ ONLY' : 'BEGIN', [])
      if (options?.schema !== undefined) {
        // Local to this transaction: the search path is gone at COMMIT/ROLLBACK, never left on the pooled connection.
        await this.#run(client, `select set_config('search_path', $1, true)`, [this.quoteIdentifier(options.schema)])
      }
      const tx = new SavepointTransaction((sql, params, o) => this.#run(client, sql, params, o?.signal))
      const result = await fn(tx)
      await this.#run(client, 'COMMIT', [])
      return result
    } catch (err) {
      try {
        await client.query('ROLLBACK')
      } catch (rollbackErr) {
        broken = rollbackErr as Error
      }
      throw err
    } finally {
      await this.#release(client, broken)
    }
  }

  async checkConnection(): Promise<void> {
    const client = await this.#connect()
    try {
      await client.query('select 1')
    } finally {
      client.release()
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
    // pg.Pool.end waits for checked-out clients to come back before closing them.
    this.#closing ??= this.#pool.end()
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

  async #cancelBackend(pid: number): Promise<void> {
    const c = new pg.Client(this.#config)
    try {
      await c.connect()
      await c.query('select pg_cancel_backend($1)', [pid])
    } catch {
      // The statement may already be over; nothing to cancel.
    } finally {
      await c.end().catch(() => {})
    }
  }

  async #connect(): Promise<pg.PoolClient> {
    try {
      const client = await this.#pool.connect()
      // pg.Pool listens for errors only on idle clients. A checked-out client whose server
      // goes away (idle in a transaction, say) would emit an unhandled 'error' and kill the
      // process; the failure reaches the caller through its statement instead.
      if (!this.#guarded.has(client)) {
        this.#guarded.add(client)
        client.on('error', () => {})
      }
      return client
    } catch (err) {
      throw toConnectionError(err, this.#target)
    }
  }

  async #run<R>(client: pg.PoolClient, sql: string, params: readonly unknown[], signal?: AbortSignal): Promise<QueryResult<R>> {
    signal?.throwIfAborted()
    const onAbort = () => {
      // Cancel on the server from a separate connection (not a pool slot, which may all be
      // busy); the statement fails with 57014 and the connection stays usable.
      const pid = (client as unknown as { processID?: number }).processID
      if (pid !== undefined) this.#cancels.set(client, this.#cancelBackend(pid))
    }
    signal?.addEventListener('abort', onAbort, { once: true })
    try {
      return toResult<R>(await client.query<Row>(sql, params as unknown[]))
    } catch (err) {
      throw toQueryError(err)
    } finally {
      signal?.removeEventListener('abort', onAbort)
    }
  }
}
