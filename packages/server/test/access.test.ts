import { SignJWT } from 'jose'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { buildApp } from '../src/index.js'
import { authorize } from '../src/auth/authenticate.js'
import { HttpError, toHttpError } from '../src/http/errors.js'
import { routeDeclarationProblem } from '../src/http/route-registry.js'
import { MetadataStoreError } from '../src/store/store-error.js'
import { ADMIN, JWT_SECRET, startServer, type TestServer } from './support/server.js'

const sign = (claims: Record<string, unknown>) =>
  new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setIssuedAt().setExpirationTime('2m').sign(new TextEncoder().encode(JWT_SECRET))

const DEAD = '00000000-0000-4000-8000-000000000000'

describe('bad credentials never block the public routes', () => {
  let s: TestServer
  beforeAll(async () => {
    s = await startServer()
  })
  afterAll(async () => {
    await s?.close()
  })

  const stale: [string, { headers?: Record<string, string>; cookies?: Record<string, string> }][] = [
    ['a dead session cookie', { cookies: { 'metabase.SESSION': DEAD } }],
    ['a dead X-Metabase-Session', { headers: { 'x-metabase-session': DEAD } }],
    ['a wrong X-Api-Key', { headers: { 'x-api-key': 'mb_not-a-real-key' } }],
  ]

  it.each(stale)('with %s: login, SSO, docs and health still answer; protected routes say 401 and why', async (_what, creds) => {
    const login = await s.app.inject({ method: 'POST', url: '/api/session', payload: { username: ADMIN.email, password: ADMIN.password }, ...creds })
    expect(login.statusCode).toBe(200)
    expect(login.json<{ id: string }>().id).toMatch(/^[0-9a-f-]{36}$/)
    const sso = await s.app.inject({ method: 'GET', url: `/auth/sso?jwt=${await sign({ email: 'stale@acme.test', tenant: 'acme' })}`, ...creds })
    expect(sso.statusCode).toBe(200)
    expect((await s.app.inject({ method: 'GET', url: '/api/docs', ...creds })).json().openapi).toMatch(/^3\./)
    expect((await s.app.inject({ method: 'GET', url: '/api/health', ...creds })).json()).toEqual({ status: 'ok' })
    const me = await s.app.inject({ method: 'GET', url: '/api/user/current', ...creds })
    expect(me.statusCode).toBe(401)
    expect(me.json().message).toMatch(/Invalid (or expired session|API key)/)
  })

  it('logging out with a dead session clears the cookie (204); with no session at all it is 401', async () => {
    const res = await s.app.inject({ method: 'DELETE', url: '/api/session', cookies: { 'metabase.SESSION': DEAD } })
    expect(res.statusCode).toBe(204)
    const cleared = res.cookies.find((c) => c.name === 'metabase.SESSION')
    expect(cleared?.value).toBe('')
    expect(cleared?.expires?.getTime()).toBeLessThan(Date.now())
    expect((await s.app.inject({ method: 'DELETE', url: '/api/session' })).statusCode).toBe(401)
  })

  it('logging out ends the session in the store', async () => {
    const u = await s.user('logout@acme.test')
    const count = async () => (await s.app.switchyard.store.query<{ n: number }>('select count(*)::int as n from sessions where user_id = $1', [u.id])).rows[0]!.n
    expect(await count()).toBe(1)
    expect((await s.request('DELETE', '/api/session', { session: u.session })).statusCode).toBe(204)
    expect(await count()).toBe(0)
    expect((await s.request('GET', '/api/user/current', { session: u.session })).statusCode).toBe(401)
  })
})

