// The four real engines, each on its own fresh database, for the conformance suite.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { EngineSpec } from '../../src/engines/types.js'
import { postgres } from '../../src/engines/postgres/index.js'
import { pglite } from '../../src/engines/pglite/index.js'
import { mysql } from '../../src/engines/mysql/index.js'
import { sqlite } from '../../src/engines/sqlite/index.js'
import { createTempMysqlDatabase, createTempPgDatabase, serviceAvailable } from '../../../../test-support/services.js'

export interface EngineUnderTest {
  readonly name: 'postgres' | 'pglite' | 'mysql' | 'sqlite'
  /** Whether its server is reachable (embedded engines always are). */
  readonly available: boolean
  /** A fresh, empty database; `cleanup` drops it. `max` sizes the pool where the engine has several connections. */
  make(options?: { max?: number }): Promise<{ spec: EngineSpec; cleanup: () => Promise<void> }>
  /** A statement that runs for about `seconds`, for cancellation tests, where the engine can cancel. */
  readonly slowStatement?: (seconds: number) => string
}

export const engines: EngineUnderTest[] = [
  {
    name: 'postgres',
    available: await serviceAvailable('postgres'),
    async make(options) {
      const db = await createTempPgDatabase()
      return { spec: postgres({ connectionString: db.connectionString, max: options?.max ?? 4 }), cleanup: db.drop }
    },
    slowStatement: (s) => `select pg_sleep(${s})`,
  },
  {
    name: 'pglite',
    available: true,
    async make() {
      return { spec: pglite(), cleanup: async () => {} }
    },
  },
  {
    name: 'mysql',
    available: await serviceAvailable('mysql'),
    async make(options) {
      const db = await createTempMysqlDatabase()
      return { spec: mysql({ host: db.host, port: db.port, user: db.user, database: db.name, max: options?.max ?? 4 }), cleanup: db.drop }
    },
    slowStatement: (s) => `select sleep(${s})`,
  },
  {
    name: 'sqlite',
    available: true,
    async make() {
      const dir = await mkdtemp(join(tmpdir(), 'sy-sqlite-'))
      return { spec: sqlite({ filename: join(dir, 'main.sqlite') }), cleanup: () => rm(dir, { recursive: true, force: true }) }
    },
  },
]
