import type { OperationNode } from 'kysely'
import type { StatementKind } from '../sql/classify.js'
import { TenantIsolationError } from '../errors.js'
import { isLeakyCatalogRelation } from '../sql/analyze.js'
import { CATALOG_SCHEMAS, sharedChangeError } from '../sql/guard.js'

const LOCKING = new Set(['ForUpdate', 'ForNoKeyUpdate', 'ForShare', 'ForKeyShare'])
/** The locking modifiers that take UPDATE's row locks (FOR SHARE / FOR KEY SHARE only block writers). */
const STRONG_LOCKING = new Set(['ForUpdate', 'ForNoKeyUpdate'])
const MODIFYING = new Set(['InsertQueryNode', 'UpdateQueryNode', 'DeleteQueryNode', 'MergeQueryNode'])

type Node = OperationNode & Record<string, unknown>

function* children(node: Node): Generator<Node> {
  for (const value of Object.values(node)) {
    if (Array.isArray(value)) {
      for (const item of value) if (item && typeof item === 'object' && 'kind' in item) yield item as Node
    } else if (value && typeof value === 'object' && 'kind' in value) {
      yield value as Node
    }
  }
}

function* descendants(node: Node): Generator<Node> {
  yield node
  for (const child of children(node)) yield* descendants(child)
}

/**
 * Reads or writes, from Kysely's own query tree (no SQL parsing): a select with no
 * data-modifying CTE and no locking clause reads; everything else writes. Raw SQL is
 * `undefined`: the caller classifies its text.
 */
export function kindOfNode(root: OperationNode): StatementKind | undefined {
  if (root.kind === 'RawNode') return undefined
  if (root.kind !== 'SelectQueryNode') return 'write'
  for (const node of descendants(root as Node)) {
    if (MODIFYING.has(node.kind)) return 'write'
    if (node.kind === 'SelectModifierNode' && LOCKING.has(String(node.modifier))) return 'write'
  }
  return 'read'
}

/** Real tables the statement touches, in order of appearance, without CTE names. */
export function tablesOfNode(root: OperationNode): string[] {
  const cteNames = new Set<string>()
  const tables: string[] = []
  for (const node of descendants(root as Node)) {
    if (node.kind === 'CommonTableExpressionNameNode') {
      const name = tableName(node.table as Node | undefined)
      if (name) cteNames.add(name)
    }
  }
  for (const node of descendants(root as Node)) {
    if (node.kind !== 'TableNode') continue
    const name = tableName(node)
    if (name && !cteNames.has(name) && !tables.includes(name)) tables.push(name)
  }
  return tables
}

function tableName(table: Node | undefined): string | undefined {
  const ident = (table?.table as { identifier?: { name?: string } } | undefined)?.identifier
  return ident?.name
}

/**
 * Node kinds whose SQL is fully determined by the tree: no raw text, no user-named function,
 * type or operator whose resolution depends on the search path. A tree made only of these,
 * once its tables are qualified, needs no parse to be guarded.
 */
const PLAIN = new Set([
  'SelectQueryNode', 'InsertQueryNode', 'UpdateQueryNode', 'DeleteQueryNode',
  'SelectionNode', 'SelectAllNode', 'ReferenceNode', 'ColumnNode', 'IdentifierNode', 'SchemableIdentifierNode',
  'TableNode', 'AliasNode', 'FromNode', 'WhereNode', 'HavingNode', 'AndNode', 'OrNode', 'ParensNode',
  'BinaryOperationNode', 'UnaryOperationNode', 'OperatorNode', 'ValueNode', 'ValueListNode', 'PrimitiveValueListNode',
  'JoinNode', 'OnNode', 'UsingNode', 'OrderByNode', 'OrderByItemNode', 'GroupByNode', 'GroupByItemNode',
  'LimitNode', 'OffsetNode', 'ValuesNode', 'ColumnUpdateNode', 'ReturningNode', 'DefaultInsertValueNode',
  // No WithNode: a CTE named like a table would hide an unqualified DML target (PostgreSQL
  // never resolves an INSERT/UPDATE/DELETE target to a CTE), so statements with CTEs are parsed.
  'OnConflictNode', 'SelectModifierNode',
  'SetOperationNode', 'CaseNode', 'WhenNode', 'TupleNode',
])

/** Built-in functions that always resolve in pg_catalog, which PostgreSQL searches before any schema. */
const PLAIN_FUNCTIONS = new Set(['count', 'sum', 'min', 'max', 'avg', 'coalesce', 'nullif', 'greatest', 'least', 'lower', 'upper', 'length', 'abs', 'round', 'now'])

/** Whether the tree is {@link PLAIN}, allowing the few built-in functions above. */
export function isPlainTree(root: OperationNode): boolean {
  for (const node of descendants(root as Node)) {
    // FOR UPDATE / FOR NO KEY UPDATE may lock shared rows: parse it, so the SQL guard decides.
    if (node.kind === 'SelectModifierNode' && (node.modifier === 'ForUpdate' || node.modifier === 'ForNoKeyUpdate')) return false
    if (PLAIN.has(node.kind)) continue
    if ((node.kind === 'FunctionNode' || node.kind === 'AggregateFunctionNode') && typeof node.func === 'string' && PLAIN_FUNCTIONS.has(node.func)) continue
    return false
  }
  return true
}

