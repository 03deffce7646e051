import { TenantIsolationError } from '../errors.js'
import type { StatementAnalysis } from './analyze.js'
import type { ChangeTarget } from './change-targets.js'

/** Schemas every tenant may name (and read, never write): the catalogs. */
export const CATALOG_SCHEMAS: ReadonlySet<string> = new Set(['pg_catalog', 'information_schema'])

/** How {@link guardAnalyzed} treats statements that change objects in shared schemas. */
export interface SharedChangeOptions {
  /** Unqualified tables the qualifier sends to a shared schema (the router's `sharedTables`): changing one changes that schema. */
  readonly sharedTables?: Readonly<Record<string, string>>
  /** Let DML write rows into tables of shared schemas, and views over them be created (the router's `sharedWrites`). Never DDL, TRUNCATE or strong LOCKs. Default false. */
  readonly sharedWrites?: boolean
}

const NO_SHARED_CHANGE_OPTIONS: SharedChangeOptions = Object.freeze({})

/**
 * Refuses a statement that names any schema other than the tenant's own, the shared ones
 * and the catalogs — wherever it appears (subqueries, CTEs, joins, function and operator
 * names, function arguments, regclass strings) — and anything the analysis found unsafe on a
 * pooled, shared connection: session-level changes, code or SQL text the guard cannot read,
 * transaction control, several statements in one text, data-leaking catalogs, writes into the
 * catalogs, database-wide maintenance and NOTIFY. A statement acting on a schema as a whole
 * (DROP/GRANT ON SCHEMA, REINDEX SCHEMA) must name the tenant's own. Shared schemas are read,
 * not changed: DDL, TRUNCATE or maintenance on an object in one (named, or an unqualified table
 * `sharedTables` sends there), moving an object into one, or a LOCK stronger than ROW EXCLUSIVE
 * on one, is always refused; INSERT, UPDATE, DELETE, MERGE, COPY FROM, setval() and an explicit
 * nextval() into one, SELECT ... FOR UPDATE / FOR NO KEY UPDATE locking its rows, and a view
 * reading one (writes through it land there), unless `sharedWrites` is set. A bug in
 * routing code must fail loudly, not read another tenant's rows or change what every tenant reads.
 *
 * @example
 * ```ts
 * guardAnalyzed(analyzeStatement('select * from tenant_b.orders'), 'tenant_a', new Set(['shared']))
 * // throws TenantIsolationError
 * ```
 */
export function guardAnalyzed(analysis: StatementAnalysis, tenantSchema: string, shared: ReadonlySet<string>, options: SharedChangeOptions = NO_SHARED_CHANGE_OPTIONS): void {
  if (analysis.sessionChange !== undefined) {
    throw new TenantIsolationError(
      analysis.sessionChange,
      tenantSchema,
      `Statement changes session state (${analysis.sessionChange}) that would outlive it on a pooled connection; schema routing refuses it.`,
    )
  }
  if (analysis.unverifiable !== undefined) {
    throw new TenantIsolationError(
      analysis.unverifiable,
      tenantSchema,
      `Statement cannot be checked for tenant isolation (${analysis.unverifiable}); schema routing refuses it. Run such statements as migrations.`,
    )
  }
  if (analysis.refused !== undefined) {
    throw new TenantIsolationError(analysis.refused, tenantSchema, `Statement refused under schema routing: ${analysis.refused}.`)
  }
  for (const schema of analysis.wholeSchemas ?? []) {
    if (schema !== tenantSchema) {
      throw new TenantIsolationError(
        schema,
        tenantSchema,
        `Statement acts on schema '${schema}' as a whole; schema routing allows that only on the tenant's own schema ('${tenantSchema}'), never on a shared or catalog schema.`,
      )
    }
  }
  for (const schema of analysis.schemas) {
    if (schema !== tenantSchema && !shared.has(schema) && !CATALOG_SCHEMAS.has(schema)) {
      throw new TenantIsolationError(schema, tenantSchema)
    }
  }
  if (analysis.changes !== undefined) guardChanges(analysis.changes, tenantSchema, shared, options)
}

function guardChanges(changes: readonly ChangeTarget[], tenantSchema: string, shared: ReadonlySet<string>, { sharedTables, sharedWrites }: SharedChangeOptions): void {
  for (const c of changes) {
    const viaSharedTables = c.schema === undefined && c.table !== undefined && sharedTables !== undefined && Object.hasOwn(sharedTables, c.table) ? sharedTables[c.table] : undefined
    const schema = c.schema ?? viaSharedTables
    // A sharedTables schema is shared even when the caller left it out of `shared`.
    if (schema === undefined || schema === tenantSchema || !(shared.has(schema) || viaSharedTables !== undefined)) continue
    if ((c.change === 'rows' || c.change === 'view') && sharedWrites === true) continue
    const object = viaSharedTables !== undefined ? `${c.object} (shared table ${schema}.${c.table})` : c.object
    throw sharedChangeError(c.change, c.statement, object, schema, tenantSchema)
  }
}

/**
 * The refusal of a change to a shared schema (a shared database on MySQL), worded the same for
 * the SQL guards and the Kysely query-tree path. `object` is as written (`shared.countries`).
 */
export function sharedChangeError(change: ChangeTarget['change'], statement: string, object: string, schema: string, tenantSchema: string, noun: 'schema' | 'database' = 'schema'): TenantIsolationError {
  return new TenantIsolationError(schema, tenantSchema, sharedChangeMessage(change, `${statement} ${object}`, schema, noun))
}

function sharedChangeMessage(change: ChangeTarget['change'], what: string, schema: string, noun: 'schema' | 'database'): string {
  switch (change) {
    case 'structure':
      return `${what} would change shared ${noun} '${schema}', which every tenant uses. Schema routing refuses DDL, TRUNCATE and maintenance on a shared ${noun} from a tenant context: shared ${noun}s are changed by migrations on an admin connection.`
    case 'rows':
      return `${what} would write rows in shared ${noun} '${schema}', and a row written to a shared table is visible to every tenant. Schema routing refuses it from a tenant context: write shared data in a migration on an admin connection, or set the schema router's sharedWrites option if tenants are meant to write it.`
    case 'view':
      return `${what} would let rows be written into shared ${noun} '${schema}' through the view (a simple view is automatically updatable: INSERT, UPDATE and DELETE on it write the table it reads), and a row written to a shared table is visible to every tenant. Schema routing refuses a view over a shared table from a tenant context: create such views in a migration on an admin connection, or set the schema router's sharedWrites option if tenants are meant to write shared rows.`
    case 'lock':
      return `${what} would lock a table in shared ${noun} '${schema}', which every tenant uses, stalling their statements on it until this transaction ends. Schema routing refuses locks stronger than ROW EXCLUSIVE on a shared ${noun} from a tenant context.`
  }
}
