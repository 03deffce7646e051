import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { postgres, type PostgresConnectionDetails } from '../../src/engines/postgres/index.js'
import type { EnginePool } from '../../src/engines/types.js'
import { ConfigurationError } from '../../src/errors.js'
import { createTempPgDatabase, serviceAvailable, type TempDatabase } from '../../../../test-support/services.js'

const ok = await serviceAvailable('postgres')

interface Prepared {
  statement: string
  runs: number
}

/** The one connection's prepared statements; asked without parameters, so this asking prepares nothing. */
async function preparedOn(pool: EnginePool): Promise<Prepared[]> {
  const { rows } = await pool.query<Prepared>('select statement, (generic_plans + custom_plans)::int as runs from pg_prepared_statements order by prepare_time, statement')
  return rows
}

describe.skipIf(!ok)('postgres: prepared statements per connection', () => {
  let db: TempDatabase
  const pools: EnginePool[] = []
  /** One connection, so what the test runs and what pg_prepared_statements shows are the same session. */
  const onePool = (o: Partial<PostgresConnectionDetails> = {}) => {
    const pool = postgres({ connectionString: db.connectionString, max: 1, ...o }).createPool()
    pools.push(pool)
    return pool
  }

  beforeAll(async () => {
    db = await createTempPgDatabase()
  })
  afterAll(async () => {
    await Promise.all(pools.map((p) => p.close()))
    await db?.drop()
  })

  it('a repeated parameterised statement is parsed once and run by name; with statementCache 0 it is never prepared', async () => {
    const pool = onePool()
    for (const n of [1, 2, 3]) expect((await pool.query('select $1::int * 2 as n', [n])).rows).toEqual([{ n: n * 2 }])
    expect(await preparedOn(pool)).toEqual([{ statement: 'select $1::int * 2 as n', runs: 3 }])
    // Array rows and the cancellable path (a signal) share the connection's statements.
    const res = await pool.query<unknown[]>('select $1::int * 2 as n', [5], { rowMode: 'array', signal: new AbortController().signal })
    expect(res.rows).toEqual([[10]])
    expect(await preparedOn(pool)).toEqual([{ statement: 'select $1::int * 2 as n', runs: 4 }])

    const off = onePool({ statementCache: 0 })
    for (const n of [1, 2]) await off.query('select $1::int * 2 as n', [n])
    expect(await preparedOn(off)).toEqual([])
  })

  it('statements inside a transaction are not prepared', async () => {
    const pool = onePool()
    const inside = await pool.transaction(async (tx) => {
      await tx.query('select $1::int as n', [1])
      return (await tx.query<Prepared>('select statement from pg_prepared_statements')).rows
    })
    expect(inside).toEqual([])
  })

  it('beyond the capacity the least recently used are deallocated, a quarter at a time', async () => {
    const pool = onePool({ statementCache: 8 })
    const run = (k: number) => pool.query(`select $1::int + ${k} as n`, [0])
    for (let k = 1; k <= 8; k++) await run(k)
    await run(1) // now the most recently used
    await run(9) // evicts the two least recently used: 2 and 3
    const texts = (await preparedOn(pool)).map((p) => p.statement)
    expect(texts.sort()).toEqual([1, 4, 5, 6, 7, 8, 9].map((k) => `select $1::int + ${k} as n`).sort())
    expect((await run(2)).rows).toEqual([{ n: 2 }])
  })

  it('a statement that failed to parse holds no place: evicting it cannot strand another on the server', async () => {
    const pool = onePool({ statementCache: 8 })
    await expect(pool.query('selec $1::int', [1])).rejects.toThrow(/syntax error/)
    // Had the failed one been kept, the batch evicting it with statement 1 would fail on it
    // first and leave 1 prepared on the server, forgotten by the cache.
    for (let k = 1; k <= 9; k++) await pool.query(`select $1::int + ${k} as n`, [0])
    const texts = (await preparedOn(pool)).map((p) => p.statement)
    expect(texts.sort()).toEqual([3, 4, 5, 6, 7, 8, 9].map((k) => `select $1::int + ${k} as n`).sort())
  })

  it('columns changed under a prepared `select *` are picked up, not an error', async () => {
    const pool = onePool()
    await pool.query('create table widened (id int primary key)')
    await pool.query('insert into widened values (1)')
    expect((await pool.query('select * from widened where id = $1', [1])).rows).toEqual([{ id: 1 }])
    await pool.query(`alter table widened add column label text not null default 'x'`)
    // PostgreSQL refuses the prepared plan (cached plan must not change result type); it is
    // deallocated and the statement runs again, once, unprepared.
    expect((await pool.query('select * from widened where id = $1', [1])).rows).toEqual([{ id: 1, label: 'x' }])
    expect((await pool.query('select * from widened where id = $1', [1])).rows).toEqual([{ id: 1, label: 'x' }])
    expect((await preparedOn(pool)).map((p) => p.statement)).toEqual(['select * from widened where id = $1'])
  })

  it('statements lost to DISCARD ALL are run again; a pool that keeps losing them stops preparing', async () => {
    const pool = onePool()
    const sql = 'select $1::text as v'
    for (let loss = 1; loss <= 3; loss++) {
      await pool.query(sql, ['before'])
      expect(await preparedOn(pool)).toHaveLength(1)
      await pool.query('discard all')
      expect((await pool.query(sql, ['after'])).rows).toEqual([{ v: 'after' }])
    }
    await pool.query(sql, ['off'])
    expect(await preparedOn(pool)).toEqual([])
  })

  it('many statements over several connections, past the capacity of each: every answer is its own', async () => {
    const pool = postgres({ connectionString: db.connectionString, max: 4, statementCache: 4 }).createPool()
    pools.push(pool)
    const asks = Array.from({ length: 400 }, (_, i) => ({ k: i % 23, v: i }))
    const answers = await Promise.all(asks.map(({ k, v }) => pool.query<{ k: number; v: number }>(`select ${k} as k, $1::int as v`, [v])))
    expect(answers.map((a) => a.rows[0])).toEqual(asks)
  })

  it('statementCache must be a whole number >= 0', () => {
    expect(() => postgres({ connectionString: 'postgres://x@127.0.0.1/x', statementCache: -1 })).toThrow(ConfigurationError)
    expect(() => postgres({ connectionString: 'postgres://x@127.0.0.1/x', statementCache: 1.5 })).toThrow(/statementCache/)
    expect(postgres({ host: 'h', database: 'd' }).description).toMatchObject({ statementCache: 100 })
  })
})
