import type BetterSqlite3 from 'better-sqlite3'
import { ConfigurationError } from '../../errors.js'
import type { EngineSpec } from '../types.js'
import { SQLITE_HOME_ALIAS } from './home.js'
import { MAX_ATTACHED, SQLITE_CAPABILITIES, SqlitePool } from './pool.js'

export interface SqliteConnectionDetails {
  /** A file path, or ':memory:'. The directory must exist; the file is created if missing. */
  readonly filename: string
  /**
   * Schema files kept attached at once (1 to 10, default 10). better-sqlite3 is compiled with
   * SQLite's default SQLITE_MAX_ATTACHED of 10, which cannot be raised at run time, so
   * schema files are attached on demand and the least recently used idle one is detached
   * to make room. Lower it to leave slots for ATTACH statements of your own.
   */
  readonly maxAttached?: number
}

/**
 * A SQLite database on better-sqlite3 (one connection, WAL mode for files). Schemas are
 * database files beside the main one (`<filename>.<schema>.sqlite`), attached when a
 * statement names them; any number of them may exist.
 *
 * @example
 * ```ts
 * import { createSwitchyard } from 'switchyard'
 * import { sqlite } from 'switchyard/sqlite'
 *
 * const sy = createSwitchyard({ databases: { default: sqlite({ filename: './app.sqlite' }) } })
 * await sy.write('create table if not exists notes (body text)')
 * await sy.write('insert into notes (body) values (?)', ['hello'])
 * ```
 */
export function sqlite(details: SqliteConnectionDetails): EngineSpec {
  if (typeof details?.filename !== 'string' || details.filename === '') throw new ConfigurationError(`sqlite(): filename must be a path or ':memory:'`)
  const maxAttached = details.maxAttached ?? MAX_ATTACHED
  if (!Number.isInteger(maxAttached) || maxAttached < 1 || maxAttached > MAX_ATTACHED) {
    throw new ConfigurationError(`sqlite(): maxAttached must be an integer from 1 to ${MAX_ATTACHED} (SQLite's compiled limit), got ${String(details.maxAttached)}`)
  }
  const filename = details.filename
  const connect = async (file: string): Promise<BetterSqlite3.Database> => {
    const { default: Database } = await import('better-sqlite3')
    const db = new Database(file)
    db.pragma('foreign_keys = ON')
    // A second process (or the pool's tenant-scoped connection) may hold a write lock briefly.
    db.pragma('busy_timeout = 5000')
    return db
  }
  const open = async (): Promise<BetterSqlite3.Database> => {
    const db = await connect(filename)
    if (filename !== ':memory:') db.pragma('journal_mode = WAL')
    return db
  }
  return Object.freeze({
    engine: 'sqlite',
    capabilities: SQLITE_CAPABILITIES,
    description: Object.freeze({ filename }),
    maxConnections: 1,
    createPool: () => new SqlitePool({ open, connect, filename, maxAttached }),
  })
}

export { SqlitePool, SQLITE_CAPABILITIES, SQLITE_HOME_ALIAS, MAX_ATTACHED }
