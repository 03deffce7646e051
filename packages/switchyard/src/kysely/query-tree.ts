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
