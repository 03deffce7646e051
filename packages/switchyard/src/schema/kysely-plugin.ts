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
import type { OperationNode, QueryId } from 'kysely'
import { guardTreeChanges } from '../kysely/query-tree.js'
import { sharedChangeError } from '../sql/guard.js'
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

/** Every TableNode under `node`, however deep (joins, subqueries, CTEs). */
function* tableNodes(node: unknown): Generator<{ schema: string | undefined; name: string }> {
  if (Array.isArray(node)) {
    for (const item of node) yield* tableNodes(item)
    return
  }
  if (node === null || typeof node !== 'object') return
  const n = node as OperationNode & Record<string, unknown>
  if (n.kind === 'TableNode') {
    const table = n.table as SchemableIdentifierNode
    yield { schema: table.schema?.name, name: table.identifier.name }
    return
  }
  for (const value of Object.values(n)) if (value !== null && typeof value === 'object') yield* tableNodes(value)
}

/**
 * A (non-materialized) view over a shared table is a way to write its rows: a simple view is
 * automatically updatable. Refused unless `sharedWrites`, like the SQL guard does. A raw `as`
 * query is not read, as raw SQL is not anywhere in this plugin.
 */
function guardViewReads(root: RootOperationNode, tenantSchema: string, shared: ReadonlySet<string>): void {
  if (root.kind !== 'CreateViewNode' || root.materialized === true) return
  for (const { schema, name } of tableNodes(root.as)) {
    if (schema !== undefined && schema !== tenantSchema && shared.has(schema)) {
      throw sharedChangeError('view', `CREATE VIEW ${root.name.identifier.name} reading`, `${schema}.${name}`, schema, tenantSchema)
    }
  }
}

/** Whether a FOR UPDATE or FOR NO KEY UPDATE modifier stands anywhere under `node` (subqueries and CTEs included). */
function hasStrongRowLock(node: unknown): boolean {
  if (Array.isArray(node)) return node.some(hasStrongRowLock)
  if (node === null || typeof node !== 'object') return false
  const n = node as Record<string, unknown>
  if (n.kind === 'SelectModifierNode' && (n.modifier === 'ForUpdate' || n.modifier === 'ForNoKeyUpdate')) return true
  return Object.values(n).some((value) => value !== null && typeof value === 'object' && hasStrongRowLock(value))
}

/**
 * FOR UPDATE / FOR NO KEY UPDATE on shared rows stalls every tenant's writes and locks on them
 * until this transaction ends: refused unless `sharedWrites`, as the SQL guard does. Read from
 * the tree conservatively: any strong lock in a query that touches a shared table (an `OF`
 * list is not read).
 */
function guardRowLocks(root: RootOperationNode, tenantSchema: string, shared: ReadonlySet<string>): void {
  if (!hasStrongRowLock(root)) return
  for (const { schema, name } of tableNodes(root)) {
    if (schema !== undefined && schema !== tenantSchema && shared.has(schema)) {
      throw sharedChangeError('rows', 'SELECT ... FOR UPDATE (row locks) on', `${schema}.${name}`, schema, tenantSchema)
    }
  }
}

/**
 * Qualifies every unqualified table of a Kysely query with the current tenant's schema,
 * from the query tree (no SQL parsing), leaving CTE names alone and shared tables on their
 * shared schema. The schema is asked per query, so one Kysely instance serves every tenant.
 * A query that would change a shared schema is refused with `TenantIsolationError` before it
 * compiles: DDL always, writes into shared tables, and views reading them, unless `sharedWrites`
 * (see the options).
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
      if (sharedSchemas.size > 0) {
        guardTreeChanges(routed, schema, sharedSchemas, sharedWrites)
        if (!sharedWrites) {
          guardViewReads(routed, schema, sharedSchemas)
          guardRowLocks(routed, schema, sharedSchemas)
        }
      }
      return routed
    },
    async transformResult(args: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> {
      return args.result
    },
  }
}
