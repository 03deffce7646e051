import { SignJWT, UnsecuredJWT } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { JWT_SECRET, startServer, type TestServer } from './support/server.js'

const key = new TextEncoder().encode(JWT_SECRET)
const sign = (claims: Record<string, unknown>, opts: { exp?: string | number; secret?: Uint8Array; alg?: string } = {}) =>
  new SignJWT(claims)
    .setProtectedHeader({ alg: opts.alg ?? 'HS256' })
    .setIssuedAt()
    .setExpirationTime(opts.exp ?? '5m')
    .sign(opts.secret ?? key)

describe('JWT single sign-on', () => {
  let s: TestServer
  beforeAll(async () => {
    s = await startServer()
  })
  afterAll(async () => {
    await s?.close()
  })

  it('creates the user from the token and turns every other claim into a login attribute', async () => {
    const jwt = await sign({ email: 'sso@acme.test', first_name: 'Sso', last_name: 'User', tenant: 'acme', region: 'eu' })
    const res = await s.request('GET', `/auth/sso?jwt=${jwt}`)
    expect(res.statusCode).toBe(200)
    const me = await s.request('GET', '/api/user/current', { session: res.json<{ id: string }>().id })
    expect(me.json()).toMatchObject({ email: 'sso@acme.test', first_name: 'Sso', last_name: 'User', is_superuser: false, login_attributes: { tenant: 'acme', region: 'eu' } })
    expect(me.json().login_attributes).not.toHaveProperty('exp')
  })

  it('updates an existing user on the next sign-on', async () => {
    await s.request('GET', `/auth/sso?jwt=${await sign({ email: 'sso@acme.test', tenant: 'globex' })}`)
    const users = await s.request('GET', '/api/user', { session: s.adminSession })
    const u = users.json<{ data: { email: string; login_attributes: Record<string, string> }[] }>().data.filter((x) => x.email === 'sso@acme.test')
    expect(u).toHaveLength(1)
    expect(u[0]!.login_attributes).toEqual({ tenant: 'globex' })
  })

  it.each([
    ['expired', async () => sign({ email: 'x@y.test' }, { exp: Math.floor(Date.now() / 1000) - 60 }), /expired/],
    ['unsigned (alg none)', async () => new UnsecuredJWT({ email: 'x@y.test', tenant: 'acme' }).setIssuedAt().setExpirationTime('5m').encode(), /algorithm|Malformed/],
    ['wrongly signed', async () => sign({ email: 'x@y.test' }, { secret: new TextEncoder().encode('another-secret-another-secret-another') }), /signature/],
    ['signed with another algorithm', async () => sign({ email: 'x@y.test' }, { alg: 'HS512', secret: key }), /algorithm/],
    ['malformed', async () => 'not.a.jwt', /Malformed/],
  ])('refuses a token that is %s with 401 and a clear message', async (_what, make, message) => {
    const res = await s.request('GET', `/auth/sso?jwt=${encodeURIComponent(await make())}`)
    expect(res.statusCode).toBe(401)
    expect(res.json().message).toMatch(message)
    const users = await s.request('GET', '/api/user', { session: s.adminSession })
    expect(users.body).not.toContain('x@y.test')
  })

  it('redirects only to same-site paths', async () => {
    const ok = await s.request('GET', `/auth/sso?jwt=${await sign({ email: 'r@acme.test' })}&return_to=/question/1`)
    expect(ok.statusCode).toBe(302)
    expect(ok.headers.location).toBe('/question/1')
    const evil = await s.request('GET', `/auth/sso?jwt=${await sign({ email: 'r@acme.test' })}&return_to=//evil.example`)
    expect(evil.statusCode).toBe(200)
  })

  it.each([
    ['/\\evil.example', 'a backslash (browsers read /\\ as //)'],
    ['/%5Cevil.example', 'an encoded backslash'],
    ['/\tevil.example', 'a tab'],
    ['/\t/evil.example', 'a tab hiding //'],
    ['https://evil.example/', 'a scheme'],
    ['javascript:alert(1)', 'a javascript: URL'],
    ['///evil.example', 'three slashes'],
    ['evil.example', 'no leading slash'],
  ])('never redirects off-site: return_to=%s (%s)', async (target) => {
    const res = await s.request('GET', `/auth/sso?jwt=${await sign({ email: 'r@acme.test' })}&return_to=${encodeURIComponent(target)}`)
    expect(res.statusCode).toBe(200)
    expect(res.headers.location).toBeUndefined()
  })

  it('still redirects to a same-site path with a query string', async () => {
    const res = await s.request('GET', `/auth/sso?jwt=${await sign({ email: 'r@acme.test' })}&return_to=${encodeURIComponent('/dashboard/2?tab=1#top')}`)
    expect(res.statusCode).toBe(302)
    expect(res.headers.location).toBe('/dashboard/2?tab=1#top')
  })

  const now = () => Math.floor(Date.now() / 1000)
  const raw = (claims: Record<string, unknown>) => new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).sign(key)

  it('refuses a token with neither exp nor iat: it would be valid forever', async () => {
    const res = await s.request('GET', `/auth/sso?jwt=${await raw({ email: 'forever@acme.test' })}`)
    expect(res.statusCode).toBe(401)
    expect(res.json().message).toMatch(/"exp" or "iat"/)
  })

  it('refuses a token issued more than three minutes ago, even when exp is far off (Metabase max age)', async () => {
    const old = await raw({ email: 'old@acme.test', iat: now() - 4 * 60, exp: now() + 3600 })
    const res = await s.request('GET', `/auth/sso?jwt=${old}`)
    expect(res.statusCode).toBe(401)
    expect(res.json().message).toMatch(/too old.*180 seconds/)
    const future = await raw({ email: 'old@acme.test', iat: now() + 3600 })
    expect((await s.request('GET', `/auth/sso?jwt=${future}`)).json().message).toMatch(/future/)
    const users = await s.request('GET', '/api/user?status=all', { session: s.adminSession })
    expect(users.body).not.toContain('old@acme.test')
  })

  it('accepts a fresh token with only iat, or only exp', async () => {
    expect((await s.request('GET', `/auth/sso?jwt=${await raw({ email: 'iat@acme.test', iat: now() - 60 })}`)).statusCode).toBe(200)
    expect((await s.request('GET', `/auth/sso?jwt=${await raw({ email: 'exp@acme.test', exp: now() + 60 })}`)).statusCode).toBe(200)
  })

  it('refuses a token with no iat whose exp is further off than the max age: it could be replayed until then', async () => {
    const res = await s.request('GET', `/auth/sso?jwt=${await raw({ email: 'replay@acme.test', exp: now() + 3600 })}`)
    expect(res.statusCode).toBe(401)
    expect(res.json().message).toMatch(/without "iat" must expire within 180 seconds/)
    const users = await s.request('GET', '/api/user?status=all', { session: s.adminSession })
    expect(users.body).not.toContain('replay@acme.test')
    // Within the window (and its clock-skew allowance) it is accepted.
    expect((await s.request('GET', `/auth/sso?jwt=${await raw({ email: 'replay@acme.test', exp: now() + 200 })}`)).statusCode).toBe(200)
  })

  it('refuses sign-on for a deactivated user, changing nothing', async () => {
    const first = await s.request('GET', `/auth/sso?jwt=${await sign({ email: 'gone@acme.test', tenant: 'acme' })}`)
    const session = first.json<{ id: string }>().id
    const me = await s.request('GET', '/api/user/current', { session })
    const id = me.json<{ id: number }>().id
    expect((await s.request('PUT', `/api/user/${id}`, { apiKey: s.apiKey, payload: { is_active: false } })).statusCode).toBe(200)
    const store = s.app.switchyard.store
    const sessionsBefore = (await store.query<{ n: number }>('select count(*)::int as n from sessions where user_id = $1', [id])).rows[0]!.n
    const res = await s.request('GET', `/auth/sso?jwt=${await sign({ email: 'GONE@acme.test', tenant: 'globex' })}`)
    expect(res.statusCode).toBe(401)
    expect(res.json().message).toBe('User is deactivated.')
    const row = (await store.query<{ is_active: boolean; login_attributes: Record<string, string> }>('select is_active, login_attributes from users where id = $1', [id])).rows[0]!
    expect(row).toEqual({ is_active: false, login_attributes: { tenant: 'acme' } })
    expect((await store.query<{ n: number }>('select count(*)::int as n from sessions where user_id = $1', [id])).rows[0]!.n).toBe(sessionsBefore)
    expect((await s.request('GET', '/api/user/current', { session })).statusCode).toBe(401)
  })

  it('no cross-tenant takeover: a user cannot take another email, so SSO never merges into their account', async () => {
    const mallory = await s.user('mallory@acme.test', { tenant: 'acme' })
    const store = s.app.switchyard.store
    const before = (await store.query('select email, login_attributes, password_hash from users where id = $1', [mallory.id])).rows[0]
    const grab = await s.request('PUT', `/api/user/${mallory.id}`, { session: mallory.session, payload: { email: 'bob@globex.com' } })
    expect(grab.statusCode).toBe(403)
    expect(grab.json().message).toMatch(/Only an admin can change the email address/)
    // The refused request changed nothing.
    expect((await store.query('select email, login_attributes, password_hash from users where id = $1', [mallory.id])).rows[0]).toEqual(before)

    // Bob signs on: he gets his own account, not Mallory's row.
    const bob = await s.request('GET', `/auth/sso?jwt=${await sign({ email: 'bob@globex.com', first_name: 'Bob', tenant: 'globex' })}`)
    expect(bob.statusCode).toBe(200)
    const bobMe = (await s.request('GET', '/api/user/current', { session: bob.json<{ id: string }>().id })).json<{ id: number; email: string }>()
    expect(bobMe.id).not.toBe(mallory.id)
    expect(bobMe.email).toBe('bob@globex.com')
    // Mallory's session still routes to her own tenant, and her password opens only her account.
    const malloryMe = await s.request('GET', '/api/user/current', { session: mallory.session })
    expect(malloryMe.json()).toMatchObject({ email: 'mallory@acme.test', login_attributes: { tenant: 'acme' } })
    const asBob = await s.request('POST', '/api/session', { payload: { username: 'bob@globex.com', password: 'user-password-123' } })
    expect(asBob.statusCode).toBe(401)
  })

  it('links a password user by email, and ends their older sessions when the sign-on changes their attributes', async () => {
    const u = await s.user('linked@acme.test', { tenant: 'acme' })
    const first = await s.request('GET', `/auth/sso?jwt=${await sign({ email: 'Linked@acme.test', tenant: 'globex' })}`)
    expect(first.statusCode).toBe(200)
    const ssoSession = first.json<{ id: string }>().id
    // The password session was opened as acme: it must not carry on as globex.
    expect((await s.request('GET', '/api/user/current', { session: u.session })).statusCode).toBe(401)
    const me = await s.request('GET', '/api/user/current', { session: ssoSession })
    expect(me.json()).toMatchObject({ id: u.id, email: 'linked@acme.test', login_attributes: { tenant: 'globex' } })
    // Same attributes next time: nothing changes tenant, so the earlier session lives on.
    const second = await s.request('GET', `/auth/sso?jwt=${await sign({ email: 'linked@acme.test', tenant: 'globex' })}`)
    expect(second.statusCode).toBe(200)
    expect((await s.request('GET', '/api/user/current', { session: ssoSession })).statusCode).toBe(200)
    // Metabase's linking keeps the password working.
    expect((await s.request('POST', '/api/session', { payload: { username: 'linked@acme.test', password: 'user-password-123' } })).statusCode).toBe(200)
  })
  it('ends a session the server has just used and cached: the sign-on clears the cache at once', async () => {
    const u = await s.user('cached@acme.test', { tenant: 'acme' })
    // Used once, so the hot path now holds this session and its acme attributes.
    expect((await s.request('GET', '/api/user/current', { session: u.session })).statusCode).toBe(200)
    expect((await s.request('GET', `/auth/sso?jwt=${await sign({ email: 'cached@acme.test', tenant: 'globex' })}`)).statusCode).toBe(200)
    expect((await s.request('GET', '/api/user/current', { session: u.session })).statusCode).toBe(401)
  })
})
