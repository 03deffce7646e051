import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createSwitchyard, type Switchyard } from '../../src/index.js'
import { postgres } from '../../src/engines/postgres/index.js'
import { mysql } from '../../src/engines/mysql/index.js'
import type { EngineSpec } from '../../src/engines/types.js'
import { ConfigurationError } from '../../src/errors.js'
import { createTempMysqlDatabase, createTempPgDatabase, serviceAvailable, type TempDatabase } from '../../../../test-support/services.js'

const targets: { name: string; available: boolean; make: () => Promise<TempDatabase>; spec: (db: TempDatabase) => EngineSpec }[] = [
  {
    name: 'postgres',
    available: await serviceAvailable('postgres'),
    make: () => createTempPgDatabase(),
    spec: (db) => postgres({ connectionString: db.connectionString, max: 20 }),
  },
  {
    // MariaDB: InnoDB's REPEATABLE READ snapshot, and no RETURNING (rows are read back).
    name: 'mysql',
    available: await serviceAvailable('mysql'),
    make: () => createTempMysqlDatabase(),
    spec: (db) => mysql({ host: db.host, port: db.port, user: db.user, database: db.name, max: 20 }),
  },
]

const CALLERS = 20
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

interface Account {
  email: string
  name: string | null
  hits: number
}

for (const target of targets) {
  describe.skipIf(!target.available)(`getOrCreate / updateOrCreate under concurrency: ${target.name}`, () => {
    let db: TempDatabase
    let sy: Switchyard
    /** The engine's placeholder for parameter n. */
    let p: (n: number) => string

    beforeAll(async () => {
      db = await target.make()
      const spec = target.spec(db)
      p = (n) => (spec.capabilities.placeholders === 'numbered' ? `$${n}` : '?')
      sy = createSwitchyard({ databases: { default: spec } })
      await sy.write('create table accounts (email varchar(100) not null primary key, name varchar(100), hits integer not null default 0)')
    })
    afterAll(async () => {
      await sy?.close()
      await db?.drop()
    })

    const count = async (email: string) => Number((await sy.read<{ n: number }>(`select count(*) as n from accounts where email = ${p(1)}`, [email])).rows[0]?.n)

    it(`${CALLERS} concurrent top-level getOrCreate of one key: one row, one created, no error`, async () => {
      const results = await Promise.allSettled(Array.from({ length: CALLERS }, () => sy.getOrCreate<Account>('accounts', { email: 'top@x' }, { name: 'Top' })))
      const rejected = results.filter((r) => r.status === 'rejected')
      expect(rejected).toEqual([])
      const values = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []))
      expect(values.filter((v) => v.created)).toHaveLength(1)
      // The whole row as the database has it, default included: RETURNING, or the read-back where there is none.
      for (const v of values) expect({ ...v.row, hits: Number(v.row.hits) }).toEqual({ email: 'top@x', name: 'Top', hits: 0 })
      expect(await count('top@x')).toBe(1)
    })

    it(`${CALLERS} concurrent getOrCreate of one key, each inside its own transaction: the losers see the winner's committed row`, async () => {
      const results = await Promise.allSettled(
        Array.from({ length: CALLERS }, (_, i) =>
          sy.transaction(async (tx) => {
            const r = await tx.getOrCreate<Account>('accounts', { email: 'tx@x' }, { name: `caller ${i}` })
            // Hold the transaction open, so others read before the winner commits.
            await sleep(30)
            return r
          }),
        ),
      )
      expect(results.filter((r) => r.status === 'rejected')).toEqual([])
      const values = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []))
      expect(values.filter((v) => v.created)).toHaveLength(1)
      const winner = values.find((v) => v.created)!.row
      for (const v of values) expect(v.row.name).toBe(winner.name)
      expect(await count('tx@x')).toBe(1)
    })

    it(`${CALLERS} concurrent top-level updateOrCreate of one key: one row, one created, every caller's update applied in turn`, async () => {
      const results = await Promise.allSettled(Array.from({ length: CALLERS }, (_, i) => sy.updateOrCreate<Account>('accounts', { email: 'up@x' }, { name: `v${i}` })))
      expect(results.filter((r) => r.status === 'rejected')).toEqual([])
      const values = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []))
      expect(values.filter((v) => v.created)).toHaveLength(1)
      values.forEach((v, i) => expect(v.row).toMatchObject({ email: 'up@x', name: `v${i}` }))
      expect(await count('up@x')).toBe(1)
    })

    it('null in where matches with IS NULL: the second call finds the first one’s row', async () => {
      const first = await sy.getOrCreate<Account>('accounts', { email: 'null@x', name: null })
      const second = await sy.getOrCreate<Account>('accounts', { email: 'null@x', name: null })
      expect(first).toMatchObject({ created: true, row: { email: 'null@x', name: null } })
      expect(second).toMatchObject({ created: false, row: { email: 'null@x', name: null } })
    })

    it('undefined in where is refused before anything runs, naming the key; undefined defaults are left out', async () => {
      const err = await sy.getOrCreate('accounts', { email: 'undef@x', name: undefined }).catch((e: unknown) => e)
      expect(err).toBeInstanceOf(ConfigurationError)
      expect((err as Error).message).toMatch(/where\.name is undefined/)
      await expect(sy.updateOrCreate('accounts', { email: undefined }, { name: 'x' })).rejects.toThrow(/where\.email is undefined/)
      expect(await count('undef@x')).toBe(0)
      const made = await sy.getOrCreate<Account>('accounts', { email: 'undef@x' }, { name: undefined })
      expect(made).toMatchObject({ created: true, row: { email: 'undef@x', name: null } })
    })
  })
}
