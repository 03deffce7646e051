import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { serviceAvailable, type TempDatabase } from '../../../test-support/services.js'
import { startServer, type TestServer } from './support/server.js'
import { detailsOf, hitCount, tenantDatabases } from './support/tenants.js'

const ok = await serviceAvailable('postgres')

describe.skipIf(!ok)('database routing on real PostgreSQL destinations', () => {
  let s: TestServer
  let dbs: Map<string, TempDatabase>
  let routerId: number
  let cardId: number
  let hitCardId: number
  const users: Record<string, { id: number; session: string }> = {}
  const destinationIds: Record<string, number> = {}
  const db = (name: string) => dbs.get(name)!

  beforeAll(async () => {
    dbs = await tenantDatabases(['sample', 'acme', 'globex', 'initech'])
    s = await startServer()
    const router = await s.request('POST', '/api/database', { apiKey: s.apiKey, payload: { engine: 'postgres', name: 'Sample', details: detailsOf(db('sample')) } })
    expect(router.statusCode).toBe(200)
    routerId = router.json<{ id: number }>().id
    users.acme = await s.user('a@acme.test', { tenant: 'acme' })
    users.globex = await s.user('g@globex.test', { tenant: 'globex' })
    users.none = await s.user('nobody@x.test', {})
    users.primary = await s.user('p@x.test', { tenant: '__METABASE_PRIMARY_DB__' })
    users.router = await s.user('r@x.test', { tenant: '__METABASE_ROUTER__' })
    users.unknown = await s.user('u@x.test', { tenant: 'umbrella' })
    users.adminNoAttr = await s.user('admin2@x.test', {}, true)
    const card = await s.request('POST', '/api/card', {
      apiKey: s.apiKey,
      payload: {
        name: 'Orders',
        cache_ttl: 60,
        dataset_query: {
          database: routerId,
          type: 'native',
          native: {
            query: 'select tenant, count(*)::int as n, min(placed) as first from orders where 1 = 1 [[and id <= {{max_id}}]] [[and placed >= {{since}}]] group by tenant',
            'template-tags': { max_id: { name: 'max_id', type: 'number' }, since: { name: 'since', type: 'date' } },
          },
        },
      },
    })
    expect(card.statusCode).toBe(200)
    cardId = card.json<{ id: number }>().id
    const hit = await s.request('POST', '/api/card', {
      apiKey: s.apiKey,
      payload: { name: 'Hit', dataset_query: { database: routerId, type: 'native', native: { query: `insert into hits (who) values ('x') returning who` } } },
    })
    hitCardId = hit.json<{ id: number }>().id
  }, 120_000)

  afterAll(async () => {
    await s?.close()
    await Promise.all([...(dbs?.values() ?? [])].map((d) => d.drop()))
  })

  const run = (session: string | undefined, id = cardId, parameters: unknown[] = []) =>
    s.request('POST', `/api/card/${id}/query`, { ...(session ? { session } : {}), payload: { parameters } })

  it('refuses to make a destination of nothing: 404 for a missing database', async () => {
    const res = await s.request('PUT', '/api/ee/database-routing/router-database/99999', { apiKey: s.apiKey, payload: { user_attribute: 'tenant' } })
    expect(res.statusCode).toBe(404)
  })

  it("accepts the documentation's curl payload verbatim, with every destination tested before anything is saved", async () => {
    const on = await s.request('PUT', `/api/ee/database-routing/router-database/${routerId}`, { apiKey: s.apiKey, payload: { user_attribute: 'tenant' } })
    expect(on.statusCode).toBe(200)
    // The second example of the documentation, with host/dbname/user pointed at this run's databases.
    const doc = {
      router_database_id: routerId,
      mirrors: [
        {
          is_on_demand: false,
          is_full_sync: true,
          is_sample: false,
          cache_ttl: null,
          refingerprint: null,
          auto_run_queries: true,
          schedules: {
            metadata_sync: { schedule_minute: 14, schedule_day: null, schedule_frame: null, schedule_hour: null, schedule_type: 'hourly' },
            cache_field_values: { schedule_minute: 0, schedule_day: null, schedule_frame: null, schedule_hour: 18, schedule_type: 'daily' },
          },
          details: { ...detailsOf(db('acme')), 'use-auth-provider': false, 'schema-filters-type': 'all', 'tunnel-enabled': false, 'destination-database': true },
          name: 'acme',
          engine: 'postgres',
        },
      ],
    }
    const res = await s.request('POST', '/api/ee/database-routing/mirror-database?check_connection_details=true', { apiKey: s.apiKey, payload: doc })
    expect(res.statusCode).toBe(200)
    expect(res.json()).toHaveLength(1)
    expect(res.json()[0]).toMatchObject({ name: 'acme', router_database_id: routerId })
    expect(res.body).not.toContain('unused-under-trust-auth')
    const newer = await s.request('POST', '/api/ee/database-routing/destination-database?check_connection_details=true', {
      apiKey: s.apiKey,
      payload: { router_database_id: routerId, destinations: ['globex', 'initech'].map((n) => ({ name: n, engine: 'postgres', details: detailsOf(db(n)) })) },
    })
    expect(newer.statusCode).toBe(200)
  })

  it('creates mirrors atomically: one unreachable destination fails them all, naming it', async () => {
    const res = await s.request('POST', '/api/ee/database-routing/mirror-database?check_connection_details=true', {
      apiKey: s.apiKey,
      payload: {
        router_database_id: routerId,
        mirrors: [
          { name: 'good', engine: 'postgres', details: detailsOf(db('initech')) },
          { name: 'bad', engine: 'postgres', details: { ...detailsOf(db('initech')), dbname: 'no_such_database_sy' } },
        ],
      },
    })
    expect(res.statusCode).toBe(400)
    expect(Object.keys(res.json())).toEqual(['bad'])
    expect(res.json().bad.message).toMatch(/no_such_database_sy/)
    const list = await s.request('GET', `/api/database?router_database_id=${routerId}`, { apiKey: s.apiKey })
    expect(list.json<{ data: { name: string }[] }>().data.map((d) => d.name).sort()).toEqual(['acme', 'globex', 'initech'])
  })

  it('refuses a duplicate slug, an engine mismatch and a destination as router', async () => {
    const dup = await s.request('POST', '/api/ee/database-routing/mirror-database', { apiKey: s.apiKey, payload: { router_database_id: routerId, mirrors: [{ name: 'acme', engine: 'postgres', details: detailsOf(db('acme')) }] } })
    expect(dup.statusCode).toBe(400)
    expect(dup.json().message).toBe('A destination database with that name already exists.')
    const mismatch = await s.request('POST', '/api/ee/database-routing/mirror-database', { apiKey: s.apiKey, payload: { router_database_id: routerId, mirrors: [{ name: 'm', engine: 'mysql', details: { host: '127.0.0.1' } }] } })
    expect(mismatch.statusCode).toBe(400)
    expect(mismatch.json().message).toMatch(/must match/)
    const acmeId = (await s.request('GET', `/api/database?router_database_id=${routerId}`, { apiKey: s.apiKey })).json<{ data: { id: number; name: string }[] }>().data.find((d) => d.name === 'acme')!.id
    const asRouter = await s.request('PUT', `/api/ee/database-routing/router-database/${acmeId}`, { apiKey: s.apiKey, payload: { user_attribute: 'tenant' } })
    expect(asRouter.statusCode).toBe(400)
    expect(asRouter.json().message).toBe('Cannot make a destination database a router database')
  })

  it('hides destinations from the database list', async () => {
    const list = await s.request('GET', '/api/database', { session: users.acme!.session })
    expect(list.json<{ data: { name: string }[] }>().data.map((d) => d.name)).toEqual(['Sample'])
    expect((await s.request('GET', `/api/database?router_database_id=${routerId}`, { session: users.acme!.session })).statusCode).toBe(403)
  })

  it('routes the same question to each viewer by their attribute', async () => {
    const tenantOf = async (session: string) => {
      const res = await run(session)
      expect(res.statusCode).toBe(202)
      expect(res.json().status).toBe('completed')
      return res.json<{ data: { rows: [string, number, string][] } }>().data.rows.map((r) => r[0])
    }
    expect(await tenantOf(users.acme!.session)).toEqual(['acme'])
    expect(await tenantOf(users.globex!.session)).toEqual(['globex'])
    expect(await tenantOf(users.primary!.session)).toEqual(['sample'])
    expect(await tenantOf(users.router!.session)).toEqual(['sample'])
    expect(await tenantOf(users.adminNoAttr!.session)).toEqual(['sample'])
    expect(await tenantOf(s.adminSession)).toEqual(['sample'])
  })

  it('answers in Metabase shape, with parameters bound and optional clauses dropped', async () => {
    const res = await run(users.acme!.session, cardId, [{ type: 'number/=', target: ['variable', ['template-tag', 'max_id']], value: 2 }])
    const body = res.json()
    expect(body).toMatchObject({ status: 'completed', row_count: 1 })
    expect(typeof body.running_time).toBe('number')
    expect(body.data.cols).toEqual([
      { name: 'tenant', display_name: 'tenant', base_type: 'type/Text' },
      { name: 'n', display_name: 'n', base_type: 'type/Integer' },
      { name: 'first', display_name: 'first', base_type: 'type/Date' },
    ])
    expect(body.data.rows[0].slice(0, 2)).toEqual(['acme', 2])
    const injected = await run(users.acme!.session, cardId, [{ target: ['variable', ['template-tag', 'max_id']], value: '1 or 1=1' }])
    expect(injected.statusCode).toBe(400)
    expect(injected.json().message).toMatch(/max_id.*number/)
  })

  it('binds number and date values with the types their literals would have, not types guessed from the SQL around them', async () => {
    const ask = async (query: string, tags: Record<string, 'number' | 'date'>, values: Record<string, unknown>) => {
      const res = await s.request('POST', '/api/dataset', {
        apiKey: s.apiKey,
        payload: {
          database: routerId,
          type: 'native',
          native: { query, 'template-tags': Object.fromEntries(Object.entries(tags).map(([name, type]) => [name, { name, type }])) },
          parameters: Object.entries(values).map(([name, value]) => ({ target: ['variable', ['template-tag', name]], value })),
        },
      })
      const body = res.json<{ status: string; error?: string; data: { cols: { base_type: string }[]; rows: unknown[][] } }>()
      expect(body.error).toBeUndefined()
      expect(body.status).toBe('completed')
      return body.data
    }
    // A fraction against an int column, and an integer past int4 (an untyped $1 would be read as int and fail).
    expect((await ask('select count(*)::int from orders where id <= {{n}}', { n: 'number' }, { n: 2.5 })).rows).toEqual([[2]])
    expect((await ask('select count(*)::int from orders where id <= {{n}}', { n: 'number' }, { n: 3_000_000_000 })).rows).toEqual([[3]])
    expect((await ask('select {{n}} * 2 as v', { n: 'number' }, { n: 1.5 })).rows).toEqual([['3.0']])
    // Selected on its own, a number comes back a number, not the text an untyped $1 answers.
    const alone = await ask('select {{n}} as v', { n: 'number' }, { n: 5 })
    expect(alone.rows).toEqual([[5]])
    expect(alone.cols[0]!.base_type).toBe('type/Integer')
    // A date is a date: plus an interval it is a timestamp (untyped, it was taken for an interval).
    expect((await ask(`select count(*)::int from orders where placed < {{d}} + interval '1 day'`, { d: 'date' }, { d: '2026-01-02' })).rows).toEqual([[1]])
    expect((await ask(`select to_char(date_trunc('month', {{d}}), 'YYYY-MM-DD')`, { d: 'date' }, { d: '2026-01-02' })).rows).toEqual([['2026-01-01']])
    // With a zone it is an instant; without one, a wall-clock time.
    expect((await ask('select extract(epoch from {{d}})::int', { d: 'date' }, { d: '2026-01-02T00:00:00+02:00' })).rows).toEqual([[Date.UTC(2026, 0, 1, 22) / 1000]])
    expect((await ask(`select to_char({{d}}, 'HH24:MI')`, { d: 'date' }, { d: '2026-01-02T13:45' })).rows).toEqual([['13:45']])
  })

  it('refuses a viewer without the attribute, or with an unknown slug, and runs nothing anywhere', async () => {
    const before = await Promise.all([...dbs.values()].map(hitCount))
    const missing = await run(users.none!.session, hitCardId)
    expect(missing.statusCode).toBe(400)
    expect(missing.json().message).toBe('Required user attribute is missing. Cannot route to a Destination Database.')
    const unknown = await run(users.unknown!.session, hitCardId)
    expect(unknown.statusCode).toBe(400)
    expect(unknown.json().message).toBe('No Destination Database with slug `umbrella` found.')
    const after = await Promise.all([...dbs.values()].map(hitCount))
    expect(after).toEqual(before)
    // And the same card does run, on the right database, for a routed viewer.
    expect((await run(users.globex!.session, hitCardId)).json().status).toBe('completed')
    expect(await hitCount(db('globex'))).toBe(1)
    expect(await hitCount(db('acme'))).toBe(0)
  })

  it('never lets a client query a destination directly', async () => {
    const list = await s.request('GET', `/api/database?router_database_id=${routerId}`, { apiKey: s.apiKey })
    const acmeId = list.json<{ data: { id: number; name: string }[] }>().data.find((d) => d.name === 'acme')!.id
    const res = await s.request('POST', '/api/dataset', { apiKey: s.apiKey, payload: { database: acmeId, type: 'native', native: { query: 'select * from orders' } } })
    expect(res.statusCode).toBe(403)
    const card = await s.request('POST', '/api/card', { apiKey: s.apiKey, payload: { name: 'x', dataset_query: { database: acmeId, type: 'native', native: { query: 'select 1' } } } })
    expect(card.statusCode).toBe(400)
  })

  it('keeps cached results apart per serving database', async () => {
    const first = await run(users.acme!.session)
    const again = await run(users.acme!.session)
    expect(again.json().cached).toBe(true)
    const other = await run(users.globex!.session)
    expect(other.json().data.rows[0][0]).toBe('globex')
    expect(first.json().data.rows[0][0]).toBe('acme')
  })

  it('records runs that fail before any query is sent: a bad parameter, a destination that cannot be opened, a direct destination query', async () => {
    const list = await s.request('GET', `/api/database?router_database_id=${routerId}`, { apiKey: s.apiKey })
    for (const d of list.json<{ data: { id: number; name: string }[] }>().data) destinationIds[d.name] = d.id
    const created = await s.request('POST', '/api/card', {
      apiKey: s.apiKey,
      payload: { name: 'Recorded', dataset_query: { database: routerId, type: 'native', native: { query: 'select count(*)::int from orders where id <= {{n}}', 'template-tags': { n: { type: 'number' } } } } },
    })
    const recordedId = created.json<{ id: number }>().id
    const bad = await run(users.acme!.session, recordedId, [{ target: ['variable', ['template-tag', 'n']], value: 'many' }])
    expect(bad.statusCode).toBe(400)
    const store = s.app.switchyard.store
    // Details that cannot even build a pool (written behind the API's back, which would refuse them).
    await store.query(`update databases set details = details || '{"port": "not-a-port"}'::jsonb where id = $1`, [destinationIds.globex])
    s.app.switchyard.metadata.clear()
    try {
      const broken = await run(users.globex!.session, recordedId, [{ target: ['variable', ['template-tag', 'n']], value: 2 }])
      // The server's configuration is at fault, not the viewer's request; and the viewer is not told which detail.
      expect(broken.statusCode).toBe(500)
      expect(broken.json().message).toMatch(/stored connection details are not valid/)
      expect(broken.body).not.toMatch(/port/)
    } finally {
      await store.query(`update databases set details = details - 'port' || jsonb_build_object('port', $2::int) where id = $1`, [destinationIds.globex, db('globex').port])
      s.app.switchyard.metadata.clear()
    }
    expect((await run(users.globex!.session, recordedId, [{ target: ['variable', ['template-tag', 'n']], value: 2 }])).json().data.rows).toEqual([[2]])
    const direct = await s.request('POST', '/api/dataset', { apiKey: s.apiKey, payload: { database: destinationIds.acme, type: 'native', native: { query: 'select 1' } } })
    expect(direct.statusCode).toBe(403)
    await s.app.switchyard.executions.flush()
    const rows = await store.query<{ database_id: number | null; error: string | null; user_id: number | null }>(
      'select database_id, error, user_id from query_executions where card_id = $1 order by id',
      [recordedId],
    )
    expect(rows.rows).toHaveLength(3)
    expect(rows.rows[0]).toMatchObject({ database_id: destinationIds.acme, user_id: users.acme!.id })
    expect(rows.rows[0]!.error).toMatch(/Parameter "n" must be a number/)
    expect(rows.rows[1]).toMatchObject({ database_id: destinationIds.globex, user_id: users.globex!.id })
    // The run record keeps what the response hid, for the admin.
    expect(rows.rows[1]!.error).toMatch(/stored connection details are not valid.*details\.port/)
    expect(rows.rows[2]).toMatchObject({ database_id: destinationIds.globex, error: null })
    const refused = await store.query<{ router_database_id: number; database_id: number | null; error: string; api_key_id: number | null }>(
      `select router_database_id, database_id, error, api_key_id from query_executions where context = 'ad-hoc' and router_database_id = $1`,
      [destinationIds.acme],
    )
    expect(refused.rows).toHaveLength(2)
    for (const r of refused.rows) expect(r).toMatchObject({ database_id: null, error: 'A destination database cannot be queried directly; query its router database.' })
  })

  it('answers 503 when the serving database cannot be reached, naming its host only to an admin', async () => {
    const store = s.app.switchyard.store
    const globexAdmin = await s.user('ga@globex.test', { tenant: 'globex' }, true)
    const probe = await s.request('POST', '/api/card', { apiKey: s.apiKey, payload: { name: 'Probe', dataset_query: { database: routerId, type: 'native', native: { query: 'select 1 as one' } } } })
    const probeId = probe.json<{ id: number }>().id
    // Reachable when saved; the server went away since (written behind the API's back).
    await store.query(`update databases set details = details - 'port' || '{"port": 1}'::jsonb where id = $1`, [destinationIds.globex])
    s.app.switchyard.metadata.clear()
    try {
      const viewer = await run(users.globex!.session, probeId)
      expect(viewer.statusCode).toBe(503)
      expect(viewer.json().message).toBe('The database that serves this question cannot be reached right now. Try again later, or ask an administrator to check its connection.')
      expect(viewer.body).not.toContain(db('globex').name)
      expect(viewer.body).not.toMatch(/127\.0\.0\.1|:1\b/)
      const admin = await run(globexAdmin.session, probeId)
      expect(admin.statusCode).toBe(503)
      expect(admin.json().message).toContain(`:1/${db('globex').name}`)
      await s.app.switchyard.executions.flush()
      const recorded = await store.query<{ error: string }>('select error from query_executions where user_id = $1 order by id desc limit 1', [users.globex!.id])
      expect(recorded.rows[0]!.error).toContain(`:1/${db('globex').name}`)
    } finally {
      await store.query(`update databases set details = details - 'port' || jsonb_build_object('port', $2::int) where id = $1`, [destinationIds.globex, db('globex').port])
      s.app.switchyard.metadata.clear()
    }
    expect((await run(users.globex!.session, probeId)).json().status).toBe('completed')
  })

  it('records every run, refused or not', async () => {
    await s.app.switchyard.executions.flush()
    const refused = await s.app.switchyard.store.query<{ error: string }>('select error from query_executions where database_id is null and card_id = $1', [hitCardId])
    expect(refused.rows.map((r) => r.error).sort()).toEqual([
      'No Destination Database with slug `umbrella` found.',
      'Required user attribute is missing. Cannot route to a Destination Database.',
    ])
    const rows = await s.app.switchyard.store.query<{ card_id: number; database_id: number; router_database_id: number; error: string | null }>(
      'select card_id, database_id, router_database_id, error from query_executions where card_id = $1',
      [cardId],
    )
    expect(rows.rows.length).toBeGreaterThan(5)
    expect(new Set(rows.rows.map((r) => r.router_database_id))).toEqual(new Set([routerId]))
    expect(new Set(rows.rows.map((r) => r.database_id)).size).toBeGreaterThanOrEqual(3)
    // The one failed run of this card is the injection attempt, refused while binding: recorded against acme, where it was headed.
    const failed = rows.rows.filter((r) => r.error !== null)
    expect(failed).toHaveLength(1)
    expect(failed[0]!.error).toMatch(/max_id.*number/)
    expect(failed[0]!.database_id).toBe(destinationIds.acme)
  })

  it("reads only the user's own attributes: a routing attribute named like an Object method is missing, not a function", async () => {
    const set = (attr: string) => s.request('PUT', `/api/ee/database-routing/router-database/${routerId}`, { apiKey: s.apiKey, payload: { user_attribute: attr } })
    expect((await set('constructor')).statusCode).toBe(200)
    try {
      const viewer = await run(users.none!.session, hitCardId)
      expect(viewer.statusCode).toBe(400)
      expect(viewer.json().message).toBe('Required user attribute is missing. Cannot route to a Destination Database.')
      // An admin without it sees the router database (the orders card answers with its rows).
      const admin = await run(users.adminNoAttr!.session)
      expect(admin.json().status).toBe('completed')
      expect(admin.json<{ data: { rows: [string][] } }>().data.rows.map((r) => r[0])).toEqual(['sample'])
    } finally {
      expect((await set('tenant')).statusCode).toBe(200)
    }
  })

  it('turning routing off keeps the destinations; deleting the router deletes them', async () => {
    const off = await s.request('PUT', `/api/ee/database-routing/router-database/${routerId}`, { apiKey: s.apiKey, payload: { user_attribute: null } })
    expect(off.statusCode).toBe(200)
    expect((await run(users.acme!.session, hitCardId)).json().status).toBe('completed')
    expect(await hitCount(db('sample'))).toBe(1)
    const list = await s.request('GET', `/api/database?router_database_id=${routerId}`, { apiKey: s.apiKey })
    expect(list.json().total).toBe(3)
    expect((await s.request('DELETE', `/api/database/${routerId}`, { apiKey: s.apiKey })).statusCode).toBe(204)
    const gone = await s.request('GET', `/api/database?router_database_id=${routerId}`, { apiKey: s.apiKey })
    expect(gone.json().total).toBe(0)
  })
})

