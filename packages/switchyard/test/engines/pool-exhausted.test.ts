import { createServer, type Server, type Socket } from 'node:net'
import mysql2 from 'mysql2/promise'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { mysql } from '../../src/engines/mysql/index.js'
import { postgres } from '../../src/engines/postgres/index.js'
import { ConnectionError, PoolClosedError, PoolExhaustedError, QueryCancelledError } from '../../src/errors.js'
import type { EnginePool } from '../../src/engines/types.js'
import {
  createTempMysqlDatabase,
  createTempPgDatabase,
  MYSQL_HOST,
  MYSQL_PORT,
  MYSQL_USER,
  serviceAvailable,
  pgAdmin,
  type TempDatabase,
} from '../../../../test-support/services.js'

const ok = await serviceAvailable('postgres')
const myOk = await serviceAvailable('mysql')
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** What a call settled with (its error when it rejected), or STILL_WAITING: a pool that queues forever must fail the test, not hang it. */
/** Holds one of `pool`'s connections in an open transaction until `release` is called. */
async function hold(pool: EnginePool): Promise<{ release: () => void; holder: Promise<void> }> {
  let release!: () => void
  const held = new Promise<void>((r) => (release = r))
  let holding!: () => void
  const isHolding = new Promise<void>((r) => (holding = r))
  const holder = pool.transaction(async (tx) => {
    await tx.query('select 1')
    holding()
    await held
  })
  await isHolding
  return { release, holder }
}

const STILL_WAITING = 'still waiting after the bound'
function settledWithin(p: Promise<unknown>, ms: number): Promise<unknown> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const bound = new Promise((r) => (timer = setTimeout(() => r(STILL_WAITING), ms)))
  return Promise.race([p.catch((e: unknown) => e), bound]).finally(() => clearTimeout(timer))
}

/** Accepts and never answers: connecting to it times out. */
async function openBlackHole(): Promise<{ port: number; close: () => void }> {
  const sockets = new Set<Socket>()
  const server: Server = createServer((s) => sockets.add(s))
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    port: (server.address() as { port: number }).port,
    close: () => {
      for (const s of sockets) s.destroy()
      server.close()
    },
  }
}

