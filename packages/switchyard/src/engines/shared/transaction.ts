import { AsyncLocalStorage } from 'node:async_hooks'
import { ConfigurationError, QueryCancelledError, RollbackFailedError } from '../../errors.js'
import type { EngineTransaction, IsolationLevel, QueryOptions, QueryResult, Row, TransactionOptions } from '../types.js'

/** Runs one statement on the transaction's connection. */
export type RunStatement = <R = Row>(sql: string, params: readonly unknown[], options?: QueryOptions) => Promise<QueryResult<R>>

/** Savepoints opened at one level of nesting queue behind each other; `tail` is the last one's end. */
interface Level {
  tail: Promise<void>
}

/** Which savepoint level the running code is inside, per transaction (a caller may hold several). */
const levels = new AsyncLocalStorage<ReadonlyMap<SavepointTransaction, Level>>()

/**
 * A transaction on one held connection; nested `transaction` calls become savepoints, so an
 * inner failure rolls back only its own work. Every engine shares this, since SAVEPOINT,
 * RELEASE and ROLLBACK TO are spelled the same on all four.
 *
 * Savepoints form a stack on the server: rolling back to one destroys every savepoint set
 * after it. Two nested transactions started side by side (`Promise.all`) on one connection
 * would interleave on that stack, so siblings take turns; a savepoint opened from inside
 * another (found through AsyncLocalStorage) nests in it and does not wait. Names come from a
 * counter per connection, never from the depth, so no two savepoints share one.
 */
export class SavepointTransaction implements EngineTransaction {
  #counter = 0
  readonly #top: Level = { tail: Promise.resolve() }

  constructor(private readonly run: RunStatement) {}

  query<R = Row>(sql: string, params: readonly unknown[] = [], options?: QueryOptions): Promise<QueryResult<R>> {
    // Checked here for every engine, whether or not its runner looks at the signal.
    if (options?.signal?.aborted) return Promise.reject(cancelledBeforeStart(options.signal))
    return this.run<R>(sql, params, options)
  }

  async transaction<T>(fn: (tx: EngineTransaction) => Promise<T>): Promise<T> {
    const outer = levels.getStore()
    const level = outer?.get(this) ?? this.#top
    const before = level.tail
    let done!: () => void
    level.tail = new Promise<void>((resolve) => (done = resolve))
    try {
      await before
      const name = `sy_sp_${++this.#counter}`
      await this.run(`SAVEPOINT ${name}`, [])
      const inner = new Map(outer)
      inner.set(this, { tail: Promise.resolve() })
      try {
        const result = await levels.run(inner, () => fn(this))
        await this.run(`RELEASE SAVEPOINT ${name}`, [])
        return result
      } catch (err) {
        try {
          await this.run(`ROLLBACK TO SAVEPOINT ${name}`, [])
        } catch (rollbackErr) {
          // The caller learns why its work failed; the failed rollback rides along.
          attachRollbackError(err, rollbackErr)
        }
        throw err
      }
    } finally {
      done()
    }
  }
}

const ISOLATION_LEVELS: ReadonlySet<unknown> = new Set<IsolationLevel>(['read uncommitted', 'read committed', 'repeatable read', 'serializable'])

/**
 * The isolation level a transaction asks for, checked. Engines inline it into SQL, and a
 * caller outside TypeScript's reach (JSON, a Kysely setting) can pass anything: only the four
 * standard spellings get through. Engines call this before taking a connection.
 */
export function isolationLevelOf(options: TransactionOptions | undefined): IsolationLevel | undefined {
  const level: unknown = options?.isolationLevel
  if (level === undefined) return undefined
  if (!ISOLATION_LEVELS.has(level)) {
    const shown = typeof level === 'string' ? `'${level}'` : String(level)
    throw new ConfigurationError(`Unknown transaction isolationLevel ${shown}: use one of ${[...ISOLATION_LEVELS].map((l) => `'${String(l)}'`).join(', ')}`)
  }
  return level as IsolationLevel
}

/** Quotes an identifier with the given quote character, doubling any embedded one. */
export function quoteWith(quote: '"' | '`', name: string): string {
  if (name.includes('\u0000')) throw new TypeError('Identifier contains a NUL character')
  return quote + name.split(quote).join(quote + quote) + quote
}

/** A signal that fired before the statement started: nothing is sent to the database. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw cancelledBeforeStart(signal)
}

function cancelledBeforeStart(signal: AbortSignal): QueryCancelledError {
  return new QueryCancelledError('The statement was not run: its AbortSignal had already fired', { cause: signal.reason })
}

/**
 * Attaches a failed ROLLBACK to the error that caused it, so throwing the original keeps both.
 * Non-enumerable: loggers that print own properties are not flooded.
 */
export function attachRollbackError(original: unknown, rollbackFailure: unknown): void {
  if ((typeof original !== 'object' && typeof original !== 'function') || original === null || !Object.isExtensible(original)) return
  Object.defineProperty(original, 'rollbackError', {
    value: rollbackFailure instanceof RollbackFailedError ? rollbackFailure : new RollbackFailedError({ cause: rollbackFailure }),
    enumerable: false,
    configurable: true,
  })
}
