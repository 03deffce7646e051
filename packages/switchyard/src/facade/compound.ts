import { SwitchyardError, UniqueViolationError } from '../errors.js'
import type { EngineCapabilities, EngineTransaction, Queryable, Row } from '../engines/types.js'
import { SqlBuilder, defined, type Values } from './sql-builder.js'

export interface CompoundResult<R = Row> {
  readonly row: R
  readonly created: boolean
}

/** Where compound operations run: one connection in a transaction, able to open savepoints. */
export interface CompoundTarget {
  readonly capabilities: EngineCapabilities
  quoteIdentifier(name: string): string
  /** Runs `fn` in a transaction (or a savepoint when already inside one). */
  atomically<T>(fn: (tx: EngineTransaction) => Promise<T>): Promise<T>
  /** Plain statements: autocommit at top level, the open transaction inside one. */
  readonly db: Queryable
}

/**
 * `lock`: a current read (see `EngineCapabilities.currentReadClause`). After a conflict the
 * winner's row was committed after this transaction's snapshot on MySQL, where a plain
 * select would not see it.
 */
async function selectOne<R>(target: CompoundTarget, db: Queryable, table: string, where: Values, options: { lock?: boolean } = {}): Promise<R | undefined> {
  const q = SqlBuilder.select(target, table, where, options)
  const { rows } = await db.query<R>(q.sql, q.params)
  if (rows.length > 1) {
    throw new SwitchyardError('MULTIPLE_ROWS', `getOrCreate/updateOrCreate on '${table}': the where clause matches more than one row`)
  }
  return rows[0]
}

/** Inserts `values`; without RETURNING, reads the row back by `key` on the same connection. */
async function insert<R>(target: CompoundTarget, tx: EngineTransaction, table: string, values: Values, key: Values): Promise<R> {
  const q = SqlBuilder.insert(target, table, values)
  const { rows } = await tx.query<R>(q.sql, q.params)
  if (rows[0]) return rows[0]
  // By the key, not by every inserted value: floats and dates need not compare equal after a round trip.
  const row = await selectOne<R>(target, tx, table, key)
  if (!row) throw new SwitchyardError('COMPOUND_FAILED', `Inserted into '${table}' but could not read the row back`)
  return row
}

/**
 * Existence is checked where writes go, never on a lagging replica; the insert runs in a
 * savepoint, and a unique violation (a concurrent caller won the race) becomes a re-read
 * that sees the winner's committed row.
 */
export async function getOrCreate<R>(target: CompoundTarget, table: string, where: Values, defaults: Values = {}): Promise<CompoundResult<R>> {
  const existing = await selectOne<R>(target, target.db, table, where)
  if (existing) return { row: existing, created: false }
  try {
    const row = await target.atomically((tx) => insert<R>(target, tx, table, { ...defined(defaults), ...where }, where))
    return { row, created: true }
  } catch (err) {
    if (!(err instanceof UniqueViolationError)) throw err
    const winner = await selectOne<R>(target, target.db, table, where, { lock: true })
    if (!winner) throw err
    return { row: winner, created: false }
  }
}

/**
 * Updates the row matching `where` with `values`, or inserts `where + values` if none.
 *
 * Each step is its own atomic unit (a short transaction at top level, a savepoint inside
 * one): an UPDATE that finds nothing takes gap locks on InnoDB, and a transaction holding
 * them while it inserts deadlocks with every concurrent caller doing the same. Committing
 * the empty update first lets the insert, or the loser's second update, simply wait its turn.
 * Inside a caller's own MySQL transaction those locks live until it commits, and concurrent
 * callers may still be chosen as deadlock victims there.
 */
export async function updateOrCreate<R>(target: CompoundTarget, table: string, where: Values, values: Values): Promise<CompoundResult<R>> {
  const given = defined(values)
  // The row after the update: values that overwrite where-columns are how it is found again.
  const key = { ...where, ...pick(given, where) }
  const tryUpdate = (): Promise<R | undefined> =>
    target.atomically(async (tx) => {
      const q = SqlBuilder.update(target, table, given, where)
      const { rows, rowCount } = await tx.query<R>(q.sql, q.params)
      if (rowCount === 0) return undefined
      // Thrown inside the atomic unit, so the update of several rows is rolled back.
      if (rowCount > 1) throw new SwitchyardError('MULTIPLE_ROWS', `updateOrCreate on '${table}': the where clause matches ${rowCount} rows`)
      if (rows[0]) return rows[0]
      // A current read: on MySQL an UPDATE that changed nothing leaves the row outside the snapshot.
      return selectOne<R>(target, tx, table, key, { lock: true })
    })
  const updated = await tryUpdate()
  if (updated) return { row: updated, created: false }
  try {
    const row = await target.atomically((tx) => insert<R>(target, tx, table, { ...where, ...given }, key))
    return { row, created: true }
  } catch (err) {
    if (!(err instanceof UniqueViolationError)) throw err
    const row = await tryUpdate()
    if (!row) throw err
    return { row, created: false }
  }
}

/** The entries of `values` whose keys are also in `where`. */
function pick(values: Values, where: Values): Values {
  const out: Record<string, unknown> = {}
  for (const k of Object.keys(where)) if (k in values) out[k] = values[k]
  return out
}
