import { ConfigurationError } from '../errors.js'
import type { EngineCapabilities } from '../engines/types.js'

export type Values = Readonly<Record<string, unknown>>

interface Dialect {
  readonly capabilities: EngineCapabilities
  quoteIdentifier(name: string): string
}

/**
 * Builds the few statements compound operations need, in the engine's placeholder style.
 *
 * In `where`, `null` matches NULL (`is null`) and `undefined` is refused: bound as a
 * parameter it would compare `= NULL`, match nothing, and make `getOrCreate` insert a
 * duplicate every time. In inserted or updated values an `undefined` key is left out (as
 * Kysely does), so the column keeps its default or its current value.
 */
export class SqlBuilder {
  #n = 0
  readonly params: unknown[] = []

  constructor(private readonly dialect: Dialect) {}

  #bind(value: unknown): string {
    this.params.push(value)
    return this.dialect.capabilities.placeholders === 'numbered' ? `$${++this.#n}` : '?'
  }

  #where(where: Values): string {
    const parts = Object.entries(where).map(([col, value]) =>
      value === null ? `${this.dialect.quoteIdentifier(col)} is null` : `${this.dialect.quoteIdentifier(col)} = ${this.#bind(value)}`,
    )
    return parts.join(' and ')
  }

  /**
   * `lock`: read the latest committed rows rather than the transaction's snapshot, where
   * the engine needs a clause for that (see `EngineCapabilities.currentReadClause`).
   */
  static select(dialect: Dialect, table: string, where: Values, options: { lock?: boolean } = {}): { sql: string; params: unknown[] } {
    checkWhere(table, where)
    const b = new SqlBuilder(dialect)
    const lock = options.lock ? (dialect.capabilities.currentReadClause ?? '') : ''
    const sql = `select * from ${dialect.quoteIdentifier(table)} where ${b.#where(where)} limit 2${lock}`
    return { sql, params: b.params }
  }

  static insert(dialect: Dialect, table: string, values: Values): { sql: string; params: unknown[] } {
    const given = defined(values)
    nonEmpty(table, 'values', given)
    const b = new SqlBuilder(dialect)
    const cols = Object.keys(given).map((c) => dialect.quoteIdentifier(c))
    const slots = Object.values(given).map((v) => b.#bind(v))
    const returning = dialect.capabilities.returning ? ' returning *' : ''
    return { sql: `insert into ${dialect.quoteIdentifier(table)} (${cols.join(', ')}) values (${slots.join(', ')})${returning}`, params: b.params }
  }

  static update(dialect: Dialect, table: string, values: Values, where: Values): { sql: string; params: unknown[] } {
    const given = defined(values)
    nonEmpty(table, 'values', given)
    checkWhere(table, where)
    const b = new SqlBuilder(dialect)
    const sets = Object.entries(given).map(([c, v]) => `${dialect.quoteIdentifier(c)} = ${b.#bind(v)}`)
    const returning = dialect.capabilities.returning ? ' returning *' : ''
    return { sql: `update ${dialect.quoteIdentifier(table)} set ${sets.join(', ')} where ${b.#where(where)}${returning}`, params: b.params }
  }
}

/** The keys of `values` whose value is not `undefined`. */
export function defined(values: Values): Values {
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(values)) if (v !== undefined) out[k] = v
  return out
}

function checkWhere(table: string, where: Values): void {
  nonEmpty(table, 'where', where)
  for (const [col, value] of Object.entries(where)) {
    if (value === undefined) {
      throw new ConfigurationError(`'${table}': where.${col} is undefined; pass null to match NULL, or leave the key out`)
    }
  }
}

function nonEmpty(table: string, name: string, values: Values): void {
  if (Object.keys(values).length === 0) throw new ConfigurationError(`'${table}': ${name} must name at least one column (with a value other than undefined)`)
}
