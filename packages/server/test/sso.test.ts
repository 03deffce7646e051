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
})
