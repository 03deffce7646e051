import mysql2 from 'mysql2/promise'
import { describe, expect, it } from 'vitest'
import { mysql } from '../../src/engines/mysql/index.js'
import { QueryCancelledError } from '../../src/errors.js'
import { createTempMysqlDatabase, MYSQL_HOST, MYSQL_PORT, MYSQL_USER, randomName, serviceAvailable } from '../../../../test-support/services.js'

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

  it('when no connection is free to send KILL QUERY, the statement still rejects with QUERY_CANCELLED, and its closed connection is never reused', async () => {
    const db = await createTempMysqlDatabase()
    // A user allowed one connection: the pool's only one. The KILL connection is refused (ER_TOO_MANY_USER_CONNECTIONS),
    // so the pool can stop waiting only by closing the statement's own connection.
    const user = randomName('sy_one')
    const admin = await mysql2.createConnection({ host: MYSQL_HOST, port: MYSQL_PORT, user: MYSQL_USER })
    await admin.query(`create user '${user}'@'%' identified by 'pw' with max_user_connections 1`)
    await admin.query(`grant all on \`${db.name}\`.* to '${user}'@'%'`)
    const pool = mysql({ host: db.host, port: db.port, user, password: 'pw', database: db.name, max: 1 }).createPool()
    try {
      await pool.query('create table t (v int)')
      await pool.query('insert into t values (1)')
      const controller = new AbortController()
      setTimeout(() => controller.abort(), 300)
      const started = Date.now()
      const err = await pool.query('select sleep(2) as s', [], { signal: controller.signal }).catch((e: unknown) => e)
      expect(Date.now() - started).toBeLessThan(1500)
      expect(err).toBeInstanceOf(QueryCancelledError)
      expect(err).toMatchObject({ code: 'QUERY_CANCELLED' })

      // The server thread of the closed connection lingers until its SLEEP ends; then the user's one slot is free again.
      for (let i = 0; i < 50; i++) {
        const [rows] = await admin.query<mysql2.RowDataPacket[]>('select count(*) as n from information_schema.processlist where user = ?', [user])
        if (Number(rows[0]?.n) === 0) break
        await sleep(100)
      }
      // A fresh connection serves the next statements: the destroyed one went back to no one.
      const after = await Promise.all([1, 2, 3].map((n) => pool.query<{ n: number }>('select ? as n, count(*) as c from t', [n])))
      expect(after.map((r) => Number(r.rows[0]?.n))).toEqual([1, 2, 3])
      expect(pool.stats().total).toBeLessThanOrEqual(1)
    } finally {
      await pool.close()
      await admin.query(`drop user if exists '${user}'@'%'`).catch(() => {})
      await admin.end()
      await db.drop()
    }
  })
})
