import type { EnginePool, EngineTransaction, QueryResult, Row } from '../engines/types.js'
import type { SchemaApplier, SchemaRunOptions, StatementQueryOptions } from '../facade/types.js'
import { analyzeStatement, type StatementAnalysis } from '../sql/analyze.js'
import { guardAnalyzed, type SharedChangeOptions } from '../sql/guard.js'
import { MysqlGuard } from '../sql/mysql-guard.js'
import { ensureParser, parserReady } from '../sql/parser.js'
import { qualifyAnalyzed, UnqualifiableStatementError } from '../sql/qualify.js'
import { queryOptionsOf } from '../facade/query-options.js'
import { RewriteCache } from './rewrite-cache.js'
import { validateSchemaName } from './schema-name.js'
import { localSearchPath } from './search-path.js'

export type SchemaStrategy = 'qualify' | 'transaction'

export interface SchemaRoutingOptions {
  /** `qualify` (default): rewrite unqualified tables. `transaction`: a transaction-local search_path. */
  readonly strategy?: SchemaStrategy
  /** Schemas every tenant may also name (reference data); searched after the tenant's schema under `transaction`. */
  readonly shared?: readonly string[]
  /** Unqualified tables that live in a shared schema rather than the tenant's: table → schema. */
  readonly sharedTables?: Readonly<Record<string, string>>
  /**
   * Lets a tenant context write rows (INSERT, UPDATE, DELETE, MERGE, COPY FROM, setval) into
   * tables of the shared schemas (MySQL: the shared databases). Default `false`: a row written
   * to a shared table is visible to every tenant, so one tenant's request — a bug, or a
   * statement injected into its code path — could plant, change or delete data every other
   * tenant reads. Set it only when tenants are meant to write shared rows (a cross-tenant
   * audit log, say). Reads of shared tables are always allowed; DDL, TRUNCATE and maintenance
   * on a shared schema, or moving an object into one, are always refused whatever this says:
   * shared schemas are changed by migrations on an admin connection.
   */
  readonly sharedWrites?: boolean
  /** Statement texts whose analysis (one parse each) is kept. Default 5 000. */
  readonly cacheSize?: number
  /** (statement text, schema) pairs whose guarded, qualified form is kept, in total over all statements and schemas. Default 20 000. */
  readonly rewriteCacheSize?: number
}

/**
 * One statement prepared for one schema: guarded already (only statements that passed the
 * guard are cached), with its qualified text when the qualifier can pin it.
 */
interface Prepared {
  /** The statement with every table qualified; undefined when the qualifier cannot pin it. */
  readonly qualified: string | undefined
  /** Why qualifying is not enough (unqualifiable, or user functions/types resolved through the search path). */
  readonly needsPath: string | undefined
  /** The tenant's schema then the shared ones: the transaction-local search path (the engine puts pg_catalog after the tenant's schema and pg_temp last). */
  readonly path: readonly string[]
  /**
   * What runs where the strategy would run the statement's own text (the `transaction`
   * strategy, or a statement the qualifier cannot pin). A statement that changes an object it
   * names without a schema must not change a shared one the tenant lacks (`drop table regions`,
   * `delete from regions`), and a view must not read one unseen: when the qualifier can, only
   * those names are qualified (its pinned slots) and the rest still resolves through `path`, so
   * `insert into orders select ... from regions` reads the shared `regions`; otherwise it runs
   * as written with the tenant's schema alone on its path. Anything else: as written, `path`.
   */
  readonly rawText: string
  readonly rawPath: readonly string[]
}

/**
 * Applies a tenant's schema to each statement without ever leaving it on a pooled
 * connection. On PostgreSQL engines a statement is parsed once per text (cached), guarded
 * against naming any other tenant's schema or changing a shared one (see `sharedWrites`),
 * then either qualified (`qualify`) or run in a transaction with a local search path
 * (`transaction`, and for statements the qualifier cannot pin). Engines without schemas (MySQL databases) select the tenant's database per
 * statement, after a MySQL-grammar guard ({@link MysqlGuard}, analyses cached per text) has
 * refused any statement naming another database, changing session state, or that it cannot
 * read: selecting the database alone would leave `other_db.orders` reachable.
 *
 * Two bounded LRUs: analyses per statement text, and guarded rewrites per (text, schema) —
 * `rewriteCacheSize` in total — so a repeated statement for a known tenant costs two map
 * lookups and no parse, guard or splice (see {@link RewriteCache}).
 *
 * @example
 * ```ts
 * const sy = createSwitchyard({
 *   databases: { default: postgres({ connectionString }) },
 *   routers: [{ schemaFor: (ctx) => (ctx.tenant ? `tenant_${ctx.tenant}` : undefined) }],
 *   schemaRouting: { strategy: 'qualify', shared: ['shared'], sharedTables: { countries: 'shared' } },
 * })
 * await withRouteContext({ tenant: 'acme' }, () => sy.read('select * from orders'))
 * // runs: select * from "tenant_acme".orders
 * ```
 */
