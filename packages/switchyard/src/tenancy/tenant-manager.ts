import { ConfigurationError, UniqueViolationError, UnknownTenantError } from '../errors.js'
import type { EnginePool, EngineTransaction, QueryOptions, QueryResult, Row } from '../engines/types.js'
import { schemaMapping, validateSchemaName, type SchemaMapping } from '../schema/schema-name.js'
import { TenantDropNotConfirmedError, TenantMigrationError } from './errors.js'
import { MetaStore } from './meta-store.js'
import type {
  MigrateOptions,
  MigrateResult,
  MigrationFailure,
  ProvisionResult,
  TenantInfo,
  TenantManagerOptions,
  TenantMigration,
  TenantMigrationDb,
} from './types.js'

/** Thrown inside a migration transaction to roll it back when another migrator already applied it. */
class AlreadyApplied extends Error {}

/**
 * Creates, lists, migrates and drops tenants of a schema-per-tenant database (or
 * database-per-tenant on engines without schemas, such as MySQL). A registry table lists
 * the tenants; a status table records each (tenant, migration) in the same transaction as
 * the migration itself, so `migrate` resumes after a crash exactly where it stopped and a
 * run with nothing pending costs two queries however many tenants there are.
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

  constructor(options: TenantManagerOptions) {
    if (!options?.pool) throw new ConfigurationError('TenantManager: pool is required')
    this.#pool = options.pool
    const m = options.mapping
    this.#mapping = m !== undefined && typeof m === 'object' && 'schemaFor' in m ? m : schemaMapping(m as Parameters<typeof schemaMapping>[0])
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
  }

  /** The tenant's schema by the mapping (validated; no database access). */
  schemaOf(key: string): string {
    return this.#mapping.schemaFor(key)
  }

  /**
   * Creates the tenant's schema (or database) if missing, registers the tenant and applies
   * every pending migration. Calling it again is harmless and finishes an interrupted
   * provisioning. The key is mapped and validated before any SQL is sent.
   *
   * @example
   * ```ts
   * const { schema, created, migrated } = await tenants.provision('acme')
   * // 'tenant_acme', true, ['001_orders']
   * ```
   */
  async provision(key: string): Promise<ProvisionResult> {
    const schema = this.#mapping.schemaFor(key)
    await this.#meta.ensure()
    let created = false
    try {
      await this.#pool.createSchema(schema)
      created = true
    } catch (err) {
      // Already there (an earlier or concurrent provision): fine. Anything else is a real failure.
      if (!(await this.#pool.listSchemas()).includes(schema)) throw err
    }
    await this.#meta.register(key, schema)
    const applied = (await this.#meta.applied()).get(key) ?? new Set<string>()
    const result = await this.#migrateTenant(key, schema, this.#pending(applied, this.#disallowed()))
    if (result.failure) throw new TenantMigrationError(key, result.failure.migration, result.failure.error)
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
    await this.#pool.dropSchema(tenant.schema, { cascade: true })
    await this.#meta.unregister(key)
  }

  /**
   * Applies pending migrations to every registered tenant, `concurrency` tenants at a time.
   * Each migration runs in its own transaction with the tenant's search path set locally and
   * its status row written in that same transaction. A failing tenant is reported in
   * `failed` and the others carry on; a rerun picks up only what is still pending.
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
    const [tenants, applied] = await Promise.all([this.#meta.tenants(options.tenants), this.#meta.applied()])
    const disallowed = this.#disallowed()

    const result: MigrateResult = { migrated: [], failed: [], skipped: [], disallowed: [...disallowed], notStarted: [] }
    const total = tenants.length
    let done = 0
    const queue: { key: string; schema: string; pending: TenantMigration[] }[] = []
    for (const t of tenants) {
      const pending = this.#pending(applied.get(t.key) ?? new Set(), disallowed)
      if (pending.length === 0) {
        result.skipped.push(t.key)
        options.onProgress?.({ tenant: t.key, status: 'skipped', done: ++done, total, applied: [] })
      } else {
        queue.push({ key: t.key, schema: t.schema, pending })
      }
    }

    let next = 0
    const worker = async (): Promise<void> => {
      while (next < queue.length) {
        if (options.signal?.aborted) return
        const item = queue[next++]!
        let outcome: { applied: string[]; failure?: MigrationFailure }
        try {
          validateSchemaName(item.schema) // a registry row must pass validation before its name reaches SQL
          outcome = await this.#migrateTenant(item.key, item.schema, item.pending)
        } catch (err) {
          outcome = { applied: [], failure: { tenant: item.key, migration: item.pending[0]!.name, error: err as Error } }
        }
        if (outcome.failure) result.failed.push(outcome.failure)
        else if (outcome.applied.length > 0) result.migrated.push(item.key)
        else result.skipped.push(item.key)
        options.onProgress?.({ tenant: item.key, status: outcome.failure ? 'failed' : outcome.applied.length > 0 ? 'migrated' : 'skipped', done: ++done, total, applied: outcome.applied })
      }
    }
    await Promise.all(Array.from({ length: Math.min(concurrency, queue.length) }, worker))
    if (next < queue.length) result.notStarted.push(...queue.slice(next).map((q) => q.key))
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
    const applied = (await this.#meta.applied()).get(key) ?? new Set<string>()
    const toRevert = this.#migrations.filter((m) => applied.has(m.name)).reverse().slice(0, options.steps ?? 1)
    const reverted: string[] = []
    for (const m of toRevert) {
      if (!m.down) throw new ConfigurationError(`Migration '${m.name}' has no down(); cannot roll tenant '${key}' back past it`)
      try {
        await this.#pool.transaction(
          async (tx) => {
            await this.#meta.unclaim(tx, key, m.name)
            await m.down!(this.#db(tx, key, tenant.schema))
          },
          { schema: tenant.schema },
        )
      } catch (err) {
        throw new TenantMigrationError(key, m.name, err)
      }
      reverted.push(m.name)
    }
    return reverted
  }

  /** Migrations a router's allowMigrate refuses on this alias: they stay pending, in provision and migrate alike. */
  #disallowed(): Set<string> {
    return new Set(this.#migrations.filter((m) => this.#allowMigrate?.(this.#alias, { table: m.model }) === false).map((m) => m.name))
  }

  #pending(applied: ReadonlySet<string>, disallowed: ReadonlySet<string>): TenantMigration[] {
    return this.#migrations.filter((m) => !applied.has(m.name) && !disallowed.has(m.name))
  }

  async #migrateTenant(key: string, schema: string, pending: readonly TenantMigration[]): Promise<{ applied: string[]; failure?: MigrationFailure }> {
    const applied: string[] = []
    for (const m of pending) {
      try {
        await this.#pool.transaction(
          async (tx) => {
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

  #db(tx: EngineTransaction, tenant: string, schema: string): TenantMigrationDb {
    const pool = this.#pool
    return {
      tenant,
      schema,
      capabilities: pool.capabilities,
      quoteIdentifier: (name: string) => pool.quoteIdentifier(name),
      // The transaction carries the tenant's search path; a per-statement schema override is ignored so a migration cannot step out of it.
      query: <R = Row>(sql: string, params?: readonly unknown[], options?: QueryOptions): Promise<QueryResult<R>> =>
        tx.query<R>(sql, params ?? [], options?.signal ? { signal: options.signal } : undefined),
    }
  }
}
