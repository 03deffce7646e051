import { ConfigurationError, UniqueViolationError, UnknownTenantError } from '../errors.js'
import type { EnginePool, EngineTransaction, QueryOptions, QueryResult, Row } from '../engines/types.js'
import { validateSchemaName, type SchemaMapping } from '../schema/schema-name.js'
import { MigrateProgressError, TenantDropNotConfirmedError, TenantMigrationError, TenantMigrationInterruptedError, TenantMigrationPartialError, TenantMigrationStatusError, TenantSchemaExistsError } from './errors.js'
import { CommitTracker } from './implicit-commit.js'
import { TenantDatabases } from './tenant-databases.js'
import { MetaStore, foldSchemaName, type MigrationState, type MigrationStatus } from './meta-store.js'
import { TableSchemaMapping } from './table-mapping.js'
import { toSchemaMapping } from './tenant-schema-router.js'
import type {
  MigrateOptions,
  MigrateProgress,
  MigrateResult,
  MigrationFailure,
  ProvisionOptions,
  ProvisionResult,
  TenantInfo,
  TenantManagerOptions,
  TenantMigration,
  TenantMigrationDb,
} from './types.js'

/**
 * Schemas (MySQL: databases; SQLite: attached names) no tenant is ever given by adoption: `drop`
 * would destroy what every tenant, or the server itself, relies on.
 */
const RESERVED_SCHEMAS: ReadonlySet<string> = new Set(['public', 'information_schema', 'mysql', 'performance_schema', 'sys', 'main', 'temp'])

/** Thrown inside a migration transaction to roll it back when another migrator already applied it. */
class AlreadyApplied extends Error {}

/** A migration still to apply, with what the status table says about it (`failed`: a retry). */
interface PendingMigration {
  readonly migration: TenantMigration
  readonly previous: MigrationStatus | undefined
}

/**
 * Creates, lists, migrates and drops tenants of a schema-per-tenant database (or
 * database-per-tenant on engines without schemas, such as MySQL). A registry table lists
 * the tenants; a status table records each (tenant, migration) in the same transaction as
 * the migration itself, so `migrate` resumes after a crash exactly where it stopped and a
 * run with nothing pending costs two queries however many tenants there are.
 *
 * Engines whose DDL commits by itself (MySQL, MariaDB) cannot record a migration atomically
 * with its work. There a migration is marked `running` before `up`, `applied` only after
 * `up` succeeded, and `failed` when it threw (the next `migrate` retries it). A crash
 * during `up` leaves it `running`: the next `migrate` reports it as a
 * {@link TenantMigrationInterruptedError} instead of guessing — re-running could repeat
 * half-applied DDL, skipping could lose the other half — until `resolve` says which it is.
 *
 * On SQLite a tenant is a database file beside the main one; each migration runs on a
 * connection opened on that file (so unqualified names resolve in it) with the main database
 * attached for the status row. Any number of tenant files works: the pool attaches them on
 * demand, under SQLite's limit of 10 at once.
 *
 * @example
 * ```ts
 * import { postgres } from 'switchyard/postgres'
 * import { TenantManager } from 'switchyard/tenancy'
 *
 * const pool = postgres({ connectionString: 'postgres://app@127.0.0.1/saas' }).createPool()
 * const tenants = new TenantManager({
 *   pool,
 *   mapping: 'tenant_{key}',
 *   migrations: [
 *     { name: '001_orders', up: (db) => db.query('create table orders (id int primary key, total numeric)').then(() => {}),
 *       down: (db) => db.query('drop table orders').then(() => {}) },
 *   ],
 * })
 * await tenants.provision('acme')                 // schema tenant_acme with table orders
 * const report = await tenants.migrate({ concurrency: 8, onProgress: (p) => console.log(p.done, '/', p.total) })
 * console.log(report.failed)                       // [] when every tenant is up to date
 * await tenants.drop('acme', { confirm: 'acme' })
 * ```
 */
export class TenantManager {
  readonly #pool: EnginePool
  readonly #mapping: SchemaMapping
  readonly #migrations: readonly TenantMigration[]
  readonly #alias: string
  readonly #allowMigrate: TenantManagerOptions['allowMigrate']
  readonly #meta: MetaStore
  readonly #table: TableSchemaMapping | undefined
  readonly #databases: TenantDatabases | undefined