export class SchemaRouter implements SchemaApplier {
  readonly strategy: SchemaStrategy
  readonly #shared: ReadonlySet<string>
  readonly #sharedList: readonly string[]
  readonly #sharedTables: Readonly<Record<string, string>>
  /** What the guard needs to refuse changes to shared schemas; fixed per router, so a cached rewrite keeps its decision. */
  readonly #sharedChanges: SharedChangeOptions
  readonly #numbered: RewriteCache<StatementAnalysis, Prepared>
  /** `?` texts (MySQL/SQLite placeholders) are analysed differently, so cached apart. Created on first use. */
  #question: RewriteCache<StatementAnalysis, Prepared> | undefined
  readonly #cacheSize: number
  readonly #rewriteCacheSize: number
  /** The MySQL/MariaDB guard and its analyses per text; created on first use. */
  #mysql: MysqlGuard | undefined

  constructor(options: SchemaRoutingOptions = {}) {
    this.strategy = options.strategy ?? 'qualify'
    this.#sharedTables = Object.freeze({ ...(options.sharedTables ?? {}) })
    this.#sharedList = Object.freeze([...new Set([...(options.shared ?? []), ...Object.values(this.#sharedTables)].map(validateSchemaName))])
    this.#shared = new Set(this.#sharedList)
    this.#sharedChanges = Object.freeze({ sharedTables: this.#sharedTables, sharedWrites: options.sharedWrites === true })
    this.#cacheSize = options.cacheSize ?? 5000
    this.#rewriteCacheSize = options.rewriteCacheSize ?? 20_000
    this.#numbered = new RewriteCache(this.#cacheSize, this.#rewriteCacheSize)
  }

  get sharedTables(): Readonly<Record<string, string>> {
    return this.#sharedTables
  }

  /** Whether tenant contexts may write rows into shared tables (`sharedWrites`); never DDL. */
  get sharedWrites(): boolean {
    return this.#sharedChanges.sharedWrites === true
  }

  /** The shared schemas, in the order they are searched after a tenant's schema. */
  get sharedSchemas(): readonly string[] {
    return this.#sharedList
  }

  /**
   * The schemas a transaction-local search path lists for `schema`: the tenant's, then the
   * shared ones (pass as the engine's `searchPath` option; the engine puts pg_catalog between
   * the tenant's schema and the shared ones, so no shared object shadows a built-in, and
   * pg_temp last).
   */
  searchPathFor(schema: string): readonly string[] {
    validateSchemaName(schema)
    return this.#sharedList.length === 0 ? [schema] : [schema, ...this.#sharedList.filter((s) => s !== schema)]
  }