/**
 * The two `curl` examples of Metabase's database-routing page ("Adding a new destination
 * database: example with PostgreSQL via curl"), copied as they are. Only the connection fields
 * (host, port, dbname, user, password) and router_database_id are pointed at this run's databases.
 */
const DOC_EXAMPLE_MINIMAL = `{
  "router_database_id": 2,
  "mirrors": [
    {
     "details": {
        "host": "red-postgres",
        "port": 5432,
        "dbname": "sample",
        "user": "metabase",
        "use-auth-provider": false,
        "password": "metasample123",
        "schema-filters-type": "all",
        "ssl": false,
        "tunnel-enabled": false,
        "destination-database": true
      },
      "name": "Green PostgreSQL",
      "engine": "postgres"
    }
  ]
}`
const DOC_EXAMPLE_FROM_BROWSER = `{
  "router_database_id": 2,
  "mirrors": [
    {
      "is_on_demand": false,
      "is_full_sync": true,
      "is_sample": false,
      "cache_ttl": null,
      "refingerprint": null,
      "auto_run_queries": true,
      "schedules": {
        "metadata_sync": {
          "schedule_minute": 14,
          "schedule_day": null,
          "schedule_frame": null,
          "schedule_hour": null,
          "schedule_type": "hourly"
        },
        "cache_field_values": {
          "schedule_minute": 0,
          "schedule_day": null,
          "schedule_frame": null,
          "schedule_hour": 18,
          "schedule_type": "daily"
        }
      },
      "details": {
        "host": "red-postgres",
        "port": 5432,
        "dbname": "sample",
        "user": "metabase",
        "use-auth-provider": false,
        "password": "metasample123",
        "schema-filters-type": "all",
        "ssl": false,
        "tunnel-enabled": false,
        "destination-database": true
      },
      "name": "Red PostgreSQL",
      "engine": "postgres"
    }
  ]
}`

