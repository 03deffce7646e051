import type { OperationNode } from 'kysely'
import type { StatementKind } from '../sql/classify.js'

const LOCKING = new Set(['ForUpdate', 'ForNoKeyUpdate', 'ForShare', 'ForKeyShare'])
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