  /** How many (schema, statement) rewrites and statement analyses are cached. */
  get cacheSizes(): { readonly analyses: number; readonly rewrites: number } {
    const q = this.#question?.sizes ?? { analyses: 0, rewrites: 0 }
    return { analyses: this.#numbered.sizes.analyses + q.analyses + (this.#mysql?.size ?? 0), rewrites: this.#numbered.sizes.rewrites + q.rewrites }
  }

  #cache(pool: EnginePool): RewriteCache<StatementAnalysis, Prepared> {
    if (pool.capabilities.placeholders !== 'question') return this.#numbered
    return (this.#question ??= new RewriteCache(this.#cacheSize, this.#rewriteCacheSize))
  }

  #mysqlGuard(): MysqlGuard {
    return (this.#mysql ??= new MysqlGuard(this.#shared, this.#cacheSize, { sharedWrites: this.sharedWrites }))
  }

  run<R = Row>(pool: EnginePool, sql: string, params: readonly unknown[], schema: string, options: SchemaRunOptions = {}): Promise<QueryResult<R>> {
    if (pool.capabilities.schemaScoping === 'database') {
      let pending: void | Promise<void>
      try {
        validateSchemaName(schema)
        // Selecting the tenant's database does not stop `other_db.orders`: guard first (fails closed).
        pending = this.#mysqlGuard().check(sql, params, schema)
      } catch (err) {
        return Promise.reject(err)
      }
      if (pending !== undefined) return pending.then(() => pool.query<R>(sql, params, { schema, signal: options.signal, rowMode: options.rowMode }))
      return pool.query<R>(sql, params, { schema, signal: options.signal, rowMode: options.rowMode })
    }
    const cache = this.#cache(pool)
    // The hot path: a cached rewrite was validated and guarded when it was stored.
    const hit = cache.get(sql, schema)
    if (hit !== undefined) return this.#execute<R>(pool, hit, sql, params, schema, options)
    try {
      validateSchemaName(schema)
      const analysis = cache.analysis(sql)
      if (analysis !== undefined) return this.#execute<R>(pool, this.#prepare(cache, analysis, sql, schema), sql, params, schema, options)
    } catch (err) {
      return Promise.reject(err)
    }
    return this.#analyze(cache, sql).then((analysis) => this.#execute<R>(pool, this.#prepare(cache, analysis, sql, schema), sql, params, schema, options))
  }

  async runInTransaction<R = Row>(tx: EngineTransaction, pool: EnginePool, sql: string, params: readonly unknown[], schema: string, options?: StatementQueryOptions): Promise<QueryResult<R>> {
    const query = queryOptionsOf(options)
    if (pool.capabilities.schemaScoping === 'database') {
      validateSchemaName(schema)
      await this.#mysqlGuard().check(sql, params, schema)
      return tx.query<R>(sql, params, query)
    }
    const cache = this.#cache(pool)
    const prepared = cache.get(sql, schema) ?? this.#prepare(cache, await this.#analyze(cache, sql), sql, schema)
    if (pool.capabilities.schemaScoping === 'attached') return tx.query<R>(attachedText(prepared), params, query)
    // The transaction already carries the tenant's local search path; qualifying too keeps
    // shared tables pointing at their shared schema.
    if (this.strategy === 'qualify' && prepared.qualified !== undefined) return tx.query<R>(prepared.qualified, params, query)
    if (prepared.rawPath === prepared.path) return tx.query<R>(prepared.rawText, params, query)
    // The tenant's schema alone for this statement (see Prepared.rawText), then the transaction's path again. After a
    // failure the transaction is aborted: its path comes back with the rollback (to a savepoint taken earlier, too).
    await tx.query(`select set_config('search_path', $1, true)`, [localSearchPath(prepared.rawPath)], { signal: query?.signal })
    const result = await tx.query<R>(prepared.rawText, params, query)
    await tx.query(`select set_config('search_path', $1, true)`, [localSearchPath(prepared.path)])
    return result
  }

  /** The statement as it would run for `schema` under the qualify strategy (guarded). */
  async prepare(sql: string, schema: string): Promise<string> {
    const prepared = this.#numbered.get(sql, schema) ?? this.#prepare(this.#numbered, await this.#analyze(this.#numbered, sql), sql, schema)
    if (prepared.qualified === undefined) throw new UnqualifiableStatementError(prepared.needsPath ?? 'unknown')
    return prepared.qualified
  }

  #execute<R>(pool: EnginePool, p: Prepared, sql: string, params: readonly unknown[], schema: string, options: SchemaRunOptions): Promise<QueryResult<R>> {
    try {
      // An attached SQLite file can only be reached by qualified names: qualify or refuse.
      if (pool.capabilities.schemaScoping === 'attached') return pool.query<R>(attachedText(p), params, queryOptionsOf(options))
      if (p.needsPath === undefined && (options.strategy ?? this.strategy) === 'qualify') return pool.query<R>(p.qualified!, params, queryOptionsOf(options))
      // Qualified tables where possible (shared tables stay on their schema), user functions and types through the local path.
      const qualified = (options.strategy ?? this.strategy) === 'qualify' && p.qualified !== undefined
      return pool.query<R>(qualified ? p.qualified! : p.rawText, params, { schema, searchPath: qualified ? p.path : p.rawPath, signal: options.signal, rowMode: options.rowMode })
    } catch (err) {
      return Promise.reject(err)
    }
  }

  /**
   * Validates, guards and qualifies `sql` for `schema`, and caches the result only when it
   * passed: a refused statement is refused again on every call, and a cache hit skips no check
   * (the guard's inputs — analysis, schema and this router's fixed options — are the cache key
   * or never change).
   */
  #prepare(cache: RewriteCache<StatementAnalysis, Prepared>, analysis: StatementAnalysis, sql: string, schema: string): Prepared {
    validateSchemaName(schema)
    guardAnalyzed(analysis, schema, this.#shared, this.#sharedChanges)
    const qualified = analysis.unqualifiable === undefined ? qualifyAnalyzed(sql, analysis, schema, this.#sharedTables) : undefined
    const path = Object.freeze(this.searchPathFor(schema))
    const pin = path.length > 1 && this.#changesUnqualified(analysis)
    // A qualifiable statement pins every unqualified change target with a slot (the analysis makes it unqualifiable otherwise).
    const prepared: Prepared = Object.freeze({
      qualified,
      needsPath: analysis.unqualifiable ?? analysis.searchPathDependent,
      path,
      rawText: pin && qualified !== undefined ? qualifyAnalyzed(sql, analysis, schema, this.#sharedTables, 'pinned') : sql,
      rawPath: pin && qualified === undefined ? Object.freeze([schema]) : path,
    })
    cache.set(sql, schema, prepared)
    return prepared
  }

  /** Whether the statement changes (or a view reads) an object named without a schema that `sharedTables` does not place. */
  #changesUnqualified(analysis: StatementAnalysis): boolean {
    return analysis.changes?.some((c) => c.schema === undefined && !(c.table !== undefined && Object.hasOwn(this.#sharedTables, c.table))) === true
  }

  async #analyze(cache: RewriteCache<StatementAnalysis, Prepared>, sql: string): Promise<StatementAnalysis> {
    const cached = cache.analysis(sql)
    if (cached !== undefined) return cached
    if (!parserReady()) await ensureParser()
    const analysis = analyzeStatement(sql, cache === this.#numbered ? 'numbered' : 'question')
    cache.setAnalysis(sql, analysis)
    return analysis
  }
}

function attachedText(p: Prepared): string {
  if (p.qualified === undefined) throw new UnqualifiableStatementError(p.needsPath ?? 'unknown')
  return p.qualified
}
