import { ConfigurationError, QueryError, UniqueViolationError } from '../errors.js'
import type { EnginePool, EngineTransaction, Queryable } from '../engines/types.js'
import { SQLITE_HOME_ALIAS } from '../engines/sqlite/home.js'

const TABLE_PART = /^[A-Za-z_][A-Za-z0-9_]*$/

/** SQLSTATEs of a concurrent `create ... if not exists` losing the race on the catalog. */
const ALREADY_EXISTS = new Set(['23505', '42P06', '42P07', '42710'])

/** Longest failure message kept in the status table. */
const ERROR_CHARS = 2000

/**
 * Where a (tenant, migration) stands. Engines with transactional DDL only ever record
 * `applied` (the row commits with the migration). The others record `running` before `up`,
 * then `applied` or `failed`; `reverting` likewise around `down`. A `running` or `reverting`
 * row that nobody is working on was interrupted: the DDL may be half-applied.
 */
export type MigrationState = 'applied' | 'running' | 'failed' | 'reverting'

export interface MigrationStatus {
  readonly state: MigrationState
  readonly error: string | undefined
  readonly updatedAt: Date
}

interface TableName {
  readonly schema: string | undefined
  readonly table: string
}

/**
 * The registry (`tenants`) and the status table (`tenant_migrations`). They live in the
 * pool's home: a shared schema where the engine has schemas, the pool's own database on
 * MySQL (named explicitly, because a tenant-scoped transaction runs after `USE tenant`) and
 * the main database on SQLite (attached under {@link SQLITE_HOME_ALIAS} inside a
 * tenant-scoped transaction). All SQL here is plain enough for PostgreSQL, PGlite, MySQL and
 * SQLite; the only differences (placeholders, timestamp type) come from the capability flags.
 */
export class MetaStore {
  readonly #pool: EnginePool
  readonly #registryName: TableName
  readonly #statusName: TableName
  #registry = ''
  #status = ''
  #statusInTenant = ''
  #ready: Promise<void> | undefined