describe('authorisation comes before validation', () => {
  let s: TestServer
  let user: { id: number; session: string }
  beforeAll(async () => {
    s = await startServer()
    user = await s.user('plain@acme.test', { tenant: 'acme' })
  })
  afterAll(async () => {
    await s?.close()
  })

  it.each([
    ['POST', '/api/card', { name: '' }],
    ['POST', '/api/database', { engine: 7 }],
    ['PUT', '/api/ee/database-routing/router-database/1', { user_attribute: { nested: true } }],
    ['POST', '/api/ee/database-routing/mirror-database', { mirrors: 'nope' }],
    ['POST', '/api/dataset', { database: 'x' }],
    ['POST', '/api/user', { email: 'not-an-email' }],
    ['POST', '/api/api-key', {}],
  ])('%s %s with a bad body: anonymous 401, user 403, admin 400 naming the field', async (method, url, payload) => {
    const anonymous = await s.request(method, url, { payload })
    expect(anonymous.statusCode).toBe(401)
    expect(anonymous.body).not.toMatch(/must (be|have|match)/)
    const plain = await s.request(method, url, { payload, session: user.session })
    expect(plain.statusCode).toBe(403)
    expect(plain.body).not.toMatch(/must (be|have|match)/)
    const admin = await s.request(method, url, { payload, session: s.adminSession })
    expect(admin.statusCode).toBe(400)
    expect(admin.json().message).toMatch(/body/)
  })

  it('refuses an anonymous caller before parsing a malformed body', async () => {
    const res = await s.app.inject({ method: 'POST', url: '/api/card', headers: { 'content-type': 'application/json' }, payload: '{"name": ' })
    expect(res.statusCode).toBe(401)
    const admin = await s.app.inject({ method: 'POST', url: '/api/card', headers: { 'content-type': 'application/json', 'x-metabase-session': s.adminSession }, payload: '{"name": ' })
    expect(admin.statusCode).toBe(400)
  })

  it.each([
    ['GET', '/api/card/4294967296', undefined, /params\/id must be <= 2147483647/],
    ['GET', '/api/user/2147483648', undefined, /params\/id must be <= 2147483647/],
    ['PUT', '/api/database/99999999999', { name: 'x' }, /params\/id must be <= 2147483647/],
    ['GET', '/api/database?router_database_id=4294967296', undefined, /router_database_id must be <= 2147483647/],
    ['POST', '/api/card', { name: 'x', dataset_query: { database: 4294967296, type: 'native', native: { query: 'select 1' } } }, /database must be <= 2147483647/],
    ['POST', '/api/ee/database-routing/mirror-database', { router_database_id: 4294967296, mirrors: [{ name: 'a', engine: 'postgres', details: { host: 'h' } }] }, /router_database_id must be <= 2147483647/],
    ['GET', '/api/card/0', undefined, /params\/id must be >= 1/],
  ])('%s %s: an id out of range is a 400 naming the field', async (method, url, payload, message) => {
    const res = await s.request(method, url, { apiKey: s.apiKey, ...(payload ? { payload } : {}) })
    expect(res.statusCode).toBe(400)
    expect(res.json().message).toMatch(message)
  })
})

