import type BetterSqlite3 from 'better-sqlite3'
import { readdir } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { ConfigurationError } from '../../errors.js'
import type { EngineSpec } from '../types.js'
import { SQLITE_CAPABILITIES, SqlitePool } from './pool.js'

export interface SqliteConnectionDetails {
  /** A file path, or ':memory:'. The directory must exist; the file is created if missing. */
  readonly filename: string
}

/**
 * A SQLite database on better-sqlite3 (one connection, WAL mode for files).
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
  const filename = details.filename
  const open = async (): Promise<BetterSqlite3.Database> => {
    const { default: Database } = await import('better-sqlite3')
    const db = new Database(filename)
    if (filename !== ':memory:') db.pragma('journal_mode = WAL')
    db.pragma('foreign_keys = ON')
    // Attachments live on the connection: re-attach the schema files createSchema made earlier.
    if (filename !== ':memory:') {
      const prefix = `${basename(filename)}.`
      for (const f of await readdir(dirname(filename)).catch(() => [] as string[])) {
        const name = f.startsWith(prefix) && f.endsWith('.sqlite') ? f.slice(prefix.length, -'.sqlite'.length) : ''
        if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) db.prepare(`attach database ? as "${name}"`).run(join(dirname(filename), f))
      }
    }
    return db
  }
  return Object.freeze({
    engine: 'sqlite',
    capabilities: SQLITE_CAPABILITIES,
    description: Object.freeze({ filename }),
    maxConnections: 1,
    createPool: () => new SqlitePool(open, filename),
  })
}

export { SqlitePool, SQLITE_CAPABILITIES }
