import { createServer, type Server, type Socket } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { postgres } from '../../src/engines/postgres/index.js'
import { ConnectionError, PoolExhaustedError } from '../../src/errors.js'
import { createTempPgDatabase, serviceAvailable, type TempDatabase } from '../../../../test-support/services.js'

const ok = await serviceAvailable('postgres')

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
    const pool = postgres({ connectionString: db.connectionString, max: 1, connectTimeoutMs: 300 }).createPool()
    try {
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
