import { currentRouteContext, currentRouteScope, currentScopeToken, type RouteContext } from '../context/route-context.js'
import type { EnginePool, EngineSpec, EngineTransaction, QueryResult, Row, TransactionOptions } from '../engines/types.js'
import { isolationLevelOf } from '../engines/shared/transaction.js'
import { StatementClassifier, type StatementKind } from '../sql/classify.js'
import { PoolRegistry, type PinnedPool, type PoolLease } from '../pools/pool-registry.js'
import { RouterChain } from '../router/chain.js'
import { DEFAULT_ALIAS, ModelRegistry, staticAlias, type ModuleConfig } from '../router/static.js'
import type { ModelMeta, RouteDecision, RouteReason, SchemaRoute } from '../router/types.js'
import { getOrCreate, updateOrCreate, type CompoundResult, type CompoundTarget } from './compound.js'
import type { Values } from './sql-builder.js'
import { TransactionScope } from './transaction-scope.js'
import { RoutedQueryResult } from './routed-result.js'
import { queryOptionsOf } from './query-options.js'
import { SchemaRouter } from '../schema/schema-router.js'
import { TenantManager } from '../tenancy/tenant-manager.js'
import { LeasedPool } from '../pools/leased-pool.js'
import { ConfigurationError } from '../errors.js'
import { routedKysely, type RoutedKyselyOptions } from '../kysely/index.js'
import type { Kysely, KyselyPlugin } from 'kysely'
import { tenantSchemaPlugin } from '../schema/kysely-plugin.js'
import { validateSchemaName } from '../schema/schema-name.js'
import type { Executor, RoutedResult, RoutedTransactionOptions, SchemaApplier, SchemaRunOptions, StatementOptions, StatementQueryOptions, SwitchyardOptions, TenancyOptions, TransactionModes } from './types.js'

interface Route {
  readonly alias: string
  readonly reason: RouteReason
}

const NO_OPTIONS: SchemaRunOptions = Object.freeze({})
/** The default for a statement called without options: shared, so the call allocates nothing. */
const NO_STATEMENT_OPTIONS: StatementOptions = Object.freeze({})

/**
 * The routed entry point: every read asks `dbForRead`, every write `dbForWrite`, raw
 * statements are classified by parsing, transactions and compound operations run on the
 * write alias, and `on(alias)` skips the routers.
 */
export class Switchyard implements Executor {
  readonly pools: PoolRegistry
  readonly #chain: RouterChain
  readonly #models: ModelRegistry
  readonly #modules: Readonly<Record<string, ModuleConfig>>
  readonly #classifier: StatementClassifier
  readonly #sticky: boolean
  readonly #onRoute: ((d: RouteDecision) => void) | undefined
  readonly #schemas: SchemaApplier | undefined
  readonly #hasSchemaRouters: boolean
  readonly #tenancy: TenancyOptions | undefined
  #tenants: TenantManager | undefined
  /** Write aliases each request scope (its token) has written to, for read-after-write stickiness. */
  readonly #written = new WeakMap<object, Set<string>>()
  /** Settlement functions per configured alias, so a read on one allocates no closure. */
  readonly #settlers = new Map<string, Settlers>()
  /** Schemas any tenant may name besides its own, when the built-in SchemaRouter applies schemas. */
  readonly #sharedSchemas: ReadonlySet<string> | undefined
  /** `schemaRouting.sharedWrites` of the built-in SchemaRouter: whether tenant contexts may write rows into shared tables. */
  readonly #sharedWrites: boolean

  constructor(options: SwitchyardOptions) {
    this.pools = new PoolRegistry(options)
    const routers = options.routers ?? []
    this.#chain = new RouterChain(routers)
    this.#hasSchemaRouters = routers.some((r) => typeof r.schemaFor === 'function')
    this.#models = new ModelRegistry(options.models)
    this.#modules = Object.freeze({ ...(options.modules ?? {}) })
    this.#classifier = new StatementClassifier(options.classifierCacheSize)
    this.#sticky = options.stickyAfterWrite ?? true
    this.#onRoute = options.onRoute
    this.#tenancy = options.tenancy
    const schemaRouting = options.schemaRouting
    this.#schemas =
      schemaRouting && 'run' in schemaRouting
        ? schemaRouting
        : this.#hasSchemaRouters || schemaRouting
          ? new SchemaRouter(schemaRouting ?? {})
          : undefined
    this.#sharedSchemas = this.#schemas instanceof SchemaRouter ? new Set(this.#schemas.sharedSchemas) : undefined
    this.#sharedWrites = this.#schemas instanceof SchemaRouter && this.#schemas.sharedWrites
  }

