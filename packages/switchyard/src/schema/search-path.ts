import { InvalidSchemaNameError } from '../errors.js'
import { validateSchemaName } from './schema-name.js'

/**
 * The value for `set_config('search_path', ..., true)`: `schemas` in order (the tenant's, then
 * the shared ones; each validated, so it can only be a plain identifier), then `pg_catalog`,
 * then `pg_temp`.
 *
 * Why this order:
 * - The tenant's schema first: the first schema of the path is where unqualified CREATE puts
 *   new objects (pg_catalog first would make every migration's `create table` fail).
 * - `pg_temp` explicitly last: by default PostgreSQL searches the session's temporary schema
 *   first, so a temporary table left on a pooled connection would shadow the next tenant's
 *   table of the same name. Last, it is found only when no tenant, shared or catalog relation
 *   has the name (and schema routing refuses temporary tables that outlive their transaction).
 * - `pg_catalog` explicitly, before `pg_temp`: left out, PostgreSQL would search it first
 *   anyway; listed, a tenant's own object may shadow a built-in of the same name and
 *   signature for that tenant's own statements only, never another tenant's.
 *
 * @example
 * ```ts
 * localSearchPath(['tenant_acme', 'shared']) // '"tenant_acme", "shared", pg_catalog, pg_temp'
 * localSearchPath(['acme; drop schema x'])   // throws InvalidSchemaNameError
 * ```
 */
export function localSearchPath(schemas: readonly string[]): string {
  if (schemas.length === 0) throw new InvalidSchemaNameError('', 'the search path names no schema')
  let path = ''
  for (const schema of schemas) path += '"' + validateSchemaName(schema) + '", '
  return path + 'pg_catalog, pg_temp'
}
