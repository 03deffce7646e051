import type { EngineTransaction, QueryOptions, QueryResult, Row } from '../types.js'

/** Runs one statement on the transaction's connection. */
export type RunStatement = <R = Row>(sql: string, params: readonly unknown[], options?: QueryOptions) => Promise<QueryResult<R>>

/**
 * A transaction on one held connection; nested `transaction` calls become savepoints, so an
 * inner failure rolls back only its own work. Every engine shares this, since SAVEPOINT,
 * RELEASE and ROLLBACK TO are spelled the same on all four.
 */
export class SavepointTransaction implements EngineTransaction {
  #depth = 0

  constructor(private readonly run: RunStatement) {}

  query<R = Row>(sql: string, params: readonly unknown[] = [], options?: QueryOptions): Promise<QueryResult<R>> {
    return this.run<R>(sql, params, options)
  }

  async transaction<T>(fn: (tx: EngineTransaction) => Promise<T>): Promise<T> {
    const name = `sy_sp_${++this.#depth}`
    await this.run(`SAVEPOINT ${name}`, [])
    try {
      const result = await fn(this)
      await this.run(`RELEASE SAVEPOINT ${name}`, [])
      return result
    } catch (err) {
      await this.run(`ROLLBACK TO SAVEPOINT ${name}`, [])
      throw err
    } finally {
      this.#depth--
    }
  }
}

/** Quotes an identifier with the given quote character, doubling any embedded one. */
export function quoteWith(quote: '"' | '`', name: string): string {
  if (name.includes('\u0000')) throw new TypeError('Identifier contains a NUL character')
  return quote + name.split(quote).join(quote + quote) + quote
}
