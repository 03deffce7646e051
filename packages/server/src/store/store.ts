import type { EnginePool, QueryResult, Row } from 'switchyard'
import { pglite } from 'switchyard/pglite'
import { postgres } from 'switchyard/postgres'
import { MIGRATIONS } from './migrations.js'
import { storeError } from './store-error.js'

/** Statements on the store: the pool itself or one transaction. */
export interface StoreDb {
  query<R = Row>(sql: string, params?: readonly unknown[]): Promise<QueryResult<R>>
}

/** Statements inside one transaction, their failures wrapped like the store's. */
function wrapTx(tx: StoreDb): StoreDb {
  return {
    query: <R = Row>(sql: string, params?: readonly unknown[]) => tx.query<R>(sql, params).catch((err: unknown) => Promise.reject(storeError(err))),
  }
}

/**
 * The metadata store: embedded PGlite in a data directory, or PostgreSQL (several server
 * instances can then share one store). Every multi-statement change runs in `transaction`,
 * so a failed request leaves the store as it found it. Every failure of the store itself
 * surfaces as a {@link MetadataStoreError}, never as the library error of a user's database.
 */
export class MetadataStore implements StoreDb {
  private constructor(private readonly pool: EnginePool) {}

  /**
   * @example
   * ```ts
   * const store = await MetadataStore.open({ databaseUrl: process.env.SWITCHYARD_DATABASE_URL })
   * const store2 = await MetadataStore.open({ dataDir: './.switchyard' })
   * ```
   */
  static async open(options: { databaseUrl?: string; dataDir?: string; statementCache?: number }): Promise<MetadataStore> {
    const spec = options.databaseUrl
      ? postgres({ connectionString: options.databaseUrl, max: 10, statementCache: options.statementCache })
      : pglite(options.dataDir ? { dataDir: options.dataDir } : {})
    const store = new MetadataStore(spec.createPool())
    await store.migrate()
    return store
  }

  query<R = Row>(sql: string, params: readonly unknown[] = []): Promise<QueryResult<R>> {
    return this.pool.query<R>(sql, params).catch((err: unknown) => Promise.reject(storeError(err)))
  }

  /** Errors thrown by `fn` pass through as they are; a failure to begin or commit is a store error. */
  async transaction<T>(fn: (tx: StoreDb) => Promise<T>): Promise<T> {
    let fromFn = false
    try {
      return await this.pool.transaction(async (tx) => {
        try {
          return await fn(wrapTx(tx))
        } catch (err) {
          fromFn = true
          throw err
        }
      })
    } catch (err) {
      throw fromFn ? err : storeError(err)
    }
  }

  close(): Promise<void> {
    return this.pool.close()
  }

  /** Applies pending migrations under an advisory lock, so instances starting together do not race. */
  private async migrate(): Promise<void> {
    await this.pool.transaction(async (tx) => {
      await tx.query('select pg_advisory_xact_lock(7340001)')
      await tx.query('create table if not exists sy_migrations (version int primary key, applied_at timestamptz not null default now())')
      const { rows } = await tx.query<{ version: number }>('select version from sy_migrations')
      const applied = new Set(rows.map((r) => r.version))
      for (const m of MIGRATIONS) {
        if (applied.has(m.version)) continue
        for (const sql of m.statements) await tx.query(sql)
        await tx.query('insert into sy_migrations (version) values ($1)', [m.version])
      }
    })
  }
}
