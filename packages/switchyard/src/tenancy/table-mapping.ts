import { ConfigurationError, QueryError, UniqueViolationError, UnknownTenantError } from '../errors.js'
import type { EnginePool } from '../engines/types.js'
import { validateSchemaName, type SchemaMapping } from '../schema/schema-name.js'
import { TenantSchemaConflictError } from './errors.js'
import { foldSchemaName, foldSchemaSql } from './meta-store.js'

const PART = /^[A-Za-z_][A-Za-z0-9_]*$/
const ALREADY_EXISTS = new Set(['23505', '42P06', '42P07', '42710'])

export interface TableMappingOptions {
  /** The lookup table, `table` or `schema.table` (`database.table` on MySQL). Created if missing. */
  readonly table: string
  /** Column holding the tenant key. Default `tenant_key`. */
  readonly keyColumn?: string
  /** Column holding the schema name. Default `schema_name`. */
  readonly schemaColumn?: string
  /** How long a loaded copy of the table serves `schemaFor` before a reload is started. Default 5 000 ms. */
  readonly ttlMs?: number
}

/**
 * Tenant key → schema from a lookup table, for tenants whose schemas follow no convention.
 * `schemaFor` is synchronous (routers call it per statement), so it answers from a copy of
 * the table loaded ahead: a key missing from it is an {@link UnknownTenantError}, never a
 * fallback to some other schema. When the copy is older than `ttlMs`, a call starts a
 * reload in the background and still answers from the copy. The tenant manager updates the
 * copy itself on `provision` and `drop`.
 *
 * Give the same instance to `tenancy.mapping` (which binds it to the tenancy pool and
 * writes it) and to {@link tenantSchemaRouter}; load it once at start-up.
 *
 * @example
 * ```ts
 * import { createSwitchyard, withRouteContext } from 'switchyard'
 * import { postgres } from 'switchyard/postgres'
 * import { tableSchemaMapping, tenantSchemaRouter } from 'switchyard/tenancy'
 *
 * const mapping = tableSchemaMapping({ table: 'public.tenant_schemas' })
 * const sy = createSwitchyard({
 *   databases: { default: postgres({ connectionString: 'postgres://app@127.0.0.1/saas' }) },
 *   routers: [tenantSchemaRouter(mapping)],
 *   tenancy: { mapping, migrations: [] },
 * })
 * await sy.tenants.provision('acme', { schema: 'acme_legacy' }) // records acme → acme_legacy
 * await sy.tenants.loadMapping()                                // after a restart: load before serving
 * await withRouteContext({ tenant: 'acme' }, () => sy.read('select * from orders')) // acme_legacy.orders
 * ```
 */
export class TableSchemaMapping implements SchemaMapping {
  readonly description: string
  readonly ttlMs: number
  readonly #table: { schema: string | undefined; table: string }
  readonly #keyColumn: string
  readonly #schemaColumn: string
  #pool: EnginePool | undefined
  #entries = new Map<string, string>()
  #loadedAt = Number.NEGATIVE_INFINITY
  #attemptedAt = Number.NEGATIVE_INFINITY
  #loading: Promise<void> | undefined
  /** Changes made here while a reload is in flight: its snapshot may predate them. */
  #edits: Map<string, string | undefined> | undefined
  #created: Promise<void> | undefined

  constructor(options: TableMappingOptions) {
    if (typeof options?.table !== 'string') throw new ConfigurationError('tableSchemaMapping(): table is required')
    const parts = options.table.split('.')
    if (parts.length > 2 || parts.some((p) => !PART.test(p))) throw new ConfigurationError(`tableSchemaMapping(): table must be 'table' or 'schema.table' of plain identifiers, got '${options.table}'`)
    this.#table = parts.length === 2 ? { schema: parts[0], table: parts[1]! } : { schema: undefined, table: parts[0]! }
    this.#keyColumn = column(options.keyColumn, 'tenant_key', 'keyColumn')
    this.#schemaColumn = column(options.schemaColumn, 'schema_name', 'schemaColumn')
    this.ttlMs = options.ttlMs ?? 5000
    if (!Number.isFinite(this.ttlMs) || this.ttlMs < 0) throw new ConfigurationError(`tableSchemaMapping(): ttlMs must be a non-negative number, got ${String(options.ttlMs)}`)
    this.description = `lookup table ${options.table}`
  }

