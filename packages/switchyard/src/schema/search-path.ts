import { InvalidSchemaNameError } from '../errors.js'
import { validateSchemaName } from './schema-name.js'

/**
 * The value for `set_config('search_path', ..., true)`: the tenant's schema (`schemas[0]`),
 * then `pg_catalog`, then the shared schemas (the rest of `schemas`, in order), then
 * `pg_temp`. Every name is validated, so it can only be a plain identifier.
 *
 * Why this order:
 * - The tenant's schema first: the first schema of the path is where unqualified CREATE puts
 *   new objects (pg_catalog first would make every migration's `create table` fail). A
 *   tenant's own object may shadow a built-in of the same name and signature, but only for
 *   that tenant's own statements.
 * - `pg_catalog` before the shared schemas: every tenant searches the shared schemas, so an
 *   object there shadowing a built-in (an operator, function or type of the same signature)
 *   would hijack every tenant's statements (CVE-2018-1058 across tenants). After pg_catalog
 *   it can only add names, not replace built-ins. (A shared function whose argument types
 *   match a call better than the built-in's still wins overload resolution, whatever the
 *   order: shared schemas must stay writable only by trusted roles.)
 * - `pg_temp` explicitly last: by default PostgreSQL searches the session's temporary schema
 *   first, so a temporary table left on a pooled connection would shadow the next tenant's
 *   table of the same name. Last, it is found only when no tenant, catalog or shared relation
 *   has the name (and schema routing refuses temporary tables that outlive their transaction).
 *
 * @example
 * ```ts
 * localSearchPath(['tenant_acme', 'shared']) // '"tenant_acme", pg_catalog, "shared", pg_temp'
 * localSearchPath(['acme; drop schema x'])   // throws InvalidSchemaNameError
 * ```
 */
export function localSearchPath(schemas: readonly string[]): string {
  const [tenant, ...shared] = schemas
  if (tenant === undefined) throw new InvalidSchemaNameError('', 'the search path names no schema')
  let path = '"' + validateSchemaName(tenant) + '", pg_catalog, '
  for (const schema of shared) path += '"' + validateSchemaName(schema) + '", '
  return path + 'pg_temp'
}
