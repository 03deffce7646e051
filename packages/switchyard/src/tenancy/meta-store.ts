import { ConfigurationError, QueryError, UniqueViolationError } from '../errors.js'
import type { EnginePool, EngineTransaction } from '../engines/types.js'

const TABLE_PART = /^[A-Za-z_][A-Za-z0-9_]*$/

/** SQLSTATEs of a concurrent `create ... if not exists` losing the race on the catalog. */
const ALREADY_EXISTS = new Set(['23505', '42P06', '42P07', '42710'])

export interface MetaTables {
  readonly registry: string
  readonly status: string
}

/**
 * The registry (`tenants`) and the status table (`tenant_migrations`), in a shared schema
 * where the engine has schemas and as prefixed tables of the pool's own database otherwise.
 * All SQL here is plain enough for PostgreSQL, PGlite, MySQL and SQLite; the only
 * differences (placeholders, timestamp type) come from the capability flags.
 */
export class MetaStore {
  readonly #pool: EnginePool
  readonly #schema: string | undefined
  readonly registry: string
  readonly status: string
  #ready: Promise<void> | undefined

  constructor(pool: EnginePool, names: { registryTable?: string; statusTable?: string }) {
    this.#pool = pool
    const withSchemas = pool.capabilities.schemas
    const registry = splitName(names.registryTable ?? (withSchemas ? 'switchyard.tenants' : 'switchyard_tenants'), 'registryTable', withSchemas)
    const status = splitName(names.statusTable ?? (withSchemas ? 'switchyard.tenant_migrations' : 'switchyard_tenant_migrations'), 'statusTable', withSchemas)
    if (registry.schema !== status.schema && registry.schema && status.schema) {
      throw new ConfigurationError(`registryTable and statusTable must live in one schema (got '${registry.schema}' and '${status.schema}')`)
    }
    this.#schema = registry.schema ?? status.schema
    this.registry = this.#qualified(registry)
    this.status = this.#qualified(status)
  }

  /** `$n` or `?`, as the engine wants. */
  p(n: number): string {
    return this.#pool.capabilities.placeholders === 'numbered' ? `$${n}` : '?'
  }

  /** Creates the schema and tables once per manager; safe against another process doing the same. */
  ensure(): Promise<void> {
    this.#ready ??= this.#create().catch((err: unknown) => {
      this.#ready = undefined
      throw err
    })
    return this.#ready
  }

  async #create(): Promise<void> {
    const pool = this.#pool
    const ts = pool.capabilities.dialect === 'postgres' ? 'timestamptz' : 'timestamp'
    const statements: string[] = []
    if (this.#schema) statements.push(`create schema if not exists ${pool.quoteIdentifier(this.#schema)}`)
    statements.push(
      `create table if not exists ${this.registry} (tenant_key varchar(255) not null primary key, schema_name varchar(255) not null, created_at ${ts} not null default current_timestamp)`,
      `create table if not exists ${this.status} (tenant_key varchar(255) not null, migration varchar(255) not null, applied_at ${ts} not null default current_timestamp, primary key (tenant_key, migration))`,
    )
    for (const sql of statements) {
      try {
        await pool.query(sql)
      } catch (err) {
        // Two processes creating the same catalog entry at once: the loser sees a duplicate. The object exists either way.
        if (!(err instanceof QueryError && err.sqlState !== undefined && ALREADY_EXISTS.has(err.sqlState))) throw err
      }
    }
  }

  async tenants(keys?: readonly string[]): Promise<{ key: string; schema: string; createdAt: Date }[]> {
    const { rows } = await this.#pool.query<{ tenant_key: string; schema_name: string; created_at: unknown }>(
      `select tenant_key, schema_name, created_at from ${this.registry} order by tenant_key`,
    )
    const wanted = keys ? new Set(keys) : undefined
    return rows
      .filter((r) => !wanted || wanted.has(r.tenant_key))
      .map((r) => ({ key: r.tenant_key, schema: r.schema_name, createdAt: r.created_at instanceof Date ? r.created_at : new Date(String(r.created_at)) }))
  }

  async tenant(key: string): Promise<{ key: string; schema: string } | undefined> {
    const { rows } = await this.#pool.query<{ tenant_key: string; schema_name: string }>(
      `select tenant_key, schema_name from ${this.registry} where tenant_key = ${this.p(1)}`,
      [key],
    )
    const row = rows[0]
    return row ? { key: row.tenant_key, schema: row.schema_name } : undefined
  }

  /** Registers a tenant; a second registration of the same key and schema is a no-op. */
  async register(key: string, schema: string): Promise<void> {
    try {
      await this.#pool.query(`insert into ${this.registry} (tenant_key, schema_name) values (${this.p(1)}, ${this.p(2)})`, [key, schema])
    } catch (err) {
      if (!(err instanceof UniqueViolationError)) throw err
      const existing = await this.tenant(key)
      if (existing && existing.schema !== schema) {
        throw new ConfigurationError(`Tenant '${key}' is registered with schema '${existing.schema}', but the mapping now gives '${schema}'`)
      }
    }
  }

  async unregister(key: string): Promise<void> {
    await this.#pool.transaction(async (tx) => {
      await tx.query(`delete from ${this.status} where tenant_key = ${this.p(1)}`, [key])
      await tx.query(`delete from ${this.registry} where tenant_key = ${this.p(1)}`, [key])
    })
  }

  /** Every recorded (tenant, migration) pair, in one round trip: the no-op `migrate` reads nothing else. */
  async applied(): Promise<Map<string, Set<string>>> {
    const { rows } = await this.#pool.query<{ tenant_key: string; migration: string }>(`select tenant_key, migration from ${this.status}`)
    const byTenant = new Map<string, Set<string>>()
    for (const r of rows) {
      let set = byTenant.get(r.tenant_key)
      if (!set) byTenant.set(r.tenant_key, (set = new Set()))
      set.add(r.migration)
    }
    return byTenant
  }

  /**
   * Claims (tenant, migration) inside the migration's transaction, before `up` runs. The row
   * commits with the migration's work or rolls back with it, so a crash leaves no half-record;
   * a second migrator doing the same waits on the row lock, then sees a unique violation.
   */
  async claim(tx: EngineTransaction, tenant: string, migration: string): Promise<void> {
    await tx.query(`insert into ${this.status} (tenant_key, migration) values (${this.p(1)}, ${this.p(2)})`, [tenant, migration])
  }

  async unclaim(tx: EngineTransaction, tenant: string, migration: string): Promise<void> {
    await tx.query(`delete from ${this.status} where tenant_key = ${this.p(1)} and migration = ${this.p(2)}`, [tenant, migration])
  }

  #qualified(name: { schema: string | undefined; table: string }): string {
    const q = (n: string) => this.#pool.quoteIdentifier(n)
    return name.schema ? `${q(name.schema)}.${q(name.table)}` : q(name.table)
  }
}

function splitName(name: string, option: string, withSchemas: boolean): { schema: string | undefined; table: string } {
  const parts = name.split('.')
  if (parts.length > 2 || parts.some((p) => !TABLE_PART.test(p))) throw new ConfigurationError(`${option} must be 'table' or 'schema.table' of plain identifiers, got '${name}'`)
  if (parts.length === 2 && !withSchemas) throw new ConfigurationError(`${option} '${name}': this engine has no schemas, give a plain table name`)
  return parts.length === 2 ? { schema: parts[0], table: parts[1]! } : { schema: undefined, table: parts[0]! }
}