describe.skipIf(!ok)('postgres: a busy pool is not a dead server', () => {
  let db: TempDatabase
  let blackHole: Server
  const sockets = new Set<Socket>()
  let blackHolePort = 0

  beforeAll(async () => {
    db = await createTempPgDatabase()
    // Accepts and never answers: connecting to it times out.
    blackHole = createServer((s) => sockets.add(s))
    await new Promise<void>((resolve) => blackHole.listen(0, '127.0.0.1', resolve))
    blackHolePort = (blackHole.address() as { port: number }).port
  })
  afterAll(async () => {
    for (const s of sockets) s.destroy()
    blackHole?.close()
    await db?.drop()
  })

  it('all connections held: POOL_EXHAUSTED naming the pool size and the wait, for statements and transactions alike', async () => {
    const { pool, release, holder } = await heldPool(300)
    try {
      const started = Date.now()
      const err = await pool.query('select 1').catch((e: unknown) => e)
      expect(Date.now() - started).toBeGreaterThanOrEqual(250)
      expect(err).toBeInstanceOf(PoolExhaustedError)
      expect(err).not.toBeInstanceOf(ConnectionError)
      expect(err).toMatchObject({ code: 'POOL_EXHAUSTED', poolSize: 1, waitedMs: 300 })
      expect((err as Error).message).toMatch(/all 1 connection\(s\) stayed busy for 300 ms/)
      expect((err as Error).cause).toBeInstanceOf(Error)

      await expect(pool.transaction((tx) => tx.query('select 1'))).rejects.toMatchObject({ code: 'POOL_EXHAUSTED' })
      await expect(pool.query('select 1', [], { signal: new AbortController().signal })).rejects.toMatchObject({ code: 'POOL_EXHAUSTED' })

      release()
      await holder
      // Once the connection is back, the same pool serves again.
      const { rows } = await pool.query<{ one: number }>('select 1 as one')
      expect(rows).toEqual([{ one: 1 }])
    } finally {
      await pool.close()
    }
  })

  /** A pool of one whose only client is held in an open transaction until `release` is called. */
  async function heldPool(connectTimeoutMs: number) {
    const pool = postgres({ connectionString: db.connectionString, max: 1, connectTimeoutMs }).createPool()
    return { pool, ...(await hold(pool)) }
  }

  it('a waiter whose signal fires in the queue leaves at once, never runs its statement, and the pool loses no client to it', async () => {
    const setup = postgres({ connectionString: db.connectionString, max: 1 }).createPool()
    await setup.query('create table if not exists waiters (v int)')
    await setup.close()

    const { pool, release, holder } = await heldPool(5000)
    try {
      const controller = new AbortController()
      const plain = settledWithin(pool.query('insert into waiters values (1)', [], { signal: controller.signal }), 3000)
      // A per-statement schema runs in a transaction of its own: its wait ends on the signal too.
      const scoped = settledWithin(pool.query('insert into waiters values (2)', [], { schema: 'public', signal: controller.signal }), 3000)
      // Not aborted: still served once the held client comes back.
      const patient = pool.query('insert into waiters values (3)', [], { signal: new AbortController().signal })
      await sleep(100)
      expect(pool.stats()).toEqual({ total: 1, idle: 0, waiting: 3 })

      const abortedAt = Date.now()
      controller.abort(new Error('user went away'))
      // Leaves the queue when its signal fires, not when the client comes free or the 5 s wait runs out.
      for (const err of [await plain, await scoped]) {
        expect(err).toBeInstanceOf(QueryCancelledError)
        expect(err).toMatchObject({ code: 'QUERY_CANCELLED', cause: { message: 'user went away' } })
      }
      expect(Date.now() - abortedAt).toBeLessThan(400)

      release()
      await holder
      await patient
      // pg-pool still hands the freed client to both abandoned waiters; each gives it straight back.
      await vi.waitFor(() => expect(pool.stats()).toEqual({ total: 1, idle: 1, waiting: 0 }), { timeout: 2000 })
      const burst = await Promise.all(Array.from({ length: 20 }, (_, i) => pool.query<{ n: number }>('select $1::int as n', [i])))
      expect(burst.map((r) => r.rows[0]?.n)).toEqual(Array.from({ length: 20 }, (_, i) => i))
      expect(pool.stats()).toEqual({ total: 1, idle: 1, waiting: 0 })

      await sleep(200)
      const { rows } = await pool.query<{ v: number }>('select v from waiters order by v')
      expect(rows).toEqual([{ v: 3 }])
    } finally {
      release()
      expect(await settledWithin(pool.close(), 3000)).toBeUndefined()
    }
  })

  it('close() with an abandoned waiter still queued resolves once the busy client is back, leaving no connection open', async () => {
    const openHere = () =>
      pgAdmin(async (c) => {
        const { rows } = await c.query<{ n: string }>('select count(*) as n from pg_stat_activity where datname = $1', [db.name])
        return Number(rows[0]?.n)
      })
    const { pool, release, holder } = await heldPool(5000)
    try {
      const controller = new AbortController()
      const aborted = settledWithin(pool.query('select 1', [], { signal: controller.signal }), 3000)
      await sleep(50)
      controller.abort()
      expect(await aborted).toMatchObject({ code: 'QUERY_CANCELLED' })

      const closing = settledWithin(pool.close(), 3000)
      await expect(pool.query('select 1')).rejects.toBeInstanceOf(PoolClosedError)
      await sleep(100)
      release()
      await holder
      expect(await closing).toBeUndefined()
      await vi.waitFor(async () => expect(await openHere()).toBe(0), { timeout: 3000 })
    } finally {
      release()
      await pool.close()
    }
  })

  it('a signal that fires while a new connection is still being opened ends the wait too', async () => {
    const pool = postgres({ host: '127.0.0.1', port: blackHolePort, database: 'postgres', user: 'postgres', max: 1, connectTimeoutMs: 1000 }).createPool()
    try {
      const controller = new AbortController()
      const aborted = settledWithin(pool.query('select 1', [], { signal: controller.signal }), 3000)
      await sleep(100)
      const abortedAt = Date.now()
      controller.abort()
      expect(await aborted).toMatchObject({ code: 'QUERY_CANCELLED' })
      expect(Date.now() - abortedAt).toBeLessThan(400)
      // The attempt it abandoned still times out on its own, and the pool keeps its shape.
      expect(await settledWithin(pool.query('select 1'), 3000)).toMatchObject({ code: 'CONNECTION_TIMEOUT' })
      await vi.waitFor(() => expect(pool.stats()).toEqual({ total: 0, idle: 0, waiting: 0 }), { timeout: 3000 })
    } finally {
      expect(await settledWithin(pool.close(), 3000)).toBeUndefined()
    }
  })

  it('a server that never answers is still CONNECTION_TIMEOUT, also for a caller queued behind the stuck attempt', async () => {
    const pool = postgres({ host: '127.0.0.1', port: blackHolePort, database: 'postgres', user: 'postgres', max: 1, connectTimeoutMs: 300 }).createPool()
    try {
      const [first, second] = await Promise.all([pool.query('select 1').catch((e: unknown) => e), pool.query('select 1').catch((e: unknown) => e)])
      expect(first).toMatchObject({ code: 'CONNECTION_TIMEOUT' })
      expect(second).toMatchObject({ code: 'CONNECTION_TIMEOUT' })
      expect(second).toBeInstanceOf(ConnectionError)
    } finally {
      await pool.close()
    }
  })
})

