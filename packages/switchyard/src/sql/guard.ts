import { TenantIsolationError } from '../errors.js'
import type { StatementAnalysis } from './analyze.js'

/** Schemas every tenant may name (and read, never write): the catalogs. */
export const CATALOG_SCHEMAS: ReadonlySet<string> = new Set(['pg_catalog', 'information_schema'])

/**
 * Refuses a statement that names any schema other than the tenant's own, the shared ones
 * and the catalogs — wherever it appears (subqueries, CTEs, joins, function and operator
 * names, function arguments, regclass strings) — and anything the analysis found unsafe on a
 * pooled, shared connection: session-level changes, code or SQL text the guard cannot read,
 * transaction control, several statements in one text, data-leaking catalogs, writes into the
 * catalogs, database-wide maintenance and NOTIFY. A statement acting on a schema as a whole
 * (DROP/GRANT ON SCHEMA, REINDEX SCHEMA) must name the tenant's own. A bug in routing code
 * must fail loudly, not read another tenant's rows.
 *
 * @example
 * ```ts
 * guardAnalyzed(analyzeStatement('select * from tenant_b.orders'), 'tenant_a', new Set(['shared']))
 * // throws TenantIsolationError
 * ```
 */
export function guardAnalyzed(analysis: StatementAnalysis, tenantSchema: string, shared: ReadonlySet<string>): void {
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
}
