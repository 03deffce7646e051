import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { postgres, type PostgresConnectionDetails } from '../../src/engines/postgres/index.js'
import { StatementCache, type PgResult } from '../../src/engines/postgres/statement-cache.js'
import type { EnginePool } from '../../src/engines/types.js'
import { ConfigurationError, QueryCancelledError } from '../../src/errors.js'
import { ensureParser } from '../../src/sql/parser.js'
import { createTempPgDatabase, pgAdmin, serviceAvailable, type TempDatabase } from '../../../../test-support/services.js'

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

/** Runs `select $1::int + k` three times, the run that prepares it: its last answer. */
async function thrice(pool: EnginePool, k: number) {
  for (let i = 0; i < 2; i++) await pool.query(`select $1::int + ${k} as n`, [0])
  return pool.query(`select $1::int + ${k} as n`, [0])
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
    // Statements are prepared only once the parser has read their parameters (it loads in the background).
    await ensureParser()
  })
  afterAll(async () => {
    await Promise.all(pools.map((p) => p.close()))
    await db?.drop()
  })

  it('a statement is prepared on its third run on a connection, and run by name after that; with statementCache 0 never', async () => {
    const pool = onePool()
    for (const n of [1, 2]) expect((await pool.query('select $1::int * 2 as n', [n])).rows).toEqual([{ n: n * 2 }])
    // Run twice: not prepared, so a statement that does not come back costs nothing.
    expect(await preparedOn(pool)).toEqual([])
    for (const n of [3, 4]) expect((await pool.query('select $1::int * 2 as n', [n])).rows).toEqual([{ n: n * 2 }])
    expect(await preparedOn(pool)).toEqual([{ statement: 'select $1::int * 2 as n', runs: 2 }])
    // Array rows and the cancellable path (a signal) share the connection's statements.
    const res = await pool.query<unknown[]>('select $1::int * 2 as n', [5], { rowMode: 'array', signal: new AbortController().signal })
    expect(res.rows).toEqual([[10]])
    expect(await preparedOn(pool)).toEqual([{ statement: 'select $1::int * 2 as n', runs: 3 }])

    const off = onePool({ statementCache: 0 })
    for (const n of [1, 2, 3, 4]) await off.query('select $1::int * 2 as n', [n])
    expect(await preparedOn(off)).toEqual([])
  })

  it('statements that do not come back within the last `statementCache` new ones are never prepared', async () => {
    // One text per tenant schema over many tenants: preparing each would only churn the cache.
    const pool = onePool({ statementCache: 4 })
    for (let round = 0; round < 4; round++) for (let k = 1; k <= 6; k++) await pool.query(`select $1::int + ${k} as n`, [0])
    expect(await preparedOn(pool)).toEqual([])
  })

  it('a parameter without a cast is never prepared: its type would outlive a change of the schema', async () => {
    const pool = onePool()
    await pool.query('create table padded (code char(5))')
    await pool.query(`insert into padded values ('ab')`)
    const untyped = `select '[' || code || ']' as code from padded where code = $1`
    for (let i = 0; i < 4; i++) expect((await pool.query(untyped, ['ab'])).rows).toEqual([{ code: '[ab]' }])
    expect(await preparedOn(pool)).toEqual([])
    await pool.query('alter table padded alter column code type text')
    await pool.query(`insert into padded values ('ab ')`)
    // Prepared, $1 would have stayed char(5) and matched the other row, '[ab]' (checked by hand
    // with PREPARE/EXECUTE): the same statement text, a different answer.
    expect((await pool.query(untyped, ['ab '])).rows).toEqual([{ code: '[ab ]' }])
    const typed = `select '[' || code || ']' as code from padded where code = $1::text`
    for (let i = 0; i < 4; i++) expect((await pool.query(typed, ['ab '])).rows).toEqual([{ code: '[ab ]' }])
    expect((await preparedOn(pool)).map((p) => p.statement)).toEqual([typed])
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
    for (let k = 1; k <= 8; k++) await thrice(pool, k)
    await thrice(pool, 1) // now the most recently used
    await thrice(pool, 9) // evicts the two least recently used: 2 and 3
    const texts = (await preparedOn(pool)).map((p) => p.statement)
    expect(texts.sort()).toEqual([1, 4, 5, 6, 7, 8, 9].map((k) => `select $1::int + ${k} as n`).sort())
    expect((await thrice(pool, 2)).rows).toEqual([{ n: 2 }])
  })

  it('a statement the server refused to prepare holds no place: evicting it cannot strand another on the server', async () => {
    const pool = onePool({ statementCache: 8 })
    // Valid grammar (a syntax error never gets this far: the parser finds no cast and it is never
    // prepared), refused by the server's analysis: its third run is a named Parse that fails.
    for (let i = 0; i < 3; i++) await expect(pool.query('select $1::int from no_such_table', [1])).rejects.toThrow(/does not exist/)
    // Had the failed one been kept, the batch evicting it with statement 1 would fail on it
    // first and leave 1 prepared on the server, forgotten by the cache.
    for (let k = 1; k <= 9; k++) await thrice(pool, k)
    const texts = (await preparedOn(pool)).map((p) => p.statement)
    expect(texts.sort()).toEqual([3, 4, 5, 6, 7, 8, 9].map((k) => `select $1::int + ${k} as n`).sort())
  })

  it('columns changed under a prepared `select *` are picked up, not an error', async () => {
    const pool = onePool()
    await pool.query('create table widened (id int primary key)')
    await pool.query('insert into widened values (1)')
    for (let i = 0; i < 3; i++) expect((await pool.query('select * from widened where id = $1::int', [1])).rows).toEqual([{ id: 1 }])
    expect(await preparedOn(pool)).toHaveLength(1)
    await pool.query(`alter table widened add column label text not null default 'x'`)
    // PostgreSQL refuses the prepared plan (cached plan must not change result type); it is
    // deallocated and the statement runs again, once, unprepared.
    expect((await pool.query('select * from widened where id = $1::int', [1])).rows).toEqual([{ id: 1, label: 'x' }])
    for (let i = 0; i < 3; i++) expect((await pool.query('select * from widened where id = $1::int', [1])).rows).toEqual([{ id: 1, label: 'x' }])
    expect((await preparedOn(pool)).map((p) => p.statement)).toEqual(['select * from widened where id = $1::int'])
  })

  it('statements lost to DISCARD ALL are run again; a pool that keeps losing them stops preparing', async () => {
    const pool = onePool()
    const sql = 'select $1::text as v'
    for (let loss = 1; loss <= 3; loss++) {
      for (let i = 0; i < 3; i++) await pool.query(sql, ['before'])
      expect(await preparedOn(pool)).toHaveLength(1)
      await pool.query('discard all')
      expect((await pool.query(sql, ['after'])).rows).toEqual([{ v: 'after' }])
    }
    for (let i = 0; i < 4; i++) await pool.query(sql, ['off'])
    expect(await preparedOn(pool)).toEqual([])
  })

  it('a value pg cannot send fails that call alone: the statement stays usable and is not counted as lost', async () => {
    const pool = onePool()
    const sql = 'select $1::text as v'
    const circular: Record<string, unknown> = {}
    circular.self = circular
    // pg closes the prepared statement on the server when it cannot bind a value; had the cache
    // kept the name, the next run would find it gone, and three such losses turn preparing off.
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 3; i++) await pool.query(sql, ['ok'])
      await expect(pool.query(sql, [circular])).rejects.toThrow(/circular/i)
      expect((await pool.query(sql, ['after'])).rows).toEqual([{ v: 'after' }])
    }
    for (let i = 0; i < 3; i++) await pool.query(sql, ['again'])
    expect((await preparedOn(pool)).map((p) => p.statement)).toEqual([sql])
  })

  it('a signal that fires while an eviction is deallocating stops the statement before it is sent', async () => {
    const client = new pg.Client({ connectionString: db.connectionString })
    await client.connect()
    try {
      await client.query('create table landed (n int)')
      const cache = new StatementCache(1)
      const run = (sql: string, params: unknown[], signal?: AbortSignal) =>
        new Promise<PgResult>((resolve, reject) => cache.run(client, sql, params, undefined, (err, res) => (err ? reject(err) : resolve(res!)), signal))
      for (let i = 0; i < 3; i++) await run('select $1::int as n', [i]) // prepared: the cache is full
      for (let i = 0; i < 2; i++) await run('insert into landed values ($1::int)', [i])
      // Its third run prepares it, so the select is deallocated first; the signal fires meanwhile.
      const aborter = new AbortController()
      const third = run('insert into landed values ($1::int)', [2], aborter.signal)
      aborter.abort()
      await expect(third).rejects.toBeInstanceOf(QueryCancelledError)
      expect((await client.query('select count(*)::int as n from landed')).rows).toEqual([{ n: 2 }])
    } finally {
      await client.end()
    }
  })

  it('an eviction whose DEALLOCATE finds a name already gone starts the connection over: nothing is left prepared unknown', async () => {
    const pool = onePool({ statementCache: 8 })
    for (let k = 1; k <= 8; k++) await thrice(pool, k)
    // Somebody drops the oldest by name; the next eviction (of 1 and 2) fails on it and stops.
    const { rows } = await pool.query<{ name: string }>(`select name from pg_prepared_statements where statement = 'select $1::int + 1 as n'`)
    await pool.query(`deallocate "${rows[0]!.name}"`)
    expect((await thrice(pool, 9)).rows).toEqual([{ n: 9 }])
    // Had the cache believed 2 gone, it would still be on the server, tracked by nobody.
    expect(await preparedOn(pool)).toEqual([])
    expect((await thrice(pool, 10)).rows).toEqual([{ n: 10 }])
    expect((await preparedOn(pool)).map((p) => p.statement)).toEqual(['select $1::int + 10 as n'])
  })

  it('a 26000 raised by the statement itself is its error, not a lost prepared statement: it is not run again', async () => {
    const pool = onePool()
    await pool.query('create sequence calls')
    await pool.query(`create function fails_with_26000(n int) returns int language plpgsql as $$ begin perform nextval('calls'); raise sqlstate '26000' using message = 'raised by the function'; end $$`)
    for (let i = 0; i < 5; i++) await expect(pool.query('select fails_with_26000($1::int)', [i])).rejects.toThrow(/raised by the function/)
    expect((await pool.query(`select last_value::int as n from calls`)).rows).toEqual([{ n: 5 }])
    expect((await preparedOn(pool)).map((p) => p.statement)).toEqual(['select fails_with_26000($1::int)'])
  })

  it('a connection whose backend was terminated mid-statement is not handed to the next caller', async () => {
    const pool = onePool()
    const { rows } = await pool.query<{ pid: number }>('select pg_backend_pid() as pid')
    // Settled into a value at once: it fails while the test is still terminating its backend.
    const running = pool.query('select pg_sleep(5), $1::int', [1]).then(() => undefined, (err: unknown) => err)
    const queued = pool.query<{ n: number }>('select $1::int as n', [7])
    await pgAdmin(async (c) => {
      for (let i = 0; i < 100; i++) {
        const active = await c.query(`select 1 from pg_stat_activity where pid = $1 and query like 'select pg_sleep%'`, [rows[0]!.pid])
        if (active.rowCount) break
        await new Promise((r) => setTimeout(r, 20))
      }
      await c.query('select pg_terminate_backend($1)', [rows[0]!.pid])
    })
    expect(String(await running)).toMatch(/terminat/)
    expect((await queued).rows).toEqual([{ n: 7 }])
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