  constructor(options: TenantManagerOptions) {
    if (!options?.pool) throw new ConfigurationError('TenantManager: pool is required')
    this.#pool = options.pool
    const m = options.mapping
    if (m instanceof TableSchemaMapping) this.#table = m
    else if (m !== undefined && typeof m === 'object' && 'table' in m && !(m instanceof Map)) this.#table = new TableSchemaMapping(m)
    this.#table?.bind(this.#pool)
    this.#mapping = this.#table ?? toSchemaMapping(m as Exclude<typeof m, { table: string }>)
    this.#migrations = Object.freeze([...(options.migrations ?? [])])
    const seen = new Set<string>()
    for (const mig of this.#migrations) {
      if (!mig || typeof mig.name !== 'string' || mig.name.length === 0 || mig.name.length > 255) throw new ConfigurationError('TenantManager: every migration needs a name of 1 to 255 characters')
      if (seen.has(mig.name)) throw new ConfigurationError(`TenantManager: migration name '${mig.name}' is used twice`)
      if (typeof mig.up !== 'function') throw new ConfigurationError(`TenantManager: migration '${mig.name}' has no up()`)
      seen.add(mig.name)
    }
    this.#alias = options.alias ?? 'default'
    this.#allowMigrate = options.allowMigrate
    this.#meta = new MetaStore(this.#pool, options)
    this.#databases = options.databasePerTenant ? new TenantDatabases(this.#pool, options.databasePerTenant) : undefined
  }

  /** The tenant's schema by the mapping (validated; no database access — a lookup table answers from its loaded copy). */
  schemaOf(key: string): string {
    return this.#mapping.schemaFor(key)
  }

  /** The key → schema mapping in use; share it with `tenantSchemaRouter` so routing agrees with provisioning. */
  get mapping(): SchemaMapping {
    return this.#mapping
  }

  /**
   * Loads a lookup-table mapping (a no-op for conventions and in-memory lookups). Call it at
   * start-up, before routing requests: until then every tenant is unknown to `schemaFor`.
   *
   * @example
   * ```ts
   * await sy.tenants.loadMapping()
   * ```
   */
  async loadMapping(): Promise<void> {
    await this.#table?.refresh()
  }

