import { createServer } from 'node:net'
import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createMemoryCache, createRedisCache, databaseFingerprint, resultCacheKey, type CachedResult, type ResultCache } from '../src/cache/result-cache.js'
import { randomName, REDIS_URL, serviceAvailable, type TempDatabase } from '../../../test-support/services.js'
import { startServer, type TestServer } from './support/server.js'
import { detailsOf, tenantDatabases } from './support/tenants.js'

const redisOk = await serviceAvailable('redis')
const pgOk = await serviceAvailable('postgres')

const value = (tag: string): CachedResult => ({ cols: [{ name: 'tenant', display_name: 'tenant', base_type: 'type/Text' }], rows: [[tag]], row_count: 1 })
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** A result with every awkward value a driver hands back, and what reading it back gives. */
const awkward = {
  stored: {
    cols: [{ name: 'v', base_type: 'type/*' }],
    rows: [[9007199254740993n, new Date('2026-01-02T03:04:05.678Z'), Buffer.from('hi'), 'ünïcode ✓', 1.5, -0.25, null, true, { nested: [1, 'a'] }, '']],
    row_count: 1,
  } as CachedResult,
  readBack: {
    cols: [{ name: 'v', base_type: 'type/*' }],
    rows: [['9007199254740993', '2026-01-02T03:04:05.678Z', 'aGk=', 'ünïcode ✓', 1.5, -0.25, null, true, { nested: [1, 'a'] }, '']],
    row_count: 1,
  },
}

describe('resultCacheKey', () => {
  const details = { host: '127.0.0.1', port: 5432, dbname: 'acme', user: 'postgres', password: 'secret-1', ssl: false }
  const base = { cardId: 1, servedByDatabaseId: 10, servedByFingerprint: databaseFingerprint('postgres', details), sql: 'select * from t where id = $1', params: [1] as readonly unknown[] }

  it('is stable for equal inputs', () => {
    expect(resultCacheKey(base)).toBe(resultCacheKey({ ...base, params: [1] }))
    expect(resultCacheKey({ ...base, params: [{ a: 1, b: 2 }] })).toBe(resultCacheKey({ ...base, params: [{ b: 2, a: 1 }] }))
    expect(resultCacheKey(base)).toMatch(/^card:1:db:10:[0-9a-f]{64}$/)
  })

  it('differs by the database that served the result, so two tenants never share an entry', () => {
    expect(resultCacheKey(base)).not.toBe(resultCacheKey({ ...base, servedByDatabaseId: 11 }))
  })

  it('differs by what the serving database is, not only its id: engine, any detail, the password too', () => {
    const fp = (engine: string, d: Record<string, unknown>) => databaseFingerprint(engine, d)
    // Key order in the stored JSON never matters.
    expect(fp('postgres', details)).toBe(fp('postgres', Object.fromEntries(Object.entries(details).reverse())))
    const fingerprints = [
      fp('postgres', details),
      fp('mysql', details),
      fp('postgres', { ...details, dbname: 'globex' }),
      fp('postgres', { ...details, host: '10.0.0.2' }),
      fp('postgres', { ...details, port: '5432' }),
      fp('postgres', { ...details, password: 'secret-2' }),
    ]
    expect(new Set(fingerprints).size).toBe(fingerprints.length)
    for (const f of fingerprints) expect(f).toMatch(/^[0-9a-f]{64}$/)
    // The same id pointed elsewhere is another entry; the secret never shows in the key.
    const moved = resultCacheKey({ ...base, servedByFingerprint: fp('postgres', { ...details, dbname: 'globex' }) })
    expect(moved).not.toBe(resultCacheKey(base))
    expect(moved).toMatch(/^card:1:db:10:[0-9a-f]{64}$/)
    expect(resultCacheKey(base)).not.toContain('secret-1')
  })

  it('differs by card, SQL and every distinguishable parameter', () => {
    const keys = [
      resultCacheKey(base),
      resultCacheKey({ ...base, cardId: 2 }),
      resultCacheKey({ ...base, sql: 'select * from t where id = ?' }),
      resultCacheKey({ ...base, params: [2] }),
      resultCacheKey({ ...base, params: ['1'] }),
      resultCacheKey({ ...base, params: [1n] }),
      resultCacheKey({ ...base, params: [null] }),
      resultCacheKey({ ...base, params: [Number.NaN] }),
      resultCacheKey({ ...base, params: [[1]] }),
      resultCacheKey({ ...base, params: [1, 1] }),
      resultCacheKey({ ...base, params: [] }),
      // Field boundaries cannot be shifted: the SQL and params are separate JSON values.
      resultCacheKey({ ...base, sql: 'select * from t where id = $1", 1', params: [] }),
    ]
    expect(new Set(keys).size).toBe(keys.length)
  })

  it('refuses ids that are not integers', () => {
    expect(() => resultCacheKey({ ...base, servedByDatabaseId: Number.NaN })).toThrow(/servedByDatabaseId/)
  })
})

