import { Redis } from 'ioredis'
import { afterAll, describe, expect, it } from 'vitest'
import { createMemoryCache, createRedisCache, resultCacheKey, type CachedResult } from '../src/index.js'
import { randomName, REDIS_URL, serviceAvailable } from '../../../test-support/services.js'

const redisOk = await serviceAvailable('redis')
const value = (tag: string): CachedResult => ({ cols: [{ name: 'tenant', display_name: 'tenant', base_type: 'type/Text' }], rows: [[tag]], row_count: 1 })

describe('result cache keys', () => {
  it('differ by the database that served the result, and by parameters', () => {
    const base = { cardId: 1, servedByDatabaseId: 10, sql: 'select $1', params: [1] }
    expect(resultCacheKey(base)).toBe(resultCacheKey({ ...base }))
    expect(resultCacheKey(base)).not.toBe(resultCacheKey({ ...base, servedByDatabaseId: 11 }))
    expect(resultCacheKey(base)).not.toBe(resultCacheKey({ ...base, params: [2] }))
  })
})

describe('memory cache', () => {
  it('expires entries after their TTL and stays bounded', async () => {
    const c = createMemoryCache(2)
    await c.set('a', value('a'), 0.05)
    expect(await c.get('a')).toEqual(value('a'))
    await new Promise((r) => setTimeout(r, 80))
    expect(await c.get('a')).toBeUndefined()
    await c.set('x', value('x'), 60)
    await c.set('y', value('y'), 60)
    await c.set('z', value('z'), 60)
    expect(await c.get('x')).toBeUndefined()
    expect(await c.get('z')).toEqual(value('z'))
  })
})

describe.skipIf(!redisOk)('redis cache', () => {
  const prefix = `${randomName('sy_cache')}:`
  const admin = new Redis(REDIS_URL)
  afterAll(async () => {
    const keys = await admin.keys(`${prefix}*`)
    if (keys.length) await admin.del(...keys)
    admin.disconnect()
  })

  it('round-trips a result with its TTL, isolated by prefix', async () => {
    const c = await createRedisCache(REDIS_URL, { prefix })
    const other = await createRedisCache(REDIS_URL, { prefix: `${prefix}other:` })
    try {
      await c.set('k', value('acme'), 30)
      expect(await c.get('k')).toEqual(value('acme'))
      const ttl = await admin.ttl(`${prefix}k`)
      expect(ttl).toBeGreaterThan(25)
      expect(ttl).toBeLessThanOrEqual(30)
      expect(await other.get('k')).toBeUndefined()
    } finally {
      await c.close()
      await other.close()
    }
  })

  it('degrades to a miss when Redis goes away', async () => {
    const errors: unknown[] = []
    const c = await createRedisCache(REDIS_URL, { prefix, onError: (e) => errors.push(e) })
    await c.close()
    expect(await c.get('k')).toBeUndefined()
    await expect(c.set('k2', value('x'), 5)).resolves.toBeUndefined()
    expect(errors.length).toBeGreaterThan(0)
  })
})