/**
 * Every schema the tree names on a schemable identifier, and whether some real table (not a
 * CTE name) is left unqualified.
 */
export function schemasOfNode(root: OperationNode): { schemas: Set<string>; unqualifiedTable: boolean } {
  const cteNames = new Set<string>()
  for (const node of descendants(root as Node)) {
    if (node.kind === 'CommonTableExpressionNameNode') {
      const name = tableName(node.table as Node | undefined)
      if (name) cteNames.add(name)
    }
  }
  const schemas = new Set<string>()
  let unqualifiedTable = false
  for (const node of descendants(root as Node)) {
    if (node.kind === 'SchemableIdentifierNode') {
      const name = (node.schema as { name?: unknown } | undefined)?.name
      if (typeof name === 'string') schemas.add(name)
    } else if (node.kind === 'TableNode') {
      const ident = node.table as { schema?: unknown; identifier?: { name?: string } } | undefined
      if (!ident?.schema && !cteNames.has(ident?.identifier?.name ?? '')) unqualifiedTable = true
    }
  }
  return { schemas, unqualifiedTable }
}

/** A function name as Kysely emits it (verbatim): a bare or schema-qualified plain identifier. */
const FUNCTION_NAME = /^(?:([A-Za-z_][A-Za-z0-9_$]*)\.)?[A-Za-z_][A-Za-z0-9_$]*$/

/**
 * Refuses a tree that names a schema other than the tenant's, the shared ones and the catalogs:
 * on a table, view, type or other schemable name (joins, subqueries, CTEs and column
 * references included), as the schema a statement creates or drops, or before a function's
 * name. The catalogs that hold other tenants' data (pg_stats, pg_stat_*, pg_sequences, ...) are
 * refused as the SQL guard refuses them, and a function name Kysely would emit as anything but
 * plain identifiers is refused as a name the guard cannot read. Raw SQL (`sql` fragments) is not on the tree and not read.
 *
 * @example
 * ```ts
 * guardTreeSchemas(db.selectFrom('tenant_b.orders').selectAll().toOperationNode(), 'tenant_a', new Set())
 * // throws TenantIsolationError
 * ```
 */
export function guardTreeSchemas(root: OperationNode, tenantSchema: string, shared: ReadonlySet<string>): void {
  for (const node of descendants(root as Node)) {
    let named: unknown
    if (node.kind === 'SchemableIdentifierNode') {
      named = (node.schema as { name?: unknown } | undefined)?.name
      const relation = (node.identifier as { name?: unknown } | undefined)?.name
      if (typeof relation === 'string' && isLeakyCatalogRelation(relation)) {
        throw new TenantIsolationError(String(named ?? 'pg_catalog'), tenantSchema, `Statement refused under schema routing: ${relation} exposes other tenants' data (statistics values or counters, sequence values, query text, large objects or credentials).`)
      }
    } else if (node.kind === 'CreateSchemaNode' || node.kind === 'DropSchemaNode') {
      const schema = (node.schema as { name?: unknown } | undefined)?.name
      if (schema !== tenantSchema) {
        throw new TenantIsolationError(String(schema), tenantSchema, `Statement acts on schema '${String(schema)}' as a whole; schema routing allows that only on the tenant's own schema ('${tenantSchema}').`)
      }
    } else if ((node.kind === 'FunctionNode' || node.kind === 'AggregateFunctionNode') && typeof node.func === 'string') {
      const m = FUNCTION_NAME.exec(node.func)
      if (!m) throw new TenantIsolationError(node.func, tenantSchema, `Function name '${node.func}' cannot be checked for tenant isolation; name a function as schema.name or name.`)
      named = m[1]
    }
    if (typeof named === 'string' && named !== tenantSchema && !shared.has(named) && !CATALOG_SCHEMAS.has(named)) throw new TenantIsolationError(named, tenantSchema)
  }
}

