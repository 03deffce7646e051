import { SignJWT } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTempPgDatabase, serviceAvailable, type TempDatabase } from '../../../test-support/services.js'
import { captureLog, JWT_SECRET, startServer, type CapturedLog, type TestServer } from './support/server.js'

const pgOk = await serviceAvailable('postgres')

const sign = (claims: Record<string, unknown>) =>
  new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setIssuedAt().setExpirationTime('2m').sign(new TextEncoder().encode(JWT_SECRET))

describe('logs never carry credentials', () => {
  let s: TestServer
  let log: CapturedLog
  beforeAll(async () => {
    log = captureLog()
    s = await startServer({ log })
  })
  afterAll(async () => {
    await s?.close()
  })

  it('an SSO token in the query string is redacted, accepted or refused', async () => {
    const jwt = await sign({ email: 'logged@acme.test', tenant: 'acme' })
    expect((await s.request('GET', `/auth/sso?jwt=${jwt}&return_to=/question/7`)).statusCode).toBe(302)
    const forged = `${jwt.slice(0, -4)}AAAA`
    expect((await s.request('GET', `/auth/sso?return_to=/q&jwt=${forged}`)).statusCode).toBe(401)
    const all = log.lines.join('')
    expect(all).not.toContain(jwt.split('.')[1]!)
    expect(all).not.toContain(forged.split('.')[2]!)
    const urls = log.lines.map((l) => JSON.parse(l) as { req?: { url?: string } }).flatMap((l) => (l.req?.url ? [l.req.url] : []))
    // The request is still logged, and the harmless parameter kept, so the line is useful.
    expect(urls).toContain('/auth/sso?jwt=[REDACTED]&return_to=/question/7')
    expect(urls).toContain('/auth/sso?return_to=/q&jwt=[REDACTED]')
  })

  it('session cookies, X-Metabase-Session and X-Api-Key headers never appear', async () => {
    const u = await s.user('headers@acme.test', { tenant: 'acme' })
    await s.app.inject({ method: 'GET', url: '/api/user/current', cookies: { 'metabase.SESSION': u.session } })
    await s.request('GET', '/api/user/current', { session: u.session })
    await s.request('GET', '/api/user', { apiKey: s.apiKey })
    await s.request('GET', '/api/user', { apiKey: 'mb_wrong-key-that-must-not-be-logged' })
    const all = log.lines.join('')
    expect(log.lines.length).toBeGreaterThan(8)
    for (const secret of [u.session, s.adminSession, s.apiKey, 'mb_wrong-key-that-must-not-be-logged']) expect(all).not.toContain(secret)
    expect(all).not.toMatch(/cookie|x-api-key|x-metabase-session/i)
  })
})

describe('metadata store failures are server errors, never the caller’s 400', () => {
  let s: TestServer
  let log: CapturedLog
  let dbId: number
  beforeAll(async () => {
    log = captureLog()
    s = await startServer({ log })
    const db = await s.request('POST', '/api/database', { apiKey: s.apiKey, payload: { engine: 'pglite', name: 'Embedded', details: { 'data-dir': 'obs-db' } } })
    dbId = db.json<{ id: number }>().id
  })
  afterAll(async () => {
    await s?.close()
  })

  it('a failing store statement is a 500 with a generic message; the log keeps the cause', async () => {
    const card = await s.request('POST', '/api/card', { apiKey: s.apiKey, payload: { name: 'c', dataset_query: { database: dbId, type: 'native', native: { query: 'select 1 as one' } } } })
    const id = card.json<{ id: number }>().id
    await s.app.switchyard.store.query('alter table cards rename to cards_moved')
    try {
      const res = await s.request('GET', `/api/card/${id}`, { apiKey: s.apiKey })
      expect(res.statusCode).toBe(500)
      expect(res.json()).toEqual({ message: 'Internal error' })
      const run = await s.request('POST', `/api/card/${id}/query`, { apiKey: s.apiKey, payload: {} })
      expect(run.statusCode).toBe(500)
      expect(run.body).not.toMatch(/cards|relation|QUERY_FAILED/)
      const errors = log.lines.map((l) => JSON.parse(l) as { level: number; err?: { message?: string } }).filter((l) => l.level >= 50)
      expect(errors.some((l) => /Metadata store failure: .*cards/.test(l.err?.message ?? ''))).toBe(true)
    } finally {
      await s.app.switchyard.store.query('alter table cards_moved rename to cards')
    }
    expect((await s.request('POST', `/api/card/${id}/query`, { apiKey: s.apiKey, payload: {} })).json().data.rows).toEqual([[1]])
  })

  it("a failed query on the user's own database stays a client-side outcome", async () => {
    const res = await s.request('POST', '/api/dataset', { apiKey: s.apiKey, payload: { database: dbId, type: 'native', native: { query: 'select * from no_such_table' } } })
    expect(res.statusCode).toBe(202)
    expect(res.json()).toMatchObject({ status: 'failed' })
  })

  it('an execution record that cannot be written is logged, not swallowed', async () => {
    await s.app.switchyard.executions.flush()
    await s.app.switchyard.store.query('alter table query_executions rename to query_executions_moved')
    try {
      const res = await s.request('POST', '/api/dataset', { apiKey: s.apiKey, payload: { database: dbId, type: 'native', native: { query: 'select 2 as two' } } })
      expect(res.json().status).toBe('completed')
      await s.app.switchyard.executions.flush()
      const lost = log.lines.map((l) => JSON.parse(l) as { level: number; msg?: string; err?: { message?: string } }).filter((l) => l.msg === 'could not record query executions')
      expect(lost).toHaveLength(1)
      expect(lost[0]!.level).toBe(50)
      expect(lost[0]!.err?.message).toMatch(/query_executions/)
    } finally {
      await s.app.switchyard.store.query('alter table query_executions_moved rename to query_executions')
    }
  })
})

describe.skipIf(!pgOk)('a PostgreSQL metadata store that goes away', () => {
  let storeDb: TempDatabase
  let s: TestServer
  beforeAll(async () => {
    storeDb = await createTempPgDatabase('sy_srv_store')
    s = await startServer({ databaseUrl: storeDb.connectionString })
  })
  afterAll(async () => {
    await s?.close().catch(() => {})
    await storeDb?.drop()
  })

  it('answers 503 with a generic message, not 400 with the driver’s', async () => {
    expect((await s.request('GET', '/api/user', { apiKey: s.apiKey })).statusCode).toBe(200)
    await storeDb.drop()
    s.app.switchyard.metadata.clear()
    const statuses: number[] = []
    for (let i = 0; i < 3; i++) {
      const res = await s.request('GET', '/api/user', { session: s.adminSession })
      statuses.push(res.statusCode)
      expect([500, 503]).toContain(res.statusCode)
      expect(res.body).not.toMatch(new RegExp(`${storeDb.name}|does not exist|terminat`))
    }
    // Once the pool's old connections are gone, every attempt is a connection failure: 503.
    expect(statuses.at(-1)).toBe(503)
    const last = await s.request('POST', '/api/session', { payload: { username: 'x@y.test', password: 'whatever-123' } })
    expect(last.statusCode).toBe(503)
    expect(last.json()).toEqual({ message: 'The metadata store is unavailable; try again shortly.' })
  })
})
