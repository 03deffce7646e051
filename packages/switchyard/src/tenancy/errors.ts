import { SwitchyardError } from '../errors.js'

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
