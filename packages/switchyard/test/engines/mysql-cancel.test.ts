import { describe, expect, it } from 'vitest'
import { mysql } from '../../src/engines/mysql/index.js'
import { QueryCancelledError } from '../../src/errors.js'
import { createTempMysqlDatabase, serviceAvailable } from '../../../../test-support/services.js'

const ok = await serviceAvailable('mysql')
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

describe.skipIf(!ok)('mysql: cancelling a statement never touches another caller', () => {
  it('KILL QUERY goes out on its own connection: the cancel is prompt and the statement queued behind it on the one pooled connection runs untouched', async () => {
    const db = await createTempMysqlDatabase()
    const pool = mysql({ host: db.host, port: db.port, user: db.user, database: db.name, max: 1 }).createPool()
    try {
      const controller = new AbortController()
      const started = Date.now()
      const slow = pool.query<{ s: number }>('select sleep(5) as s', [], { signal: controller.signal }).then(
        (r) => ({ result: r }),
        (e: unknown) => ({ error: e }),
      )
      await sleep(300)
      // Runs on the same (only) connection, the same server thread, once the slow one is done.
      const queued = pool.query<{ s: number; tag: string }>('select sleep(0.3) as s, ? as tag', ['queued'])
      await sleep(50)
      expect(pool.stats()).toMatchObject({ total: 1, waiting: 1 })
      controller.abort()

      const outcome = await slow
      // Through the pool, the KILL would have waited behind the queued statement for the full 5 s.
      expect(Date.now() - started).toBeLessThan(3000)
      if ('error' in outcome) expect(outcome.error).toBeInstanceOf(QueryCancelledError)
      // An interrupted SLEEP() returns 1 instead of failing.
      else expect(Number(outcome.result.rows[0]?.s)).toBe(1)

      // Not interrupted (SLEEP would say 1): the kill landed on the slow statement only.
      expect((await queued).rows).toEqual([{ s: 0, tag: 'queued' }])
      const after = await Promise.all([1, 2, 3].map((n) => pool.query<{ n: number }>('select ? as n', [n])))
      expect(after.map((r) => Number(r.rows[0]?.n))).toEqual([1, 2, 3])
    } finally {
      await pool.close()
      await db.drop()
    }
  })

  it('a statement interrupted while it reads a table rejects with QUERY_CANCELLED, and its connection serves the next caller', async () => {
    const db = await createTempMysqlDatabase()
    const pool = mysql({ host: db.host, port: db.port, user: db.user, database: db.name, max: 1 }).createPool()
    try {
      await pool.query('create table t (v int)')
      await pool.query('insert into t values (1), (2), (3), (4), (5)')
      const controller = new AbortController()
      setTimeout(() => controller.abort(), 300)
      // SLEEP per row inside a scan: a KILL QUERY here fails the statement (errno 1317).
      const err = await pool.query('select v from t where sleep(1) = 0', [], { signal: controller.signal }).catch((e: unknown) => e)
      expect(err).toBeInstanceOf(QueryCancelledError)
      expect(err).toMatchObject({ code: 'QUERY_CANCELLED' })
      const { rows } = await pool.query<{ n: number }>('select count(*) as n from t')
      expect(Number(rows[0]?.n)).toBe(5)
    } finally {
      await pool.close()
      await db.drop()
    }
  })
})
