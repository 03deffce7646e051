import { ConfigurationError, QueryError } from '../errors.js'
import type { EnginePool, EngineSpec, EngineTransaction } from '../engines/types.js'
import { validateSchemaName } from '../schema/schema-name.js'

/**
 * Database-per-tenant on PostgreSQL: each tenant gets a database of its own, created by the
 * manager's admin pool (a role with CREATEDB), and migrated through a pool on that database.
 */
export interface DatabasePerTenantOptions {
  /**
   * Connection details for one tenant database (the name the mapping gives). The manager
   * opens a pool on it while it migrates that tenant and closes it after. Route application
   * queries to the same databases with `createSwitchyard({ resolveAlias })`.
   */
  connect(database: string): EngineSpec
  /** `CREATE DATABASE ... TEMPLATE`: a database to copy (default: the server's `template1`). */
  readonly template?: string
  /**
   * `CREATE DATABASE ... OWNER`: the role that owns each tenant database, when `connect` logs
   * in as another role than the admin pool (a provisioner with CREATEDB creates, the
   * application role owns and migrates). The admin role must be a member of it
   * (`GRANT app TO provisioner`), as PostgreSQL requires. Default: the admin pool's role.
   */
  readonly owner?: string
}

/** SQLSTATEs of a concurrent CREATE losing the race: duplicate_database, and the catalog's unique index. */
const DUPLICATE = new Set(['42P04', '23505'])
/** SQLSTATEs of `create ... if not exists` racing another session. */
const ALREADY_EXISTS = new Set(['23505', '42P06', '42P07'])

/**
 * Creates, drops and opens tenant databases. Each tenant database records its own applied
 * migrations in `switchyard.tenant_migrations`, written in the migration's transaction: that
 * record is the truth, because it commits or rolls back with the migration's DDL. The admin
 * registry's status table holds a copy, written after the commit, so a `migrate` with
 * nothing to apply needs no connection to any tenant database; a copy lost in a crash only
 * costs the next `migrate` one connection to find the migration already applied.
 */
export class TenantDatabases {
  readonly #admin: EnginePool
  readonly #options: DatabasePerTenantOptions
  readonly #template: string | undefined
  readonly #owner: string | undefined

  constructor(admin: EnginePool, options: DatabasePerTenantOptions) {
    if (admin.capabilities.dialect !== 'postgres' || admin.engine === 'pglite') {
      throw new ConfigurationError(
        `databasePerTenant needs a PostgreSQL server (got engine '${admin.engine}'): on MySQL a tenant's schema already is a database, on SQLite a file, and PGlite holds one database`,
      )
    }
    if (typeof options?.connect !== 'function') throw new ConfigurationError('databasePerTenant.connect must be a function (database name) => EngineSpec')
    this.#admin = admin
    this.#options = options
    this.#template = options.template === undefined ? undefined : validateName('template', options.template)
    this.#owner = options.owner === undefined ? undefined : validateName('owner', options.owner)
  }

  /** Creates the database; false when it exists already. */
  async create(name: string): Promise<boolean> {
    const q = (n: string) => this.#admin.quoteIdentifier(n)
    const template = this.#template === undefined ? '' : ` template ${q(this.#template)}`
    const owner = this.#owner === undefined ? '' : ` owner ${q(this.#owner)}`
    try {
      // CREATE DATABASE cannot run in a transaction block: a plain statement on the admin pool.
      await this.#admin.query(`create database ${q(validateSchemaName(name))}${template}${owner}`)
      return true
    } catch (err) {
      if (err instanceof QueryError && err.sqlState !== undefined && DUPLICATE.has(err.sqlState) && (await this.exists(name))) return false
      throw err
    }
  }

