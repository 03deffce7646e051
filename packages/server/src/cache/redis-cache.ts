import { Redis } from 'ioredis'
import type { CachedResult, ResultCache } from './result-cache.js'
import { decodeResult, encodeResult } from './result-codec.js'

/** Options for {@link createRedisCache}. */
export interface RedisCacheOptions {
  /** Prepended to every key; default `switchyard:result:`. Separates deployments (and test runs) sharing a Redis. */
  prefix?: string
  /**
   * Told about every Redis failure: connection errors, timed-out or failed commands, and
   * stored values that do not parse. The cache itself never logs and never throws for them.
   */
  onError?: (err: unknown) => void
  /**
   * How long one GET or SET may take, in milliseconds (default 500), including waiting for
   * a connection. It bounds how much a slow or unreachable Redis can delay a question.
   */
  commandTimeoutMs?: number
  /** Shown in Redis's CLIENT LIST; default `switchyard-result-cache`. */
  connectionName?: string
}

/**
 * A result cache in Redis, shared by every server instance. Each entry is one string key
 * (`prefix` + key) holding the JSON-encoded result, written with `SET ... EX ttl` so Redis
 * expires it (fractional TTLs round up to whole seconds; a TTL that is not positive stores nothing).
 *
 * The cache must never fail a question that could run: a failed or timed-out GET is a miss
 * and a failed SET is dropped, both reported to `onError`. Encoding is the same as the
 * memory cache's (bigint → string, Date → ISO string, bytes → base64).
 *
 * The connection opens in the background; commands issued before it is ready wait for it
 * (up to `commandTimeoutMs`). After `close()`, `get` misses and `set` does nothing.
 *
 * @example
 * ```ts
 * import { createRedisCache } from './redis-cache.js'
 * const cache = createRedisCache('redis://127.0.0.1:6379', { prefix: 'myapp:result:', onError: (e) => console.warn(e) })
 * await cache.set('k', { cols: [{ name: 'n', base_type: 'type/Integer' }], rows: [[1]], row_count: 1 }, 60)
 * await cache.get('k') // → { cols: [...], rows: [[1]], row_count: 1 }
 * await cache.close()
 * ```
 */
export function createRedisCache(url: string, options: RedisCacheOptions = {}): ResultCache {
  const prefix = options.prefix ?? 'switchyard:result:'
  const report = (err: unknown): void => {
    try {
      options.onError?.(err)
    } catch {
      // A throwing reporter must not turn a cache miss into a failed question.
    }
  }
  const redis = new Redis(url, {
    commandTimeout: options.commandTimeoutMs ?? 500,
    // Fail queued commands after one reconnect attempt instead of the default twenty.
    maxRetriesPerRequest: 1,
    connectTimeout: 5000,
    connectionName: options.connectionName ?? 'switchyard-result-cache',
  })
  // Without a listener ioredis prints "Unhandled error event" for every reconnect failure.
  redis.on('error', report)
  let closed = false

  return {
    async get(key) {
      if (closed) return undefined
      let raw: string | null
      try {
        raw = await redis.get(prefix + key)
      } catch (err) {
        report(err)
        return undefined
      }
      if (raw === null) return undefined
      try {
        return decodeResult(raw)
      } catch (err) {
        report(err)
        return undefined
      }
    },
    async set(key: string, value: CachedResult, ttlSeconds: number) {
      if (closed || !(ttlSeconds > 0) || !Number.isFinite(ttlSeconds)) return
      try {
        await redis.set(prefix + key, encodeResult(value), 'EX', Math.ceil(ttlSeconds))
      } catch (err) {
        report(err)
      }
    },
    async close() {
      if (closed) return
      closed = true
      // QUIT lets in-flight commands finish; when there is no live connection just drop it.
      if (redis.status === 'ready') {
        try {
          await redis.quit()
          return
        } catch {
          // fall through
        }
      }
      redis.disconnect()
    },
  }
}
