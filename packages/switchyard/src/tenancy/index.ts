export { TenantManager } from './tenant-manager.js'
export { TenantDropNotConfirmedError, TenantMigrationError, TenantMigrationInterruptedError, TenantMigrationPartialError, TenantMigrationStatusError, TenantSchemaConflictError, TenantSchemaExistsError, MigrateProgressError } from './errors.js'
export { TableSchemaMapping, tableSchemaMapping } from './table-mapping.js'
export type { TableMappingOptions } from './table-mapping.js'
export { tenantSchemaRouter } from './tenant-schema-router.js'
export type { DatabasePerTenantOptions } from './tenant-databases.js'
export type { TenantMappingSource } from './tenant-schema-router.js'
export type {
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
export { schemaMapping, validateSchemaName } from '../schema/schema-name.js'
export type { SchemaLookup, SchemaMapping } from '../schema/schema-name.js'
