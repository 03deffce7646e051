import { SwitchyardError } from '../errors.js'
import type { MigrateResult } from './types.js'

/** `drop(key)` was called without `{ confirm: key }`: dropping a tenant deletes its data. */
export class TenantDropNotConfirmedError extends SwitchyardError {
  constructor(readonly tenant: string) {
    super('TENANT_DROP_NOT_CONFIRMED', `Refusing to drop tenant '${tenant}': pass { confirm: '${tenant}' } to drop it and all its data.`)
  }
}

/** A tenant migration failed; the tenant's earlier migrations stay applied and recorded. */
export class TenantMigrationError extends SwitchyardError {
  constructor(
    readonly tenant: string,
    readonly migration: string,
    cause: unknown,
  ) {
    super('TENANT_MIGRATION_FAILED', `Migration '${migration}' failed for tenant '${tenant}': ${(cause as Error)?.message ?? String(cause)}`, { cause })
  }
}

/**
 * A migration of an engine without transactional DDL (MySQL, MariaDB) was started and never
 * recorded as finished: the migrating process crashed, or is still running elsewhere. Its
 * DDL may be half-applied, so it is not retried blindly; inspect the tenant, then
 * `tenants.resolve(tenant, migration, 'applied' | 'pending')`.
 */
export class TenantMigrationInterruptedError extends SwitchyardError {
  constructor(
    readonly tenant: string,
    readonly migration: string,
    readonly state: 'running' | 'reverting',
    readonly since: Date,
  ) {
    const what = state === 'running' ? 'applying' : 'reverting'
    super(
      'TENANT_MIGRATION_INTERRUPTED',
      `Migration '${migration}' for tenant '${tenant}' was interrupted while ${what} (started ${since.toISOString()}): the migrating process crashed or is still running elsewhere. ` +
        `This engine commits DDL statement by statement, so the migration may be half-applied. Inspect the tenant's schema, then call ` +
        `tenants.resolve('${tenant}', '${migration}', 'applied') if its changes are in place, or 'pending' if they are not (migrate then runs it again).`,
    )
  }
}

/**
 * A migration of an engine without transactional DDL ran its `up` to the end, but its status
 * could not be recorded as `applied` (the status table was unreachable). The row stays
 * `running`, so the next `migrate` reports it as interrupted: once the status table is back,
 * `tenants.resolve(tenant, migration, 'applied')` settles it.
 */
export class TenantMigrationStatusError extends SwitchyardError {
  constructor(
    readonly tenant: string,
    readonly migration: string,
    cause: unknown,
  ) {
    super(
      'TENANT_MIGRATION_STATUS_FAILED',
      `Migration '${migration}' for tenant '${tenant}' completed, but recording it as applied failed: ${(cause as Error)?.message ?? String(cause)}. ` +
        `Its status stays 'running' (the next migrate reports it as interrupted); call tenants.resolve('${tenant}', '${migration}', 'applied') once the status table is reachable.`,
      { cause },
    )
  }
}

/**
 * A migration of an engine without transactional DDL (MySQL, MariaDB) failed after some of its
 * statements had committed by themselves (a DDL statement commits itself and everything before
 * it). Re-running it could repeat what is in place, skipping it would lose the rest, so it is
 * not retried: finish or undo it by hand, then `tenants.resolve(tenant, migration, 'applied' | 'pending')`.
 * A migration that failed before anything committed is `failed` instead and retried.
 */
export class TenantMigrationPartialError extends SwitchyardError {
  constructor(
    readonly tenant: string,
    readonly migration: string,
    reason: string,
    cause?: unknown,
  ) {
    super(
      'TENANT_MIGRATION_PARTIAL',
      `Migration '${migration}' for tenant '${tenant}' failed after part of it was committed (${reason}). ` +
        `This engine commits DDL statement by statement, so it is not retried: complete or undo its changes in the tenant's schema, then call ` +
        `tenants.resolve('${tenant}', '${migration}', 'applied') if its changes are in place, or 'pending' if they are not (migrate then runs it again).`,
      cause === undefined ? undefined : { cause },
    )
  }
}

/**
 * `migrate`'s `onProgress` threw. No further tenant was started; tenants already migrating
 * finished first, so `result` is exactly what was applied.
 */
export class MigrateProgressError extends SwitchyardError {
  constructor(
    readonly result: MigrateResult,
    cause: unknown,
  ) {
    super('MIGRATE_PROGRESS_FAILED', `migrate(): onProgress threw (${(cause as Error)?.message ?? String(cause)}); no further tenant was started`, { cause })
  }
}

/**
 * A tenant was to get a schema that another tenant already has, in the same or another
 * letter case. `tenant_Acme` and `tenant_acme` are two schemas on PostgreSQL, but one database
 * on MySQL/MariaDB with `lower_case_table_names` 1 or 2 and one file on a case-insensitive file
 * system (SQLite): the two tenants would read each other's rows, and dropping one would drop
 * both. So schema names are compared ignoring ASCII case on every engine, and the second
 * tenant is refused before anything is created for it.
 */
export class TenantSchemaConflictError extends SwitchyardError {
  constructor(
    /** The tenant that was refused. */
    readonly tenant: string,
    /** The schema it was to get. */
    readonly schema: string,
    /** The tenant that has the schema. */
    readonly existingTenant: string,
    /** That tenant's spelling of the schema. */
    readonly existingSchema: string,
  ) {
    super(
      'TENANT_SCHEMA_CONFLICT',
      `Schema '${schema}' of tenant '${tenant}' is already used by tenant '${existingTenant}' (as '${existingSchema}'); ` +
        'schema names are compared ignoring case because MySQL and case-insensitive file systems fold them',
    )
  }
}

/**
 * `provision` found the tenant's schema (a database on MySQL and with `databasePerTenant`, a
 * file on SQLite) already there for a tenant the registry did not have. Taking it over
 * silently would let a mistyped mapping adopt somebody else's data, and `drop` would then
 * destroy it; so a new tenant gets a schema that `provision` created, unless the caller says
 * `{ adopt: true }`. Some schemas are never adopted, even then: the one holding the registry,
 * the admin database, templates and system schemas.
 */
export class TenantSchemaExistsError extends SwitchyardError {
  constructor(
    /** The tenant that was refused. */
    readonly tenant: string,
    /** The schema (or database) that exists already. */
    readonly schema: string,
    /** Why: not created by provision (adoptable with `{ adopt: true }`), or never adoptable. */
    readonly reason: 'exists' | 'reserved',
    detail?: string,
  ) {
    super(
      'TENANT_SCHEMA_EXISTS',
      reason === 'exists'
        ? `Tenant '${tenant}': '${schema}' exists already and provision did not create it; refusing to take it over (drop() would destroy it). ` +
            "Check the mapping, or pass { adopt: true } to make an existing tenant schema this tenant's."
        : `Tenant '${tenant}' cannot have '${schema}': ${detail ?? 'it is reserved'}; provision never adopts it.`,
    )
  }
}