  constructor(pool: EnginePool, names: { registryTable?: string; statusTable?: string }) {
    this.#pool = pool
    const withSchemas = pool.capabilities.schemas
    // MySQL's databases stand in for schemas: `db.table` names the database the tables live in.
    const qualifiable = withSchemas || pool.capabilities.schemaScoping === 'database'
    this.#registryName = splitName(names.registryTable ?? (withSchemas ? 'switchyard.tenants' : 'switchyard_tenants'), 'registryTable', qualifiable)
    this.#statusName = splitName(names.statusTable ?? (withSchemas ? 'switchyard.tenant_migrations' : 'switchyard_tenant_migrations'), 'statusTable', qualifiable)
    const [r, s] = [this.#registryName.schema, this.#statusName.schema]
    if (r !== s && r !== undefined && s !== undefined) throw new ConfigurationError(`registryTable and statusTable must live in one schema (got '${r}' and '${s}')`)
  }

  /** The registry table, qualified for statements on the pool. Valid after {@link ensure}. */
  get registry(): string {
    return this.#registry
  }

  /** The status table, qualified for statements on the pool. Valid after {@link ensure}. */
  get status(): string {
    return this.#status
  }

  /** `$n` or `?`, as the engine wants. */
  p(n: number): string {
    return this.#pool.capabilities.placeholders === 'numbered' ? `$${n}` : '?'
  }

  /** Resolves the home, then creates the schema and tables once per manager; safe against another process doing the same. */
  ensure(): Promise<void> {
    this.#ready ??= this.#create().catch((err: unknown) => {
      this.#ready = undefined
      throw err
    })
    return this.#ready
  }

  async #create(): Promise<void> {
    const pool = this.#pool
    const q = (n: string) => pool.quoteIdentifier(n)
    let home = this.#registryName.schema ?? this.#statusName.schema
    const explicitHome = home !== undefined
    if (home === undefined && pool.capabilities.schemaScoping === 'database') {
      const { rows } = await pool.query<{ db: string | null }>('select database() as db')
      home = rows[0]?.db ?? undefined
      if (!home) {
        throw new ConfigurationError(
          "The tenancy pool's connection has no default database to keep the tenant registry in: give one in the connection details, or name it in registryTable/statusTable ('admin_db.switchyard_tenants')",
        )
      }
    }
    // SQLite: `main` by name, so a same-named table in an attached tenant file can never be meant.
    if (home === undefined && pool.capabilities.schemaScoping === 'attached') home = 'main'
    const at = (name: TableName) => (home !== undefined ? `${q(home)}.${q(name.table)}` : q(name.table))
    this.#registry = at(this.#registryName)
    this.#status = at(this.#statusName)
    this.#statusInTenant = pool.capabilities.schemaScoping === 'attached' ? `${q(SQLITE_HOME_ALIAS)}.${q(this.#statusName.table)}` : this.#status

    const ts = pool.capabilities.dialect === 'postgres' ? 'timestamptz' : 'timestamp'
    const statements: string[] = []
    if (explicitHome) statements.push(`create schema if not exists ${q(home!)}`)
    statements.push(
      `create table if not exists ${this.#registry} (tenant_key varchar(255) not null primary key, schema_name varchar(255) not null, created_at ${ts} not null default current_timestamp)`,
      `create table if not exists ${this.#status} (tenant_key varchar(255) not null, migration varchar(255) not null, state varchar(16) not null default 'applied', error text, applied_at ${ts} not null default current_timestamp, primary key (tenant_key, migration))`,
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
      `select tenant_key, schema_name, created_at from ${this.#registry} order by tenant_key`,
    )
    const wanted = keys ? new Set(keys) : undefined
    return rows
      .filter((r) => !wanted || wanted.has(r.tenant_key))
      .map((r) => ({ key: r.tenant_key, schema: r.schema_name, createdAt: toDate(r.created_at) }))
  }

  async tenant(key: string): Promise<{ key: string; schema: string } | undefined> {
    const { rows } = await this.#pool.query<{ tenant_key: string; schema_name: string }>(
      `select tenant_key, schema_name from ${this.#registry} where tenant_key = ${this.p(1)}`,
      [key],
    )
    const row = rows[0]
    return row ? { key: row.tenant_key, schema: row.schema_name } : undefined
  }

  /** Registers a tenant; a second registration of the same key and schema is a no-op. */
  async register(key: string, schema: string): Promise<void> {
    try {
      await this.#pool.query(`insert into ${this.#registry} (tenant_key, schema_name) values (${this.p(1)}, ${this.p(2)})`, [key, schema])
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
      await tx.query(`delete from ${this.#status} where tenant_key = ${this.p(1)}`, [key])
      await tx.query(`delete from ${this.#registry} where tenant_key = ${this.p(1)}`, [key])
    })
  }

  /**
   * Every recorded (tenant, migration) status — of one tenant, or of all in one round trip:
   * the no-op `migrate` reads nothing else.
   */
  async statuses(key?: string): Promise<Map<string, Map<string, MigrationStatus>>> {
    const where = key === undefined ? '' : ` where tenant_key = ${this.p(1)}`
    const { rows } = await this.#pool.query<{ tenant_key: string; migration: string; state: string; error: string | null; applied_at: unknown }>(
      `select tenant_key, migration, state, error, applied_at from ${this.#status}${where}`,
      key === undefined ? [] : [key],
    )
    const byTenant = new Map<string, Map<string, MigrationStatus>>()
    for (const r of rows) {
      let map = byTenant.get(r.tenant_key)
      if (!map) byTenant.set(r.tenant_key, (map = new Map()))
      map.set(r.migration, { state: r.state as MigrationState, error: r.error ?? undefined, updatedAt: toDate(r.applied_at) })
    }
    return byTenant
  }

  /**
   * Claims (tenant, migration) inside the migration's transaction, before `up` runs. The row
   * commits with the migration's work or rolls back with it, so a crash leaves no half-record;
   * a second migrator doing the same waits on the row lock, then sees a unique violation.
   * Only for engines whose DDL is transactional.
   */
  async claim(tx: EngineTransaction, tenant: string, migration: string): Promise<void> {
    await tx.query(`insert into ${this.#statusInTenant} (tenant_key, migration) values (${this.p(1)}, ${this.p(2)})`, [tenant, migration])
  }

  async unclaim(tx: EngineTransaction, tenant: string, migration: string): Promise<void> {
    await tx.query(`delete from ${this.#statusInTenant} where tenant_key = ${this.p(1)} and migration = ${this.p(2)}`, [tenant, migration])
  }

  /**
   * Marks (tenant, migration) `running` before a non-transactional `up`: a new row, or a
   * `failed` one taken over for a retry. Returns the state found instead when another
   * migrator got there first (or left it interrupted). `previous` is what the caller read
   * earlier and may be stale: a row that turned up `failed` meanwhile (another migrator's
   * attempt failed) is taken over like any failed one, never reported as interrupted.
   */
  async start(tenant: string, migration: string, previous: MigrationState | undefined, attempts = 3): Promise<{ started: true } | { started: false; state: MigrationState }> {
    if (previous === undefined) {
      try {
        await this.#pool.query(`insert into ${this.#status} (tenant_key, migration, state) values (${this.p(1)}, ${this.p(2)}, 'running')`, [tenant, migration])
        return { started: true }
      } catch (err) {
        if (!(err instanceof UniqueViolationError)) throw err
      }
    } else if (previous === 'failed') {
      const { rowCount } = await this.#pool.query(
        `update ${this.#status} set state = 'running', error = null, applied_at = current_timestamp where tenant_key = ${this.p(1)} and migration = ${this.p(2)} and state = 'failed'`,
        [tenant, migration],
      )
      if (rowCount === 1) return { started: true }
    }
    const now = (await this.statuses(tenant)).get(tenant)?.get(migration)
    // The row changed under us (inserted and failed, or deleted): try again from what it is now, a few times.
    if (attempts > 1 && (now === undefined || now.state === 'failed')) return this.start(tenant, migration, now?.state, attempts - 1)
    if (now === undefined) throw new Error(`The status of migration '${migration}' for tenant '${tenant}' kept changing while it was being started (another migrator?)`)
    return { started: false, state: now.state }
  }

  /** Moves a `running`/`reverting` row on: `applied` (done), `failed` (with why) or gone (reverted). */
  async settle(tenant: string, migration: string, outcome: { state: 'applied' } | { state: 'failed'; error: string } | { state: 'reverted' }, db: Queryable = this.#pool): Promise<void> {
    const key = `where tenant_key = ${this.p(1)} and migration = ${this.p(2)}`
    if (outcome.state === 'reverted') {
      await db.query(`delete from ${this.#status} ${key}`, [tenant, migration])
    } else if (outcome.state === 'applied') {
      await db.query(`update ${this.#status} set state = 'applied', error = null, applied_at = current_timestamp ${key}`, [tenant, migration])
    } else {
      await db.query(`update ${this.#status} set state = 'failed', error = ${this.p(1)}, applied_at = current_timestamp where tenant_key = ${this.p(2)} and migration = ${this.p(3)}`, [
        outcome.error.slice(0, ERROR_CHARS),
        tenant,
        migration,
      ])
    }
  }

  /** `applied` → `reverting`, before a non-transactional `down`; false when the row was not `applied`. */
  async startRevert(tenant: string, migration: string): Promise<boolean> {
    const { rowCount } = await this.#pool.query(
      `update ${this.#status} set state = 'reverting', applied_at = current_timestamp where tenant_key = ${this.p(1)} and migration = ${this.p(2)} and state = 'applied'`,
      [tenant, migration],
    )
    return rowCount === 1
  }
}

function toDate(value: unknown): Date {
  return value instanceof Date ? value : new Date(String(value))
}

function splitName(name: string, option: string, qualifiable: boolean): TableName {
  const parts = name.split('.')
  if (parts.length > 2 || parts.some((p) => !TABLE_PART.test(p))) throw new ConfigurationError(`${option} must be 'table' or 'schema.table' of plain identifiers, got '${name}'`)
  if (parts.length === 2 && !qualifiable) throw new ConfigurationError(`${option} '${name}': this engine has no schemas, give a plain table name`)
  return parts.length === 2 ? { schema: parts[0], table: parts[1]! } : { schema: undefined, table: parts[0]! }
}