/** Where each root node kind names what it changes: field, DDL (`structure`) or DML (`rows`), and the statement kind for messages. */
const TREE_TARGETS: Readonly<Record<string, readonly (readonly [string, 'structure' | 'rows', string])[]>> = {
  InsertQueryNode: [['into', 'rows', 'INSERT INTO']],
  UpdateQueryNode: [['table', 'rows', 'UPDATE']],
  DeleteQueryNode: [['from', 'rows', 'DELETE FROM']],
  MergeQueryNode: [['into', 'rows', 'MERGE INTO']],
  CreateTableNode: [['table', 'structure', 'CREATE TABLE']],
  DropTableNode: [['table', 'structure', 'DROP TABLE']],
  AlterTableNode: [
    ['table', 'structure', 'ALTER TABLE'],
    ['setSchema', 'structure', 'ALTER TABLE ... SET SCHEMA'],
  ],
  CreateIndexNode: [['table', 'structure', 'CREATE INDEX ... ON']],
  DropIndexNode: [
    ['name', 'structure', 'DROP INDEX'],
    ['table', 'structure', 'DROP INDEX ... ON'],
  ],
  CreateViewNode: [['name', 'structure', 'CREATE VIEW']],
  DropViewNode: [['name', 'structure', 'DROP VIEW']],
  CreateTypeNode: [['name', 'structure', 'CREATE TYPE']],
  DropTypeNode: [['name', 'structure', 'DROP TYPE']],
  CreateSchemaNode: [['schema', 'structure', 'CREATE SCHEMA']],
  DropSchemaNode: [['schema', 'structure', 'DROP SCHEMA']],
  RefreshMaterializedViewNode: [['name', 'structure', 'REFRESH MATERIALIZED VIEW']],
}

/**
 * Refuses a Kysely statement that changes a shared schema from a tenant context, like the SQL
 * guard: DDL on a table, view, index, type or schema in one (or SET SCHEMA into one) always,
 * INSERT/UPDATE/DELETE/MERGE into one unless `sharedWrites`. Reads the root and its WITH
 * clause only (PostgreSQL allows data-modifying CTEs only there), so a plain select costs two
 * property reads.
 */
export function guardTreeChanges(root: OperationNode, tenantSchema: string, shared: ReadonlySet<string>, sharedWrites: boolean): void {
  const node = root as Node
  for (const [field, change, statement] of TREE_TARGETS[node.kind] ?? []) {
    if (change === 'rows' && sharedWrites) continue
    for (const { schema, object } of namedTargets(node[field])) {
      if (schema !== undefined && schema !== tenantSchema && shared.has(schema)) throw sharedChangeError(change, statement, object, schema, tenantSchema)
    }
  }
  const ctes = (node.with as { expressions?: readonly { expression?: OperationNode }[] } | undefined)?.expressions
  for (const cte of ctes ?? []) if (cte.expression) guardTreeChanges(cte.expression, tenantSchema, shared, sharedWrites)
}

/**
 * What reading a shared table can still do to it, from the tree: a (non-materialized) view over
 * one lets rows be written through it (a simple view is automatically updatable), and FOR UPDATE
 * / FOR NO KEY UPDATE takes UPDATE's row locks, stalling every tenant's writes on those rows.
 * Both are refused like writes, so the caller skips this under `sharedWrites`. Read
 * conservatively: any strong lock in a tree that names a shared table (an `OF` list is not
 * read). A raw `as` query of a view is not read, as raw SQL is not anywhere on the tree path.
 */
export function guardTreeSharedReads(root: OperationNode, tenantSchema: string, shared: ReadonlySet<string>): void {
  const node = root as Node
  const view = node.kind === 'CreateViewNode' && node.materialized !== true
  const scope = view ? (node.as as Node | undefined) : node
  if (scope === undefined || !(view || [...descendants(node)].some((n) => n.kind === 'SelectModifierNode' && STRONG_LOCKING.has(String(n.modifier))))) return
  for (const n of descendants(scope)) {
    if (n.kind !== 'TableNode') continue
    const schema = ((n.table as Node | undefined)?.schema as { name?: unknown } | undefined)?.name
    if (typeof schema !== 'string' || schema === tenantSchema || !shared.has(schema)) continue
    const object = `${schema}.${tableName(n)}`
    if (view) throw sharedChangeError('view', `CREATE VIEW ${String((node.name as { identifier?: { name?: unknown } }).identifier?.name)} reading`, object, schema, tenantSchema)
    throw sharedChangeError('rows', 'SELECT ... FOR UPDATE (row locks) on', object, schema, tenantSchema)
  }
}

/** The schema-qualified names a target field holds: a table (possibly aliased, or a list of them), a schemable name, or a schema. */
function namedTargets(value: unknown): { schema: string | undefined; object: string }[] {
  const node = value as Node | undefined
  if (!node || typeof node !== 'object') return []
  switch (node.kind) {
    case 'TableNode':
      return namedTargets(node.table)
    case 'AliasNode':
      return namedTargets(node.node)
    case 'FromNode':
      return ((node.froms as unknown[]) ?? []).flatMap(namedTargets)
    case 'ListNode':
      return ((node.items as unknown[]) ?? []).flatMap(namedTargets)
    case 'SchemableIdentifierNode': {
      const schema = (node.schema as { name?: unknown } | undefined)?.name
      const name = String((node.identifier as { name?: unknown } | undefined)?.name)
      return [typeof schema === 'string' ? { schema, object: `${schema}.${name}` } : { schema: undefined, object: name }]
    }
    case 'IdentifierNode':
      // A schema itself: CREATE/DROP SCHEMA, ALTER TABLE ... SET SCHEMA.
      return typeof node.name === 'string' ? [{ schema: node.name, object: node.name }] : []
    default:
      return []
  }
}