describe('memory cache', () => {
  it('expires an entry after its TTL (real time)', async () => {
    const c = createMemoryCache()
    await c.set('a', value('a'), 1)
    expect(await c.get('a')).toEqual(value('a'))
    await sleep(1100)
    expect(await c.get('a')).toBeUndefined()
  })

  it('expires on an injected clock, to the millisecond', async () => {
    let t = 1_000_000
    const c = createMemoryCache(10, { now: () => t })
    await c.set('a', value('a'), 30)
    t += 29_999
    expect(await c.get('a')).toEqual(value('a'))
    t += 1
    expect(await c.get('a')).toBeUndefined()
  })

  it('keeps at most maxEntries, evicting the least recently used', async () => {
    const c = createMemoryCache(2)
    await c.set('x', value('x'), 60)
    await c.set('y', value('y'), 60)
    expect(await c.get('x')).toEqual(value('x')) // x is now more recent than y
    await c.set('z', value('z'), 60)
    expect(await c.get('y')).toBeUndefined()
    expect(await c.get('x')).toEqual(value('x'))
    expect(await c.get('z')).toEqual(value('z'))
    await c.set('z', value('z2'), 60) // overwriting does not grow the cache
    expect(await c.get('x')).toEqual(value('x'))
    expect(await c.get('z')).toEqual(value('z2'))
  })

  it('round-trips like Redis, and a caller mutating its copy changes nothing', async () => {
    const c = createMemoryCache()
    await c.set('k', awkward.stored, 60)
    const got = await c.get('k')
    expect(got).toEqual(awkward.readBack)
    got!.rows[0]![0] = 'changed'
    expect(await c.get('k')).toEqual(awkward.readBack)
  })

  it('stores nothing for a TTL that is not positive, and nothing after close', async () => {
    const c = createMemoryCache()
    await c.set('zero', value('a'), 0)
    await c.set('nan', value('a'), Number.NaN)
    expect(await c.get('zero')).toBeUndefined()
    expect(await c.get('nan')).toBeUndefined()
    await c.set('k', value('a'), 60)
    await c.close()
    expect(await c.get('k')).toBeUndefined()
    await c.set('k', value('a'), 60)
    expect(await c.get('k')).toBeUndefined()
  })
})

describe('redis cache: an unreachable server', () => {
  it('degrades to misses and dropped writes, reported through onError only', async () => {
    // A port that was just free: nothing is listening on it.
    const port = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const { port } = s.address() as { port: number }
        s.close(() => resolve(port))
      })
    })
    const errors: unknown[] = []
    const c = createRedisCache(`redis://127.0.0.1:${port}`, { onError: (e) => errors.push(e), commandTimeoutMs: 200 })
    try {
      const started = Date.now()
      await expect(c.get('k')).resolves.toBeUndefined()
      await expect(c.set('k', value('x'), 5)).resolves.toBeUndefined()
      expect(Date.now() - started).toBeLessThan(2000)
      expect(errors.length).toBeGreaterThan(0)
    } finally {
      await c.close()
    }
  })
})