  /**
   * Creates the tenant's schema (or database) if missing, registers the tenant and applies
   * every pending migration. Calling it again is harmless and finishes an interrupted
   * provisioning. The key is mapped and validated before any SQL is sent.
   *
   * With a lookup-table mapping the key must be in the table, or `schema` given: it is then
   * recorded there first.
   *
   * A schema another tenant has, in any letter case, is refused with a
   * `TenantSchemaConflictError` before anything is created: MySQL and case-insensitive
   * file systems take `tenant_Acme` and `tenant_acme` for one schema. A schema that exists
   * already for a key the registry does not have is refused with `TenantSchemaExistsError`
   * unless `{ adopt: true }` (never the registry's own schema, the admin database or a system
   * schema), so a wrong mapping cannot hand `drop` somebody else's data.
   *
   * @example
   * ```ts
   * const { schema, created, migrated } = await tenants.provision('acme')
   * // 'tenant_acme', true, ['001_orders']
   * await lookupTenants.provision('globex', { schema: 'globex_eu' })
   * ```
   */
  async provision(key: string, options: ProvisionOptions = {}): Promise<ProvisionResult> {
    const schema = await this.#schemaForProvision(key, options.schema)
    await this.#meta.ensure()
    // A key the registry does not have may only get a schema provision makes (or one adopted on purpose): a mistyped mapping
    // must not hand drop() somebody's data. Decided before registering, from what exists, so a concurrent provision of the
    // same key that loses the registration race cannot take "registered by someone else" for "created by someone else".
    if ((await this.#meta.tenant(key)) === undefined) await this.#assertAdoptable(key, schema, options.adopt === true)
    // Registered before anything is created: the registry refuses a schema another tenant has (in any letter case) before any DDL.
    const registered = await this.#meta.register(key, schema)
    let created: boolean
    try {
      created = await this.#createContainer(schema)
    } catch (err) {
      if (registered) await this.#meta.release(key, schema).catch(() => {})
      throw err
    }
    const statuses = (await this.#meta.statuses(key)).get(key)
    const { pending, interrupted } = this.#pending(key, statuses, this.#disallowed())
    if (interrupted) throw interrupted
    const result = await this.#migrateTenant(key, schema, pending)
    if (result.failure) {
      const e = result.failure.error
      if (e instanceof TenantMigrationInterruptedError || e instanceof TenantMigrationPartialError || e instanceof TenantMigrationStatusError) throw e
      throw new TenantMigrationError(key, result.failure.migration, result.failure.error)
    }
    return { key, schema, created, migrated: result.applied }
  }

  /**
   * Registered tenants, ordered by key.
   *
   * @example
   * ```ts
   * for (const t of await tenants.list()) console.log(t.key, t.schema, t.createdAt.toISOString())
   * ```
   */
  async list(): Promise<TenantInfo[]> {
    await this.#meta.ensure()
    return this.#meta.tenants()
  }

  /**
   * Drops the tenant's schema with everything in it, and its registry and status rows.
   * Refuses with {@link TenantDropNotConfirmedError} unless `confirm` repeats the key.
   *
   * @example
   * ```ts
   * await tenants.drop('acme')                       // throws TenantDropNotConfirmedError
   * await tenants.drop('acme', { confirm: 'acme' })  // schema tenant_acme is gone
   * ```
   */
  async drop(key: string, options?: { confirm?: string }): Promise<void> {
    if (options?.confirm !== key) throw new TenantDropNotConfirmedError(key)
    await this.#meta.ensure()
    const tenant = await this.#meta.tenant(key)
    if (!tenant) throw new UnknownTenantError(key)
    // A registry row is data: it must pass validation before its name reaches DROP.
    if (this.#databases) await this.#databases.drop(tenant.schema)
    else await this.#pool.dropSchema(validateSchemaName(tenant.schema), { cascade: true })
    await this.#meta.unregister(key)
    await this.#table?.remove(key)
  }

  /**
   * Applies pending migrations to every registered tenant, `concurrency` tenants at a time.
   * Each migration runs in its own transaction scoped to the tenant, its status row written
   * in that same transaction (engines without transactional DDL: before and after it). A
   * failing tenant is reported in `failed` and the others carry on; a rerun picks up only
   * what is still pending, failed migrations included.
   *
   * @example
   * ```ts
   * const { migrated, failed, skipped } = await tenants.migrate({ concurrency: 8 })
   * for (const f of failed) console.error(f.tenant, f.migration, f.error.message)
   * ```
   */
  async migrate(options: MigrateOptions = {}): Promise<MigrateResult> {
    const concurrency = options.concurrency ?? 4
    if (!Number.isInteger(concurrency) || concurrency < 1) throw new ConfigurationError(`migrate(): concurrency must be a positive integer, got ${String(options.concurrency)}`)
    await this.#meta.ensure()
    // Two queries whatever the number of tenants: the registry and every status row.
    const [tenants, statuses] = await Promise.all([this.#meta.tenants(options.tenants), this.#meta.statuses()])
    const disallowed = this.#disallowed()

    const result: MigrateResult = { migrated: [], failed: [], skipped: [], disallowed: [...disallowed], notStarted: [] }
    const total = tenants.length
    let done = 0
    // A throwing callback must not reject migrate() while workers still migrate: it stops new tenants, like an abort.
    let progressError: { error: unknown } | undefined
    const progress = (p: MigrateProgress): void => {
      if (progressError || !options.onProgress) return
      try {
        options.onProgress(p)
      } catch (error) {
        progressError = { error }
      }
    }
    const queue: { key: string; schema: string; pending: PendingMigration[] }[] = []
    for (const t of tenants) {
      const { pending, interrupted } = this.#pending(t.key, statuses.get(t.key), disallowed)
      if (interrupted) {
        result.failed.push({ tenant: t.key, migration: interrupted.migration, error: interrupted })
        progress({ tenant: t.key, status: 'failed', done: ++done, total, applied: [] })
      } else if (pending.length === 0) {
        result.skipped.push(t.key)
        progress({ tenant: t.key, status: 'skipped', done: ++done, total, applied: [] })
      } else {
        queue.push({ key: t.key, schema: t.schema, pending })
      }
    }

    let next = 0
    const worker = async (): Promise<void> => {
      while (next < queue.length) {
        if (options.signal?.aborted || progressError) return
        const item = queue[next++]!
        let outcome: { applied: string[]; failure?: MigrationFailure }
        try {
          validateSchemaName(item.schema) // a registry row must pass validation before its name reaches SQL
          outcome = await this.#migrateTenant(item.key, item.schema, item.pending)
        } catch (err) {
          outcome = { applied: [], failure: { tenant: item.key, migration: item.pending[0]!.migration.name, error: err as Error } }
        }
        if (outcome.failure) result.failed.push(outcome.failure)
        else if (outcome.applied.length > 0) result.migrated.push(item.key)
        else result.skipped.push(item.key)
        progress({ tenant: item.key, status: outcome.failure ? 'failed' : outcome.applied.length > 0 ? 'migrated' : 'skipped', done: ++done, total, applied: outcome.applied })
      }
    }
    await Promise.all(Array.from({ length: Math.min(concurrency, queue.length) }, worker))
    if (next < queue.length) result.notStarted.push(...queue.slice(next).map((q) => q.key))
    if (progressError) throw new MigrateProgressError(result, progressError.error)
    return result
  }

  /**
   * Reverts the tenant's last `steps` applied migrations (in reverse order) with their `down`.
   *
   * @example
   * ```ts
   * await tenants.rollback('acme')              // undoes the newest applied migration
   * await tenants.rollback('acme', { steps: 2 })
   * ```
   */
  async rollback(key: string, options: { steps?: number } = {}): Promise<string[]> {
    await this.#meta.ensure()
    const tenant = await this.#meta.tenant(key)
    if (!tenant) throw new UnknownTenantError(key)
    const schema = validateSchemaName(tenant.schema)
    if (this.#databases) return this.#rollbackDatabase(key, schema, options.steps ?? 1)
    const statuses = (await this.#meta.statuses(key)).get(key)
    const stuck = [...(statuses ?? [])].find(([, s]) => s.state === 'running' || s.state === 'reverting' || s.state === 'partial')
    if (stuck) throw stuckError(key, stuck[0], stuck[1])
    const toRevert = this.#migrations.filter((m) => statuses?.get(m.name)?.state === 'applied').reverse().slice(0, options.steps ?? 1)
    const reverted: string[] = []
    for (const m of toRevert) {
      if (!m.down) throw new ConfigurationError(`Migration '${m.name}' has no down(); cannot roll tenant '${key}' back past it`)
      if (this.#pool.capabilities.transactionalDdl) {
        try {
          await this.#pool.transaction(
            async (tx) => {
              await this.#meta.unclaim(tx, key, m.name)
              await m.down!(this.#db(tx, key, schema))
            },
            { schema },
          )
        } catch (err) {
          throw new TenantMigrationError(key, m.name, err)
        }
      } else {
        // As with up: marked first, and left `reverting` (reported by migrate) if down fails half-way.
        if (!(await this.#meta.startRevert(key, m.name))) throw new TenantMigrationError(key, m.name, new Error('its status changed while rolling back (another migrator?)'))
        try {
          await this.#pool.transaction((tx) => m.down!(this.#db(tx, key, schema)), { schema })
        } catch (err) {
          throw new TenantMigrationError(key, m.name, err)
        }
        await this.#meta.settle(key, m.name, { state: 'reverted' })
      }
      reverted.push(m.name)
    }
    return reverted
  }

  /**
   * Settles a migration that {@link TenantMigrationInterruptedError} reported (engines
   * without transactional DDL): `'applied'` when its changes are in place, `'pending'` when
   * they are not, so the next `migrate` runs it again.
   *
   * @example
   * ```ts
   * const { failed } = await tenants.migrate()
   * for (const f of failed) if (f.error instanceof TenantMigrationInterruptedError) console.warn(f.error.message)
   * // after checking the tenant's tables by hand:
   * await tenants.resolve('acme', '003_add_index', 'pending')
   * ```
   */
  async resolve(key: string, migration: string, outcome: 'applied' | 'pending'): Promise<void> {
    if (outcome !== 'applied' && outcome !== 'pending') throw new ConfigurationError(`resolve(): outcome must be 'applied' or 'pending', got ${String(outcome)}`)
    await this.#meta.ensure()
    const status = (await this.#meta.statuses(key)).get(key)?.get(migration)
    if (!status) throw new ConfigurationError(`Tenant '${key}' has no status recorded for migration '${migration}'`)
    await this.#meta.settle(key, migration, outcome === 'applied' ? { state: 'applied' } : { state: 'reverted' })
  }

  /** Creates the tenant's schema (or database); false when it was already there (an earlier or concurrent provision). */
  async #createContainer(schema: string): Promise<boolean> {
    if (this.#databases) return this.#databases.create(schema)
    try {
      await this.#pool.createSchema(schema)
      return true
    } catch (err) {
      // Anything but "already there" is a real failure.
      if (!(await this.#pool.listSchemas()).includes(schema)) throw err
      return false
    }
  }

  /** For a key not yet registered: refuses an existing schema unless `adopt`, and ever one that holds the registry or the system's own. */
  async #assertAdoptable(key: string, schema: string, adopt: boolean): Promise<void> {
    const folded = foldSchemaName(schema)
    const home = this.#meta.home
    let reserved: string | undefined
    if (home !== undefined && foldSchemaName(home) === folded) reserved = 'it holds the tenant registry'
    else if (RESERVED_SCHEMAS.has(folded)) reserved = 'it is a system or default schema'
    else if (this.#databases) reserved = await this.#databases.reserved(schema)
    if (reserved !== undefined) throw new TenantSchemaExistsError(key, schema, 'reserved', reserved)
    // Another tenant's schema is a conflict, not an adoption (TenantSchemaConflictError says whose).
    await this.#meta.assertSchemaFree(key, schema)
    if (adopt || !(await this.#containerExists(schema))) return
    // A concurrent provision of this key registers before it creates, so a container seen
    // here with this key registered for it (read after seeing the container) is that
    // provision's, not somebody's data: carry on and resume it.
    if ((await this.#meta.tenant(key))?.schema === schema) return
    throw new TenantSchemaExistsError(key, schema, 'exists')
  }

  /** Whether the schema (database, file) is there already; MySQL's information_schema compares names as the server does. */
  async #containerExists(schema: string): Promise<boolean> {
    if (this.#databases) return this.#databases.exists(schema)
    if (this.#pool.capabilities.schemaScoping === 'attached') return (await this.#pool.listSchemas()).includes(schema)
    const { rows } = await this.#pool.query(`select 1 from information_schema.schemata where schema_name = ${this.#meta.p(1)}`, [schema])
    return rows.length > 0
  }

  /** Migrations a router's allowMigrate refuses on this alias: they stay pending, in provision and migrate alike. */
  #disallowed(): Set<string> {
    return new Set(this.#migrations.filter((m) => this.#allowMigrate?.(this.#alias, { table: m.model }) === false).map((m) => m.name))
  }

  /**
   * What is left to apply for one tenant, in order. A `running`, `reverting` or `partial` row
   * (only non-transactional engines write them) stops the tenant: the first one is reported.
   */
  #pending(
    key: string,
    statuses: ReadonlyMap<string, MigrationStatus> | undefined,
    disallowed: ReadonlySet<string>,
  ): { pending: PendingMigration[]; interrupted?: TenantMigrationInterruptedError | TenantMigrationPartialError } {
    const pending: PendingMigration[] = []
    for (const m of this.#migrations) {
      const previous = statuses?.get(m.name)
      if (previous?.state === 'running' || previous?.state === 'reverting' || previous?.state === 'partial') {
        return { pending: [], interrupted: stuckError(key, m.name, previous) }
      }
      if (previous?.state !== 'applied' && !disallowed.has(m.name)) pending.push({ migration: m, previous })
    }
    return { pending }
  }

  async #schemaForProvision(key: string, schema: string | undefined): Promise<string> {
    if (this.#table) {
      if (typeof key !== 'string' || key.length === 0 || key.length > 255) throw new ConfigurationError(`provision(): a tenant key must be 1 to 255 characters, got ${JSON.stringify(key)}`)
      if (schema !== undefined) {
        // The registry first: a tenant registered under another mapping may hold the schema, and the table must not point at it.
        validateSchemaName(schema)
        await this.#meta.ensure()
        await this.#meta.assertSchemaFree(key, schema)
        await this.#table.assign(key, schema)
      }
      return this.#table.resolve(key)
    }
    const mapped = this.#mapping.schemaFor(key)
    if (schema !== undefined && schema !== mapped) {
      throw new ConfigurationError(`provision('${key}', { schema: '${schema}' }): the ${this.#mapping.description} maps this key to '${mapped}'; only a lookup table takes a schema per tenant`)
    }
    return mapped
  }

  async #migrateTenant(key: string, schema: string, pending: readonly PendingMigration[]): Promise<{ applied: string[]; failure?: MigrationFailure }> {
    if (this.#databases) return this.#migrateDatabase(this.#databases, key, schema, pending)
    const applied: string[] = []
    for (const { migration: m, previous } of pending) {
      if (!this.#pool.capabilities.transactionalDdl) {
        let failure: MigrationFailure | 'skipped' | undefined
        try {
          failure = await this.#applyNonTransactional(key, schema, m, previous?.state)
        } catch (err) {
          // Marking it `running` (or reading its status) failed: this migration failed, after the ones in `applied`.
          return { applied, failure: { tenant: key, migration: m.name, error: err as Error } }
        }
        if (failure === 'skipped') continue
        if (failure) return { applied, failure }
        applied.push(m.name)
        continue
      }
      try {
        await this.#pool.transaction(
          async (tx) => {
            // A leftover non-applied row (say, a `pending` left by hand) must not read as "applied by someone else".
            if (previous !== undefined) await this.#meta.unclaim(tx, key, m.name)
            try {
              await this.#meta.claim(tx, key, m.name)
            } catch (err) {
              if (err instanceof UniqueViolationError) throw new AlreadyApplied()
              throw err
            }
            await m.up(this.#db(tx, key, schema))
          },
          { schema },
        )
        applied.push(m.name)
      } catch (err) {
        if (err instanceof AlreadyApplied) continue
        return { applied, failure: { tenant: key, migration: m.name, error: err as Error } }
      }
    }
    return { applied }
  }

  /**
   * Database-per-tenant: the tenant database's own status row commits with the migration; the
   * registry's copy follows. `pending` comes from the copy, so it may name a migration the
   * tenant database already has (a copy lost in a crash): that one is only copied again.
   */
  async #migrateDatabase(databases: TenantDatabases, key: string, database: string, pending: readonly PendingMigration[]): Promise<{ applied: string[]; failure?: MigrationFailure }> {
    return databases.open(database, async (db) => {
      const already = await db.applied()
      const applied: string[] = []
      for (const { migration: m } of pending) {
        let appliedNow = false
        if (!already.has(m.name)) {
          try {
            await db.pool.transaction(async (tx) => {
              try {
                await db.claim(tx, m.name)
              } catch (err) {
                if (err instanceof UniqueViolationError) throw new AlreadyApplied()
                throw err
              }
              await m.up(this.#db(tx, key, 'public'))
            })
            appliedNow = true
          } catch (err) {
            if (!(err instanceof AlreadyApplied)) return { applied, failure: { tenant: key, migration: m.name, error: err as Error } }
          }
        }
        // Copied only while the tenant's own record is there and locked: a rollback running meanwhile waits, or has removed it.
        const present = await db.whileApplied(m.name, () => this.#copyStatus(key, m.name, true))
        if (appliedNow) applied.push(m.name)
        if (!present) break // reverted meanwhile: it stays pending for the next migrate, and so does everything after it
      }
      return { applied }
    })
  }

  /** Reverts from what the tenant database itself records, the registry's copy removed first (so a crash leaves it missing, never stale). */
  async #rollbackDatabase(key: string, database: string, steps: number): Promise<string[]> {
    return this.#databases!.open(database, async (db) => {
      const applied = await db.applied()
      const toRevert = this.#migrations.filter((m) => applied.has(m.name)).reverse().slice(0, steps)
      const reverted: string[] = []
      for (const m of toRevert) {
        if (!m.down) throw new ConfigurationError(`Migration '${m.name}' has no down(); cannot roll tenant '${key}' back past it`)
        await this.#copyStatus(key, m.name, false)
        try {
          await db.pool.transaction(async (tx) => {
            if (!(await db.unclaim(tx, m.name))) throw new Error('another migrator reverted it meanwhile')
            await m.down!(this.#db(tx, key, 'public'))
          })
        } catch (err) {
          throw new TenantMigrationError(key, m.name, err)
        }
        // Once more after the commit: a migrate that copied the record while our delete was uncommitted leaves no stale copy.
        await this.#copyStatus(key, m.name, false)
        reverted.push(m.name)
      }
      return reverted
    })
  }

  /**
   * Keeps the registry's copy of a tenant database's status. Failing to add a copy is left
   * alone: the migration itself committed, and the next `migrate` finds it applied and copies
   * it again. Failing to remove one throws, before the revert: a stale copy would hide it.
   */
  async #copyStatus(key: string, migration: string, applied: boolean): Promise<void> {
    const status = this.#meta.status
    if (!applied) {
      await this.#pool.query(`delete from ${status} where tenant_key = $1 and migration = $2`, [key, migration])
      return
    }
    const sql = `insert into ${status} (tenant_key, migration) values ($1, $2) on conflict (tenant_key, migration) do update set state = 'applied', error = null`
    await this.#pool.query(sql, [key, migration]).catch(() => {})
  }

  /**
   * `running` → up → `applied`, or `failed` with the reason (retried by the next migrate).
   * Returns nothing when applied, `skipped` when another migrator finished it meanwhile.
   */
  async #applyNonTransactional(key: string, schema: string, m: TenantMigration, previous: MigrationState | undefined): Promise<MigrationFailure | 'skipped' | undefined> {
    const claim = await this.#meta.start(key, m.name, previous)
    if (!claim.started) {
      if (claim.state === 'applied') return 'skipped'
      if (claim.state === 'partial') {
        const now = (await this.#meta.statuses(key)).get(key)?.get(m.name)
        return { tenant: key, migration: m.name, error: new TenantMigrationPartialError(key, m.name, now?.error ?? 'another migrator recorded it') }
      }
      if (claim.state === 'failed') {
        // Another migrator's attempt failed while we tried to take it over: retryable, not interrupted.
        const now = (await this.#meta.statuses(key)).get(key)?.get(m.name)
        return { tenant: key, migration: m.name, error: new TenantMigrationError(key, m.name, new Error(`another migrator's attempt failed (${now?.error ?? 'no reason recorded'}); the next migrate retries it`)) }
      }
      const now = (await this.#meta.statuses(key)).get(key)?.get(m.name)
      const state = claim.state === 'reverting' ? 'reverting' : 'running'
      return { tenant: key, migration: m.name, error: new TenantMigrationInterruptedError(key, m.name, state, now?.updatedAt ?? new Date()) }
    }
    const tracker = new CommitTracker()
    try {
      // The transaction still makes the migration's DML atomic; only its DDL commits early.
      await this.#pool.transaction((tx) => m.up(this.#db(tx, key, schema, tracker)), { schema })
    } catch (err) {
      const message = (err as Error)?.message ?? String(err)
      // Retried only when nothing of it can have committed; otherwise a person decides (resolve).
      const state = tracker.committed ? 'partial' : 'failed'
      // If even this fails the row stays `running`, and the next migrate reports it as interrupted.
      await this.#meta.settle(key, m.name, { state, error: message }).catch(() => {})
      return { tenant: key, migration: m.name, error: state === 'partial' ? new TenantMigrationPartialError(key, m.name, message, err) : (err as Error) }
    }
    try {
      await this.#meta.settle(key, m.name, { state: 'applied' })
    } catch {
      // up() completed: try once more before leaving a `running` row behind for a migration that is in place.
      try {
        await this.#meta.settle(key, m.name, { state: 'applied' })
      } catch (err) {
        return { tenant: key, migration: m.name, error: new TenantMigrationStatusError(key, m.name, err) }
      }
    }
    return undefined
  }

  #db(tx: EngineTransaction, tenant: string, schema: string, tracker?: CommitTracker): TenantMigrationDb {
    const pool = this.#pool
    const run = <R>(sql: string, params: readonly unknown[], options: QueryOptions | undefined): Promise<QueryResult<R>> =>
      tx.query<R>(sql, params, options ? { signal: options.signal, rowMode: options.rowMode } : undefined)
    return {
      tenant,
      schema,
      capabilities: pool.capabilities,
      quoteIdentifier: (name: string) => pool.quoteIdentifier(name),
      // The transaction is scoped to the tenant; a per-statement schema override is ignored so a migration cannot step out of it
      // (its signal and row shape still apply).
      query: <R = Row>(sql: string, params?: readonly unknown[], options?: QueryOptions): Promise<QueryResult<R>> =>
        tracker ? tracker.track(sql, () => run<R>(sql, params ?? [], options)) : run<R>(sql, params ?? [], options),
    }
  }
}

/** The error a stuck status row (interrupted, or failed after committing part) is reported with. */
function stuckError(key: string, migration: string, status: MigrationStatus): TenantMigrationInterruptedError | TenantMigrationPartialError {
  if (status.state === 'partial') return new TenantMigrationPartialError(key, migration, status.error ?? 'no reason recorded')
  return new TenantMigrationInterruptedError(key, migration, status.state === 'reverting' ? 'reverting' : 'running', status.updatedAt)
}
