import type { EnginePool, EngineSpec, EngineTransaction, IsolationLevel, QueryResult, Row, RowMode } from '../engines/types.js'
import type { AliasResolver } from '../pools/pool-registry.js'
import type { DatabaseRouter, RouteDecision } from '../router/types.js'
import type { ModelConfig, ModuleConfig } from '../router/static.js'
import type { CompoundResult } from './compound.js'
import type { Values } from './sql-builder.js'
import type { SchemaRoutingOptions, SchemaStrategy } from '../schema/schema-router.js'
import type { TenantManagerOptions } from '../tenancy/types.js'

export interface SwitchyardOptions {
  /** Aliases configured up front; `default` is where unrouted statements go. */
  readonly databases: Readonly<Record<string, EngineSpec>>
  /** Supplies further aliases on demand (thousands of tenant databases). */
  readonly resolveAlias?: AliasResolver
  /** Asked in order; the first that answers wins. */
  readonly routers?: readonly DatabaseRouter[]
  /** Models by table name, with the database or module they are pinned to. */
  readonly models?: Readonly<Record<string, ModelConfig>>
  readonly modules?: Readonly<Record<string, ModuleConfig>>
  /** After a write inside a route context, later reads in that context use the write alias. Default true. */
  readonly stickyAfterWrite?: boolean
  /** Told of every routing decision. Must not throw. */
  readonly onRoute?: (decision: RouteDecision) => void
  /** LRU bound for pools opened through `resolveAlias`. Default 100. */
  readonly maxOpenPools?: number
  /** Cap on the connections all open pools may hold together. Default unbounded. */
  readonly maxConnections?: number
  /** Statement classification cache size (texts). Default 2 000. */
  readonly classifierCacheSize?: number
  /** How `schemaFor` answers are applied: options for the built-in SchemaRouter (strategy, shared schemas and tables), or your own applier. Default: `qualify`. */
  readonly schemaRouting?: SchemaApplier | SchemaRoutingOptions
  /** Enables `sy.tenants`: tenant registry, provisioning and per-tenant migrations on `alias` (default `default`). */
  readonly tenancy?: TenancyOptions
}

export type TenancyOptions = Omit<TenantManagerOptions, 'pool' | 'allowMigrate' | 'alias'> & { readonly alias?: string }

/**
 * Applies a `schemaFor` answer to one statement without leaving it on a pooled connection
 * (see `SchemaRouter` in `switchyard/schema`).
 */
export interface SchemaApplier {
  /**
   * `strategy` is the answering router's `schemaStrategy`, when it set one. `signal` and
   * `rowMode` are the caller's and must reach the engine's `query` unchanged (absent when the
   * caller gave none).
   */
  run<R = Row>(pool: EnginePool, sql: string, params: readonly unknown[], schema: string, options?: SchemaRunOptions): Promise<QueryResult<R>>
  /** `options.rowMode` is the caller's and must reach `tx.query` unchanged. */
  runInTransaction<R = Row>(tx: EngineTransaction, pool: EnginePool, sql: string, params: readonly unknown[], schema: string, options?: StatementQueryOptions): Promise<QueryResult<R>>
  /** The search path a transaction scoped to `schema` sets locally (the tenant's, then the shared schemas). Default: just `schema`. */
  searchPathFor?(schema: string): readonly string[]
}

/** What of a caller's {@link StatementOptions} reaches the engine's `query`: never a schema, which only routing sets. */
export interface StatementQueryOptions {
  readonly signal?: AbortSignal
  readonly rowMode?: RowMode
}

/** How {@link SchemaApplier.run} runs one statement: the caller's engine options plus the answering router's strategy. */
export interface SchemaRunOptions extends StatementQueryOptions {
  readonly strategy?: SchemaStrategy
}

export interface StatementOptions {
  /** The table (model) the statement is for; routers and static defaults decide by it. */
  readonly model?: string
  /**
   * Gives up on the statement: one not yet started never runs, and where the engine can cancel
   * (`capabilities.cancellation`) a running one is cancelled on the server. Either way it
   * rejects with `QueryCancelledError`. Inside `sy.transaction` the transaction then rolls back,
   * as after any failed statement, unless `fn` catches the error.
   *
   * @example
   * ```ts
   * const controller = new AbortController()
   * req.on('close', () => controller.abort())
   * await sy.read('select * from big_report', [], { signal: controller.signal })
   * ```
   */
  readonly signal?: AbortSignal
  /** For `query` on engines whose SQL is not parsed: say it only reads. */
  readonly kind?: 'read' | 'write'
  /**
   * The shape of each row: objects keyed by column name (`'object'`, the default), or arrays
   * of values in `fields` order (`'array'`), so columns sharing a name (`select a.id, b.id`)
   * are all kept. Applies on every engine and every path: routed, `on(alias)`, schema
   * routing, and inside `sy.transaction`. `fields` lists every column either way. Pass
   * `R = unknown[]` (or a tuple type) to type the rows. See `QueryOptions.rowMode`.
   *
   * @example
   * ```ts
   * import { createSwitchyard } from 'switchyard'
   * import { sqlite } from 'switchyard/sqlite'
   *
   * const sy = createSwitchyard({ databases: { default: sqlite({ filename: ':memory:' }) } })
   * const { rows, fields } = await sy.read<[number, number]>('select 1 as a, 2 as a', [], { rowMode: 'array' })
   * console.log(rows, fields.map((f) => f.name)) // [[1, 2]] ['a', 'a']
   * await sy.close()
   * ```
   */
  readonly rowMode?: RowMode
}

/** How `sy.on(alias).transaction` opens its transaction; the engine applies both as it begins. */
export interface TransactionModes {
  /** The transaction may not write (SQLite ignores it). */
  readonly readOnly?: boolean
  /** This transaction's isolation level; absent keeps the database's default. See {@link IsolationLevel}. */
  readonly isolationLevel?: IsolationLevel
}

/** How `sy.transaction` opens its transaction, and for which model's write alias. */
export interface RoutedTransactionOptions extends TransactionModes {
  /** The table (model) whose write alias the transaction runs on; routers decide by it. */
  readonly model?: string
}

export interface RoutedResult<R = Row> extends QueryResult<R> {
  /** The alias that ran the statement. */
  readonly alias: string
}

/** The statement terminals, the same on Switchyard, an `on(alias)` view and a transaction. */
export interface Executor {
  /** Runs on the read alias (`dbForRead`). */
  read<R = Row>(sql: string, params?: readonly unknown[], options?: StatementOptions): Promise<RoutedResult<R>>
  /** Runs on the write alias (`dbForWrite`). */
  write<R = Row>(sql: string, params?: readonly unknown[], options?: StatementOptions): Promise<RoutedResult<R>>
  /** Classifies the statement by parsing it, then reads or writes. */
  query<R = Row>(sql: string, params?: readonly unknown[], options?: StatementOptions): Promise<RoutedResult<R>>
  /** Finds the row matching `where` on the write alias, or inserts `where + defaults`. Never duplicates. */
  getOrCreate<R = Row>(table: string, where: Values, defaults?: Values): Promise<CompoundResult<R>>
  /** Updates the row matching `where`, or inserts `where + values`. */
  updateOrCreate<R = Row>(table: string, where: Values, values: Values): Promise<CompoundResult<R>>
}

/** A transaction's handle: every terminal runs on its one connection. */
export interface TransactionExecutor extends Executor {
  readonly alias: string
}
