import {
  OperationNodeTransformer,
  WithSchemaPlugin,
  type KyselyPlugin,
  type PluginTransformQueryArgs,
  type PluginTransformResultArgs,
  type QueryResult,
  type RootOperationNode,
  type SchemableIdentifierNode,
  type UnknownRow,
  IdentifierNode,
} from 'kysely'
import type { QueryId } from 'kysely'
import { guardTreeChanges, guardTreeSchemas, guardTreeSharedReads } from '../kysely/query-tree.js'
import { validateSchemaName } from './schema-name.js'

/** Options of {@link tenantSchemaPlugin}: the same meaning as the schema router's options of these names. */
export interface TenantSchemaPluginOptions {
  /** Unqualified tables that live in a shared schema rather than the tenant's: table → schema. */
  readonly sharedTables?: Readonly<Record<string, string>>
  /** Schemas every tenant may read besides its own (the `sharedTables` schemas count too); their structure is never changed from a tenant context. */
  readonly shared?: readonly string[]
  /**
   * Lets a tenant context insert, update, delete or merge rows in tables of the shared schemas.
   * Default `false`: a row written to a shared table is visible to every tenant. DDL on a
   * shared schema is refused whatever this says.
   */
  readonly sharedWrites?: boolean
}

/** Points shared tables, which WithSchemaPlugin gave the tenant's schema, at their shared schema. */
class SharedTables extends OperationNodeTransformer {
  constructor(
    private readonly tenantSchema: string,
    private readonly shared: Readonly<Record<string, string>>,
  ) {
    super()
  }

  protected override transformSchemableIdentifier(node: SchemableIdentifierNode, queryId: QueryId): SchemableIdentifierNode {
    const t = super.transformSchemableIdentifier(node, queryId)
    const target = Object.hasOwn(this.shared, t.identifier.name) ? this.shared[t.identifier.name] : undefined
    if (target && t.schema?.name === this.tenantSchema) return { ...t, schema: IdentifierNode.create(target) }
    return t
  }
}

/**
 * Qualifies every unqualified table of a Kysely query with the current tenant's schema,
 * from the query tree (no SQL parsing), leaving CTE names alone and shared tables on their
 * shared schema. The schema is asked per query, so one Kysely instance serves every tenant.
 * Refused with `TenantIsolationError` before it compiles: a query naming any schema but the
 * tenant's, the shared ones and the catalogs (on a table, in a join, subquery or CTE, before a
 * function's name, or as the schema created or dropped), and one that would change a shared
 * schema: DDL always, writes into shared tables, and views reading them, unless `sharedWrites`
 * (see the options). Raw `sql` fragments are not on the query tree and are not read: a routed
 * `sy.kysely()` parses such statements and guards them like any SQL.
 *
 * @example
 * ```ts
 * const db = new Kysely<DB>({
 *   dialect: new PostgresDialect({ pool }),
 *   plugins: [tenantSchemaPlugin(() => currentRouteContext().tenant && `tenant_${currentRouteContext().tenant}`)],
 * })
 * await withRouteContext({ tenant: 'acme' }, () => db.selectFrom('orders').selectAll().execute())
 * // select * from "tenant_acme"."orders"
 * ```
 */
export function tenantSchemaPlugin(schemaFor: () => string | undefined, options: TenantSchemaPluginOptions = {}): KyselyPlugin {
  const shared = Object.freeze({ ...(options.sharedTables ?? {}) })
  const hasSharedTables = Object.keys(shared).length > 0
  const sharedSchemas: ReadonlySet<string> = new Set([...(options.shared ?? []), ...Object.values(shared)])
  const sharedWrites = options.sharedWrites === true
  return {
    transformQuery(args: PluginTransformQueryArgs): RootOperationNode {
      const schema = schemaFor()
      if (schema === undefined) return args.node
      validateSchemaName(schema)
      const qualified = new WithSchemaPlugin(schema).transformQuery(args)
      const routed = hasSharedTables ? new SharedTables(schema, shared).transformNode(qualified, args.queryId) : qualified
      // After qualification, so an unqualified shared table is seen in its shared schema.
      guardTreeSchemas(routed, schema, sharedSchemas)
      if (sharedSchemas.size > 0) {
        guardTreeChanges(routed, schema, sharedSchemas, sharedWrites)
        if (!sharedWrites) guardTreeSharedReads(routed, schema, sharedSchemas)
      }
      return routed
    },
    async transformResult(args: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> {
      return args.result
    },
  }
}
