import type { PGlite, Results, Transaction } from '@electric-sql/pglite'
import { PoolClosedError, SwitchyardError } from '../../errors.js'
import type {
  EngineCapabilities,
  EnginePool,
  EngineTransaction,
  IsolationLevel,
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
import { toConnectionError, toQueryError } from './errors.js'
import { introspectPglite, pgTypeName, postgresSchemas } from './introspect.js'

export const PGLITE_CAPABILITIES: EngineCapabilities = Object.freeze({
  schemas: true,
  transactionalDdl: true,
  returning: true,
  multipleConnections: false,
  dialect: 'postgres',
  placeholders: 'numbered',
  identifierQuote: '"',
  schemaScoping: 'search-path',
  cancellation: false,
})

type Runner = Pick<PGlite, 'query'> | Transaction

function toResult<R>(res: Results<unknown>): QueryResult<R> {
  return {
    rows: res.rows as R[],
    rowCount: res.fields.length > 0 ? res.rows.length : (res.affectedRows ?? 0),
    fields: res.fields.map((f) => ({ name: f.name, type: pgTypeName(f.dataTypeID) })),
  }
}

/**
 * PGlite is one in-process connection. Its own mutex serialises statements, and its
 * `transaction()` holds the connection exclusively until the callback settles, so a
 * statement from another caller never lands inside someone else's transaction.
 */
export class PglitePool implements EnginePool {
  readonly engine = 'pglite'
  readonly capabilities = PGLITE_CAPABILITIES
  #db: Promise<PGlite> | undefined
  #inFlight = 0
  #idle: (() => void)[] = []
  #closing: Promise<void> | undefined

  constructor(
    private readonly open: () => Promise<PGlite>,
    private readonly owned: boolean,
    private readonly target: string,
  ) {}

  query<R = Row>(sql: string, params: readonly unknown[] = [], options?: QueryOptions): Promise<QueryResult<R>> {
    if (options?.schema !== undefined || options?.searchPath !== undefined) {
      const { signal, rowMode } = options
      // The signal goes through: one that has already fired stops the statement before BEGIN (or, firing while
      // the transaction waits for the connection, before the statement, rolling the transaction back).
      return (async () => {
        throwIfAborted(signal)
        return this.transaction((tx) => tx.query<R>(sql, params, { signal, rowMode }), { schema: options.schema, searchPath: options.searchPath })
      })()
    }
    return this.#track(async (db) => {
      // One in-process connection cannot be interrupted mid-statement; a signal counts only before it starts.
      throwIfAborted(options?.signal)
      return run<R>(db, sql, params, options?.rowMode)
    })
  }

  transaction<T>(fn: (tx: EngineTransaction) => Promise<T>, options?: TransactionOptions): Promise<T> {
    let level: IsolationLevel | undefined
    try {
      // Checked before the database is opened or the transaction queued: the level is inlined into SQL.
      level = isolationLevelOf(options)
    } catch (err) {
      return Promise.reject(err)
    }
    // PGlite sends its own plain BEGIN; SET TRANSACTION is as good while no statement has run in it yet.
    const modes = [level !== undefined && `ISOLATION LEVEL ${level.toUpperCase()}`, options?.readOnly && 'READ ONLY'].filter(Boolean)
    return this.#track(async (db) => {
      // PGlite rolls back by itself, but a failed ROLLBACK there replaces the body's error; we
      // roll back first so the caller always gets the error that caused it.
      let body: { readonly error: unknown } | undefined
      try {
        return await db.transaction(async (raw) => {
          if (modes.length > 0) await run(raw, `SET TRANSACTION ${modes.join(', ')}`, [])
          // Validated names, pg_catalog right after the tenant's schema and pg_temp last (see localSearchPath); local to this transaction.
          const searchPath = options?.searchPath ?? (options?.schema !== undefined ? [options.schema] : undefined)
          if (searchPath !== undefined) await run(raw, `select set_config('search_path', $1, true)`, [localSearchPath(searchPath)])
          try {
            return await fn(
              new SavepointTransaction(async (sql, params, o) => {
                throwIfAborted(o?.signal)
                return run(raw, sql, params, o?.rowMode)
              }),
            )
          } catch (err) {
            body = { error: err }
            try {
              await raw.rollback()
            } catch (rollbackErr) {
              attachRollbackError(err, toQueryError(rollbackErr))
            }
            throw err
          }
        })
      } catch (err) {
        if (body) throw body.error
        // BEGIN or COMMIT failed inside PGlite.
        throw err instanceof SwitchyardError ? err : toQueryError(err)
      }
    })
  }

  async checkConnection(): Promise<void> {
    await this.query('select 1')
  }

  introspect(options?: { schema?: string }): Promise<TableInfo[]> {
    return introspectPglite(this, options?.schema)
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
    return { total: this.#db ? 1 : 0, idle: this.#inFlight === 0 && this.#db ? 1 : 0, waiting: Math.max(0, this.#inFlight - 1) }
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      if (this.#inFlight > 0) await new Promise<void>((resolve) => this.#idle.push(resolve))
      if (this.owned && this.#db) await (await this.#db.catch(() => undefined))?.close()
    })()
    return this.#closing
  }

  async #track<T>(fn: (db: PGlite) => Promise<T>): Promise<T> {
    if (this.#closing) throw new PoolClosedError(`PGlite pool for ${this.target}`)
    this.#inFlight++
    try {
      return await fn(await this.#connect())
    } finally {
      if (--this.#inFlight === 0) for (const wake of this.#idle.splice(0)) wake()
    }
  }

  #connect(): Promise<PGlite> {
    this.#db ??= this.open().catch((err: unknown) => {
      this.#db = undefined
      throw toConnectionError(err, this.target)
    })
    return this.#db
  }
}

async function run<R>(db: Runner, sql: string, params: readonly unknown[], rowMode?: RowMode): Promise<QueryResult<R>> {
  try {
    // PGlite's own option: array rows in field order, so duplicate column names are all kept.
    return toResult<R>(await db.query<unknown>(sql, params as unknown[], rowMode === 'array' ? { rowMode: 'array' } : undefined))
  } catch (err) {
    throw toQueryError(err)
  }
}
