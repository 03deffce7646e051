import { SwitchyardError } from '../errors.js'
import type { StatementAnalysis } from './analyze.js'

/** The qualifier cannot pin this statement to one schema; run it with a transaction-local search path instead. */
export class UnqualifiableStatementError extends SwitchyardError {
  constructor(reason: string) {
    super('UNQUALIFIABLE_STATEMENT', `Statement cannot be schema-qualified: ${reason}`)
  }
}

function quote(name: string): string {
  return `"${name.replace(/"/g, '""')}"`
}

/**
 * Writes `schema.` in front of every unqualified table of an analysed statement (shared
 * tables get their shared schema, catalog relations such as `pg_class` get `pg_catalog`), splicing into the original text: parameters, comments
 * and formatting are untouched and nothing is deparsed.
 *
 * @example
 * ```ts
 * await ensureParser()
 * const a = analyzeStatement('select * from orders o join countries c on c.code = o.country')
 * qualifyAnalyzed('select * from orders o join countries c on c.code = o.country', a, 'tenant_acme', { countries: 'shared' })
 * // select * from "tenant_acme".orders o join "shared".countries c on c.code = o.country
 * ```
 *
 * `slots: 'pinned'` qualifies only the {@link TableSlot.pinned} slots (what the statement
 * changes, what a view reads), for a statement that runs on the search path otherwise.
 */
export function qualifyAnalyzed(sql: string, analysis: StatementAnalysis, schema: string, sharedTables: Readonly<Record<string, string>> = {}, slots: 'all' | 'pinned' = 'all'): string {
  if (analysis.unqualifiable !== undefined) throw new UnqualifiableStatementError(analysis.unqualifiable)
  if (analysis.slots.length === 0) return sql
  let out = ''
  let at = 0
  for (const slot of analysis.slots) {
    if (slots === 'pinned' && slot.pinned !== true) continue
    const target = slot.catalog ? 'pg_catalog' : Object.hasOwn(sharedTables, slot.table) ? sharedTables[slot.table]! : schema
    out += sql.slice(at, slot.index) + quote(target) + '.'
    at = slot.index
  }
  return out + sql.slice(at)
}
