import type { EnginePool, EngineTransaction, QueryResult, Row } from '../engines/types.js'
import type { SchemaApplier } from '../facade/types.js'
import { analyzeStatement, type StatementAnalysis } from '../sql/analyze.js'
import { guardAnalyzed } from '../sql/guard.js'
import { ensureParser, parserReady } from '../sql/parser.js'
import { qualifyAnalyzed } from '../sql/qualify.js'
import { Lru } from '../util/lru.js'
import { validateSchemaName } from './schema-name.js'

export type SchemaStrategy = 'qualify' | 'transaction'

export interface SchemaRoutingOptions {
  /** `qualify` (default): rewrite unqualified tables. `transaction`: a transaction-local search_path. */
  readonly strategy?: SchemaStrategy
  /** Schemas every tenant may also name (reference data). */
  readonly shared?: readonly string[]
  /** Unqualified tables that live in a shared schema rather than the tenant's: table → schema. */
  readonly sharedTables?: Readonly<Record<string, string>>
  /** Statement texts whose analysis is kept (each keeps its rewrites for up to 4 096 schemas). Default 5 000. */
  readonly cacheSize?: number
}

const REWRITES_PER_STATEMENT = 4096

/** `?` texts are analysed with placeholders renumbered, so they are cached apart. */
function cacheKey(sql: string, placeholders: 'numbered' | 'question'): string {
  return placeholders === 'question' ? `?${sql}` : sql
}

interface Cached {
  readonly analysis: StatementAnalysis
  readonly rewrites: Map<string, string>
}

/**
 * Applies a tenant's schema to each statement without ever leaving it on a pooled
 * connection. On PostgreSQL engines a statement is parsed once per text (cached), guarded
 * against naming any other tenant's schema, then either qualified (`qualify`) or run in a
 * transaction with a local search_path (`transaction`, and for statements the qualifier
 * cannot pin). Engines without schemas (MySQL databases) select the tenant's database per
 * statement.
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
  readonly #sharedTables: Readonly<Record<string, string>>
  readonly #cache: Lru<string, Cached>

  constructor(options: SchemaRoutingOptions = {}) {
    this.strategy = options.strategy ?? 'qualify'
    this.#sharedTables = Object.freeze({ ...(options.sharedTables ?? {}) })
    this.#shared = new Set([...(options.shared ?? []), ...Object.values(this.#sharedTables)].map(validateSchemaName))
    this.#cache = new Lru(options.cacheSize ?? 5000)
  }

  get sharedTables(): Readonly<Record<string, string>> {
    return this.#sharedTables
  }

  run<R = Row>(pool: EnginePool, sql: string, params: readonly unknown[], schema: string, options: { signal?: AbortSignal; strategy?: SchemaStrategy } = {}): Promise<QueryResult<R>> {
    try {
      validateSchemaName(schema)
    } catch (err) {
      return Promise.reject(err)
    }
    const signal = options.signal
    if (pool.capabilities.schemaScoping === 'database') return pool.query<R>(sql, params, { schema, signal })
    const placeholders = pool.capabilities.placeholders
    const cached = this.#cache.get(cacheKey(sql, placeholders))
    if (cached) return this.#runPrepared<R>(pool, cached, sql, params, schema, options.strategy, signal)
    return this.#load(sql, placeholders).then((c) => this.#runPrepared<R>(pool, c, sql, params, schema, options.strategy, signal))
  }

  async runInTransaction<R = Row>(tx: EngineTransaction, pool: EnginePool, sql: string, params: readonly unknown[], schema: string): Promise<QueryResult<R>> {
    validateSchemaName(schema)
    if (pool.capabilities.schemaScoping === 'database') return tx.query<R>(sql, params)
    const placeholders = pool.capabilities.placeholders
    const cached = this.#cache.get(cacheKey(sql, placeholders)) ?? (await this.#load(sql, placeholders))
    guardAnalyzed(cached.analysis, schema, this.#shared)
    // The transaction already has the schema as its local search_path; qualifying too keeps
    // shared tables pointing at their shared schema.
    const qualify = pool.capabilities.schemaScoping === 'attached' || (this.strategy === 'qualify' && cached.analysis.unqualifiable === undefined)
    return tx.query<R>(qualify ? this.#rewrite(cached, sql, schema) : sql, params)
  }

  /** The statement as it would run for `schema` under the qualify strategy (guarded). */
  async prepare(sql: string, schema: string): Promise<string> {
    validateSchemaName(schema)
    const cached = this.#cache.get(sql) ?? (await this.#load(sql))
    guardAnalyzed(cached.analysis, schema, this.#shared)
    return this.#rewrite(cached, sql, schema)
  }

  #runPrepared<R>(pool: EnginePool, cached: Cached, sql: string, params: readonly unknown[], schema: string, strategy: SchemaStrategy | undefined, signal: AbortSignal | undefined): Promise<QueryResult<R>> {
    try {
      guardAnalyzed(cached.analysis, schema, this.#shared)
    } catch (err) {
      return Promise.reject(err)
    }
    // An attached SQLite file can only be reached by qualified names: qualify or refuse.
    if (pool.capabilities.schemaScoping === 'attached') {
      try {
        return pool.query<R>(this.#rewrite(cached, sql, schema), params, signal ? { signal } : undefined)
      } catch (err) {
        return Promise.reject(err)
      }
    }
    if ((strategy ?? this.strategy) === 'qualify' && cached.analysis.unqualifiable === undefined) {
      return pool.query<R>(this.#rewrite(cached, sql, schema), params, signal ? { signal } : undefined)
    }
    return pool.query<R>(sql, params, { schema, signal })
  }

  #rewrite(cached: Cached, sql: string, schema: string): string {
    let text = cached.rewrites.get(schema)
    if (text === undefined) {
      text = qualifyAnalyzed(sql, cached.analysis, schema, this.#sharedTables)
      if (cached.rewrites.size >= REWRITES_PER_STATEMENT) cached.rewrites.clear()
      cached.rewrites.set(schema, text)
    }
    return text
  }

  async #load(sql: string, placeholders: 'numbered' | 'question' = 'numbered'): Promise<Cached> {
    if (!parserReady()) await ensureParser()
    const cached: Cached = { analysis: analyzeStatement(sql, placeholders), rewrites: new Map() }
    this.#cache.set(cacheKey(sql, placeholders), cached)
    return cached
  }
}