  /** Used by the tenant manager: the pool the table lives on (the last manager built with this mapping wins). */
  bind(pool: EnginePool): void {
    this.#pool = pool
  }

  /** The tenant's schema from the loaded copy; throws {@link UnknownTenantError} for a key it does not hold. */
  schemaFor(tenantKey: string): string {
    // A failed reload is retried a TTL later, not on every call.
    if (this.#pool && !this.#loading && Date.now() - Math.max(this.#loadedAt, this.#attemptedAt) > this.ttlMs) this.refresh().catch(() => {})
    const schema = this.#entries.get(tenantKey)
    if (schema === undefined) throw new UnknownTenantError(String(tenantKey))
    return validateSchemaName(schema)
  }

  /** Like {@link schemaFor}, but a key missing from the copy is looked up in the table. */
  async resolve(tenantKey: string): Promise<string> {
    const cached = this.#entries.get(tenantKey)
    if (cached !== undefined) return validateSchemaName(cached)
    const pool = this.#bound()
    await this.ensureTable()
    const { rows } = await pool.query<{ k: string; s: string }>(
      `select ${this.#q(this.#keyColumn)} as k, ${this.#q(this.#schemaColumn)} as s from ${this.#name()} where ${this.#q(this.#keyColumn)} = ${this.#p(1)}`,
      [tenantKey],
    )
    // MySQL's default collation finds 'acme' for 'ACME': only the key itself counts, or one tenant would be routed into another's schema.
    const schema = rows.find((r) => r.k === tenantKey)?.s
    if (schema === undefined) throw new UnknownTenantError(tenantKey)
    this.#entries.set(tenantKey, schema)
    return validateSchemaName(schema)
  }

  /** Reloads the whole table (one query). Concurrent calls share one reload. */
  refresh(): Promise<void> {
    this.#loading ??= (async () => {
      const pool = this.#bound()
      await this.ensureTable()
      const started = Date.now()
      this.#attemptedAt = started
      const edits = (this.#edits = new Map())
      const { rows } = await pool.query<{ k: string; s: string }>(`select ${this.#q(this.#keyColumn)} as k, ${this.#q(this.#schemaColumn)} as s from ${this.#name()}`)
      const entries = new Map(rows.map((r) => [r.k, r.s]))
      for (const [k, s] of edits) {
        if (s === undefined) entries.delete(k)
        else entries.set(k, s)
      }
      this.#entries = entries
      this.#loadedAt = started
    })().finally(() => {
      this.#loading = undefined
      this.#edits = undefined
    })
    return this.#loading
  }

  /**
   * Records key → schema (validated). The same pair again is a no-op; another schema for a
   * known key is refused, and so is a schema another key has in any letter case, with a
   * {@link TenantSchemaConflictError} (MySQL and case-insensitive file systems take such names
   * for one schema).
   */
  async assign(tenantKey: string, schema: string): Promise<void> {
    validateSchemaName(schema)
    const pool = this.#bound()
    await this.ensureTable()
    await this.#refuseTaken(tenantKey, schema)
    let inserted = false
    try {
      await pool.query(`insert into ${this.#name()} (${this.#q(this.#keyColumn)}, ${this.#q(this.#schemaColumn)}) values (${this.#p(1)}, ${this.#p(2)})`, [tenantKey, schema])
      inserted = true
    } catch (err) {
      if (!(err instanceof UniqueViolationError)) throw err
      this.#entries.delete(tenantKey)
      const existing = await this.resolve(tenantKey).catch(() => undefined)
      if (existing !== schema) {
        // Another key took the schema since the check above, or the key is taken.
        await this.#refuseTaken(tenantKey, schema)
        const why = existing !== undefined ? `it is mapped to '${existing}'` : 'a row holds this key (as the table compares keys) or this schema'
        throw new ConfigurationError(`Cannot map tenant '${tenantKey}' to schema '${schema}': ${why} in ${this.description}`)
      }
    }
    if (inserted) {
      // The table's own unique constraint may be case-sensitive, and the table may predate this check (a user's table): checked
      // again with the row in place. Of two concurrent assigns of one schema in two spellings the later insert sees the earlier
      // row here and backs out; both may back out, never both stay.
      try {
        await this.#refuseTaken(tenantKey, schema)
      } catch (err) {
        await pool.query(`delete from ${this.#name()} where ${this.#q(this.#keyColumn)} = ${this.#p(1)} and ${this.#q(this.#schemaColumn)} = ${this.#p(2)}`, [tenantKey, schema])
        throw err
      }
    }
    this.#entries.set(tenantKey, schema)
    this.#edits?.set(tenantKey, schema)
  }