describe('every route declares its access and a schema', () => {
  it('the registry holds every /api and /auth route, each complete', async () => {
    const s = await startServer()
    try {
      const routes = s.app.switchyardRoutes.filter((r) => r.method !== 'HEAD' && /^\/(api|auth)\//.test(r.url))
      expect(routes.length).toBeGreaterThanOrEqual(28)
      for (const r of routes) expect(routeDeclarationProblem(r), `${r.method} ${r.url}`).toBeUndefined()
      // The registry is the router's own view: every documented route is in it.
      const docPaths = Object.keys(s.app.swagger().paths ?? {})
      for (const path of docPaths) expect(routes.some((r) => r.url.replace(/:(\w+)/g, '{$1}') === path), path).toBe(true)
      const byUrl = new Map(routes.map((r) => [`${r.method} ${r.url}`, r]))
      expect(byUrl.get('GET /api/user')?.schema?.querystring).toBeDefined()
      expect(byUrl.get('GET /api/user/current')?.schema?.querystring).toBeDefined()
      expect(byUrl.get('GET /api/api-key')?.schema?.querystring).toBeDefined()
      expect(byUrl.get('DELETE /api/session')?.schema?.querystring).toBeDefined()
      expect(byUrl.get('DELETE /api/session')?.access).toBe('public')
      expect(byUrl.get('POST /api/dataset')?.access).toBe('admin')
      // Fastify's HEAD twins of GET routes carry the same rule, so HEAD is no way around it.
      const heads = s.app.switchyardRoutes.filter((r) => r.method === 'HEAD' && /^\/(api|auth)\//.test(r.url))
      expect(heads.length).toBeGreaterThan(5)
      for (const h of heads) expect(h.access, `HEAD ${h.url}`).toBe(byUrl.get(`GET ${h.url}`)?.access)
      expect((await s.request('HEAD', '/api/user')).statusCode).toBe(401)
      expect((await s.request('HEAD', '/api/api-key', { session: (await s.user('head@acme.test')).session })).statusCode).toBe(403)
    } finally {
      await s.close()
    }
  })

  it.each([
    ['no schema', { config: { access: 'user' as const } }, /has no schema/],
    ['no access', { schema: { querystring: { type: 'object' } } }, /declares no config.access/],
    ['no params schema', { config: { access: 'user' as const }, schema: { querystring: { type: 'object' } } }, /no params schema for :id/],
  ])('refuses at startup a new route with %s', async (_what, options, message) => {
    const app = await buildApp({ inMemory: true, logger: false })
    try {
      expect(() => app.get('/api/new-thing/:id', options, async () => ({}))).toThrow(message)
    } finally {
      await app.close()
    }
  })
})

describe('sessions expire', () => {
  const servers: TestServer[] = []
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => s.close()))
  })
  const age = async (s: TestServer, token: string, minutes: number) => {
    const { createHash } = await import('node:crypto')
    const hash = createHash('sha256').update(token).digest('hex')
    const res = await s.app.switchyard.store.query(`update sessions set created_at = now() - make_interval(mins => $2::int) where token_hash = $1`, [hash, minutes])
    expect(res.rowCount).toBe(1)
    // The hot-path cache may hold the session for up to a second; the test must not wait on it.
    s.app.switchyard.metadata.clear()
  }

  it('after 14 days by default (Metabase MAX_SESSION_AGE): the session is anonymous again', async () => {
    const s = await startServer()
    servers.push(s)
    const u = await s.user('old@acme.test', { tenant: 'acme' })
    await age(s, u.session, 14 * 24 * 60 - 5)
    expect((await s.request('GET', '/api/user/current', { session: u.session })).statusCode).toBe(200)
    await age(s, u.session, 14 * 24 * 60 + 5)
    const res = await s.request('GET', '/api/user/current', { session: u.session })
    expect(res.statusCode).toBe(401)
    expect(res.json().message).toBe('Invalid or expired session.')
    // The expired cookie does not stand in the way of logging in again.
    const again = await s.app.inject({ method: 'POST', url: '/api/session', cookies: { 'metabase.SESSION': u.session }, payload: { username: 'old@acme.test', password: 'user-password-123' } })
    expect(again.statusCode).toBe(200)
    expect(again.cookies.find((c) => c.name === 'metabase.SESSION')?.maxAge).toBe(14 * 24 * 60 * 60)
  })

  it('after the configured age, from the option or SWITCHYARD_SESSION_MAX_AGE_MINUTES', async () => {
    const s = await startServer({ sessionMaxAgeMinutes: 10 })
    servers.push(s)
    const u = await s.user('short@acme.test')
    await age(s, u.session, 9)
    expect((await s.request('GET', '/api/user/current', { session: u.session })).statusCode).toBe(200)
    await age(s, u.session, 11)
    expect((await s.request('GET', '/api/user/current', { session: u.session })).statusCode).toBe(401)

    const before = process.env.SWITCHYARD_SESSION_MAX_AGE_MINUTES
    process.env.SWITCHYARD_SESSION_MAX_AGE_MINUTES = '3'
    try {
      const e = await startServer()
      servers.push(e)
      const v = await e.user('env@acme.test')
      await age(e, v.session, 4)
      expect((await e.request('GET', '/api/user/current', { session: v.session })).statusCode).toBe(401)
      process.env.SWITCHYARD_SESSION_MAX_AGE_MINUTES = 'soon'
      await expect(buildApp({ inMemory: true, logger: false })).rejects.toThrow(/SWITCHYARD_SESSION_MAX_AGE_MINUTES.*"soon"/)
    } finally {
      if (before === undefined) delete process.env.SWITCHYARD_SESSION_MAX_AGE_MINUTES
      else process.env.SWITCHYARD_SESSION_MAX_AGE_MINUTES = before
    }
  })
})

