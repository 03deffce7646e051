import type { EnginePool, EngineSpec, EngineTransaction, PoolStats, QueryOptions, QueryResult, Row, TableInfo, TransactionOptions } from '../engines/types.js'
import type { PoolRegistry } from './pool-registry.js'
import { quoteWith } from '../engines/shared/transaction.js'

/**
 * An EnginePool facade over an alias of the registry: every call borrows the alias's pool
 * for just that call, so long-lived holders (the tenant manager) never pin a pool the LRU
 * wants to evict, and never use one it already closed.
 */
export class LeasedPool implements EnginePool {
  readonly engine: string
  readonly capabilities: EnginePool['capabilities']

  constructor(
    private readonly registry: PoolRegistry,
    private readonly alias: string,
    spec: EngineSpec,
  ) {
    this.engine = spec.engine
    this.capabilities = spec.capabilities
  }

  async #with<T>(fn: (pool: EnginePool) => Promise<T>): Promise<T> {
    const lease = await this.registry.acquire(this.alias)
    try {
      return await fn(lease.pool)
    } finally {
      lease.release()
    }
  }

  query<R = Row>(sql: string, params?: readonly unknown[], options?: QueryOptions): Promise<QueryResult<R>> {
    return this.#with((p) => p.query<R>(sql, params, options))
  }
  transaction<T>(fn: (tx: EngineTransaction) => Promise<T>, options?: TransactionOptions): Promise<T> {
    return this.#with((p) => p.transaction(fn, options))
  }
  checkConnection(): Promise<void> {
    return this.#with((p) => p.checkConnection())
  }
  introspect(options?: { schema?: string }): Promise<TableInfo[]> {
    return this.#with((p) => p.introspect(options))
  }
  createSchema(name: string): Promise<void> {
    return this.#with((p) => p.createSchema(name))
  }
  dropSchema(name: string, options?: { cascade?: boolean }): Promise<void> {
    return this.#with((p) => p.dropSchema(name, options))
  }
  listSchemas(): Promise<string[]> {
    return this.#with((p) => p.listSchemas())
  }
  quoteIdentifier(name: string): string {
    return quoteWith(this.capabilities.identifierQuote, name)
  }
  stats(): PoolStats {
    return { total: 0, idle: 0, waiting: 0 }
  }
  /** The registry owns the pool; closing Switchyard closes it. */
  async close(): Promise<void> {}
}
