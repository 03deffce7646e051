import { mkdtemp, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { serviceAvailable, type TempDatabase } from '../../../test-support/services.js'
import { buildApp } from '../src/index.js'
import { startServer, type TestServer } from './support/server.js'
import { detailsOf, tenantDatabases } from './support/tenants.js'

const ok = await serviceAvailable('postgres')

/** Secrets under the names Metabase's drivers use, and names no list could know but the pattern catches. */
const SECRETS = {
  'tunnel-pass': 'secret-tunnel-pass-1',
  'tunnel-private-key': 'secret-private-key-2',
  'tunnel-private-key-passphrase': 'secret-passphrase-3',
  'ssl-key-value': 'secret-ssl-key-4',
  'ssl-client-key': 'secret-client-key-5',
  'ssl-keystore-password-value': 'secret-keystore-6',
  'warehouse-api-token': 'secret-token-7',
  'custom-secret': 'secret-custom-8',
  'oauth-client-password-hint': 'secret-password-9',
  auth: { 'client-secret': 'secret-nested-10', realm: 'kept-realm' },
}
const SECRET_VALUES = ['unused-under-trust-auth', 'secret-tunnel-pass-1', 'secret-private-key-2', 'secret-passphrase-3', 'secret-ssl-key-4', 'secret-client-key-5', 'secret-keystore-6', 'secret-token-7', 'secret-custom-8', 'secret-password-9', 'secret-nested-10']

describe.skipIf(!ok)('destinations and connection details', () => {
  let s: TestServer
  let dbs: Map<string, TempDatabase>
  let routerId: number
  let viewer: { id: number; session: string }
  const db = (name: string) => dbs.get(name)!
  const destinations = async () =>
    (await s.request('GET', `/api/database?router_database_id=${routerId}`, { apiKey: s.apiKey })).json<{ data: { id: number; name: string }[] }>().data
  const storeSnapshot = async () => (await s.app.switchyard.store.query('select id, name, details, router_database_id, router_user_attribute from databases order by id')).rows

  beforeAll(async () => {
    dbs = await tenantDatabases(['router', 'acme', 'globex'])
    s = await startServer()
    viewer = await s.user('viewer@acme.test', { tenant: 'acme' })
    const router = await s.request('POST', '/api/database', { apiKey: s.apiKey, payload: { engine: 'postgres', name: 'Router', details: { ...detailsOf(db('router')), ...SECRETS, 'tunnel-enabled': false } } })
    expect(router.statusCode).toBe(200)
    routerId = router.json<{ id: number }>().id
    expect((await s.request('PUT', `/api/ee/database-routing/router-database/${routerId}`, { apiKey: s.apiKey, payload: { user_attribute: 'tenant' } })).statusCode).toBe(200)
    const added = await s.request('POST', '/api/ee/database-routing/destination-database?check_connection_details=true', {
      apiKey: s.apiKey,
      payload: { router_database_id: routerId, destinations: ['acme', 'globex'].map((n) => ({ name: n, engine: 'postgres', details: { ...detailsOf(db(n)), ...SECRETS } })) },
    })
    expect(added.statusCode).toBe(200)
  }, 120_000)
  afterAll(async () => {
    await s?.close()
    await Promise.all([...(dbs?.values() ?? [])].map((d) => d.drop()))
  })

  it('returns no secret-looking detail from any endpoint, keeping the harmless ones', async () => {
    const responses = [
      await s.request('GET', '/api/database', { apiKey: s.apiKey }),
      await s.request('GET', `/api/database/${routerId}`, { apiKey: s.apiKey }),
      await s.request('GET', `/api/database/${routerId}/metadata`, { apiKey: s.apiKey }),
      await s.request('GET', `/api/database?router_database_id=${routerId}`, { apiKey: s.apiKey }),
      await s.request('PUT', `/api/ee/database-routing/router-database/${routerId}`, { apiKey: s.apiKey, payload: { user_attribute: 'tenant' } }),
    ]
    for (const res of responses) expect(res.statusCode).toBe(200)
    const all = s.bodies.join('\n')
    for (const secret of SECRET_VALUES) expect(all).not.toContain(secret)
    const details = responses[1]!.json<{ details: Record<string, unknown> }>().details
    expect(details).toMatchObject({ host: db('router').host, dbname: db('router').name, 'tunnel-enabled': false, auth: { realm: 'kept-realm' } })
    expect(Object.keys(details).sort()).toEqual(['auth', 'dbname', 'host', 'port', 'ssl', 'tunnel-enabled', 'user'])
  })

  it('an update that omits the secrets keeps the stored ones', async () => {
    const shown = (await s.request('GET', `/api/database/${routerId}`, { apiKey: s.apiKey })).json<{ details: Record<string, unknown> }>().details
    const res = await s.request('PUT', `/api/database/${routerId}`, { apiKey: s.apiKey, payload: { details: { ...shown, 'tunnel-pass': null } } })
    expect(res.statusCode).toBe(200)
    const stored = (await s.app.switchyard.store.query<{ details: Record<string, unknown> }>('select details from databases where id = $1', [routerId])).rows[0]!.details
    expect(stored).toMatchObject({ password: 'unused-under-trust-auth', ...SECRETS, 'tunnel-enabled': false })
  })

  it('gives non-admins no connection details at all', async () => {
    const list = await s.request('GET', '/api/database', { session: viewer.session })
    expect(list.statusCode).toBe(200)
    const [router] = list.json<{ data: Record<string, unknown>[] }>().data
    expect(router).toMatchObject({ id: routerId, name: 'Router', engine: 'postgres' })
    expect(router).not.toHaveProperty('details')
    const one = await s.request('GET', `/api/database/${routerId}`, { session: viewer.session })
    expect(one.json()).not.toHaveProperty('details')
    const meta = await s.request('GET', `/api/database/${routerId}/metadata`, { session: viewer.session })
    expect(meta.statusCode).toBe(200)
    expect(meta.json()).not.toHaveProperty('details')
    expect([list, one, meta].map((r) => r.body).join('')).not.toContain(db('router').name)
  })

  it('renaming a destination onto another slug is a 400 with the documented message, changing nothing', async () => {
    const before = await storeSnapshot()
    const globex = (await destinations()).find((d) => d.name === 'globex')!
    const res = await s.request('PUT', `/api/database/${globex.id}`, { apiKey: s.apiKey, payload: { name: 'acme' } })
    expect(res.statusCode).toBe(400)
    expect(res.json()).toEqual({ message: 'A destination database with that name already exists.' })
    expect(await storeSnapshot()).toEqual(before)
  })

  it.each(['__METABASE_PRIMARY_DB__', '__METABASE_ROUTER__'])('refuses the reserved name %s for a destination, by any route', async (reserved) => {
    const before = await storeSnapshot()
    const acme = (await destinations()).find((d) => d.name === 'acme')!
    const rename = await s.request('PUT', `/api/database/${acme.id}`, { apiKey: s.apiKey, payload: { name: reserved } })
    expect(rename.statusCode).toBe(400)
    expect(rename.json().message).toMatch(new RegExp(`"${reserved}" is reserved`))
    for (const [url, key] of [['mirror-database', 'mirrors'], ['destination-database', 'destinations']] as const) {
      const add = await s.request('POST', `/api/ee/database-routing/${url}`, { apiKey: s.apiKey, payload: { router_database_id: routerId, [key]: [{ name: 'ok-one', engine: 'postgres', details: detailsOf(db('acme')) }, { name: reserved, engine: 'postgres', details: detailsOf(db('acme')) }] } })
      expect(add.statusCode).toBe(400)
      expect(add.json().message).toMatch(/is reserved/)
    }
    expect(await storeSnapshot()).toEqual(before)
  })

  it('adds destinations only to a router database: not to a plain database, nor once routing is off; nothing saved', async () => {
    const plain = await s.request('POST', '/api/database', { apiKey: s.apiKey, payload: { engine: 'postgres', name: 'Plain', details: detailsOf(db('globex')) } })
    const plainId = plain.json<{ id: number }>().id
    const add = (id: number, url: string, key: string) =>
      s.request('POST', `/api/ee/database-routing/${url}?check_connection_details=true`, { apiKey: s.apiKey, payload: { router_database_id: id, [key]: [{ name: 'initech', engine: 'postgres', details: detailsOf(db('acme')) }] } })
    try {
      const before = await storeSnapshot()
      for (const [url, key] of [['mirror-database', 'mirrors'], ['destination-database', 'destinations']] as const) {
        const res = await add(plainId, url, key)
        expect(res.statusCode).toBe(400)
        expect(res.json().message).toBe(`Database ${plainId} is not a router database: turn database routing on first (PUT /api/ee/database-routing/router-database/${plainId} with a user_attribute).`)
      }
      expect(await storeSnapshot()).toEqual(before)
      // Routing off keeps the destinations but takes no new ones; on again, it does.
      expect((await s.request('PUT', `/api/ee/database-routing/router-database/${routerId}`, { apiKey: s.apiKey, payload: { user_attribute: null } })).statusCode).toBe(200)
      const off = await storeSnapshot()
      expect((await add(routerId, 'mirror-database', 'mirrors')).statusCode).toBe(400)
      expect(await storeSnapshot()).toEqual(off)
      expect((await s.request('PUT', `/api/ee/database-routing/router-database/${routerId}`, { apiKey: s.apiKey, payload: { user_attribute: 'tenant' } })).statusCode).toBe(200)
      expect((await add(routerId, 'mirror-database', 'mirrors')).statusCode).toBe(200)
      expect((await destinations()).map((d) => d.name).sort()).toEqual(['acme', 'globex', 'initech'])
    } finally {
      const initech = (await destinations()).find((d) => d.name === 'initech')
      if (initech) await s.request('DELETE', `/api/database/${initech.id}`, { apiKey: s.apiKey })
      await s.request('DELETE', `/api/database/${plainId}`, { apiKey: s.apiKey })
    }
  })

  it.each([
    ['no host', { dbname: 'x' }, /details\.host is required/],
    ['a port that is not a port', { host: '127.0.0.1', port: 'abc' }, /details\.port must be a port number/],
  ])('validates details without check_connection_details too: %s is a 400 naming the destination, nothing saved', async (_what, details, message) => {
    const before = await storeSnapshot()
    for (const [url, key] of [['mirror-database', 'mirrors'], ['destination-database', 'destinations']] as const) {
      const res = await s.request('POST', `/api/ee/database-routing/${url}`, {
        apiKey: s.apiKey,
        payload: { router_database_id: routerId, [key]: [{ name: 'fine', engine: 'postgres', details: detailsOf(db('acme')) }, { name: 'broken', engine: 'postgres', details }] },
      })
      expect(res.statusCode).toBe(400)
      expect(Object.keys(res.json())).toEqual(['broken'])
      expect(res.json().broken.message).toMatch(message)
    }
    expect(await storeSnapshot()).toEqual(before)
  })
})

describe('embedded data directories stay out of the metadata store', () => {
  let dataDir: string
  let app: Awaited<ReturnType<typeof buildApp>>
  let session: string
  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'sy-embedded-'))
    app = await buildApp({ dataDir, allowEmbedded: true, logger: false })
    const setup = await app.inject({ method: 'POST', url: '/api/setup', payload: { user: { email: 'a@b.test', password: 'long-enough-1' } } })
    session = setup.json<{ id: string }>().id
  })
  afterAll(async () => {
    await app?.close()
    await rm(dataDir, { recursive: true, force: true })
  })

  it.each([
    ['store', /metadata store's directory/],
    ['store/inner', /metadata store's directory/],
    ['./store', /metadata store's directory/],
    ['tenants/../store', /metadata store's directory/],
    ['', /non-empty/],
    ['.', /inside the server data directory/],
    ['..', /inside the server data directory/],
    ['a/../..', /inside the server data directory/],
    ['../sibling', /inside the server data directory/],
  ])('refuses data-dir %j with 400, saving nothing', async (dir, message) => {
    // The store really is on disk, where a careless data-dir would land.
    expect((await stat(join(dataDir, 'store'))).isDirectory()).toBe(true)
    const res = await app.inject({ method: 'POST', url: '/api/database', headers: { 'x-metabase-session': session }, payload: { engine: 'pglite', name: 'evil', details: { 'data-dir': dir } } })
    expect(res.statusCode).toBe(400)
    expect(res.json().message).toMatch(message)
    expect((await app.inject({ method: 'GET', url: '/api/database', headers: { 'x-metabase-session': session } })).json().total).toBe(0)
  })

  it('accepts a sub-directory of the data directory', async () => {
    const fine = await app.inject({ method: 'POST', url: '/api/database', headers: { 'x-metabase-session': session }, payload: { engine: 'pglite', name: 'fine', details: { 'data-dir': 'tenants/fine' } } })
    expect(fine.statusCode).toBe(200)
    expect((await stat(join(dataDir, 'tenants', 'fine'))).isDirectory()).toBe(true)
  })
})
