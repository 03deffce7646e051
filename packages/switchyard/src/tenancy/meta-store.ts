import { ConfigurationError, QueryError, UniqueViolationError } from '../errors.js'
import type { EnginePool, EngineTransaction, Queryable } from '../engines/types.js'
import { SQLITE_HOME_ALIAS } from '../engines/sqlite/home.js'
import { TenantSchemaConflictError } from './errors.js'

const TABLE_PART = /^[A-Za-z_][A-Za-z0-9_]*$/

/** SQLSTATEs of a concurrent `create ... if not exists` losing the race on the catalog. */
const ALREADY_EXISTS = new Set(['23505', '42P06', '42P07', '42710'])

/** Longest failure message kept in the status table. */
const ERROR_CHARS = 2000

/** The registry column holding {@link foldSchemaName} of `schema_name`, unique. */
const FOLDED = 'schema_folded'

/**
 * A schema name as the registry compares it: ASCII letters lower-cased, nothing else touched
 * (schema names are ASCII, see `validateSchemaName`). MySQL with `lower_case_table_names` 1 or
 * 2 and case-insensitive file systems (SQLite's tenant files) take names that differ only in
 * case for one, so the registry does so on every engine.
 */
export function foldSchemaName(name: string): string {
  return name.replace(/[A-Z]/g, (c) => c.toLowerCase())
}

/**
 * SQL computing {@link foldSchemaName} of `expr` on every engine. `replace` is case-sensitive
 * everywhere, whereas `lower` follows the database's locale or collation (a Turkish one
 * lowers `I` to a dotless `ı`), which would let SQL and JavaScript disagree.
 */
export function foldSchemaSql(expr: string): string {
  let sql = expr
  for (const c of 'ABCDEFGHIJKLMNOPQRSTUVWXYZ') sql = `replace(${sql}, '${c}', '${c.toLowerCase()}')`
  return sql
}

/**
 * Where a (tenant, migration) stands. Engines with transactional DDL only ever record
 * `applied` (the row commits with the migration). The others record `running` before `up`,
 * then `applied`, `failed` (nothing of it was committed: retried by the next migrate) or
 * `partial` (it failed after some of its DDL committed: left for `resolve`); `reverting`
 * likewise around `down`. A `running` or `reverting` row that nobody is working on was
 * interrupted: the DDL may be half-applied.
 */
