import { ConfigurationError } from '../errors.js'
import type { EngineCapabilities } from '../engines/types.js'

export type Values = Readonly<Record<string, unknown>>

interface Dialect {
  readonly capabilities: EngineCapabilities
  quoteIdentifier(name: string): string
}

/** Builds the few statements compound operations need, in the engine's placeholder style. */
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

  static select(dialect: Dialect, table: string, where: Values): { sql: string; params: unknown[] } {
    nonEmpty('where', where)
    const b = new SqlBuilder(dialect)
    const sql = `select * from ${dialect.quoteIdentifier(table)} where ${b.#where(where)} limit 2`
    return { sql, params: b.params }
  }

  static insert(dialect: Dialect, table: string, values: Values): { sql: string; params: unknown[] } {
    nonEmpty('values', values)
    const b = new SqlBuilder(dialect)
    const cols = Object.keys(values).map((c) => dialect.quoteIdentifier(c))
    const slots = Object.values(values).map((v) => b.#bind(v))
    const returning = dialect.capabilities.returning ? ' returning *' : ''
    return { sql: `insert into ${dialect.quoteIdentifier(table)} (${cols.join(', ')}) values (${slots.join(', ')})${returning}`, params: b.params }
  }

  static update(dialect: Dialect, table: string, values: Values, where: Values): { sql: string; params: unknown[] } {
    nonEmpty('values', values)
    nonEmpty('where', where)
    const b = new SqlBuilder(dialect)
    const sets = Object.entries(values).map(([c, v]) => `${dialect.quoteIdentifier(c)} = ${b.#bind(v)}`)
    return { sql: `update ${dialect.quoteIdentifier(table)} set ${sets.join(', ')} where ${b.#where(where)}`, params: b.params }
  }
}

function nonEmpty(name: string, values: Values): void {
  if (Object.keys(values).length === 0) throw new ConfigurationError(`${name} must name at least one column`)
}