describe.skipIf(!redisOk)('redis cache', () => {
  // Every run writes under its own random prefix and deletes what it wrote.
  const prefix = `${randomName('sy_cache')}:`
  let admin: Redis
  const caches: ResultCache[] = []
  const open = (p = prefix, onError?: (e: unknown) => void): ResultCache => {
    const c = createRedisCache(REDIS_URL, { prefix: p, ...(onError ? { onError } : {}) })
    caches.push(c)
    return c
  }

  beforeAll(() => {
    admin = new Redis(REDIS_URL)
  })
  afterAll(async () => {
    await Promise.all(caches.map((c) => c.close()))
    let cursor = '0'
    do {
      const [next, keys] = await admin.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000)
      if (keys.length) await admin.del(...keys)
      cursor = next
    } while (cursor !== '0')
    await admin.quit()
  })

  it('round-trips a result faithfully (bigint → string, Date → ISO, bytes → base64)', async () => {
    const c = open()
    await c.set('awkward', awkward.stored, 30)
    expect(await c.get('awkward')).toEqual(awkward.readBack)
    expect(await c.get('absent')).toBeUndefined()
    // Same encoding as the memory cache: which backend served a hit never shows.
    const m = createMemoryCache()
    await m.set('awkward', awkward.stored, 30)
    expect(await c.get('awkward')).toEqual(await m.get('awkward'))
  })

  it('writes with SET ... EX: the key carries the TTL (fractions round up)', async () => {
    const c = open()
    await c.set('ttl', value('acme'), 30)
    const ttl = await admin.ttl(`${prefix}ttl`)
    expect(ttl).toBeGreaterThan(25)
    expect(ttl).toBeLessThanOrEqual(30)
    await c.set('short', value('acme'), 0.2)
    expect(await admin.ttl(`${prefix}short`)).toBe(1)
    expect(JSON.parse((await admin.get(`${prefix}ttl`))!)).toEqual(value('acme'))
  })

  it('expires entries in Redis', async () => {
    const c = open()
    await c.set('gone', value('acme'), 1)
    expect(await c.get('gone')).toEqual(value('acme'))
    await sleep(1100)
    expect(await c.get('gone')).toBeUndefined()
  })

  it('keeps two tenants apart: keys for different serving databases never collide', async () => {
    const c = open()
    const run = { cardId: 42, servedByFingerprint: databaseFingerprint('postgres', { dbname: 'orders' }), sql: 'select * from orders where total > $1', params: [10] }
    await c.set(resultCacheKey({ ...run, servedByDatabaseId: 1 }), value('acme'), 30)
    expect(await c.get(resultCacheKey({ ...run, servedByDatabaseId: 2 }))).toBeUndefined()
    await c.set(resultCacheKey({ ...run, servedByDatabaseId: 2 }), value('globex'), 30)
    expect(await c.get(resultCacheKey({ ...run, servedByDatabaseId: 1 }))).toEqual(value('acme'))
    expect(await c.get(resultCacheKey({ ...run, servedByDatabaseId: 2 }))).toEqual(value('globex'))
  })

  it('isolates prefixes', async () => {
    const a = open(`${prefix}a:`)
    const b = open(`${prefix}b:`)
    await a.set('k', value('a'), 30)
    expect(await b.get('k')).toBeUndefined()
    await b.set('k', value('b'), 30)
    expect(await a.get('k')).toEqual(value('a'))
    expect(await b.get('k')).toEqual(value('b'))
  })

  it('treats a stored value that is not a result as a miss, reported to onError', async () => {
    const errors: unknown[] = []
    const c = open(prefix, (e) => errors.push(e))
    await admin.set(`${prefix}junk`, 'not json', 'EX', 30)
    await admin.set(`${prefix}shape`, '{"rows":1}', 'EX', 30)
    expect(await c.get('junk')).toBeUndefined()
    expect(await c.get('shape')).toBeUndefined()
    expect(errors).toHaveLength(2)
  })

  it('closes its connection; afterwards get misses and set writes nothing', async () => {
    const errors: unknown[] = []
    const connectionName = randomName('sy_cache_conn')
    const c = createRedisCache(REDIS_URL, { prefix, connectionName, onError: (e) => errors.push(e) })
    await c.set('closing', value('a'), 30)
    const named = async () => String(await admin.client('LIST')).includes(`name=${connectionName} `)
    expect(await named()).toBe(true)
    await c.close()
    await sleep(50)
    expect(await named()).toBe(false)
    expect(await c.get('closing')).toBeUndefined()
    await c.set('after-close', value('a'), 30)
    expect(await admin.exists(`${prefix}after-close`)).toBe(0)
    await c.close() // idempotent
    expect(errors).toEqual([])
  })
})

