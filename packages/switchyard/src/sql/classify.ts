import { Lru } from '../util/lru.js'
import { ensureParser, parsePostgres, walk } from './parser.js'

export type StatementKind = 'read' | 'write'

/** Functions that change state although they appear in a SELECT. */
const VOLATILE_FUNCTIONS = new Set([
  'nextval', 'setval', 'pg_advisory_lock', 'pg_advisory_xact_lock', 'pg_try_advisory_lock', 'pg_try_advisory_xact_lock',
  'lo_import', 'lo_unlink', 'lo_create', 'lo_creat', 'lo_put', 'lo_from_bytea', 'lo_truncate', 'lowrite',
  'pg_notify', 'set_config', 'txid_current', 'pg_current_xact_id', 'dblink_exec',
  'brin_summarize_new_values', 'brin_summarize_range', 'brin_desummarize_range', 'gin_clean_pending_list',
])

/**
 * Decides from PostgreSQL's own parse tree whether a statement only reads: a single SELECT
 * (or VALUES / EXPLAIN without ANALYZE of one) with no data-modifying CTE, no `FOR UPDATE`/
 * `FOR SHARE`, no `SELECT INTO`, and no call to a known volatile function. Anything else,
 * including several statements in one string, writes.
 */
export function classifyParsed(sql: string): StatementKind {
  const tree = parsePostgres(sql)
  if (tree.stmts?.length !== 1) return 'write'
  let stmt = tree.stmts[0]?.stmt as Record<string, unknown> | undefined
  const explain = stmt?.ExplainStmt as { query?: Record<string, unknown>; options?: unknown[] } | undefined
  if (explain) {
    const analyze = JSON.stringify(explain.options ?? []).includes('"analyze"')
    if (analyze) return 'write'
    stmt = explain.query
  }
  if (!stmt || !('SelectStmt' in stmt)) return 'write'
  let kind: StatementKind = 'read'
  walk(stmt, (type, value) => {
    if (kind === 'write') return false
    if (type === 'InsertStmt' || type === 'UpdateStmt' || type === 'DeleteStmt' || type === 'MergeStmt') kind = 'write'
    else if (type === 'LockingClause') kind = 'write'
    else if (type === 'SelectStmt' && value.intoClause) kind = 'write'
    else if (type === 'FuncCall') {
      const names = (value.funcname as { String?: { sval?: string } }[] | undefined) ?? []
      const last = names[names.length - 1]?.String?.sval?.toLowerCase()
      if (last && VOLATILE_FUNCTIONS.has(last)) kind = 'write'
    }
    return undefined
  })
  return kind
}

/**
 * Classifies statements with a bounded cache keyed by text: the hot path of a repeated
 * statement does no parsing (a parse costs ~100 µs; a cache hit well under 1 µs).
 *
 * @example
 * ```ts
 * const classifier = new StatementClassifier()
 * await classifier.classify('select * from orders')            // 'read'
 * await classifier.classify('with d as (delete from t returning *) select * from d') // 'write'
 * ```
 */
export class StatementClassifier {
  readonly #cache: Lru<string, StatementKind>

  constructor(capacity = 2_000) {
    this.#cache = new Lru(capacity)
  }

  /** Synchronous when cached; undefined when the text has never been classified. */
  cached(sql: string): StatementKind | undefined {
    return this.#cache.get(sql)
  }

  async classify(sql: string): Promise<StatementKind> {
    const hit = this.#cache.get(sql)
    if (hit) return hit
    await ensureParser()
    const kind = classifyParsed(sql)
    this.#cache.set(sql, kind)
    return kind
  }
}