  /** Why `name` can never be a tenant's database (the admin pool's own, a template, `postgres`); undefined when it can. */
  async reserved(name: string): Promise<string | undefined> {
    const { rows } = await this.#admin.query<{ home: boolean; template: boolean }>(
      'select datname = current_database() as home, datistemplate as template from pg_database where datname = $1',
      [name],
    )
    const row = rows[0]
    if (row?.home) return 'it is the admin database, which holds the tenant registry'
    if (row?.template) return 'it is a template database'
    if (name === 'postgres') return "it is the server's maintenance database"
    return undefined
  }

  async exists(name: string): Promise<boolean> {
    const { rows } = await this.#admin.query('select 1 from pg_database where datname = $1', [name])
    return rows.length === 1
  }

  /** Drops the database, ending the sessions still connected to it (PostgreSQL 13+). */
  async drop(name: string): Promise<void> {
    await this.#admin.query(`drop database if exists ${this.#admin.quoteIdentifier(validateSchemaName(name))} with (force)`)
  }

  /** Runs `fn` with a pool on the tenant's database (its status table in place), closing the pool after. */
  async open<T>(name: string, fn: (db: TenantDatabase) => Promise<T>): Promise<T> {
    const spec = this.#options.connect(validateSchemaName(name))
    if (spec?.capabilities?.dialect !== 'postgres' || typeof spec.createPool !== 'function') {
      throw new ConfigurationError(`databasePerTenant.connect('${name}') must return a PostgreSQL engine spec, such as postgres({ ..., database })`)
    }
    const pool = spec.createPool()
    try {
      const db = new TenantDatabase(pool)
      await db.ensure()
      return await fn(db)
    } finally {
      await pool.close()
    }
  }
}

/** One open tenant database and its own record of applied migrations. */
export class TenantDatabase {
  static readonly STATUS = 'switchyard.tenant_migrations'

  constructor(readonly pool: EnginePool) {}

  async ensure(): Promise<void> {
    for (const sql of ['create schema if not exists switchyard', `create table if not exists ${TenantDatabase.STATUS} (migration varchar(255) primary key, applied_at timestamptz not null default current_timestamp)`]) {
      try {
        await this.pool.query(sql)
      } catch (err) {
        if (!(err instanceof QueryError && err.sqlState !== undefined && ALREADY_EXISTS.has(err.sqlState))) throw err
      }
    }
  }

  async applied(): Promise<Set<string>> {
    const { rows } = await this.pool.query<{ migration: string }>(`select migration from ${TenantDatabase.STATUS}`)
    return new Set(rows.map((r) => r.migration))
  }

  /**
   * Inside the migration's transaction, before `up`. A second migrator doing the same waits on
   * the row lock, then fails with a unique violation: the migration was applied meanwhile.
   */
  async claim(tx: EngineTransaction, migration: string): Promise<void> {
    await tx.query(`insert into ${TenantDatabase.STATUS} (migration) values ($1)`, [migration])
  }

  /**
   * Runs `fn` while this database's row for `migration` is locked FOR SHARE, only if the row is
   * there; false when it is not. A rollback deletes the row, so it waits for `fn` to finish, and
   * `fn` never runs for a migration a rollback has removed: the registry's copy, written by `fn`,
   * can never outlive the tenant's own record.
   */
  async whileApplied(migration: string, fn: () => Promise<void>): Promise<boolean> {
    return this.pool.transaction(async (tx) => {
      const { rows } = await tx.query(`select 1 from ${TenantDatabase.STATUS} where migration = $1 for share`, [migration])
      if (rows.length === 0) return false
      await fn()
      return true
    })
  }

  /** False when there was no row to remove (reverted meanwhile). */
  async unclaim(tx: EngineTransaction, migration: string): Promise<boolean> {
    const { rowCount } = await tx.query(`delete from ${TenantDatabase.STATUS} where migration = $1`, [migration])
    return rowCount === 1
  }
}

function validateName(option: 'template' | 'owner', name: string): string {
  try {
    return validateSchemaName(name)
  } catch (err) {
    // template0/template1, role and database names pass; the pg_ rule of schema names holds for roles too (pg_ is reserved).
    throw new ConfigurationError(`databasePerTenant.${option}: ${(err as Error).message}`, { cause: err })
  }
}
