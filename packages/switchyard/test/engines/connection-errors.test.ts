import { createServer, type Server } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { postgres } from '../../src/engines/postgres/index.js'
import { mysql } from '../../src/engines/mysql/index.js'
import { sqlite } from '../../src/engines/sqlite/index.js'
import type { EngineSpec } from '../../src/engines/types.js'
import { ConnectionError } from '../../src/errors.js'
import { MYSQL_HOST, MYSQL_PORT, PG_HOST, PG_PORT, serviceAvailable } from '../../../../test-support/services.js'

const pgOk = await serviceAvailable('postgres')
const myOk = await serviceAvailable('mysql')

/** A port that accepts connections and never says a word: the connect attempt must time out. */
let blackHole: Server
const sockets = new Set<import('node:net').Socket>()
let blackHolePort = 0
/** A port nothing listens on. */
let closedPort = 0

beforeAll(async () => {
  blackHole = createServer((socket) => sockets.add(socket))
  await new Promise<void>((resolve) => blackHole.listen(0, '127.0.0.1', resolve))
  blackHolePort = (blackHole.address() as { port: number }).port
  const probe = createServer()
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve))
  closedPort = (probe.address() as { port: number }).port
  await new Promise((resolve) => probe.close(resolve))
})
afterAll(() => {
  for (const s of sockets) s.destroy()
  blackHole.close()
})

async function failure(spec: EngineSpec): Promise<ConnectionError> {
  const pool = spec.createPool()
  try {
    const err = await pool.checkConnection().then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(err).toBeInstanceOf(ConnectionError)
    return err as ConnectionError
  } finally {
    await pool.close().catch(() => {})
  }
}

describe.skipIf(!pgOk)('postgres connection failures are distinct and clear', () => {
  it('host unreachable', async () => {
    const err = await failure(postgres({ host: '127.0.0.1', port: closedPort, database: 'postgres', user: 'postgres' }))
    expect(err.code).toBe('HOST_UNREACHABLE')
    expect(err.message).toContain(`127.0.0.1:${closedPort}`)
  })
  it('authentication failed', async () => {
    const err = await failure(postgres({ host: PG_HOST, port: PG_PORT, database: 'postgres', user: 'no_such_role_sy', password: 'x' }))
    expect(err.code).toBe('AUTHENTICATION_FAILED')
    expect(err.message).toMatch(/no_such_role_sy/)
  })
  it('database does not exist', async () => {
    const err = await failure(postgres({ host: PG_HOST, port: PG_PORT, database: 'no_such_db_sy', user: 'postgres' }))
    expect(err.code).toBe('DATABASE_NOT_FOUND')
    expect(err.message).toMatch(/no_such_db_sy/)
  })
  it('timeout', async () => {
    const err = await failure(postgres({ host: '127.0.0.1', port: blackHolePort, database: 'postgres', user: 'postgres', connectTimeoutMs: 300 }))
    expect(err.code).toBe('CONNECTION_TIMEOUT')
    expect(err.message).toContain(`127.0.0.1:${blackHolePort}`)
  })
})

describe.skipIf(!myOk)('mysql connection failures are distinct and clear', () => {
  it('host unreachable', async () => {
    const err = await failure(mysql({ host: '127.0.0.1', port: closedPort, user: 'root' }))
    expect(err.code).toBe('HOST_UNREACHABLE')
    expect(err.message).toContain(`127.0.0.1:${closedPort}`)
  })
  it('authentication failed', async () => {
    const err = await failure(mysql({ host: MYSQL_HOST, port: MYSQL_PORT, user: 'no_such_user_sy', password: 'wrong' }))
    expect(err.code).toBe('AUTHENTICATION_FAILED')
    expect(err.message).toMatch(/no_such_user_sy/)
  })
  it('database does not exist', async () => {
    const err = await failure(mysql({ host: MYSQL_HOST, port: MYSQL_PORT, user: 'root', database: 'no_such_db_sy' }))
    expect(err.code).toBe('DATABASE_NOT_FOUND')
    expect(err.message).toMatch(/no_such_db_sy/)
  })
  it('timeout', async () => {
    const err = await failure(mysql({ host: '127.0.0.1', port: blackHolePort, user: 'root', connectTimeoutMs: 300 }))
    expect(err.code).toBe('CONNECTION_TIMEOUT')
    expect(err.message).toContain(`127.0.0.1:${blackHolePort}`)
  })
})

describe('sqlite open failures', () => {
  it('a file in a directory that does not exist', async () => {
    const err = await failure(sqlite({ filename: '/nonexistent-dir-sy/x.sqlite' }))
    expect(err.code).toBe('DATABASE_NOT_FOUND')
    expect(err.message).toContain('/nonexistent-dir-sy/x.sqlite')
  })
})