describe.skipIf(!ok)("the documentation's curl payloads, both of them", () => {
  let s: TestServer
  let dbs: Map<string, TempDatabase>
  let routerId: number
  beforeAll(async () => {
    dbs = await tenantDatabases(['docrouter', 'green', 'red'])
    s = await startServer()
    const router = await s.request('POST', '/api/database', { apiKey: s.apiKey, payload: { engine: 'postgres', name: 'Sample', details: detailsOf(dbs.get('docrouter')!) } })
    routerId = router.json<{ id: number }>().id
    expect((await s.request('PUT', `/api/ee/database-routing/router-database/${routerId}`, { apiKey: s.apiKey, payload: { user_attribute: 'tenant' } })).statusCode).toBe(200)
  }, 120_000)
  afterAll(async () => {
    await s?.close()
    await Promise.all([...(dbs?.values() ?? [])].map((d) => d.drop()))
  })

  /** The documented payload with its connection fields (and router id) replaced, everything else untouched. */
  const pointed = (doc: string, target: TempDatabase): string => {
    const body = JSON.parse(doc) as { router_database_id: number; mirrors: { details: Record<string, unknown> }[] }
    body.router_database_id = routerId
    const d = detailsOf(target)
    for (const m of body.mirrors) Object.assign(m.details, { host: d.host, port: d.port, dbname: d.dbname, user: d.user, password: d.password })
    return JSON.stringify(body)
  }

  it.each([
    ['the minimal example', DOC_EXAMPLE_MINIMAL, 'green', 'Green PostgreSQL'],
    ['the example copied from the browser', DOC_EXAMPLE_FROM_BROWSER, 'red', 'Red PostgreSQL'],
  ])('%s creates its destination, slug and all, and routes a viewer whose attribute is the name', async (_what, doc, dbKey, slug) => {
    const res = await s.app.inject({
      method: 'POST',
      url: '/api/ee/database-routing/mirror-database?check_connection_details=true',
      headers: { 'Content-Type': 'application/json', 'X-Api-Key': s.apiKey },
      payload: pointed(doc, dbs.get(dbKey)!),
    })
    expect(res.statusCode).toBe(200)
    const [created] = res.json<{ id: number; name: string; router_database_id: number; engine: string; details: Record<string, unknown> }[]>()
    expect(created).toMatchObject({ name: slug, router_database_id: routerId, engine: 'postgres', is_destination_database: true })
    expect(created!.details).toMatchObject({ 'use-auth-provider': false, 'schema-filters-type': 'all', 'tunnel-enabled': false, 'destination-database': true })
    expect(res.body).not.toContain('unused-under-trust-auth')
    const list = await s.request('GET', `/api/database?router_database_id=${routerId}`, { apiKey: s.apiKey })
    expect(list.json<{ data: { name: string }[] }>().data.map((d) => d.name)).toContain(slug)

    const viewer = await s.user(`${dbKey}@doc.test`, { tenant: slug })
    const card = await s.request('POST', '/api/card', { apiKey: s.apiKey, payload: { name: `Orders ${dbKey}`, dataset_query: { database: routerId, type: 'native', native: { query: 'select distinct tenant from orders' } } } })
    const ran = await s.request('POST', `/api/card/${card.json<{ id: number }>().id}/query`, { session: viewer.session, payload: {} })
    expect(ran.json()).toMatchObject({ status: 'completed', data: { rows: [[dbKey]] } })
    // Slugs match exactly: case or surrounding spaces make another (unknown) slug.
    const near = await s.user(`${dbKey}-near@doc.test`, { tenant: slug.toLowerCase() })
    const refused = await s.request('POST', `/api/card/${card.json<{ id: number }>().id}/query`, { session: near.session, payload: {} })
    expect(refused.statusCode).toBe(400)
    expect(refused.json().message).toBe(`No Destination Database with slug \`${slug.toLowerCase()}\` found.`)
  })

  it('sending a documented payload again is refused as a duplicate slug, nothing saved', async () => {
    const before = (await s.request('GET', `/api/database?router_database_id=${routerId}`, { apiKey: s.apiKey })).json().total
    const again = await s.app.inject({
      method: 'POST',
      url: '/api/ee/database-routing/mirror-database?check_connection_details=true',
      headers: { 'Content-Type': 'application/json', 'X-Api-Key': s.apiKey },
      payload: pointed(DOC_EXAMPLE_MINIMAL, dbs.get('green')!),
    })
    expect(again.statusCode).toBe(400)
    expect(again.json().message).toBe('A destination database with that name already exists.')
    expect((await s.request('GET', `/api/database?router_database_id=${routerId}`, { apiKey: s.apiKey })).json().total).toBe(before)
  })
})