describe.skipIf(!pgOk)('the result cache through the server: a destination pointed elsewhere', () => {
  let s: TestServer
  let dbs: Map<string, TempDatabase>
  beforeAll(async () => {
    dbs = await tenantDatabases(['cache_router', 'cache_x', 'cache_y'])
    s = await startServer()
  }, 120_000)
  afterAll(async () => {
    await s?.close()
    await Promise.all([...(dbs?.values() ?? [])].map((d) => d.drop()))
  })

  it("serves the new target's rows, never the old target's cached ones, once the destination's details change", async () => {
    const router = await s.request('POST', '/api/database', { apiKey: s.apiKey, payload: { engine: 'postgres', name: 'Router', details: detailsOf(dbs.get('cache_router')!) } })
    const routerId = router.json<{ id: number }>().id
    expect((await s.request('PUT', `/api/ee/database-routing/router-database/${routerId}`, { apiKey: s.apiKey, payload: { user_attribute: 'tenant' } })).statusCode).toBe(200)
    const mirror = await s.request('POST', '/api/ee/database-routing/mirror-database?check_connection_details=true', {
      apiKey: s.apiKey,
      payload: { router_database_id: routerId, mirrors: [{ name: 'x', engine: 'postgres', details: detailsOf(dbs.get('cache_x')!) }] },
    })
    expect(mirror.statusCode).toBe(200)
    const list = await s.request('GET', `/api/database?router_database_id=${routerId}`, { apiKey: s.apiKey })
    const destId = list.json<{ data: { id: number; name: string }[] }>().data.find((d) => d.name === 'x')!.id
    const card = await s.request('POST', '/api/card', {
      apiKey: s.apiKey,
      payload: { name: 'Tenant', cache_ttl: 300, dataset_query: { database: routerId, type: 'native', native: { query: 'select tenant from orders order by id limit 1' } } },
    })
    const cardId = card.json<{ id: number }>().id
    const viewer = await s.user('viewer@x.test', { tenant: 'x' })
    const run = async () => (await s.request('POST', `/api/card/${cardId}/query`, { session: viewer.session, payload: {} })).json<{ cached: boolean; data: { rows: unknown[][] } }>()

    expect((await run()).data.rows).toEqual([['cache_x']])
    const hit = await run()
    expect(hit.cached).toBe(true)
    expect(hit.data.rows).toEqual([['cache_x']])

    // Same destination id, another real database behind it.
    const moved = await s.request('PUT', `/api/database/${destId}`, { apiKey: s.apiKey, payload: { details: detailsOf(dbs.get('cache_y')!) } })
    expect(moved.statusCode).toBe(200)
    const after = await run()
    expect(after.cached).toBe(false)
    expect(after.data.rows).toEqual([['cache_y']])
    expect((await run()).cached).toBe(true)

    // Pointed back, the first target's entry is that target's own result again.
    await s.request('PUT', `/api/database/${destId}`, { apiKey: s.apiKey, payload: { details: detailsOf(dbs.get('cache_x')!) } })
    const back = await run()
    expect(back.data.rows).toEqual([['cache_x']])
  })
})
