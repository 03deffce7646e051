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
import { validateSchemaName } from './schema-name.js'

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
export function tenantSchemaPlugin(schemaFor: () => string | undefined, options: { sharedTables?: Readonly<Record<string, string>> } = {}): KyselyPlugin {
  const shared = Object.freeze({ ...(options.sharedTables ?? {}) })
  return {
    transformQuery(args: PluginTransformQueryArgs): RootOperationNode {
      const schema = schemaFor()
      if (schema === undefined) return args.node
      validateSchemaName(schema)
      const qualified = new WithSchemaPlugin(schema).transformQuery(args)
      if (Object.keys(shared).length === 0) return qualified
      return new SharedTables(schema, shared).transformNode(qualified, args.queryId)
    },
    async transformResult(args: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> {
      return args.result
    },
  }
}
