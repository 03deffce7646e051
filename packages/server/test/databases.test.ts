import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { serviceAvailable, type TempDatabase } from '../../../test-support/services.js'
import { startServer, type TestServer } from './support/server.js'
import { detailsOf, tenantDatabases } from './support/tenants.js'

const ok = await serviceAvailable('postgres')

describe.skipIf(!ok)('databases: connection test first, CRUD, sync and metadata', () => {
  let s: TestServer
  let dbs: Map<string, TempDatabase>
  beforeAll(async () => {
    dbs = await tenantDatabases(['warehouse'])
    s = await startServer()
  }, 60_000)
  afterAll(async () => {
    await s?.close()
    await Promise.all([...(dbs?.values() ?? [])].map((d) => d.drop()))
  })

  it.each([
    ['a missing database', { dbname: 'no_such_db_sy' }, /no_such_db_sy/],
    ['an unreachable host', { host: '127.0.0.1', port: 1 }, /Cannot reach PostgreSQL at 127\.0\.0\.1:1/],
    ['an unknown role', { user: 'no_such_role_sy' }, /no_such_role_sy/],
  ])('refuses %s with 400 and the engine message, saving nothing', async (_what, override, message) => {
    const res = await s.request('POST', '/api/database', { apiKey: s.apiKey, payload: { engine: 'postgres', name: 'Bad', details: { ...detailsOf(dbs.get('warehouse')!), ...override } } })
    expect(res.statusCode).toBe(400)
    expect(res.json().message).toMatch(message)
    expect((await s.request('GET', '/api/database', { apiKey: s.apiKey })).json().total).toBe(0)
  })

  it('refuses an unknown engine and a bad port by name', async () => {
    const engine = await s.request('POST', '/api/database', { apiKey: s.apiKey, payload: { engine: 'oracle', name: 'x', details: { host: 'h' } } })
    expect(engine.statusCode).toBe(400)
    expect(engine.json().message).toMatch(/Unsupported engine "oracle"/)
    const port = await s.request('POST', '/api/database', { apiKey: s.apiKey, payload: { engine: 'postgres', name: 'x', details: { host: 'h', port: 'abc' } } })
    expect(port.statusCode).toBe(400)
    expect(port.json().message).toMatch(/port/)
  })

  it('sends a stored password only to the server it was entered for: a new host, port, user or ssl needs it again', async () => {
    const details = { ...detailsOf(dbs.get('warehouse')!), password: 'the-stored-one' }
    const db = (await s.request('POST', '/api/database', { apiKey: s.apiKey, payload: { engine: 'postgres', name: 'Guarded', details } })).json<{ id: number; details: Record<string, unknown> }>()
    const storedDetails = async () => (await s.app.switchyard.store.query<{ details: Record<string, unknown> }>('select details from databases where id = $1', [db.id])).rows[0]?.details
    const before = await storedDetails()
    for (const [key, value] of [['host', 'localhost'], ['port', 5433], ['user', 'root'], ['ssl', true]] as const) {
      const res = await s.request('PUT', `/api/database/${db.id}`, { apiKey: s.apiKey, payload: { details: { ...db.details, [key]: value } } })
      expect(res.statusCode).toBe(400)
      expect(res.json().message).toBe(`details.password must be sent again: details.${key} changed, and a stored secret is only sent to the server it was entered for`)
    }
    expect(await storedDetails()).toEqual(before)
    // Same server, other fields: the stored password is kept without being sent.
    const kept = await s.request('PUT', `/api/database/${db.id}`, { apiKey: s.apiKey, payload: { details: { ...db.details, ssl: false, 'schema-filters-type': 'all' } } })
    expect(kept.statusCode).toBe(200)
    expect((await storedDetails())?.password).toBe('the-stored-one')
    // A new host with the password sent again is an ordinary edit.
    const moved = await s.request('PUT', `/api/database/${db.id}`, { apiKey: s.apiKey, payload: { details: { ...db.details, host: 'localhost', password: 'entered-again' } } })
    expect(moved.statusCode).toBe(200)
    expect(await storedDetails()).toMatchObject({ host: 'localhost', password: 'entered-again' })
    expect((await s.request('DELETE', `/api/database/${db.id}`, { apiKey: s.apiKey })).statusCode).toBe(204)
  })

  it('creates, reads, updates (keeping the password), syncs and deletes', async () => {
    const details = { ...detailsOf(dbs.get('warehouse')!), 'tunnel-enabled': false, 'schema-filters-type': 'all' }
    const created = await s.request('POST', '/api/database', { apiKey: s.apiKey, payload: { engine: 'postgres', name: 'Warehouse', details } })
    expect(created.statusCode).toBe(200)
    const db = created.json<{ id: number; details: Record<string, unknown> }>()
    expect(db.details).not.toHaveProperty('password')
    expect(db.details['tunnel-enabled']).toBe(false)
    const renamed = await s.request('PUT', `/api/database/${db.id}`, { apiKey: s.apiKey, payload: { name: 'WH', details: { ...db.details } } })
    expect(renamed.statusCode).toBe(200)
    const stored = await s.app.switchyard.store.query<{ details: { password?: string } }>('select details from databases where id = $1', [db.id])
    expect(stored.rows[0]?.details.password).toBe('unused-under-trust-auth')
    const sync = await s.request('POST', `/api/database/${db.id}/sync_schema`, { apiKey: s.apiKey })
    expect(sync.json()).toMatchObject({ status: 'ok', tables: 2 })
    const meta = await s.request('GET', `/api/database/${db.id}/metadata`, { apiKey: s.apiKey })
    const orders = meta.json<{ tables: { name: string; fields: { name: string; base_type: string }[] }[] }>().tables.find((t) => t.name === 'orders')
    expect(orders?.fields.map((f) => [f.name, f.base_type])).toEqual([
      ['id', 'type/Integer'],
      ['tenant', 'type/Text'],
      ['total', 'type/Decimal'],
      ['placed', 'type/Date'],
    ])
    expect((await s.request('DELETE', `/api/database/${db.id}`, { apiKey: s.apiKey })).statusCode).toBe(204)
    expect((await s.request('GET', `/api/database/${db.id}`, { apiKey: s.apiKey })).statusCode).toBe(404)
  })
})