export type MigrationState = 'applied' | 'running' | 'failed' | 'partial' | 'reverting'

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
  #home: string | undefined
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

  /** The schema (MySQL: database) holding the registry; undefined when it is the pool's default. Valid after {@link ensure}. */
  get home(): string | undefined {
    return this.#home
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
    this.#home = home
    const at = (name: TableName) => (home !== undefined ? `${q(home)}.${q(name.table)}` : q(name.table))
    this.#registry = at(this.#registryName)
    this.#status = at(this.#statusName)
    this.#statusInTenant = pool.capabilities.schemaScoping === 'attached' ? `${q(SQLITE_HOME_ALIAS)}.${q(this.#statusName.table)}` : this.#status

    const ts = pool.capabilities.dialect === 'postgres' ? 'timestamptz' : 'timestamp'
    const statements: string[] = []
    if (explicitHome) statements.push(`create schema if not exists ${q(home!)}`)
    statements.push(
      // schema_folded is unique: two tenants can never be registered on one schema, whatever its letter case, however concurrently.
      `create table if not exists ${this.#registry} (tenant_key varchar(255) not null primary key, schema_name varchar(255) not null, ${FOLDED} varchar(255) not null unique, created_at ${ts} not null default current_timestamp)`,
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
    await this.#upgradeRegistry(home)
  }

  /**
   * Brings a registry created by an older version (no `schema_folded`) up to date, here rather
   * than by a manual step: the change is additive, and a step forgotten on one deployment would
   * leave its registry unguarded. The column comes with its unique constraint in one atomic
   * step, so no crash leaves it unguarded; it stays nullable, so older versions still running
   * during a rolling upgrade can insert (their rows are filled in at the next start). A
   * registry in which two tenants already share a schema is refused with what to fix: which
   * tenant keeps the schema is for a person to decide.
   */
  async #upgradeRegistry(home: string | undefined): Promise<void> {
    const unfilled = async () => (await this.#pool.query(`select tenant_key from ${this.#registry} where ${FOLDED} is null limit 1`)).rows.length > 0
    let backfill: boolean
    try {
      backfill = await unfilled()
    } catch (err) {
      if (!(err instanceof QueryError)) throw err
      // The column is missing, or another process added it since: asked again, any other failure repeats.
      if (!(await this.#hasFoldedColumn())) await this.#addFoldedColumn(home)
      backfill = await unfilled()
    }
    if (backfill) await this.#backfill()
  }

  async #hasFoldedColumn(): Promise<boolean> {
    const { fields } = await this.#pool.query(`select * from ${this.#registry} where 1 = 0`)
    return fields.some((f) => f.name.toLowerCase() === FOLDED)
  }

  async #addFoldedColumn(home: string | undefined): Promise<void> {
    const pool = this.#pool
    const q = (n: string) => pool.quoteIdentifier(n)
    // PostgreSQL's own name for a unique constraint, cut to the identifier limits (63 on PostgreSQL, 64 on MySQL).
    const constraint = q(`${this.#registryName.table}_${FOLDED}_key`.slice(0, 63))
    try {
      if (pool.capabilities.schemaScoping === 'attached') {
        // SQLite's ALTER TABLE adds no UNIQUE column: a unique index, in the same transaction (its DDL is transactional).
        await pool.transaction(async (tx) => {
          await tx.query(`alter table ${this.#registry} add column ${FOLDED} varchar(255)`)
          await tx.query(`create unique index ${home !== undefined ? `${q(home)}.` : ''}${constraint} on ${q(this.#registryName.table)} (${FOLDED})`)
        })
      } else {
        // One statement, so atomic on MySQL too, whose DDL commits statement by statement.
        await pool.query(`alter table ${this.#registry} add column ${FOLDED} varchar(255), add constraint ${constraint} unique (${FOLDED})`)
      }
    } catch (err) {
      // Another process upgrading the same registry got there first.
      if (!(await this.#hasFoldedColumn())) throw err
    }
  }

  async #backfill(): Promise<void> {
    try {
      await this.#pool.query(`update ${this.#registry} set ${FOLDED} = ${foldSchemaSql('schema_name')} where ${FOLDED} is null`)
    } catch (err) {
      if (!(err instanceof UniqueViolationError)) throw err
      const { rows } = await this.#pool.query<{ tenant_key: string; schema_name: string }>(`select tenant_key, schema_name from ${this.#registry}`)
      const byFolded = new Map<string, string[]>()
      for (const r of rows) {
        const f = foldSchemaName(r.schema_name)
        byFolded.set(f, [...(byFolded.get(f) ?? []), `'${r.tenant_key}' → '${r.schema_name}'`])
      }
      const shared = [...byFolded.values()].filter((g) => g.length > 1)
      if (shared.length === 0) throw err
      throw new ConfigurationError(
        `The tenant registry ${this.#registry} lists tenants whose schemas differ only in letter case: ${shared.map((g) => g.join(' and ')).join('; ')}. ` +
          'MySQL and case-insensitive file systems take such names for one schema, so the tenants share their data; Switchyard therefore refuses them on every engine. ' +
          `Give all but one tenant of each group a schema of its own (move its data, then update its schema_name in ${this.#registry}) or delete its registry row, then start again.`,
        { cause: err },
      )
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
    // Compared here too: MySQL's default collation ignores case, and 'ACME' must never find 'acme' (drop would remove its database).
    const row = rows.find((r) => r.tenant_key === key)
    return row ? { key: row.tenant_key, schema: row.schema_name } : undefined
  }

  /**
   * Registers a tenant, before its schema is created; true when this call added the row. The
   * same key and schema again is a no-op (provision is re-runnable, concurrently too). A schema
   * another tenant has, in any letter case, is refused with {@link TenantSchemaConflictError}
   * by the unique `schema_folded`: a check before the insert could not stop two concurrent
   * registrations.
   */
  async register(key: string, schema: string): Promise<boolean> {
    const folded = foldSchemaName(schema)
    for (let attempt = 1; ; attempt++) {
      try {
        await this.#pool.query(`insert into ${this.#registry} (tenant_key, schema_name, ${FOLDED}) values (${this.p(1)}, ${this.p(2)}, ${this.p(3)})`, [key, schema, folded])
        return true
      } catch (err) {
        if (!(err instanceof UniqueViolationError)) throw err
        const { rows } = await this.#pool.query<{ tenant_key: string; schema_name: string }>(
          `select tenant_key, schema_name from ${this.#registry} where tenant_key = ${this.p(1)} or ${FOLDED} = ${this.p(2)}`,
          [key, folded],
        )
        const same = rows.find((r) => r.tenant_key === key)
        if (same) {
          if (same.schema_name === schema) return false
          throw new ConfigurationError(`Tenant '${key}' is registered with schema '${same.schema_name}', but the mapping now gives '${schema}'`)
        }
        const holder = rows.find((r) => foldSchemaName(r.schema_name) === folded)
        if (holder) throw new TenantSchemaConflictError(key, schema, holder.tenant_key, holder.schema_name)
        // Equal keys by the column's collation only (MySQL's default ignores case): the registry cannot hold both.
        const alike = rows[0]
        if (alike) throw new ConfigurationError(`Tenant '${key}' cannot be registered: the registry ${this.#registry} takes it for the registered tenant '${alike.tenant_key}' (its collation ignores case)`)
        // The row in the way was deleted meanwhile (a concurrent drop): once more.
        if (attempt >= 2) throw err
      }
    }
  }

  /**
   * Refuses, with {@link TenantSchemaConflictError}, a schema that a tenant other than `key`
   * is registered with in any letter case. A read for callers that must check before writing
   * elsewhere (the lookup table); {@link register} is what holds under concurrency.
   */
  async assertSchemaFree(key: string, schema: string): Promise<void> {
    const { rows } = await this.#pool.query<{ tenant_key: string; schema_name: string }>(
      `select tenant_key, schema_name from ${this.#registry} where ${FOLDED} = ${this.p(1)}`,
      [foldSchemaName(schema)],
    )
    const holder = rows.find((r) => r.tenant_key !== key)
    if (holder) throw new TenantSchemaConflictError(key, schema, holder.tenant_key, holder.schema_name)
  }

  /** Undoes {@link register} when the tenant's schema could not be created: a failed provision leaves no tenant without a schema behind. */
  async release(key: string, schema: string): Promise<void> {
    await this.#pool.query(`delete from ${this.#registry} where tenant_key = ${this.p(1)} and schema_name = ${this.p(2)}`, [key, schema])
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

  /** Moves a `running`/`reverting` row on: `applied` (done), `failed`/`partial` (with why) or gone (reverted). */
  async settle(
    tenant: string,
    migration: string,
    outcome: { state: 'applied' } | { state: 'failed' | 'partial'; error: string } | { state: 'reverted' },
    db: Queryable = this.#pool,
  ): Promise<void> {
    const key = `where tenant_key = ${this.p(1)} and migration = ${this.p(2)}`
    if (outcome.state === 'reverted') {
      await db.query(`delete from ${this.#status} ${key}`, [tenant, migration])
    } else if (outcome.state === 'applied') {
      await db.query(`update ${this.#status} set state = 'applied', error = null, applied_at = current_timestamp ${key}`, [tenant, migration])
    } else {
      await db.query(`update ${this.#status} set state = ${this.p(1)}, error = ${this.p(2)}, applied_at = current_timestamp where tenant_key = ${this.p(3)} and migration = ${this.p(4)}`, [
        outcome.state,
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