  /**
   * Tenant management on the shared database: `provision`, `list`, `drop`, `migrate`.
   * Migrations ask the routers' `allowMigrate`.
   *
   * @example
   * ```ts
   * const sy = createSwitchyard({ databases, tenancy: { mapping: 'tenant_{key}', migrations: [createOrders] } })
   * await sy.tenants.provision('acme')
   * const { failed } = await sy.tenants.migrate({ concurrency: 8 })
   * ```
   */
  get tenants(): TenantManager {
    if (this.#tenants) return this.#tenants
    if (!this.#tenancy) throw new ConfigurationError('sy.tenants needs createSwitchyard({ tenancy: { ... } })')
    const { alias = DEFAULT_ALIAS, ...rest } = this.#tenancy
    const spec = this.pools.peekSpec(alias)
    if (!spec) throw new ConfigurationError(`tenancy.alias '${alias}' must be one of the configured databases`)
    this.#tenants = new TenantManager({
      ...rest,
      alias,
      pool: new LeasedPool(this.pools, alias, spec),
      allowMigrate: (a, model) => this.#chain.allowMigrate(a, model),
    })
    return this.#tenants
  }

  /** The router chain, for integrations (Kysely, tenancy) that route by themselves. */
  get routers(): RouterChain {
    return this.#chain
  }

  model(table: string | undefined): ModelMeta {
    return this.#models.get(table)
  }

  /**
   * Runs a statement on the alias `dbForRead` names (or the static default), in the current
   * context's schema when schema routing answers.
   *
   * @example
   * ```ts
   * const { rows, alias } = await sy.read('select * from orders where id = $1', [1], { model: 'orders' })
   * ```
   */
  read<R = Row>(sql: string, params: readonly unknown[] = [], options: StatementOptions = NO_STATEMENT_OPTIONS): Promise<RoutedResult<R>> {
    // Routers and onRoute are user code: whatever they throw must reject, not throw.
    try {
      const { context: ctx, token } = currentRouteScope()
      const model = this.#models.get(options.model)
      return this.#run<R>(this.#routeRead(model, ctx, token), 'read', model, ctx, token, sql, params, options)
    } catch (err) {
      return Promise.reject(err)
    }
  }

  /**
   * Runs a statement on the alias `dbForWrite` names; later reads in the same request stick
   * to that alias (`stickyAfterWrite`).
   *
   * @example
   * ```ts
   * await sy.write('update orders set paid = true where id = $1', [1], { model: 'orders' })
   * ```
   */
  write<R = Row>(sql: string, params: readonly unknown[] = [], options: StatementOptions = NO_STATEMENT_OPTIONS): Promise<RoutedResult<R>> {
    try {
      const { context: ctx, token } = currentRouteScope()
      const model = this.#models.get(options.model)
      return this.#run<R>(this.routeWrite(model, ctx), 'write', model, ctx, token, sql, params, options)
    } catch (err) {
      return Promise.reject(err)
    }
  }

