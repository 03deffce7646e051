import { createHash } from 'node:crypto'

/**
 * A question's result as cached. `display_name` is optional so the server can keep the
 * column shape it sends; any other column keys round-trip too.
 */
export interface CachedResult {
  cols: { name: string; base_type: string; display_name?: string }[]
  rows: unknown[][]
  row_count: number
}

/**
 * Where question results are kept between runs: {@link createMemoryCache} in-process, or
 * {@link createRedisCache} to share across instances. Neither ever throws from `get`/`set`
 * for a cache problem; the worst case is a miss.
 */
export interface ResultCache {
  get(key: string): Promise<CachedResult | undefined>
  set(key: string, value: CachedResult, ttlSeconds: number): Promise<void>
  close(): Promise<void>
}

export { createMemoryCache } from './memory-cache.js'
export type { MemoryCacheOptions } from './memory-cache.js'
export { createRedisCache } from './redis-cache.js'
export type { RedisCacheOptions } from './redis-cache.js'

/**
 * Every value tagged with its type, so values that JSON would merge stay apart: the
 * number 1 and the string "1", null and NaN, a bigint and its string, a Date and its ISO
 * string. Object keys are sorted so key order never changes the hash.
 */
function canonical(v: unknown, seen: Set<object>): unknown {
  switch (typeof v) {
    case 'string':
      return ['s', v]
    case 'boolean':
      return ['b', v]
    case 'number':
      // -0 and 0 bind the same; NaN and ±Infinity are not valid JSON, so spell them.
      return Number.isFinite(v) ? ['n', v === 0 ? 0 : v] : ['n', String(v)]
    case 'bigint':
      return ['i', v.toString()]
    case 'undefined':
      return ['u']
    case 'object': {
      if (v === null) return ['z']
      if (v instanceof Date) return ['d', Number.isNaN(v.getTime()) ? 'Invalid Date' : v.toISOString()]
      if (v instanceof Uint8Array) return ['x', Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('hex')]
      if (seen.has(v)) throw new TypeError('resultCacheKey: params contain a cycle')
      seen.add(v)
      const out = Array.isArray(v)
        ? ['a', v.map((x) => canonical(x, seen))]
        : ['o', Object.keys(v).sort().map((k) => [k, canonical((v as Record<string, unknown>)[k], seen)])]
      seen.delete(v)
      return out
    }
    default:
      throw new TypeError(`resultCacheKey: cannot key a ${typeof v} parameter`)
  }
}

/**
 * What a database IS, for the cache: a sha256 over a canonical encoding of its engine and
 * connection details (secrets included, so a changed password or host gives a new value; only
 * the hash ever leaves the process). Ids alone are not enough: `PUT /api/database/:id` can point
 * an id at another database, and a recreated store hands out old ids again while a shared Redis
 * still holds the previous owner's results.
 *
 * @example
 * ```ts
 * databaseFingerprint('postgres', { host: 'a', dbname: 'acme' }) === databaseFingerprint('postgres', { dbname: 'acme', host: 'a' }) // true
 * databaseFingerprint('postgres', { host: 'a', dbname: 'acme' }) === databaseFingerprint('postgres', { host: 'b', dbname: 'acme' }) // false
 * ```
 */
export function databaseFingerprint(engine: string, details: Readonly<Record<string, unknown>>): string {
  const encoded = JSON.stringify(['switchyard-database-v1', engine, canonical(details, new Set())])
  return createHash('sha256').update(encoded).digest('hex')
}

/**
 * The cache key for one run: `card:<cardId>:db:<servedByDatabaseId>:<sha256 hex>`, the hash
 * taken over a canonical JSON encoding of all five inputs (with a format version).
 *
 * It names the database that SERVED the result — the destination the viewer was routed
 * to, not the router the question is saved on — so two viewers routed to different
 * tenants never share an entry, even for the same question, SQL and parameters. That
 * database is named by id AND by {@link databaseFingerprint}, so changing where an id points
 * (new details, or an id reused by a recreated store) never serves the old target's rows.
 * The ids are also spelled out in front of the hash so an operator can find (or SCAN and
 * delete) a question's or a database's entries.
 *
 * @example
 * ```ts
 * import { databaseFingerprint, resultCacheKey } from './result-cache.js'
 * const run = { cardId: 1, sql: 'select * from t where id = $1', params: [5] }
 * const acme = resultCacheKey({ ...run, servedByDatabaseId: 7, servedByFingerprint: databaseFingerprint('postgres', { dbname: 'acme' }) })
 * const globex = resultCacheKey({ ...run, servedByDatabaseId: 8, servedByFingerprint: databaseFingerprint('postgres', { dbname: 'globex' }) })
 * acme !== globex // true
 * ```
 */
export function resultCacheKey(input: { cardId: number; servedByDatabaseId: number; servedByFingerprint: string; sql: string; params: readonly unknown[] }): string {
  const { cardId, servedByDatabaseId, servedByFingerprint, sql, params } = input
  for (const [what, id] of [['cardId', cardId], ['servedByDatabaseId', servedByDatabaseId]] as const) {
    if (!Number.isSafeInteger(id)) throw new TypeError(`resultCacheKey: ${what} must be an integer, got ${String(id)}`)
  }
  // v2: v1 keys (no fingerprint) can never be read back as if they were current.
  const encoded = JSON.stringify(['switchyard-result-v2', cardId, servedByDatabaseId, servedByFingerprint, sql, canonical(params, new Set())])
  return `card:${cardId}:db:${servedByDatabaseId}:${createHash('sha256').update(encoded).digest('hex')}`
}
