import { InvalidSchemaNameError, UnknownTenantError } from '../errors.js'

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/
const KEY = /^[A-Za-z0-9_]+$/
/** PostgreSQL truncates identifiers beyond NAMEDATALEN - 1 bytes; a truncated name could collide with another tenant's. */
const MAX_BYTES = 63

/**
 * Returns `name` when it is a plain identifier a tenant's schema may have, else throws
 * {@link InvalidSchemaNameError} saying what was wrong. Only ASCII letters, digits and `_`
 * pass, so a schema name can never carry quotes, semicolons or look-alike unicode into SQL.
 * The `pg_` prefix is refused too: PostgreSQL reserves it for system schemas such as
 * `pg_catalog`, which every tenant may read.
 *
 * @example
 * ```ts
 * import { validateSchemaName } from 'switchyard/schema'
 * validateSchemaName('tenant_acme')          // 'tenant_acme'
 * validateSchemaName('acme; drop schema x')  // throws InvalidSchemaNameError (bad character ';')
 * ```
 */
export function validateSchemaName(name: string): string {
  if (typeof name !== 'string' || name.length === 0) throw new InvalidSchemaNameError(String(name ?? ''), 'it is empty')
  if (IDENTIFIER.test(name)) {
    // The pattern admits ASCII only, so characters are bytes here.
    if (name.length > MAX_BYTES) throw new InvalidSchemaNameError(name, `it is ${name.length} bytes long, at most ${MAX_BYTES} are allowed`)
    if (name.slice(0, 3).toLowerCase() === 'pg_') throw new InvalidSchemaNameError(name, "the prefix 'pg_' is reserved for system schemas")
    return name
  }
  const bytes = Buffer.byteLength(name, 'utf8')
  if (bytes > MAX_BYTES) throw new InvalidSchemaNameError(name, `it is ${bytes} bytes long, at most ${MAX_BYTES} are allowed`)
  const first = name.charAt(0)
  if (/[0-9]/.test(first)) throw new InvalidSchemaNameError(name, 'it starts with a digit')
  const bad = [...name].find((c) => !/[A-Za-z0-9_]/.test(c)) ?? first
  throw new InvalidSchemaNameError(name, `bad character ${JSON.stringify(bad)} (only letters A-Z, digits and '_' are allowed)`)
}

/** Maps tenant keys to validated schema names. */
export interface SchemaMapping {
  /** The tenant's schema; throws {@link InvalidSchemaNameError} or {@link UnknownTenantError}. */
  schemaFor(tenantKey: string): string
  /** Describes the mapping (for logs and error messages). */
  readonly description: string
}

export type SchemaLookup = ReadonlyMap<string, string> | ((tenantKey: string) => string | undefined)

/**
 * Builds the tenant-key → schema mapping. A string is a naming convention with a `{key}`
 * placeholder (default `tenant_{key}`); the key itself must then be non-empty letters,
 * digits and `_`, so `acme; drop schema x` fails before any SQL is written. A `Map` or a
 * function is an explicit lookup; an unknown key fails with {@link UnknownTenantError}.
 * Either way the result is checked by {@link validateSchemaName}.
 *
 * @example
 * ```ts
 * import { schemaMapping } from 'switchyard/schema'
 * schemaMapping().schemaFor('acme')                             // 'tenant_acme'
 * schemaMapping('org_{key}_data').schemaFor('globex')           // 'org_globex_data'
 * schemaMapping(new Map([['acme', 'acme_prod']])).schemaFor('acme') // 'acme_prod'
 * schemaMapping((key) => (key === 'demo' ? 'demo_schema' : undefined)).schemaFor('x') // throws UnknownTenantError
 * ```
 */
export function schemaMapping(source: string | SchemaLookup = 'tenant_{key}'): SchemaMapping {
  if (typeof source === 'string') {
    if (!source.includes('{key}')) throw new InvalidSchemaNameError(source, "the naming convention has no '{key}' placeholder")
    const [before = '', after = ''] = splitOnce(source, '{key}')
    return Object.freeze({
      description: `convention '${source}'`,
      schemaFor(tenantKey: string): string {
        if (typeof tenantKey !== 'string' || tenantKey.length === 0) throw new InvalidSchemaNameError(`${before}${after}`, 'the tenant key is empty')
        if (!KEY.test(tenantKey)) {
          // Report the key itself: the caller needs to know which part was wrong.
          const bad = [...tenantKey].find((c) => !/[A-Za-z0-9_]/.test(c)) ?? ''
          throw new InvalidSchemaNameError(tenantKey, `the tenant key has a bad character ${JSON.stringify(bad)} (only letters A-Z, digits and '_' are allowed)`)
        }
        return validateSchemaName(before + tenantKey + after)
      },
    })
  }
  const lookup = typeof source === 'function' ? source : (key: string) => source.get(key)
  return Object.freeze({
    description: typeof source === 'function' ? 'lookup function' : `lookup map (${source.size} tenants)`,
    schemaFor(tenantKey: string): string {
      const schema = lookup(tenantKey)
      if (schema === undefined) throw new UnknownTenantError(tenantKey)
      return validateSchemaName(schema)
    },
  })
}

function splitOnce(s: string, sep: string): [string, string] {
  const i = s.indexOf(sep)
  return [s.slice(0, i), s.slice(i + sep.length)]
}