describe('changing a password (PUT /api/user/:id/password, Metabase shape)', () => {
  let s: TestServer
  beforeAll(async () => {
    s = await startServer()
  })
  afterAll(async () => {
    await s?.close()
  })
  const login = (username: string, password: string) => s.request('POST', '/api/session', { payload: { username, password } })

  it('a user must give the old password; the change ends old sessions and hands out a new one', async () => {
    const u = await s.user('pw@acme.test')
    const missing = await s.request('PUT', `/api/user/${u.id}/password`, { session: u.session, payload: { password: 'brand-new-password' } })
    expect(missing.statusCode).toBe(400)
    expect(missing.json().errors).toEqual({ old_password: 'Invalid password' })
    const wrong = await s.request('PUT', `/api/user/${u.id}/password`, { session: u.session, payload: { password: 'brand-new-password', old_password: 'not-it-at-all' } })
    expect(wrong.statusCode).toBe(400)
    // The same rule through PUT /api/user/:id, which also accepts a password.
    const viaUpdate = await s.request('PUT', `/api/user/${u.id}`, { session: u.session, payload: { password: 'brand-new-password' } })
    expect(viaUpdate.statusCode).toBe(400)
    expect((await login('pw@acme.test', 'user-password-123')).statusCode).toBe(200)
    expect((await login('pw@acme.test', 'brand-new-password')).statusCode).toBe(401)

    const ok = await s.request('PUT', `/api/user/${u.id}/password`, { session: u.session, payload: { password: 'brand-new-password', old_password: 'user-password-123' } })
    expect(ok.statusCode).toBe(200)
    const fresh = ok.json<{ success: boolean; session_id: string }>()
    expect(fresh.success).toBe(true)
    expect((await s.request('GET', '/api/user/current', { session: u.session })).statusCode).toBe(401)
    expect((await s.request('GET', '/api/user/current', { session: fresh.session_id })).json().email).toBe('pw@acme.test')
    expect((await login('pw@acme.test', 'brand-new-password')).statusCode).toBe(200)
    expect((await login('pw@acme.test', 'user-password-123')).statusCode).toBe(401)
  })

  it("a user cannot change someone else's; an admin resets anyone's without the old one", async () => {
    const a = await s.user('pw-a@acme.test')
    const b = await s.user('pw-b@acme.test')
    expect((await s.request('PUT', `/api/user/${b.id}/password`, { session: a.session, payload: { password: 'taken-over-123', old_password: 'user-password-123' } })).statusCode).toBe(403)
    const reset = await s.request('PUT', `/api/user/${b.id}/password`, { session: s.adminSession, payload: { password: 'reset-by-admin-1' } })
    expect(reset.statusCode).toBe(204)
    expect((await s.request('GET', '/api/user/current', { session: b.session })).statusCode).toBe(401)
    expect((await login('pw-b@acme.test', 'reset-by-admin-1')).statusCode).toBe(200)
    expect((await s.request('PUT', '/api/user/999999/password', { apiKey: s.apiKey, payload: { password: 'nobody-here-1' } })).statusCode).toBe(404)
  })
})

