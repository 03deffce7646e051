import { SwitchyardError, UniqueViolationError } from '../errors.js'
import type { EngineCapabilities, EngineTransaction, Queryable, Row } from '../engines/types.js'
import { SqlBuilder, type Values } from './sql-builder.js'

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

async function selectOne<R>(target: CompoundTarget, db: Queryable, table: string, where: Values): Promise<R | undefined> {
  const q = SqlBuilder.select(target, table, where)
  const { rows } = await db.query<R>(q.sql, q.params)
  if (rows.length > 1) {
    throw new SwitchyardError('MULTIPLE_ROWS', `getOrCreate/updateOrCreate on '${table}': the where clause matches more than one row`)
  }
  return rows[0]
}

async function insert<R>(target: CompoundTarget, tx: EngineTransaction, table: string, values: Values): Promise<R> {
  const q = SqlBuilder.insert(target, table, values)
  const { rows } = await tx.query<R>(q.sql, q.params)
  if (rows[0]) return rows[0]
  // No RETURNING on this engine: read the row back on the same connection.
  const row = await selectOne<R>(target, tx, table, values)
  if (!row) throw new SwitchyardError('COMPOUND_FAILED', `Inserted into '${table}' but could not read the row back`)
  return row
}

/**
 * Existence is checked where writes go, never on a lagging replica; the insert runs in a
 * savepoint, and a unique violation (a concurrent caller won the race) becomes a re-read.
 */
export async function getOrCreate<R>(target: CompoundTarget, table: string, where: Values, defaults: Values = {}): Promise<CompoundResult<R>> {
  const existing = await selectOne<R>(target, target.db, table, where)
  if (existing) return { row: existing, created: false }
  try {
    const row = await target.atomically((tx) => insert<R>(target, tx, table, { ...defaults, ...where }))
    return { row, created: true }
  } catch (err) {
    if (!(err instanceof UniqueViolationError)) throw err
    const winner = await selectOne<R>(target, target.db, table, where)
    if (!winner) throw err
    return { row: winner, created: false }
  }
}

/** Updates the row matching `where` with `values`, or inserts `where + values` if none. */
export async function updateOrCreate<R>(target: CompoundTarget, table: string, where: Values, values: Values): Promise<CompoundResult<R>> {
  return target.atomically(async (tx) => {
    const tryUpdate = async (): Promise<R | undefined> => {
      const q = SqlBuilder.update(target, table, values, where)
      const { rowCount } = await tx.query(q.sql, q.params)
      if (rowCount === 0) return undefined
      return selectOne<R>(target, tx, table, { ...where, ...pick(values, where) })
    }
    const updated = await tryUpdate()
    if (updated) return { row: updated, created: false }
    try {
      const row = await tx.transaction((sp) => insert<R>(target, sp, table, { ...where, ...values }))
      return { row, created: true }
    } catch (err) {
      if (!(err instanceof UniqueViolationError)) throw err
      const row = await tryUpdate()
      if (!row) throw err
      return { row, created: false }
    }
  })
}

/** Values that overwrite where-columns must be used to find the row again after the update. */
function pick(values: Values, where: Values): Values {
  const out: Record<string, unknown> = {}
  for (const k of Object.keys(where)) if (k in values) out[k] = values[k]
  return out
}
