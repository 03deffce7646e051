import { createHash } from 'node:crypto'

export interface CachedResult {
  cols: { name: string; base_type: string; display_name: string }[]
  rows: unknown[][]
  row_count: number
}

/** Where question results are kept between runs; memory by default, Redis to share across instances. */
export interface ResultCache {
  get(key: string): Promise<CachedResult | undefined>
  set(key: string, value: CachedResult, ttlSeconds: number): Promise<void>
  close(): Promise<void>
}

/**
 * The cache key. It names the database that SERVED the result, not just the question: two
 * viewers routed to different tenants never share an entry, even for the same question and
 * parameters.
 *
 * @example
 * ```ts
 * resultCacheKey({ cardId: 1, servedByDatabaseId: 7, sql: 'select 1', params: [] })
 * ```
 */
export function resultCacheKey(input: { cardId: number; servedByDatabaseId: number; sql: string; params: readonly unknown[] }): string {
  const canonical = JSON.stringify([input.cardId, input.servedByDatabaseId, input.sql, input.params])
  return `card:${input.cardId}:db:${input.servedByDatabaseId}:${createHash('sha256').update(canonical).digest('hex')}`
}

/** A bounded in-process cache with per-entry expiry. */
export function createMemoryCache(maxEntries = 1000): ResultCache {
  const entries = new Map<string, { value: CachedResult; expires: number }>()
  return {
    async get(key) {
      const e = entries.get(key)
      if (!e) return undefined
      if (e.expires <= Date.now()) {
        entries.delete(key)
        return undefined
      }
      return e.value
    },
    async set(key, value, ttlSeconds) {
      entries.delete(key)
      entries.set(key, { value, expires: Date.now() + ttlSeconds * 1000 })
      // Map keeps insertion order: the first key is the oldest.
      while (entries.size > maxEntries) entries.delete(entries.keys().next().value as string)
    },
    async close() {
      entries.clear()
    },
  }
}

/**
 * Redis-backed cache shared by every server instance. A Redis failure on read is a miss,
 * and on write is ignored: the cache must never fail a question that could run.
 */
export async function createRedisCache(url: string, options: { prefix?: string; onError?: (err: unknown) => void } = {}): Promise<ResultCache> {
  const { Redis } = await import('ioredis')
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1, enableOfflineQueue: false })
  redis.on('error', (err) => options.onError?.(err))
  await redis.connect()
  const prefix = options.prefix ?? 'switchyard:result:'
  return {
    async get(key) {
      try {
        const raw = await redis.get(prefix + key)
        return raw ? (JSON.parse(raw) as CachedResult) : undefined
      } catch (err) {
        options.onError?.(err)
        return undefined
      }
    },
    async set(key, value, ttlSeconds) {
      try {
        await redis.set(prefix + key, JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)), 'EX', Math.max(1, Math.round(ttlSeconds)))
      } catch (err) {
        options.onError?.(err)
      }
    },
    async close() {
      redis.disconnect()
    },
  }
}
