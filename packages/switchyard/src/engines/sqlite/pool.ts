import type BetterSqlite3 from 'better-sqlite3'
import { unlink } from 'node:fs/promises'
import { SwitchyardError, UnsupportedError } from '../../errors.js'
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
import { Lru } from '../../util/lru.js'
import { toConnectionError, toQueryError } from './errors.js'
import { introspectSqlite } from './introspect.js'

export const SQLITE_CAPABILITIES: EngineCapabilities = Object.freeze({
  schemas: false,
  transactionalDdl: true,
  returning: true,
  multipleConnections: false,
  dialect: 'sqlite',
  placeholders: 'question',
  identifierQuote: '"',
  schemaScoping: 'attached',
})

type Database = BetterSqlite3.Database

/** SQLite binds numbers, strings, bigints, buffers and null; other values are converted the obvious way. */
function bindable(value: unknown): unknown {
  if (value === undefined) return null
  if (typeof value === 'boolean') return value ? 1 : 0
  if (value instanceof Date) return value.toISOString()
  return value
}

/**
 * SQLite on better-sqlite3: one synchronous connection behind the async contract. A queue
 * gives a transaction the connection exclusively across its awaits, so another caller's
 * statement never lands inside it.
 */
export class SqlitePool implements EnginePool {
  readonly engine = 'sqlite'
  readonly capabilities = SQLITE_CAPABILITIES
  #db: Database | undefined
  readonly #statements = new Lru<string, BetterSqlite3.Statement>(256)
  #queue: Promise<unknown> = Promise.resolve()
  #pending = 0
  #closing: Promise<void> | undefined

  constructor(
    private readonly open: () => Promise<Database>,
    private readonly filename: string,
  ) {}

  query<R = Row>(sql: string, params: readonly unknown[] = [], options?: QueryOptions): Promise<QueryResult<R>> {
    if (options?.schema !== undefined) return Promise.reject(this.#noSchemaScope())
    return this.#exclusive(async (db) => {
      options?.signal?.throwIfAborted()
      return this.#run<R>(db, sql, params)
    })
  }

  transaction<T>(fn: (tx: EngineTransaction) => Promise<T>, options?: TransactionOptions): Promise<T> {
    if (options?.schema !== undefined) return Promise.reject(this.#noSchemaScope())
    return this.#exclusive(async (db) => {
      this.#run(db, 'BEGIN', [])
      try {
        const result = await fn(new SavepointTransaction(async (sql, params) => this.#run(db, sql, params)))
        this.#run(db, 'COMMIT', [])
        return result
      } catch (err) {
        if (db.inTransaction) this.#run(db, 'ROLLBACK', [])
        throw err
      }
    })
  }

  async checkConnection(): Promise<void> {
    await this.query('select 1')
  }

  introspect(options?: { schema?: string }): Promise<TableInfo[]> {
    return introspectSqlite(this, (n) => this.quoteIdentifier(n), options?.schema)
  }

  /** Attaches a database file beside the main one (in memory when the main one is). */
  async createSchema(name: string): Promise<void> {
    const file = this.#schemaFile(name)
    await this.query(`attach database ? as ${this.quoteIdentifier(name)}`, [file])
  }

  async dropSchema(name: string): Promise<void> {
    const attached = await this.listSchemas()
    if (!attached.includes(name)) return
    await this.query(`detach database ${this.quoteIdentifier(name)}`)
    const file = this.#schemaFile(name)
    if (file !== ':memory:') await unlink(file).catch(() => {})
  }

  async listSchemas(): Promise<string[]> {
    const { rows } = await this.query<{ name: string }>('select name from pragma_database_list where name not in (?, ?) order by seq', ['main', 'temp'])
    return rows.map((r) => r.name)
  }

  quoteIdentifier(name: string): string {
    return quoteWith('"', name)
  }

  stats(): PoolStats {
    return { total: this.#db ? 1 : 0, idle: this.#db && this.#pending === 0 ? 1 : 0, waiting: Math.max(0, this.#pending - 1) }
  }

  close(): Promise<void> {
    this.#closing ??= this.#queue.then(() => {
      this.#db?.close()
    })
    return this.#closing
  }

  #schemaFile(name: string): string {
    return this.filename === ':memory:' || this.filename === '' ? ':memory:' : `${this.filename}.${name}.sqlite`
  }

  #noSchemaScope(): UnsupportedError {
    return new UnsupportedError(
      'SQLite cannot scope one statement to an attached database (name resolution order is fixed); give each tenant its own sqlite() alias instead',
    )
  }

  /** Queues `fn` behind every earlier caller; it has the connection alone until it settles. */
  #exclusive<T>(fn: (db: Database) => Promise<T>): Promise<T> {
    if (this.#closing) return Promise.reject(new SwitchyardError('POOL_CLOSED', `SQLite pool for ${this.filename} is closed`))
    this.#pending++
    const run = this.#queue.then(async () => fn(await this.#connect()))
    const settled = run.finally(() => this.#pending--)
    this.#queue = settled.catch(() => {})
    return settled
  }

  async #connect(): Promise<Database> {
    if (!this.#db) {
      try {
        this.#db = await this.open()
      } catch (err) {
        throw toConnectionError(err, this.filename)
      }
    }
    return this.#db
  }

  #run<R>(db: Database, sql: string, params: readonly unknown[]): QueryResult<R> {
    try {
      let stmt = this.#statements.get(sql)
      if (!stmt) {
        stmt = db.prepare(sql)
        this.#statements.set(sql, stmt)
      }
      const args = params.map(bindable)
      if (stmt.reader) {
        const rows = stmt.all(...args) as R[]
        return { rows, rowCount: rows.length, fields: stmt.columns().map((c) => ({ name: c.name, ...(c.type ? { type: c.type.toLowerCase() } : {}) })) }
      }
      const info = stmt.run(...args)
      return { rows: [], rowCount: info.changes, fields: [] }
    } catch (err) {
      throw toQueryError(err)
    }
  }
}
