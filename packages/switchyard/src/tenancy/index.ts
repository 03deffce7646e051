export { TenantManager } from './tenant-manager.js'
export { TenantDropNotConfirmedError, TenantMigrationError } from './errors.js'
export type {
  MigrateOptions,
  MigrateProgress,
  MigrateResult,
  MigrationFailure,
  ProvisionResult,
  TenantInfo,
  TenantManagerOptions,
  TenantMigration,
  TenantMigrationDb,
} from './types.js'
export { schemaMapping, validateSchemaName } from '../schema/schema-name.js'
export type { SchemaLookup, SchemaMapping } from '../schema/schema-name.js'
