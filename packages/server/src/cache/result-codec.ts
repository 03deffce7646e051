import type { CachedResult } from './result-cache.js'

/**
 * The one serialisation both caches use, so a result reads back the same from memory and
 * from Redis (and a caller mutating its copy cannot change what the next viewer sees).
 *
 * JSON cannot hold everything a driver returns, so before storing:
 * - bigint → its decimal string (JSON has no 64-bit integers; the HTTP layer sends strings too)
 * - Date → ISO-8601 string (Date#toJSON)
 * - Uint8Array / Buffer → base64 string (instead of Buffer#toJSON's `{ type, data: [...] }`)
 * - NaN / ±Infinity → null, and undefined in a row → null (plain JSON rules)
 * Everything else (strings, finite numbers, booleans, null, nested arrays/objects) round-trips exactly.
 */
export function encodeResult(value: CachedResult): string {
  return JSON.stringify(value, function (this: Record<string, unknown>, key: string, v: unknown) {
    if (typeof v === 'bigint') return v.toString()
    // The replacer sees a Buffer after its toJSON ran; the holder still has the original.
    const original = this[key]
    if (original instanceof Uint8Array) return Buffer.from(original.buffer, original.byteOffset, original.byteLength).toString('base64')
    return v
  })
}

/** Parses a stored result; anything that is not result-shaped is refused rather than served. */
export function decodeResult(raw: string): CachedResult {
  const v = JSON.parse(raw) as Partial<CachedResult> | null
  if (!v || typeof v !== 'object' || !Array.isArray(v.cols) || !Array.isArray(v.rows) || typeof v.row_count !== 'number') {
    throw new Error('Cached value is not a query result')
  }
  return v as CachedResult
}
