import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ADMIN, startServer, type TestServer } from './support/server.js'

describe('setup, sessions, users and API keys', () => {
  let s: TestServer
  beforeAll(async () => {
    s = await startServer()
  })
  afterAll(async () => {
    await s?.close()
  })

  it('setup creates the first admin once', async () => {
    const again = await s.request('POST', '/api/setup', { payload: { user: { email: 'second@x.test', password: 'another-password' } } })
    expect(again.statusCode).toBe(403)
    expect(again.json().message).toMatch(/first user/)
  })

  it('validates bodies and names the bad field', async () => {
    const res = await s.request('POST', '/api/session', { payload: { username: 'x' } })
    expect(res.statusCode).toBe(400)
    expect(res.json().message).toMatch(/password/)
    const bad = await s.request('POST', '/api/user', { session: s.adminSession, payload: { email: 'not-an-email' } })
    expect(bad.statusCode).toBe(400)
    expect(bad.json().message).toMatch(/email/)
  })

  it('logs in with a cookie and a header, and logs out', async () => {
    const wrong = await s.request('POST', '/api/session', { payload: { username: ADMIN.email, password: 'wrong-password' } })
    expect(wrong.statusCode).toBe(401)
    const login = await s.request('POST', '/api/session', { payload: { username: ADMIN.email.toUpperCase(), password: ADMIN.password } })
    expect(login.statusCode).toBe(200)
    const token = login.json<{ id: string }>().id
    expect(login.cookies.find((c) => c.name === 'metabase.SESSION')?.value).toBe(token)
    const viaCookie = await s.app.inject({ method: 'GET', url: '/api/user/current', cookies: { 'metabase.SESSION': token } })
    expect(viaCookie.json().email).toBe(ADMIN.email)
    expect((await s.request('DELETE', '/api/session', { session: token })).statusCode).toBe(204)
    expect((await s.request('GET', '/api/user/current', { session: token })).statusCode).toBe(401)
  })

  it('creates and updates users with login attributes', async () => {
    const u = await s.user('viewer@acme.test', { tenant: 'acme' })
    const me = await s.request('GET', '/api/user/current', { session: u.session })
    expect(me.json()).toMatchObject({ email: 'viewer@acme.test', is_superuser: false, login_attributes: { tenant: 'acme' } })
    const upd = await s.request('PUT', `/api/user/${u.id}`, { session: s.adminSession, payload: { login_attributes: { tenant: 'globex' } } })
    expect(upd.json().login_attributes).toEqual({ tenant: 'globex' })
    // A user cannot re-route themselves by editing their own attributes.
    const self = await s.request('PUT', `/api/user/${u.id}`, { session: u.session, payload: { login_attributes: { tenant: 'initech' } } })
    expect(self.statusCode).toBe(403)
    const dup = await s.request('POST', '/api/user', { session: s.adminSession, payload: { email: 'VIEWER@acme.test' } })
    expect(dup.statusCode).toBe(400)
  })

  it('an API key is shown once and acts as an admin; a wrong key is refused', async () => {
    const list = await s.request('GET', '/api/user', { apiKey: s.apiKey })
    expect(list.statusCode).toBe(200)
    const keys = await s.request('GET', '/api/api-key', { apiKey: s.apiKey })
    expect(keys.body).not.toContain(s.apiKey)
    expect((await s.request('GET', '/api/user', { apiKey: 'mb_not-a-real-key' })).statusCode).toBe(401)
  })

  it('permission matrix for admin endpoints: admin and API key yes, user 403, anonymous 401', async () => {
    const u = await s.user('matrix@acme.test', { tenant: 'acme' })
    const endpoints: [string, string, unknown?][] = [
      ['GET', '/api/user'],
      ['POST', '/api/api-key', { name: `k-${Math.random()}`, group_id: 1 }],
      ['GET', '/api/database?router_database_id=1'],
      ['POST', '/api/dataset', { database: 1, type: 'native', native: { query: 'select 1' } }],
      ['PUT', '/api/ee/database-routing/router-database/999', { user_attribute: 'tenant' }],
      ['POST', '/api/ee/database-routing/mirror-database', { router_database_id: 999, mirrors: [{ name: 'x', engine: 'postgres', details: { host: 'h' } }] }],
    ]
    for (const [method, url, payload] of endpoints) {
      const opts = payload === undefined ? {} : { payload }
      expect((await s.request(method, url, { ...opts })).statusCode, `${method} ${url} anonymous`).toBe(401)
      expect((await s.request(method, url, { ...opts, session: u.session })).statusCode, `${method} ${url} user`).toBe(403)
      // Past authorisation an admin may still meet a 404 (no such database): what matters is not 401/403.
      expect([401, 403], `${method} ${url} admin`).not.toContain((await s.request(method, url, { ...opts, session: s.adminSession })).statusCode)
      expect([401, 403], `${method} ${url} API key`).not.toContain((await s.request(method, url, { ...opts, apiKey: s.apiKey })).statusCode)
    }
  })

  it('serves an OpenAPI document', async () => {
    const res = await s.request('GET', '/api/docs')
    expect(res.json().openapi).toMatch(/^3\./)
    expect(Object.keys(res.json().paths)).toContain('/api/card/{id}/query')
  })

  it('never returns a password hash, session token hash or API key hash', async () => {
    const all = s.bodies.join('\n')
    expect(all).not.toMatch(/scrypt\$/)
    expect(all).not.toMatch(/password_hash|key_hash|token_hash/)
    expect(all).not.toContain(ADMIN.password)
  })
})
