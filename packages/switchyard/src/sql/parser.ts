import { loadModule, parseSync, type ParseResult } from 'libpg-query'
import { SqlParseError } from '../errors.js'

let loading: Promise<void> | undefined
let ready = false

/** Loads the WebAssembly PostgreSQL parser once per process. */
export async function ensureParser(): Promise<void> {
  if (ready) return
  loading ??= loadModule().then(() => {
    ready = true
  })
  await loading
}

/** Whether {@link parsePostgres} can be called synchronously now. */
export function parserReady(): boolean {
  return ready
}

/**
 * Parses with PostgreSQL's own grammar (libpg-query). Call {@link ensureParser} first.
 * Syntax errors become {@link SqlParseError} carrying the parser's message and position.
 */
export function parsePostgres(sql: string): ParseResult {
  try {
    return parseSync(sql)
  } catch (err) {
    const details = (err as { sqlDetails?: { cursorPosition?: number } }).sqlDetails
    const at = details?.cursorPosition !== undefined ? ` (at position ${details.cursorPosition})` : ''
    throw new SqlParseError(`${(err as Error).message}${at}`, { cause: err })
  }
}

/**
 * Calls `visit` on every node object in a parse tree (depth first), with the node's type
 * name (`SelectStmt`, `RangeVar`, ...). Returning `false` skips the node's children.
 */
export function walk(node: unknown, visit: (type: string, value: Record<string, unknown>, parentKey: string | undefined) => boolean | void, parentKey?: string): void {
  if (Array.isArray(node)) {
    for (const item of node) walk(item, visit, parentKey)
    return
  }
  if (node === null || typeof node !== 'object') return
  for (const [key, value] of Object.entries(node as Record<string, unknown>)) {
    if (value === null || typeof value !== 'object') continue
    // Node wrappers are `{ TypeName: {...} }`: a capitalised key holding the node's fields.
    const isNode = key.charCodeAt(0) >= 65 && key.charCodeAt(0) <= 90 && !Array.isArray(value)
    if (isNode) {
      if (visit(key, value as Record<string, unknown>, parentKey) === false) continue
    }
    walk(value, visit, isNode ? parentKey : key)
  }
}
