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

  it('permission matrix: every endpoint, for admin, user, API key and anonymous, with the exact status', async () => {
    const u = await s.user('matrix@acme.test', { tenant: 'acme' })
    const other = await s.user('matrix-other@acme.test', { tenant: 'acme' })
    const db = await s.request('POST', '/api/database', { apiKey: s.apiKey, payload: { engine: 'pglite', name: 'Matrix', details: { 'data-dir': 'matrix-db' } } })
    expect(db.statusCode).toBe(200)
    const dbId = db.json<{ id: number }>().id
    const query = { database: dbId, type: 'native', native: { query: 'select 1 as one' } }
    const card = await s.request('POST', '/api/card', { apiKey: s.apiKey, payload: { name: 'Matrix', dataset_query: query } })
    const cardId = card.json<{ id: number }>().id
    const freshCard = async () => (await s.request('POST', '/api/card', { apiKey: s.apiKey, payload: { name: 'doomed', dataset_query: query } })).json<{ id: number }>().id
    // Deleting needs no connection: a bare row is enough, and keeps the matrix fast.
    const freshDb = async () => (await s.app.switchyard.store.query<{ id: number }>(`insert into databases (name, engine, details) values ('doomed', 'pglite', '{}') returning id`)).rows[0]!.id
    const unique = () => `m-${Math.random().toString(36).slice(2, 10)}`
    type Who = 'admin' | 'user' | 'apiKey' | 'anonymous'
    type Creds = { session?: string; apiKey?: string }
    /** The fifth column, when present, gives fresh credentials per call (a row that ends the session it uses). */
    type Row = [string, string | (() => Promise<string>), (() => unknown) | undefined, Record<Who, number>, ((who: Who) => Promise<Creds>)?]
    const admin = (ok: number): Record<Who, number> => ({ admin: ok, apiKey: ok, user: 403, anonymous: 401 })
    const anyUser = (ok: number): Record<Who, number> => ({ admin: ok, apiKey: ok, user: ok, anonymous: 401 })
    const rows: Row[] = [
      ['GET', '/api/user', undefined, admin(200)],
      ['GET', '/api/user/current', undefined, anyUser(200)],
      ['GET', `/api/user/${u.id}`, undefined, anyUser(200)],
      ['GET', `/api/user/${other.id}`, undefined, admin(200)],
      ['PUT', `/api/user/${other.id}`, () => ({ first_name: 'Other' }), admin(200)],
      // An admin (or a key) resets another user's password without the old one: 204, no new session.
      ['PUT', `/api/user/${other.id}/password`, () => ({ password: 'reset-password-1', old_password: 'user-password-123' }), admin(204)],
      // Logging out ends the caller's own session, so each call gets a fresh one; a key has none to end.
      ['DELETE', '/api/session', undefined, { admin: 204, user: 204, apiKey: 401, anonymous: 401 }, async (who) => {
        if (who === 'apiKey') return { apiKey: s.apiKey }
        if (who === 'anonymous') return {}
        const [username, password] = who === 'admin' ? [ADMIN.email, ADMIN.password] : ['matrix@acme.test', 'user-password-123']
        return { session: (await s.request('POST', '/api/session', { payload: { username, password } })).json<{ id: string }>().id }
      }],
      ['POST', '/api/user', () => ({ email: `${unique()}@acme.test` }), admin(200)],
      ['POST', '/api/api-key', () => ({ name: unique(), group_id: 1 }), admin(200)],
      ['GET', '/api/api-key', undefined, admin(200)],
      ['GET', '/api/database', undefined, anyUser(200)],
      ['GET', `/api/database/${dbId}`, undefined, anyUser(200)],
      ['GET', `/api/database?router_database_id=${dbId}`, undefined, admin(200)],
      ['POST', '/api/database', () => ({ engine: 'pglite', name: unique(), details: { 'data-dir': unique() } }), admin(200)],
      ['PUT', `/api/database/${dbId}`, () => ({ name: 'Matrix renamed' }), admin(200)],
      ['DELETE', async () => `/api/database/${await freshDb()}`, undefined, admin(204)],
      ['POST', `/api/database/${dbId}/sync_schema`, undefined, admin(200)],
      ['GET', `/api/database/${dbId}/metadata`, undefined, anyUser(200)],
      ['POST', '/api/card', () => ({ name: unique(), dataset_query: query }), admin(200)],
      ['GET', `/api/card/${cardId}`, undefined, anyUser(200)],
      ['PUT', `/api/card/${cardId}`, () => ({ name: 'Matrix card' }), admin(200)],
      ['DELETE', async () => `/api/card/${await freshCard()}`, undefined, admin(204)],
      ['POST', `/api/card/${cardId}/query`, () => ({}), anyUser(202)],
      ['POST', '/api/dataset', () => query, admin(202)],
      ['PUT', `/api/ee/database-routing/router-database/${dbId}`, () => ({ user_attribute: 'tenant' }), admin(200)],
      ['POST', '/api/ee/database-routing/mirror-database', () => ({ router_database_id: dbId, mirrors: [{ name: unique(), engine: 'pglite', details: { 'data-dir': unique() } }] }), admin(200)],
      ['POST', '/api/ee/database-routing/destination-database', () => ({ router_database_id: dbId, destinations: [{ name: unique(), engine: 'pglite', details: { 'data-dir': unique() } }] }), admin(200)],
      ['PUT', '/api/ee/database-routing/router-database/999999', () => ({ user_attribute: 'tenant' }), admin(404)],
      ['POST', '/api/ee/database-routing/mirror-database', () => ({ router_database_id: 999999, mirrors: [{ name: 'x', engine: 'postgres', details: { host: 'h' } }] }), admin(404)],
    ]
    const creds: Record<Who, Creds> = { admin: { session: s.adminSession }, user: { session: u.session }, apiKey: { apiKey: s.apiKey }, anonymous: {} }
    const seen: string[] = []
    for (const [method, url, payload, expected, credsFor] of rows) {
      for (const who of ['anonymous', 'user', 'admin', 'apiKey'] as const) {
        const target = typeof url === 'string' ? url : await url()
        const as = credsFor ? await credsFor(who) : creds[who]
        const res = await s.request(method, target, { ...as, ...(payload ? { payload: payload() } : {}) })
        seen.push(`${method} ${target} ${who}: ${res.statusCode}${res.statusCode === expected[who] ? '' : ` (expected ${expected[who]}) ${res.body.slice(0, 200)}`}`)
      }
    }
    expect(seen.filter((line) => line.includes('expected'))).toEqual([])
  })

  it('a user with the right old password changes their own; the new one logs in and their other sessions end', async () => {
    const u = await s.user('own-pw@acme.test')
    const login = (password: string) => s.request('POST', '/api/session', { payload: { username: 'own-pw@acme.test', password } })
    const elsewhere = (await login('user-password-123')).json<{ id: string }>().id
    const res = await s.request('PUT', `/api/user/${u.id}/password`, { session: u.session, payload: { password: 'my-new-password-1', old_password: 'user-password-123' } })
    expect(res.statusCode).toBe(200)
    const fresh = res.json<{ success: boolean; session_id: string }>().session_id
    expect((await s.request('GET', '/api/user/current', { session: elsewhere })).statusCode).toBe(401)
    expect((await s.request('GET', '/api/user/current', { session: u.session })).statusCode).toBe(401)
    expect((await s.request('GET', '/api/user/current', { session: fresh })).json().email).toBe('own-pw@acme.test')
    expect((await login('my-new-password-1')).statusCode).toBe(200)
    expect((await login('user-password-123')).statusCode).toBe(401)
  })

  it('deactivating a user ends their sessions: reactivating does not bring them back', async () => {
    const u = await s.user('leaver@acme.test', { tenant: 'acme' })
    const sessions = async () => (await s.app.switchyard.store.query<{ n: number }>('select count(*)::int as n from sessions where user_id = $1', [u.id])).rows[0]!.n
    expect(await sessions()).toBe(1)
    expect((await s.request('PUT', `/api/user/${u.id}`, { session: s.adminSession, payload: { is_active: false } })).statusCode).toBe(200)
    expect(await sessions()).toBe(0)
    expect((await s.request('PUT', `/api/user/${u.id}`, { session: s.adminSession, payload: { is_active: true } })).statusCode).toBe(200)
    const stale = await s.request('GET', '/api/user/current', { session: u.session })
    expect(stale.statusCode).toBe(401)
    // Reactivated, they sign in again like anyone else.
    const again = await s.request('POST', '/api/session', { payload: { username: 'leaver@acme.test', password: 'user-password-123' } })
    expect(again.statusCode).toBe(200)
  })

  it("only an admin changes an email address; a user may resend their own unchanged", async () => {
    const u = await s.user('renamed@acme.test', { tenant: 'acme' })
    const self = await s.request('PUT', `/api/user/${u.id}`, { session: u.session, payload: { email: 'someone-else@acme.test' } })
    expect(self.statusCode).toBe(403)
    expect(self.json().message).toBe('Only an admin can change the email address of an account.')
    // A client sending the whole user back (same address, any case) is not changing it.
    const same = await s.request('PUT', `/api/user/${u.id}`, { session: u.session, payload: { email: 'RENAMED@acme.test', first_name: 'Ren' } })
    expect(same.statusCode).toBe(200)
    expect(same.json()).toMatchObject({ email: 'RENAMED@acme.test', first_name: 'Ren' })
    const byAdmin = await s.request('PUT', `/api/user/${u.id}`, { session: s.adminSession, payload: { email: 'renamed@globex.test' } })
    expect(byAdmin.statusCode).toBe(200)
    expect(byAdmin.json().email).toBe('renamed@globex.test')
    expect((await s.request('POST', '/api/session', { payload: { username: 'renamed@globex.test', password: 'user-password-123' } })).statusCode).toBe(200)
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