describe.skipIf(!myOk)('mysql: a busy pool is not a dead server', () => {
  let db: TempDatabase
  let hole: Awaited<ReturnType<typeof openBlackHole>> | undefined

  beforeAll(async () => {
    db = await createTempMysqlDatabase()
    hole = await openBlackHole()
  })
  afterAll(async () => {
    hole?.close()
    await db?.drop()
  })

  const onePool = (connectTimeoutMs: number) => mysql({ host: db.host, port: db.port, user: db.user, database: db.name, max: 1, connectTimeoutMs }).createPool()

  it('all connections held: POOL_EXHAUSTED naming the pool size and the wait, for statements, transactions, checks and introspection alike', async () => {
    const pool = onePool(300)
    let release = () => {}
    try {
      const held = await hold(pool)
      release = held.release
      const holder = held.holder

      const started = Date.now()
      const err = await settledWithin(pool.query('select 1'), 3000)
      const waited = Date.now() - started
      expect(err).toBeInstanceOf(PoolExhaustedError)
      expect(err).not.toBeInstanceOf(ConnectionError)
      expect(waited).toBeGreaterThanOrEqual(250)
      expect(waited).toBeLessThan(2000)
      expect(err).toMatchObject({ code: 'POOL_EXHAUSTED', poolSize: 1, waitedMs: 300 })
      expect((err as Error).message).toMatch(/all 1 connection\(s\) stayed busy for 300 ms/)

      for (const attempt of [
        () => pool.transaction((tx) => tx.query('select 1')),
        () => pool.query('select 1', [], { signal: new AbortController().signal }),
        () => pool.query('select 1', [], { schema: db.name }),
        () => pool.checkConnection(),
        () => pool.introspect(),
      ]) {
        expect(await settledWithin(attempt(), 3000)).toMatchObject({ code: 'POOL_EXHAUSTED' })
      }

      release()
      await holder
      // Once the connection is back, the same pool serves again, on the same one connection.
      const { rows } = await pool.query<{ one: number }>('select 1 as one')
      expect(rows).toEqual([{ one: 1 }])
      await vi.waitFor(() => expect(pool.stats()).toEqual({ total: 1, idle: 1, waiting: 0 }), { timeout: 2000 })
    } finally {
      release()
      await pool.close()
    }
  })

  it('a waiter that timed out or was aborted never runs its statement, and the pool loses no connection to it', async () => {
    const pool = onePool(200)
    try {
      await pool.query('create table waiters (v int)')
      const busy = pool.query('select sleep(1) as s')
      await sleep(50)

      const started = Date.now()
      const timedOut = settledWithin(pool.query('insert into waiters values (1)'), 3000)
      const controller = new AbortController()
      const aborted = settledWithin(pool.query('insert into waiters values (2)', [], { signal: controller.signal }), 3000)
      await sleep(50)
      const abortedAt = Date.now()
      controller.abort()

      // Leaves the queue when its signal fires, not when a connection comes free (~900 ms later).
      const abortErr = await aborted
      expect(abortErr).toBeInstanceOf(QueryCancelledError)
      expect(abortErr).toMatchObject({ code: 'QUERY_CANCELLED' })
      expect(Date.now() - abortedAt).toBeLessThan(400)

      const err = await timedOut
      expect(err).toBeInstanceOf(PoolExhaustedError)
      expect(err).toMatchObject({ code: 'POOL_EXHAUSTED', poolSize: 1, waitedMs: 200 })
      expect(Date.now() - started).toBeGreaterThanOrEqual(150)
      expect(Date.now() - started).toBeLessThan(800)

      await busy
      // mysql2 still hands the freed connection to both abandoned waiters; each gives it straight back.
      await vi.waitFor(() => expect(pool.stats()).toEqual({ total: 1, idle: 1, waiting: 0 }), { timeout: 2000 })
      const burst = await Promise.all(Array.from({ length: 20 }, (_, i) => pool.query<{ n: number }>('select ? as n', [i])))
      expect(burst.map((r) => Number(r.rows[0]?.n))).toEqual(Array.from({ length: 20 }, (_, i) => i))
      expect(pool.stats()).toEqual({ total: 1, idle: 1, waiting: 0 })

      await sleep(200)
      const { rows } = await pool.query<{ n: number }>('select count(*) as n from waiters')
      expect(Number(rows[0]?.n)).toBe(0)
    } finally {
      await pool.close()
    }
  })

  it('close() after a waiter gave up waits for the busy statement only, and leaves no connection open on the server', async () => {
    const pool = onePool(200)
    const admin = await mysql2.createConnection({ host: MYSQL_HOST, port: MYSQL_PORT, user: MYSQL_USER })
    const openHere = async () => {
      const [rows] = await admin.query('select count(*) as n from information_schema.processlist where db = ?', [db.name])
      return Number((rows as { n: number }[])[0]?.n)
    }
    try {
      await pool.query('select 1')
      const busy = pool.query('select sleep(0.8) as s')
      await sleep(50)
      expect(await settledWithin(pool.query('select 1'), 3000)).toMatchObject({ code: 'POOL_EXHAUSTED' })

      const closing = settledWithin(pool.close(), 3000)
      await expect(pool.query('select 1')).rejects.toBeInstanceOf(PoolClosedError)
      expect(Number((await busy).rows[0]?.s)).toBe(0)
      expect(await closing).toBeUndefined()
      await vi.waitFor(async () => expect(await openHere()).toBe(0), { timeout: 3000 })
    } finally {
      await admin.end()
      await pool.close()
    }
  })

  it('a server that never answers is still CONNECTION_TIMEOUT, also for a caller queued behind the stuck attempt', async () => {
    const pool = mysql({ host: '127.0.0.1', port: hole?.port ?? 0, user: 'root', max: 1, connectTimeoutMs: 300 }).createPool()
    try {
      const [first, second] = await Promise.all([settledWithin(pool.query('select 1'), 3000), settledWithin(pool.query('select 1'), 3000)])
      expect(first).toMatchObject({ code: 'CONNECTION_TIMEOUT' })
      expect(second).toMatchObject({ code: 'CONNECTION_TIMEOUT' })
      expect(second).toBeInstanceOf(ConnectionError)
    } finally {
      await pool.close()
    }
  })

  it('a refused port is HOST_UNREACHABLE for every caller, queued or not, never POOL_EXHAUSTED', async () => {
    const closed = await openBlackHole()
    closed.close()
    const pool = mysql({ host: '127.0.0.1', port: closed.port, user: 'root', max: 1, connectTimeoutMs: 300 }).createPool()
    try {
      const outcomes = await Promise.all([1, 2, 3].map(() => settledWithin(pool.query('select 1'), 3000)))
      for (const o of outcomes) {
        expect(o).toBeInstanceOf(ConnectionError)
        expect(o).toMatchObject({ code: 'HOST_UNREACHABLE' })
      }
    } finally {
      await pool.close()
    }
  })
})
