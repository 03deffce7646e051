import type { CachedResult, ResultCache } from './result-cache.js'
import { decodeResult, encodeResult } from './result-codec.js'

/** Options for {@link createMemoryCache} beyond its size. */
export interface MemoryCacheOptions {
  /** Milliseconds since the epoch; tests pass a fake clock to step past a TTL without waiting. */
  now?: () => number
}

/**
 * A bounded in-process cache: least-recently-used eviction past `maxEntries` (default 1000)
 * and per-entry expiry after `ttlSeconds`. Expired entries are dropped when read (or evicted
 * as least recently used), so no timers keep the process alive.
 *
 * Values are stored encoded (see result-codec.ts), so a hit is a fresh copy that reads
 * exactly as it would from Redis: bigint → string, Date → ISO string, bytes → base64.
 * A `ttlSeconds` that is not a positive finite number stores nothing.
 *
 * @example
 * ```ts
 * import { createMemoryCache } from './memory-cache.js'
 * const cache = createMemoryCache(100)
 * await cache.set('k', { cols: [{ name: 'n', base_type: 'type/Integer' }], rows: [[1]], row_count: 1 }, 60)
 * await cache.get('k') // → { cols: [...], rows: [[1]], row_count: 1 }
 * await cache.close()
 * ```
 */
export function createMemoryCache(maxEntries = 1000, options: MemoryCacheOptions = {}): ResultCache {
  if (!Number.isInteger(maxEntries) || maxEntries < 1) throw new RangeError(`maxEntries must be a positive integer, got ${maxEntries}`)
  const now = options.now ?? Date.now
  // A Map iterates in insertion order; re-inserting on every hit keeps the least recently
  // used entry first, which is what eviction takes.
  const entries = new Map<string, { encoded: string; expires: number }>()
  let closed = false
  return {
    async get(key) {
      const e = entries.get(key)
      if (!e) return undefined
      entries.delete(key)
      if (e.expires <= now()) return undefined
      entries.set(key, e)
      return decodeResult(e.encoded)
    },
    async set(key, value, ttlSeconds) {
      if (closed || !(ttlSeconds > 0) || !Number.isFinite(ttlSeconds)) return
      const encoded = encodeResult(value)
      entries.delete(key)
      entries.set(key, { encoded, expires: now() + ttlSeconds * 1000 })
      for (const oldest of entries.keys()) {
        if (entries.size <= maxEntries) break
        entries.delete(oldest)
      }
    },
    async close() {
      closed = true
      entries.clear()
    },
  }
}
