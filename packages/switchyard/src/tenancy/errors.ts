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