  /**
   * Reads or writes as the statement itself says: parsed on PostgreSQL engines (a select with
   * no data-modifying CTE, no locking clause and no sequence function reads); on other
   * engines a write unless `{ kind: 'read' }` is given.
   *
   * @example
   * ```ts
   * await sy.query('select * from orders')                                     // dbForRead
   * await sy.query('with d as (delete from carts returning *) select * from d') // dbForWrite
   * ```
   */
  query<R = Row>(sql: string, params: readonly unknown[] = [], options: StatementOptions = NO_STATEMENT_OPTIONS): Promise<RoutedResult<R>> {
    try {
      const { context: ctx, token } = currentRouteScope()
      const model = this.#models.get(options.model)
      const readRoute = this.#routeRead(model, ctx, token)
      const run = (kind: StatementKind) => this.#run<R>(kind === 'read' ? readRoute : this.routeWrite(model, ctx), kind, model, ctx, token, sql, params, options)
      // A repeated statement on a known alias is classified without an extra async turn.
      const known = options.kind ?? (this.pools.peekSpec(readRoute.alias)?.capabilities.dialect === 'postgres' ? this.#classifier.cached(sql) : undefined)
      if (known) return run(known)
      return this.classify(sql, readRoute.alias).then(run)
    } catch (err) {
      return Promise.reject(err)
    }
  }

  /**
   * Runs a statement Kysely's tenant-schema plugin already qualified from its query tree, and
   * whose tree was guarded by the caller: no parse, no rewrite. Internal to the Kysely
   * integration; `schema` is the one the tree was qualified with.
   */
  runQualified<R = Row>(kind: StatementKind, model: ModelMeta, schema: string, sql: string, params: readonly unknown[]): Promise<RoutedResult<R>> {
    try {
      const { context: ctx, token } = currentRouteScope()
      const route = kind === 'read' ? this.#routeRead(model, ctx, token) : this.routeWrite(model, ctx)
      this.#onRoute?.({ alias: route.alias, kind, reason: route.reason, model, schema })
      const lease = this.pools.tryAcquire(route.alias)
      if (lease) return this.#execute<R>(lease, kind, token, sql, params, undefined, undefined)
      return this.pools.acquire(route.alias).then((l) => this.#execute<R>(l, kind, token, sql, params, undefined, undefined))
    } catch (err) {
      return Promise.reject(err)
    }
  }

  /**
   * Whether statements on `alias` may take {@link runQualified}: the built-in SchemaRouter
   * applies schemas there by search path, so a fully qualified statement needs nothing more.
   * Returns the schemas a tenant may name besides its own, or `undefined` for no.
   */
  treeQualifiable(alias: string): ReadonlySet<string> | undefined {
    if (!this.#sharedSchemas) return undefined
    return this.pools.peekSpec(alias)?.capabilities.schemaScoping === 'search-path' ? this.#sharedSchemas : undefined
  }

  /** Whether tenant contexts may write rows into shared tables (`schemaRouting.sharedWrites`); the Kysely tree path enforces it as the SQL guard does. */
  get sharedWrites(): boolean {
    return this.#sharedWrites
  }

  /**
   * Runs `fn` in one transaction on the write alias; commits when it resolves, rolls back
   * when it throws. Inside, `tx.read`/`write`/`query` all use the transaction's connection,
   * and nested `tx.transaction` calls are savepoints. `isolationLevel` and `readOnly` apply to
   * this transaction only, set as it begins (together with the tenant's schema, under schema
   * routing); an unknown level is a ConfigurationError before any connection is taken.
   *
   * @example
   * ```ts
   * const id = await sy.transaction(async (tx) => {
   *   const { rows } = await tx.write('insert into orders (total) values ($1) returning id', [10])
   *   await tx.write('insert into audit (msg) values ($1)', ['created'])
   *   return rows[0]?.id
   * })
   * // A consistent read of several tables, on the write alias, refusing any write:
   * const totals = await sy.transaction((tx) => tx.read('select sum(total) from orders'), { isolationLevel: 'repeatable read', readOnly: true })
   * ```
   */
  async transaction<T>(fn: (tx: TransactionScope) => Promise<T>, options: RoutedTransactionOptions = {}): Promise<T> {
    const ctx = currentRouteContext()
    const model = this.#models.get(options.model)
    const route = this.routeWrite(model, ctx)
    return this.#inTransaction(route.alias, 'transaction', model, ctx, fn, options)
  }

  /**
   * Finds the row of `table` matching `where` on the write alias (never a lagging replica),
   * or inserts `where` + `defaults`; a concurrent insert of the same key is re-read, not
   * duplicated.
   *
   * @example
   * ```ts
   * const { row, created } = await sy.getOrCreate('customers', { email: 'a@acme.test' }, { name: 'A' })
   * ```
   */
  getOrCreate<R = Row>(table: string, where: Values, defaults?: Values): Promise<CompoundResult<R>> {
    return this.#compound(table, (target) => getOrCreate<R>(target, table, where, defaults))
  }

  /**
   * Updates the row of `table` matching `where` with `values`, or inserts `where` + `values`.
   *
   * @example
   * ```ts
   * const { created } = await sy.updateOrCreate('settings', { key: 'theme' }, { value: 'dark' })
   * ```
   */
  updateOrCreate<R = Row>(table: string, where: Values, values: Values): Promise<CompoundResult<R>> {
    return this.#compound(table, (target) => updateOrCreate<R>(target, table, where, values))
  }

  /**
   * A hard override: everything through the returned executor runs on `alias`, whatever
   * the routers say.
   *
   * @example
   * ```ts
   * await sy.on('replica').read('select count(*) from orders')
   * ```
   */
  on(alias: string): Executor & { transaction<T>(fn: (tx: TransactionScope) => Promise<T>, modes?: TransactionModes): Promise<T> } {
    const fixed: Route = { alias, reason: 'override' }
    const self = this
    const view = {
      read: <R = Row>(sql: string, params: readonly unknown[] = [], o: StatementOptions = {}) =>
        self.#run<R>(fixed, 'read', self.#models.get(o.model), currentRouteContext(), currentScopeToken(), sql, params, o),
      write: <R = Row>(sql: string, params: readonly unknown[] = [], o: StatementOptions = {}) =>
        self.#run<R>(fixed, 'write', self.#models.get(o.model), currentRouteContext(), currentScopeToken(), sql, params, o),
      query: async <R = Row>(sql: string, params: readonly unknown[] = [], o: StatementOptions = {}) => {
        const kind = o.kind ?? (await self.classify(sql, alias))
        return self.#run<R>(fixed, kind, self.#models.get(o.model), currentRouteContext(), currentScopeToken(), sql, params, o)
      },
      transaction: <T>(fn: (tx: TransactionScope) => Promise<T>, modes?: TransactionModes) =>
        self.#inTransaction(alias, 'override', ModelRegistry.NONE, currentRouteContext(), fn, modes),
      getOrCreate: <R = Row>(table: string, where: Values, defaults?: Values) =>
        self.#inTransaction(alias, 'override', self.#models.get(table), currentRouteContext(), (tx) => tx.getOrCreate<R>(table, where, defaults)),
      updateOrCreate: <R = Row>(table: string, where: Values, values: Values) =>
        self.#inTransaction(alias, 'override', self.#models.get(table), currentRouteContext(), (tx) => tx.updateOrCreate<R>(table, where, values)),
    }
    return Object.freeze(view)
  }

  /**
   * A Kysely instance routed by this Switchyard (see `routedKysely`).
   *
   * @example
   * ```ts
   * const db = sy.kysely<DB>()
   * await db.selectFrom('orders').selectAll().execute() // runs on dbForRead's alias
   * ```
   */
  kysely<DB>(options?: RoutedKyselyOptions): Kysely<DB> {
    return routedKysely<DB>(this, options)
  }

  /** For Kysely: qualifies its queries from the query tree with the current context's schema. */
  kyselySchemaPlugin(): KyselyPlugin | undefined {
    if (!this.#hasSchemaRouters) return undefined
    const router = this.#schemas instanceof SchemaRouter ? this.#schemas : undefined
    const options = router ? { sharedTables: router.sharedTables, shared: router.sharedSchemas, sharedWrites: router.sharedWrites } : {}
    return tenantSchemaPlugin(() => this.schemaFor(ModelRegistry.NONE, currentRouteContext()), options)
  }

  /**
   * Where a read of `model` goes in `ctx`, and why. Stickiness is the current request
   * scope's: a read after a write in the same `withRouteContext` scope (or one nested in it)
   * goes to the write alias.
   */
  routeRead(model: ModelMeta, ctx: RouteContext): Route {
    return this.#routeRead(model, ctx, currentScopeToken())
  }

  #routeRead(model: ModelMeta, ctx: RouteContext, token: object | undefined): Route {
    const answer = this.#chain.dbForRead(model, ctx)
    const route: Route = answer !== undefined ? { alias: answer, reason: 'router' } : { alias: staticAlias(model, this.#modules), reason: 'static' }
    if (this.#sticky && token !== undefined) {
      const written = this.#written.get(token)
      if (written) {
        const w = this.routeWrite(model, ctx).alias
        if (w !== route.alias && written.has(w)) return { alias: w, reason: 'sticky' }
      }
    }
    return route
  }

  /** Where a write of `model` goes in `ctx`, and why. */
  routeWrite(model: ModelMeta, ctx: RouteContext): Route {
    const answer = this.#chain.dbForWrite(model, ctx)
    return answer !== undefined ? { alias: answer, reason: 'router' } : { alias: staticAlias(model, this.#modules), reason: 'static' }
  }

  /** The schema `schemaFor` names for this context and model, if any router answers. */
  schemaFor(model: ModelMeta, ctx: RouteContext): string | undefined {
    return this.#hasSchemaRouters ? this.#chain.schemaFor(ctx, model) : undefined
  }

  #schemaRoute(model: ModelMeta, ctx: RouteContext): SchemaRoute | undefined {
    return this.#hasSchemaRouters ? this.#chain.schemaRoute(ctx, model) : undefined
  }

  /**
   * Reads or writes, decided by PostgreSQL's parser on engines that speak it (cached per
   * text); other engines' statements count as writes unless the caller says otherwise.
   */
  async classify(sql: string, alias: string): Promise<StatementKind> {
    const spec: EngineSpec = this.pools.peekSpec(alias) ?? (await this.pools.spec(alias))
    if (spec.capabilities.dialect !== 'postgres') return 'write'
    return this.#classifier.classify(sql)
  }

  /** Records a write on `alias` by the request scope `token`, so its later reads stick to it. */
  noteWrite(token: object | undefined, alias: string): void {
    if (!this.#sticky || token === undefined) return
    let set = this.#written.get(token)
    if (!set) this.#written.set(token, (set = new Set()))
    set.add(alias)
  }

  report(decision: RouteDecision): void {
    this.#onRoute?.(decision)
  }

  /** Closes every pool, after in-flight statements finish. */
  close(): Promise<void> {
    return this.pools.close()
  }

  #run<R>(route: Route, kind: StatementKind, model: ModelMeta, ctx: RouteContext, token: object | undefined, sql: string, params: readonly unknown[], options: StatementOptions): Promise<RoutedResult<R>> {
    let schema: SchemaRoute | undefined
    let lease: PoolLease | undefined
    let query: StatementQueryOptions | undefined
    try {
      schema = this.#schemaRoute(model, ctx)
      if (this.#onRoute) this.#onRoute({ alias: route.alias, kind, reason: route.reason, model, ...(schema !== undefined ? { schema: schema.schema } : {}) })
      const pinned = this.pools.pinnedPool(route.alias)
      query = queryOptionsOf(options)
      if (pinned) return this.#executePinned<R>(pinned, kind, token, sql, params, schema, query)
      lease = this.pools.tryAcquire(route.alias)
    } catch (err) {
      return Promise.reject(err)
    }
    // Written with then() rather than async/await: this is the per-statement hot path and
    // every async frame costs microtask turns that show at tens of thousands of statements/s.
    if (lease) return this.#execute<R>(lease, kind, token, sql, params, schema, query)
    return this.pools.acquire(route.alias).then((l) => this.#execute<R>(l, kind, token, sql, params, schema, query))
  }

  /** A configured alias's pool: no lease object, and a read settles through shared functions. */
  #executePinned<R>(pinned: PinnedPool, kind: StatementKind, token: object | undefined, sql: string, params: readonly unknown[], schema: SchemaRoute | undefined, query: StatementQueryOptions | undefined): Promise<RoutedResult<R>> {
    let settle = this.#settlers.get(pinned.alias)
    if (!settle) this.#settlers.set(pinned.alias, (settle = settlers(pinned)))
    pinned.enter()
    let pending: Promise<QueryResult<R>>
    try {
      pending = this.#start<R>(pinned.pool, sql, params, schema, query)
    } catch (err) {
      pinned.leave()
      return Promise.reject(err)
    }
    if (kind === 'write' && token !== undefined && this.#sticky) {
      return pending.then((result) => {
        pinned.leave()
        this.noteWrite(token, pinned.alias)
        return new RoutedQueryResult<R>(result, pinned.alias)
      }, settle.failed)
    }
    return pending.then(settle.done<R>, settle.failed)
  }

  #start<R>(pool: EnginePool, sql: string, params: readonly unknown[], schema: SchemaRoute | undefined, query: StatementQueryOptions | undefined): Promise<QueryResult<R>> {
    if (schema === undefined) return pool.query<R>(sql, params, query)
    const options: SchemaRunOptions = schema.strategy ? { signal: query?.signal, rowMode: query?.rowMode, strategy: schema.strategy } : (query ?? NO_OPTIONS)
    return this.#applier().run<R>(pool, sql, params, schema.schema, options)
  }

  #execute<R>(lease: PoolLease, kind: StatementKind, token: object | undefined, sql: string, params: readonly unknown[], schema: SchemaRoute | undefined, query: StatementQueryOptions | undefined): Promise<RoutedResult<R>> {
    let pending: Promise<QueryResult<R>>
    try {
      pending = this.#start<R>(lease.pool, sql, params, schema, query)
    } catch (err) {
      lease.release()
      return Promise.reject(err)
    }
    return pending.then(
      (result) => {
        lease.release()
        if (kind === 'write') this.noteWrite(token, lease.alias)
        return new RoutedQueryResult<R>(result, lease.alias)
      },
      (err: unknown) => {
        lease.release()
        throw err
      },
    )
  }

  async #inTransaction<T>(alias: string, reason: RouteReason, model: ModelMeta, ctx: RouteContext, fn: (tx: TransactionScope) => Promise<T>, modes?: TransactionModes): Promise<T> {
    const schema = this.schemaFor(model, ctx)
    // The name reaches BEGIN's set_config (or the engine's equivalent) before any applier sees it.
    if (schema !== undefined) validateSchemaName(schema)
    // The engine checks it too, but only once a lease is held: a bad level should not wait for a pool.
    const isolationLevel = isolationLevelOf(modes)
    const readOnly = modes?.readOnly === true
    this.#onRoute?.({ alias, kind: 'write', reason, model, ...(schema !== undefined ? { schema } : {}) })
    const token = currentScopeToken()
    const lease = await this.pools.acquire(alias)
    try {
      // Engines that reach a schema only through qualified names (SQLite's attached files) get no
      // transaction-level scope; every statement inside is qualified by the applier instead.
      const searchPath = schema !== undefined ? this.#applier().searchPathFor?.(schema) : undefined
      const scope = schema !== undefined && lease.pool.capabilities.schemaScoping !== 'attached' ? { schema, ...(searchPath ? { searchPath } : {}) } : undefined
      // The caller's modes ride along with the schema scope: the engine begins with all of them at once.
      const options: TransactionOptions | undefined =
        isolationLevel === undefined && !readOnly ? scope : { ...scope, ...(isolationLevel !== undefined ? { isolationLevel } : {}), ...(readOnly ? { readOnly } : {}) }
      const result = await lease.pool.transaction((tx) => fn(new TransactionScope(lease, tx, schema, schema !== undefined ? this.#applier() : undefined)), options)
      this.noteWrite(token, alias)
      return result
    } finally {
      lease.release()
    }
  }

  async #compound<T>(table: string, op: (target: CompoundTarget) => Promise<T>): Promise<T> {
    const ctx = currentRouteContext()
    const model = this.#models.get(table)
    const route = this.routeWrite(model, ctx)
    const schema = this.schemaFor(model, ctx)
    if (schema !== undefined) {
      // Statements of a compound operation must all see the tenant's schema: run it in one transaction.
      return this.#inTransaction(route.alias, 'compound', model, ctx, (tx) => op(tx.compoundTarget()))
    }
    this.#onRoute?.({ alias: route.alias, kind: 'write', reason: 'compound', model })
    const token = currentScopeToken()
    const lease = await this.pools.acquire(route.alias)
    try {
      const result = await op(topLevelTarget(lease))
      this.noteWrite(token, route.alias)
      return result
    } finally {
      lease.release()
    }
  }

  #applier(): SchemaApplier {
    // Set in the constructor whenever a router implements schemaFor.
    return this.#schemas!
  }
}

interface Settlers {
  done<R>(result: QueryResult<R>): RoutedResult<R>
  failed(err: unknown): never
}

function settlers(pinned: PinnedPool): Settlers {
  return {
    done: <R>(result: QueryResult<R>) => {
      pinned.leave()
      return new RoutedQueryResult<R>(result, pinned.alias)
    },
    failed: (err: unknown): never => {
      pinned.leave()
      throw err
    },
  }
}

/** Outside a transaction: checks are autocommit statements (fresh snapshots), inserts get their own transaction. */
function topLevelTarget(lease: PoolLease): CompoundTarget {
  return {
    capabilities: lease.pool.capabilities,
    quoteIdentifier: (n) => lease.pool.quoteIdentifier(n),
    db: lease.pool,
    atomically: <T>(fn: (tx: EngineTransaction) => Promise<T>) => lease.pool.transaction(fn),
  }
}
