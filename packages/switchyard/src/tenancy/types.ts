import type { EngineCapabilities, EnginePool, Queryable } from '../engines/types.js'
import type { ModelMeta } from '../router/types.js'
import type { SchemaLookup, SchemaMapping } from '../schema/schema-name.js'
import type { TableMappingOptions } from './table-mapping.js'
import type { DatabasePerTenantOptions } from './tenant-databases.js'

/**
 * What a migration's `up` and `down` receive: statements run on one connection inside the
 * migration's own transaction, scoped to the tenant: a transaction-local search path on
 * PostgreSQL, `USE tenant` on MySQL, a connection on the tenant's file on SQLite.
 * Unqualified names therefore resolve in the tenant's schema on every engine.
 *
 * On engines without transactional DDL (MySQL, MariaDB) each DDL statement commits by
 * itself (and whatever ran before it). A migration that fails before anything of it can have
 * committed is retried by the next `migrate`; one that fails later is reported with a
 * `TenantMigrationPartialError` and left for `tenants.resolve`. Keep one DDL statement per
 * migration, or make its statements re-runnable (`if not exists`), to stay on the first path.
 */
export interface TenantMigrationDb extends Queryable {
  /** The tenant key being migrated. */
  readonly tenant: string
  /**
   * The tenant's schema (a database on MySQL, a file on SQLite; `public` of the tenant's own
   * database with PostgreSQL's `databasePerTenant`). Prefer unqualified names:
   * on SQLite the migration's connection has the tenant's file as `main`, and this name
   * does not resolve there.
   */
  readonly schema: string
  readonly capabilities: EngineCapabilities
  quoteIdentifier(name: string): string
}

/**
 * A Kysely-style migration. Migrations apply in the order they are listed; `name` is the
 * key the status table records, so never rename one that has shipped.
 */
export interface TenantMigration {
  readonly name: string
  up(db: TenantMigrationDb): Promise<void>
  down?(db: TenantMigrationDb): Promise<void>
  /** The model (table) the migration is for; passed to `allowMigrate`. */
  readonly model?: string
}

export interface TenantManagerOptions {
  /**
   * An admin/write pool: on the shared database for schema-per-tenant, on the server for
   * database-per-tenant (MySQL; PostgreSQL with `databasePerTenant`). The registry lives here.
   */
  readonly pool: EnginePool
  /**
   * PostgreSQL only: give each tenant a database of its own (named by `mapping`) instead of a
   * schema. `pool` must be allowed to CREATE DATABASE; migrations run through pools that
   * `connect(database)` describes, and each tenant database records its own migrations.
   */
  readonly databasePerTenant?: DatabasePerTenantOptions
  /**
   * Tenant key → schema: a naming convention (`'tenant_{key}'`, the default), a Map or
   * function lookup, a `SchemaMapping`, or a lookup table (`{ table: 'tenant_schemas' }` or
   * a shared `tableSchemaMapping(...)`) kept on `pool`.
   */
  readonly mapping?: SchemaMapping | string | SchemaLookup | TableMappingOptions
  readonly migrations?: readonly TenantMigration[]
  /** Alias of `pool`, as `allowMigrate` sees it. Default `default`. */
  readonly alias?: string
  /** Consulted once per migration and run; `false` leaves the migration pending. */
  readonly allowMigrate?: (alias: string, model: ModelMeta) => boolean | undefined
  /**
   * Where per-(tenant, migration) status is kept: `schema.table` on engines with schemas
   * (default `switchyard.tenant_migrations`), a plain table otherwise (default `switchyard_tenant_migrations`).
   */
  readonly statusTable?: string
  /** The tenant registry, named like `statusTable` (default `switchyard.tenants` / `switchyard_tenants`). */
  readonly registryTable?: string
}

export interface TenantInfo {
  readonly key: string
  readonly schema: string
  readonly createdAt: Date
}

export interface ProvisionResult {
  readonly key: string
  readonly schema: string
  /** Whether this call created the schema (false when it already existed). */
  readonly created: boolean
  /** Migrations applied by this call, in order. */
  readonly migrated: readonly string[]
}

export interface ProvisionOptions {
  /** With a lookup-table mapping: the schema to record for this new tenant. Other mappings must agree with it. */
  readonly schema?: string
  /**
   * Take over a schema (database, file) that exists already for a tenant the registry does not
   * have yet, say one created before Switchyard managed tenants. Without it `provision` refuses
   * with `TenantSchemaExistsError`, so a wrong mapping can never adopt, then let `drop` destroy,
   * data that is not a tenant's. The registry's own schema, the admin database, templates and
   * system schemas are refused even with it. Default false.
   */
  readonly adopt?: boolean
}

export interface MigrateProgress {
  readonly tenant: string
  readonly status: 'migrated' | 'failed' | 'skipped'
  /** Tenants finished so far, this one included. */
  readonly done: number
  readonly total: number
  /** Migrations this tenant got in this run. */
  readonly applied: readonly string[]
}

export interface MigrateOptions {
  /** Tenants migrated at once (each on its own connection). Default 4. */
  readonly concurrency?: number
  /**
   * Called after each tenant. If it throws, no further tenant is started; tenants already
   * migrating finish, then `migrate` rejects with a `MigrateProgressError` carrying the result.
   */
  readonly onProgress?: (progress: MigrateProgress) => void
  /** Only these tenant keys (default: every registered tenant). */
  readonly tenants?: readonly string[]
  /** Stops starting further tenants; a tenant in progress finishes (or fails) its current migration. */
  readonly signal?: AbortSignal
}

export interface MigrationFailure {
  readonly tenant: string
  readonly migration: string
  readonly error: Error
}

export interface MigrateResult {
  /** Tenants that got at least one migration and had none fail. */
  readonly migrated: string[]
  /**
   * One entry per tenant whose migration failed; its later migrations were not tried. A
   * non-transactional migration that was interrupted (`TenantMigrationInterruptedError`) or
   * failed after part of it committed (`TenantMigrationPartialError`) is reported here and
   * not run again until resolved.
   */
  readonly failed: MigrationFailure[]
  /** Tenants with nothing to apply. */
  readonly skipped: string[]
  /** Migrations that `allowMigrate` refused on this alias (left pending everywhere). */
  readonly disallowed: string[]
  /** Tenants not started because `signal` aborted. */
  readonly notStarted: string[]
}