  /** Deletes the key's row and forgets it. */
  async remove(tenantKey: string): Promise<void> {
    await this.#bound().query(`delete from ${this.#name()} where ${this.#q(this.#keyColumn)} = ${this.#p(1)}`, [tenantKey])
    this.#entries.delete(tenantKey)
    this.#edits?.set(tenantKey, undefined)
  }

  /** Creates the lookup table if missing (schema name unique: two tenants never share one). */
  ensureTable(): Promise<void> {
    this.#created ??= (async () => {
      const pool = this.#bound()
      const statements: string[] = []
      if (this.#table.schema !== undefined) statements.push(`create schema if not exists ${this.#q(this.#table.schema)}`)
      statements.push(
        `create table if not exists ${this.#name()} (${this.#q(this.#keyColumn)} varchar(255) not null primary key, ${this.#q(this.#schemaColumn)} varchar(63) not null unique)`,
      )
      for (const sql of statements) {
        try {
          await pool.query(sql)
        } catch (err) {
          if (!(err instanceof QueryError && err.sqlState !== undefined && ALREADY_EXISTS.has(err.sqlState))) throw err
        }
      }
    })().catch((err: unknown) => {
      this.#created = undefined
      throw err
    })
    return this.#created
  }

  /**
   * Throws {@link TenantSchemaConflictError} when a key other than `tenantKey` has `schema` in
   * any letter case. The table has no folded column to index (it may be the user's own), so
   * this scans it; it runs only when a tenant is provisioned.
   */
  async #refuseTaken(tenantKey: string, schema: string): Promise<void> {
    const [k, s] = [this.#q(this.#keyColumn), this.#q(this.#schemaColumn)]
    const { rows } = await this.#bound().query<{ k: string; s: string }>(
      `select ${k} as k, ${s} as s from ${this.#name()} where ${foldSchemaSql(s)} = ${this.#p(1)}`,
      [foldSchemaName(schema)],
    )
    const holder = rows.find((r) => r.k !== tenantKey)
    if (holder) throw new TenantSchemaConflictError(tenantKey, schema, holder.k, holder.s)
  }

  #bound(): EnginePool {
    if (!this.#pool) throw new ConfigurationError(`${this.description} is not bound to a pool yet: pass it as tenancy.mapping (or TenantManager's mapping) first`)
    return this.#pool
  }

  #q(name: string): string {
    return this.#bound().quoteIdentifier(name)
  }

  #p(n: number): string {
    return this.#bound().capabilities.placeholders === 'numbered' ? `$${n}` : '?'
  }

  #name(): string {
    return this.#table.schema !== undefined ? `${this.#q(this.#table.schema)}.${this.#q(this.#table.table)}` : this.#q(this.#table.table)
  }
}

/**
 * A lookup-table mapping of tenant keys to schemas (see {@link TableSchemaMapping}).
 *
 * @example
 * ```ts
 * const mapping = tableSchemaMapping({ table: 'tenant_schemas', ttlMs: 10_000 })
 * ```
 */
export function tableSchemaMapping(options: TableMappingOptions): TableSchemaMapping {
  return new TableSchemaMapping(options)
}

function column(value: string | undefined, fallback: string, option: string): string {
  const name = value ?? fallback
  if (!PART.test(name)) throw new ConfigurationError(`tableSchemaMapping(): ${option} must be a plain identifier, got '${name}'`)
  return name
}
