import type { EnginePool } from 'switchyard'
import { databaseFingerprint } from '../cache/result-cache.js'
import { HttpError } from '../http/errors.js'
import { engineSpecFor, type ConnectionDetails, type ConnectionPolicy } from './connection.js'

export interface DatabaseRow {
  id: number
  name: string
  engine: string
  details: ConnectionDetails
  router_database_id: number | null
  router_user_attribute: string | null
  created_at: Date
  updated_at: Date
}

/**
 * The row's engine and connection details as one string ({@link databaseFingerprint}), memoised
 * per row object: the hot path reuses rows from the metadata cache, and a changed database is a
 * new row (the cache is cleared on every write), so never a stale answer. Serves both the pool
 * registry (reopen when details change) and the result-cache key.
 */
export function fingerprintOf(db: DatabaseRow): string {
  let fp = fingerprints.get(db)
  if (fp === undefined) {
    fp = databaseFingerprint(db.engine, db.details)
    fingerprints.set(db, fp)
  }
  return fp
}

const fingerprints = new WeakMap<DatabaseRow, string>()

const UNUSABLE_DETAILS = 'The database that serves this request cannot be opened: its stored connection details are not valid on this server. An administrator must update them.'

/** One pool per database id, opened on first use and closed when the database changes or goes. */
export class DatabasePools {
  readonly #pools = new Map<number, { pool: EnginePool; fingerprint: string }>()

  constructor(private readonly policy: ConnectionPolicy) {}

  get(db: DatabaseRow): EnginePool {
    const fingerprint = fingerprintOf(db)
    const open = this.#pools.get(db.id)
    if (open && open.fingerprint === fingerprint) return open.pool
    // Built before the old pool is closed: details that cannot build a pool must not leave a
    // closed pool registered under the old fingerprint, to be handed out once they are fixed.
    const pool = this.#open(db)
    if (open) void open.pool.close()
    this.#pools.set(db.id, { pool, fingerprint })
    return pool
  }

  /**
   * Details are checked when they are saved, so ones that cannot open a pool here were written
   * behind the API's back or predate a policy change (an embedded database on a server that no
   * longer allows them). That is the server's fault, not the caller's: a 500 whose message names
   * no detail (a viewer must not learn the configuration), with the reason kept as its cause for
   * the log and the run record.
   */
  #open(db: DatabaseRow): EnginePool {
    try {
      return engineSpecFor(db.engine, db.details, this.policy).createPool()
    } catch (err) {
      throw new HttpError(500, UNUSABLE_DETAILS, undefined, { cause: err })
    }
  }

  async evict(id: number): Promise<void> {
    const open = this.#pools.get(id)
    this.#pools.delete(id)
    await open?.pool.close()
  }

  async close(): Promise<void> {
    const all = [...this.#pools.values()]
    this.#pools.clear()
    await Promise.all(all.map((p) => p.pool.close().catch(() => {})))
  }
}

/** Opens a throwaway pool and checks it connects; the engine's error message explains a failure. */
export async function checkConnection(engine: string, details: ConnectionDetails, policy: ConnectionPolicy): Promise<void> {
  const pool = engineSpecFor(engine, details, policy).createPool()
  try {
    await pool.checkConnection()
  } finally {
    await pool.close().catch(() => {})
  }
}