describe('the access check fails closed', () => {
  const principal = { kind: 'user' as const, userId: 1, isAdmin: true, attributes: {} }

  it('refuses a matched route without an access rule with 500, even for an admin; only the 404 handler passes without one', () => {
    for (const auth of [{}, { principal }]) {
      let thrown: unknown
      try {
        authorize({ access: undefined, notFound: false }, auth)
      } catch (err) {
        thrown = err
      }
      expect(thrown).toBeInstanceOf(HttpError)
      expect(toHttpError(thrown)).toEqual({ statusCode: 500, body: { message: 'route has no access rule' } })
      expect(() => authorize({ access: undefined, notFound: true }, auth)).not.toThrow()
    }
    expect(() => authorize({ access: 'public', notFound: false }, {})).not.toThrow()
    expect(() => authorize({ access: 'user', notFound: false }, {})).toThrow(/Unauthenticated/)
  })

  it('an unknown URL still answers 404 to anyone, with or without credentials', async () => {
    const s = await startServer()
    try {
      expect((await s.request('GET', '/api/no-such-thing')).statusCode).toBe(404)
      expect((await s.request('POST', '/api/no-such-thing', { session: s.adminSession, payload: {} })).statusCode).toBe(404)
    } finally {
      await s.close()
    }
  })
})

describe('a NUL character is refused with 400 naming the field, and changes nothing', () => {
  let s: TestServer
  beforeAll(async () => {
    s = await startServer()
  })
  afterAll(async () => {
    await s?.close()
  })

  it('in login_attributes', async () => {
    const u = await s.user('nul@acme.test', { t: 'acme' })
    const res = await s.request('PUT', `/api/user/${u.id}`, { session: s.adminSession, payload: { login_attributes: { t: 'a\u0000' } } })
    expect(res.statusCode).toBe(400)
    expect(res.json().message).toMatch(/body\/login_attributes\/t must not contain a NUL character/)
    expect((await s.request('GET', `/api/user/${u.id}`, { session: s.adminSession })).json().login_attributes).toEqual({ t: 'acme' })
    const created = await s.request('POST', '/api/user', { session: s.adminSession, payload: { email: 'nul2@acme.test', login_attributes: { ['k\u0000']: 'v' } } })
    expect(created.statusCode).toBe(400)
    expect(created.json().message).toMatch(/body\/login_attributes\/k\\u0000/)
    expect((await s.request('GET', '/api/user?status=all', { session: s.adminSession })).body).not.toContain('nul2@acme.test')
  })

  it('in a card name', async () => {
    const db = await s.request('POST', '/api/database', { apiKey: s.apiKey, payload: { engine: 'pglite', name: 'Nul', details: { 'data-dir': 'nul-db' } } })
    const query = { database: db.json<{ id: number }>().id, type: 'native', native: { query: 'select 1' } }
    const count = async () => (await s.app.switchyard.store.query<{ n: number }>('select count(*)::int as n from cards')).rows[0]!.n
    const before = await count()
    const res = await s.request('POST', '/api/card', { apiKey: s.apiKey, payload: { name: 'x\u0000', dataset_query: query } })
    expect(res.statusCode).toBe(400)
    expect(res.json().message).toMatch(/body\/name must not contain a NUL character/)
    expect(await count()).toBe(before)
  })

  it('a value the store itself refuses (SQLSTATE class 22) is a 400, not a 500: the backstop behind that check', async () => {
    const store = s.app.switchyard.store
    // 22021 (NUL in text) and 22P05 (NUL escape in jsonb), straight from the real store.
    for (const [sql, value] of [['select $1::text as v', 'a\u0000'], ['select $1::jsonb as v', '{"t":"a\\u0000"}']] as const) {
      const err = await store.query(sql, [value]).then(() => undefined, (e: unknown) => e)
      expect(err).toBeInstanceOf(MetadataStoreError)
      expect((err as MetadataStoreError).sqlState).toMatch(/^22/)
      const mapped = toHttpError(err)
      expect(mapped.statusCode).toBe(400)
      expect(mapped.body.message).toMatch(/^Invalid value/)
    }
    // Other store failures stay server errors.
    const broken = await store.query('select * from no_such_table').then(() => undefined, (e: unknown) => e)
    expect(toHttpError(broken).statusCode).toBe(500)
  })
})
