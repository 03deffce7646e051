export * from './errors.js'
export * from './context/index.js'
export * from './router/index.js'
export * from './facade/index.js'
export { PoolRegistry } from './pools/pool-registry.js'
export type { AliasResolver, PinnedPool, PoolLease, PoolRegistryOptions } from './pools/pool-registry.js'
export { StatementClassifier } from './sql/classify.js'
export type { StatementKind } from './sql/classify.js'
export type * from './engines/types.js'
export * from './schema/index.js'
export { ensureParser } from './sql/parser.js'
export { analyzeStatement } from './sql/analyze.js'
export type { StatementAnalysis, TableSlot } from './sql/analyze.js'
export { guardAnalyzed } from './sql/guard.js'
export { qualifyAnalyzed, UnqualifiableStatementError } from './sql/qualify.js'
export { UnverifiableStatementError } from './sql/mysql-guard.js'
export { routedKysely } from './kysely/index.js'
export type { RoutedKyselyOptions, KyselyFlavor } from './kysely/index.js'
export { TenantManager, TenantDropNotConfirmedError, TenantMigrationError, TenantMigrationInterruptedError, TenantMigrationPartialError, TenantMigrationStatusError, TenantSchemaConflictError, TenantSchemaExistsError, MigrateProgressError, TableSchemaMapping, tableSchemaMapping, tenantSchemaRouter } from './tenancy/index.js'
export type {
  MigrateOptions,
  MigrateProgress,
  MigrateResult,
  MigrationFailure,
  ProvisionOptions,
  ProvisionResult,
  TableMappingOptions,
  TenantInfo,
  TenantManagerOptions,
  TenantMappingSource,
  TenantMigration,
  TenantMigrationDb,
  DatabasePerTenantOptions,
} from './tenancy/index.js'
