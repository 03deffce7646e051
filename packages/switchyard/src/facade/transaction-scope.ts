import type { EngineTransaction, QueryResult, Row } from '../engines/types.js'
import type { PoolLease } from '../pools/pool-registry.js'
import { getOrCreate, updateOrCreate, type CompoundResult, type CompoundTarget } from './compound.js'
import type { Values } from './sql-builder.js'
import { queryOptionsOf } from './query-options.js'
import { RoutedQueryResult } from './routed-result.js'
import type { RoutedResult, SchemaApplier, StatementOptions, StatementQueryOptions, TransactionExecutor } from './types.js'

/**
 * The `tx` handed to `sy.transaction(fn)`: every terminal runs on the transaction's single
 * connection on the write alias, so reads inside it see its own uncommitted writes.
 */
export class TransactionScope implements TransactionExecutor {
  readonly alias: string

  constructor(
    private readonly lease: PoolLease,
    private readonly tx: EngineTransaction,
    private readonly schema: string | undefined,
    private readonly applier: SchemaApplier | undefined,
  ) {
    this.alias = lease.alias
  }

  read<R = Row>(sql: string, params: readonly unknown[] = [], options?: StatementOptions): Promise<RoutedResult<R>> {
    return this.#run<R>(sql, params, queryOptionsOf(options))
  }

  write<R = Row>(sql: string, params: readonly unknown[] = [], options?: StatementOptions): Promise<RoutedResult<R>> {
    return this.#run<R>(sql, params, queryOptionsOf(options))
  }

  async query<R = Row>(sql: string, params: readonly unknown[] = [], options?: StatementOptions): Promise<RoutedResult<R>> {
    return this.#run<R>(sql, params, queryOptionsOf(options))
  }

  /** Nested transaction: a savepoint on the same connection. */
  transaction<T>(fn: (tx: TransactionScope) => Promise<T>): Promise<T> {
    return this.tx.transaction((inner) => fn(new TransactionScope(this.lease, inner, this.schema, this.applier)))
  }

  getOrCreate<R = Row>(table: string, where: Values, defaults?: Values): Promise<CompoundResult<R>> {
    return getOrCreate<R>(this.compoundTarget(), table, where, defaults)
  }

  updateOrCreate<R = Row>(table: string, where: Values, values: Values): Promise<CompoundResult<R>> {
    return updateOrCreate<R>(this.compoundTarget(), table, where, values)
  }

  /** Inside a transaction, atomic steps are savepoints and checks see the transaction's own writes. */
  compoundTarget(): CompoundTarget {
    const pool = this.lease.pool
    const db = { query: <R = Row>(sql: string, params?: readonly unknown[], options?: StatementQueryOptions) => this.#run<R>(sql, params ?? [], queryOptionsOf(options)) }
    return {
      capabilities: pool.capabilities,
      quoteIdentifier: (n) => pool.quoteIdentifier(n),
      db,
      // The savepoint's statements go through the same schema applier as every other one here.
      atomically: (fn) => this.tx.transaction((inner) => fn(this.#scoped(inner))),
    }
  }

  /** A raw transaction whose statements are schema-applied like this scope's own. */
  #scoped(inner: EngineTransaction): EngineTransaction {
    if (this.schema === undefined || !this.applier) return inner
    const applier = this.applier
    const schema = this.schema
    const pool = this.lease.pool
    const scoped: EngineTransaction = {
      query: (sql, params = [], options) => applier.runInTransaction(inner, pool, sql, params, schema, queryOptionsOf(options)),
      transaction: (fn) => inner.transaction((nested) => fn(this.#scoped(nested))),
    }
    return scoped
  }

  async #run<R>(sql: string, params: readonly unknown[], query: StatementQueryOptions | undefined): Promise<RoutedResult<R>> {
    const result: QueryResult<R> =
      this.schema !== undefined && this.applier
        ? await this.applier.runInTransaction<R>(this.tx, this.lease.pool, sql, params, this.schema, query)
        : await this.tx.query<R>(sql, params, query)
    return new RoutedQueryResult<R>(result, this.alias)
  }
}
