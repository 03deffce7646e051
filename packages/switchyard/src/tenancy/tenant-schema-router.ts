import type { DatabaseRouter } from '../router/types.js'
import type { SchemaStrategy } from '../schema/schema-router.js'
import { schemaMapping, type SchemaLookup, type SchemaMapping } from '../schema/schema-name.js'

/** A mapping object, a naming convention (`'tenant_{key}'`) or a Map/function lookup. */
export type TenantMappingSource = SchemaMapping | string | SchemaLookup

/** Turns any accepted mapping form into a {@link SchemaMapping}. */
export function toSchemaMapping(source: TenantMappingSource | undefined): SchemaMapping {
  return source !== undefined && typeof source === 'object' && 'schemaFor' in source ? source : schemaMapping(source)
}

/**
 * A router whose `schemaFor` answers with the tenancy mapping, so the convention or lookup
 * is written once: a context with a tenant gets that tenant's (validated) schema, a context
 * without one gets no schema. A tenant the mapping does not know fails with
 * `UnknownTenantError`; it never falls through to another router or the default schema.
 *
 * @example
 * ```ts
 * import { createSwitchyard, withRouteContext } from 'switchyard'
 * import { tenantSchemaRouter } from 'switchyard/tenancy'
 *
 * const sy = createSwitchyard({
 *   databases,
 *   routers: [tenantSchemaRouter('tenant_{key}')],
 *   tenancy: { mapping: 'tenant_{key}', migrations },
 * })
 * await withRouteContext({ tenant: 'acme' }, () => sy.read('select * from orders')) // tenant_acme.orders
 * ```
 */
export function tenantSchemaRouter(mapping: TenantMappingSource = 'tenant_{key}', options: { strategy?: SchemaStrategy } = {}): DatabaseRouter {
  const m = toSchemaMapping(mapping)
  return Object.freeze({
    schemaFor: (ctx: { readonly tenant?: string }) => (ctx.tenant === undefined ? undefined : m.schemaFor(ctx.tenant)),
    ...(options.strategy !== undefined ? { schemaStrategy: options.strategy } : {}),
  })
}
